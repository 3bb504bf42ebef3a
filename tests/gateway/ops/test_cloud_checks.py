"""The import's Bedrock and Vertex AI checks: a line whose region, project or
credentials cannot be found here is warned about, one that can is not, and nothing is
looked up over the network (issue #32)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.models import Deployment
from gateway.ops import cloud_checks
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import


@pytest.fixture(autouse=True)
def bare_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS or Google setup, and any network connection fails the test."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))

    def no_network(*args, **kwargs):
        raise AssertionError(f"network used: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return tmp_path


def test_bedrock_without_region_or_credentials_gets_both_warnings():
    region, credentials = cloud_checks.bedrock({}, "")
    assert "no AWS region" in region and "aws_region_name, AWS_REGION" in region
    assert "no AWS credentials found in the environment and ~/.aws" in credentials


def test_bedrock_finds_region_and_keys_where_the_adapter_looks(monkeypatch, bare_machine):
    assert (
        cloud_checks.bedrock({"aws_region_name": "eu-west-1", "aws_access_key_id": "AK"}, "s") == []
    )
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    (bare_machine / "aws-credentials").write_text(
        "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret\n"
    )
    assert cloud_checks.bedrock({}, "") == []  # env region, the shared credentials file


def test_bedrock_reads_a_named_profile_and_says_when_it_is_missing(bare_machine):
    (bare_machine / "aws-config").write_text(
        "[profile prod]\nregion = ap-southeast-2\naws_access_key_id = AK\n"
        "aws_secret_access_key = SK\n"
    )
    assert cloud_checks.bedrock({"aws_profile_name": "prod"}, "") == []
    (message,) = cloud_checks.bedrock({"aws_profile_name": "staging"}, "")
    assert "AWS profile 'staging'" in message and "could not be found" in message


@pytest.mark.django_db
def test_a_refused_reference_never_shows_its_value_in_a_warning(monkeypatch):
    """An uploaded config naming a gateway setting as the profile: the import's warning
    must not quote the setting's value (the upload is an admin's, not the operator's)."""
    monkeypatch.setenv("SECRET_KEY", "django-secret-Unmistakable-5150")
    warnings = cloud_checks.bedrock({"aws_profile_name": "os.environ/SECRET_KEY"}, "")
    assert "Unmistakable" not in " ".join(warnings)
    plan = plan_import(
        parse_config(
            "model_list:\n  - model_name: b\n    litellm_params:\n"
            "      model: bedrock/anthropic.claude\n"
            "      aws_profile_name: os.environ/SECRET_KEY\n"
        )
    )
    text = " ".join([*plan.warnings, *(str(s) for s in plan.skipped)])  # refused: skipped
    assert "Unmistakable" not in text and "gateway's own settings" in text


def test_bedrock_keys_come_in_pairs(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    (message,) = cloud_checks.bedrock({"aws_access_key_id": "AK"}, "")
    assert message.startswith("aws_secret_access_key is not set")


def test_a_container_role_counts_without_being_fetched(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x")
    assert cloud_checks.bedrock({}, "") == []


def service_account(project: str = "acme-prod") -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": f"gw@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def test_vertex_with_a_service_account_needs_nothing_else():
    assert cloud_checks.vertex({}, json.dumps(service_account())) == []  # its project_id


def test_vertex_without_credentials_or_project_is_warned():
    credentials, project = cloud_checks.vertex({}, "")
    assert "no Google credentials found" in credentials
    assert "no project" in project


def test_vertex_reads_the_application_default_file(monkeypatch, bare_machine):
    adc = bare_machine / "adc.json"
    adc.write_text(
        json.dumps(
            {"type": "authorized_user", "client_id": "c", "client_secret": "s",
             "refresh_token": "r"}
        )
    )  # fmt: skip
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    (message,) = cloud_checks.vertex({}, "")
    assert message.startswith("Vertex AI has no project: set vertex_project")
    assert cloud_checks.vertex({"vertex_project": "p1"}, "") == []
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    (bare_machine / "gcloud").mkdir()  # where `gcloud auth application-default login` writes
    (bare_machine / "gcloud" / "application_default_credentials.json").write_text(adc.read_text())
    assert cloud_checks.vertex({"vertex_project": "p1"}, "") == []


def test_an_unreadable_key_is_named_not_raised(bare_machine):
    (message,) = cloud_checks.vertex({}, '{"type": "service_account", "private_key": "x"}')
    assert message.startswith("Vertex AI credentials cannot be read")
    (message,) = cloud_checks.vertex({"vertex_credentials": str(bare_machine / "none.json")}, "")
    assert "cannot be read" in message


CONFIG = """
model_list:
  - model_name: claude
    litellm_params: {model: bedrock/anthropic.claude-sonnet-4-20250514-v1:0}
  - model_name: claude-eu
    litellm_params:
      model: bedrock/anthropic.claude-sonnet-4-20250514-v1:0
      aws_region_name: eu-central-1
      aws_profile_name: prod
  - model_name: gemini
    litellm_params: {model: vertex_ai/gemini-2.5-pro, vertex_project: acme}
"""


@pytest.mark.django_db
def test_the_import_preview_warns_and_still_imports(bare_machine):
    (bare_machine / "aws-config").write_text(
        "[profile prod]\naws_access_key_id = AK\naws_secret_access_key = SK\n"
    )
    plan = plan_import(parse_config(CONFIG))
    warnings = "\n".join(plan.warnings)
    assert "model_list[0] (route claude): Bedrock has no AWS region here" in warnings
    assert "model_list[0] (route claude): no AWS credentials found" in warnings
    assert "route claude-eu" not in warnings  # its region and profile are there
    assert "model_list[2] (route gemini): no Google credentials found" in warnings
    apply_plan(plan)  # forgiving: warnings, not failures
    assert Deployment.objects.count() == 3
