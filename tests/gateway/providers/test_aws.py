"""AWS request signing (``gateway.providers.aws``): a signature made for another path than
the one sent fails verification."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from gateway.providers import aws
from gateway.providers.aws import sign_request
from tests.aws import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    verify_sigv4,
)

ARN = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """No credentials, region or instance role leak in from the machine running tests.
    The mock stands in for AWS's own host, so host credentials may go to it (the
    operator's setting; refused by default: test_ambient_credentials)."""
    settings.SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT = True
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    aws.forget()


def test_signing_a_path_other_than_the_one_sent_fails_verification() -> None:
    """The ARN trap: a signature over the raw model id does not match the encoded path
    that goes on the wire; the provider signs the encoded URL it sends."""
    credentials = aws.ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, None)
    body, headers = b"{}", {"Content-Type": "application/json"}
    sent = f"http://bedrock.test/model/{quote(ARN, safe='')}/converse"
    naive = sign_request(
        credentials, REGION, "POST", f"http://bedrock.test/model/{ARN}/converse", body, headers
    )
    assert (
        verify_sigv4("POST", sent, {**headers, **naive, "host": "bedrock.test"}, body) is not None
    )
    right = sign_request(credentials, REGION, "POST", sent, body, headers)
    assert verify_sigv4("POST", sent, {**headers, **right, "host": "bedrock.test"}, body) is None
