"""``os.environ/NAME`` reads only what the operator allows (``SWITCHYARD_ENV_ALLOW``, a
default for common provider keys), never the gateway's own settings; a refusal names the
variable and the setting to change, never the value; the call sends nothing."""

from __future__ import annotations

import httpx
import pytest

from gateway.access.authorization import decide
from gateway.base import errors, http
from gateway.base.secrets import secret_refs
from gateway.base.secrets.secret_refs import (
    RefusedReference,
    resolve_operator_value,
    resolve_secret,
)
from gateway.base.types import ChatRequest, Message, Text
from gateway.providers.base import Exchange
from gateway.providers.bedrock import BedrockProvider
from gateway.providers.vertex_ai import VertexAIProvider

from ...entries import deployment
from ...providers.test_bedrock import ACCESS_KEY, REGION, SECRET_KEY, dep, fixture

MASTER_VALUE = "sk-master-Unmistakable-8841"
REQUEST = ChatRequest(model="public", messages=[Message("user", [Text("Hello")])])


@pytest.fixture
def default_allow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The allow-list as shipped (tests/conftest.py widens it for the rest of the suite)."""
    monkeypatch.delenv(secret_refs.ALLOW_SETTING, raising=False)


def test_default_allows_provider_keys_and_refuses_other_variables(
    default_allow: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "AZURE_API_BASE", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"):
        monkeypatch.setenv(name, f"value-of-{name}")
        assert resolve_secret(f"os.environ/{name}") == f"value-of-{name}"
    monkeypatch.setenv("PGPASSWORD", "db-password-Unmistakable")
    with pytest.raises(RefusedReference) as caught:
        resolve_secret("os.environ/PGPASSWORD")
    assert "SWITCHYARD_ENV_ALLOW" in str(caught.value) and "PGPASSWORD" in str(caught.value)
    assert "Unmistakable" not in str(caught.value)


@pytest.mark.parametrize(
    "name",
    ["SWITCHYARD_MASTER_KEY", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE",
     "SWITCHYARD_OIDC_CLIENT_SECRET", "SWITCHYARD_API_KEY"],
)  # fmt: skip
def test_the_gateways_own_settings_are_never_read_whatever_the_list_says(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(secret_refs.ALLOW_SETTING, "*,SWITCHYARD_*,*_API_KEY")
    monkeypatch.setenv(name, MASTER_VALUE)
    with pytest.raises(RefusedReference, match="gateway's own settings") as caught:
        resolve_secret(f"os.environ/{name}")
    assert MASTER_VALUE not in str(caught.value)
    assert not decide(None, "env.resolve", name)


def test_the_operator_widens_and_narrows_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secret_refs.ALLOW_SETTING, "CORP_ORG, VLLM_*")
    monkeypatch.setenv("CORP_ORG", "org-1")
    monkeypatch.setenv("VLLM_BASE", "http://vllm:8000/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert resolve_secret("os.environ/CORP_ORG") == "org-1"
    assert resolve_secret("os.environ/VLLM_BASE") == "http://vllm:8000/v1"
    with pytest.raises(RefusedReference):
        resolve_secret("os.environ/OPENAI_API_KEY")  # no longer in the narrowed list
    assert resolve_secret("plain-literal") == "plain-literal"


def test_a_malformed_allow_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secret_refs.ALLOW_SETTING, "OPENAI_API_KEY, bad-name!")
    with pytest.raises(ValueError, match="bad-name!"):
        secret_refs.check_allow_setting()
    assert "bad-name!" in (secret_refs.refusal("OPENAI_API_KEY") or "")


def test_values_the_operator_set_in_the_environment_may_name_any_variable(
    default_allow: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_IDP_SECRET", "idp-secret")
    assert resolve_operator_value("os.environ/MY_IDP_SECRET") == "idp-secret"


async def test_bedrock_params_cannot_sign_with_the_master_key(
    default_allow: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H3: an endpoint of the caller's and the master key as the access key id: refused
    before anything is sent, the value nowhere in the error."""
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", MASTER_VALUE)
    seen: list[httpx.Request] = []
    http.use_transport(
        httpx.MockTransport(
            lambda r: seen.append(r) or httpx.Response(200, json=fixture("text.json"))
        )
    )
    entry = dep(
        {
            "aws_bedrock_runtime_endpoint": "http://127.0.0.1:9/listener",
            "aws_access_key_id": "os.environ/SWITCHYARD_MASTER_KEY",
            "aws_secret_access_key": SECRET_KEY,
            "aws_region_name": REGION,
        }
    )
    with pytest.raises(errors.ConfigurationError, match="SWITCHYARD_MASTER_KEY") as caught:
        await BedrockProvider(entry.provider).complete(REQUEST, entry, Exchange())
    assert seen == [] and MASTER_VALUE not in str(caught.value)
    # an allowed name still signs
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    allowed = dep(
        {
            "aws_access_key_id": "os.environ/AWS_ACCESS_KEY_ID",
            "aws_secret_access_key": SECRET_KEY,
            "aws_region_name": REGION,
        }
    )
    await BedrockProvider(allowed.provider).complete(REQUEST, allowed, Exchange())
    assert len(seen) == 1 and f"Credential={ACCESS_KEY}/" in seen[0].headers["authorization"]


async def test_vertex_params_cannot_read_the_gateways_settings(
    default_allow: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.base.entries import ProviderEntry

    monkeypatch.setenv("SECRET_KEY", MASTER_VALUE)
    provider = ProviderEntry(3, "vx", "vertex_ai", "", "", {}, "", None)
    entry = deployment(
        "r", "gemini-2.0-flash", provider=provider,
        params={"vertex_credentials": "os.environ/SECRET_KEY", "vertex_project": "p"},
    )  # fmt: skip
    with pytest.raises(errors.ConfigurationError, match="SECRET_KEY") as caught:
        await VertexAIProvider(provider).locate(entry)
    assert MASTER_VALUE not in str(caught.value)


def test_a_reference_with_spaces_around_it_is_refused_when_saved() -> None:
    """Probe residual: " os.environ/SECRET_KEY " passed the save-time check."""
    for value in (
        " os.environ/SECRET_KEY",
        "os.environ/SECRET_KEY \n",
        "\tos.environ/DATABASE_URL",
    ):
        assert secret_refs.refusals({"header": value}), value
    assert secret_refs.refusals(" just a literal ") == []
