"""The host's cloud credentials go only to the provider's official endpoints: a Vertex AI
provider with no key (application default credentials) or a key file path, or a Bedrock
provider with no keys (default chain, profile), whose base URL is an admin's own server
never sends the host's token there (refused before any token is fetched), and cannot be
saved so (a 422 on base_url from /api). The provider's own credentials still go to a
custom endpoint; the operator may allow any endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from django.test import Client

from gateway.base import errors, http
from gateway.base.entries import ProviderEntry
from gateway.base.types import ChatRequest, Message, Text
from gateway.models import Provider
from gateway.providers import aws, google_auth
from gateway.providers.ambient import SETTING
from gateway.providers.base import Exchange
from gateway.providers.bedrock import BedrockProvider
from gateway.providers.vertex_ai import VertexAIProvider

from ..entries import deployment
from .test_bedrock import ACCESS_KEY, ARN, KEYS, REGION, SECRET_KEY, fixture

ASK = ChatRequest(model="public", messages=[Message("user", [Text("hi")])])
EVIL = "https://collector.example.net"
MASTER = "sk-master-ambient-test-0123456789"


def serve() -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture("text.json"))

    http.use_transport(httpx.MockTransport(record))
    return seen


@pytest.fixture(autouse=True)
def _host_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """AWS host credentials in the environment (as on an instance with a role)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHOSTHOSTHOSTHOST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret-never-sent")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "host-session-token-never-sent")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.forget()
    google_auth.forget()
    yield
    aws.forget()
    google_auth.forget()


def bedrock_dep(params: dict, base_url: str = EVIL):  # type: ignore[no-untyped-def]
    entry = ProviderEntry(9, "aws", "bedrock", base_url, "", {}, "", None)
    return deployment("r", ARN, provider=entry, params=params)


@pytest.mark.parametrize(
    "params",
    [
        {"aws_region_name": REGION},  # the default chain
        {"aws_region_name": REGION, "aws_profile_name": "default"},
    ],
)
async def test_bedrock_never_signs_for_another_host_with_host_credentials(params) -> None:  # type: ignore[no-untyped-def]
    seen = serve()
    entry = bedrock_dep(params)
    with pytest.raises(errors.ConfigurationError, match=SETTING) as caught:
        await BedrockProvider(entry.provider).complete(ASK, entry, Exchange())
    assert seen == []
    assert "host-secret" not in str(caught.value) and "AKIAHOST" not in str(caught.value)


async def test_bedrock_a_deployment_endpoint_is_refused_too() -> None:
    seen = serve()
    entry = bedrock_dep(
        {"aws_region_name": REGION, "aws_bedrock_runtime_endpoint": EVIL}, base_url=""
    )
    with pytest.raises(errors.ConfigurationError, match=SETTING):
        await BedrockProvider(entry.provider).complete(ASK, entry, Exchange())
    assert seen == []


async def test_bedrock_host_credentials_go_to_the_official_host() -> None:
    seen = serve()
    entry = bedrock_dep({"aws_region_name": REGION}, base_url="")
    await BedrockProvider(entry.provider).complete(ASK, entry, Exchange())
    (sent,) = seen
    assert sent.url.host == f"bedrock-runtime.{REGION}.amazonaws.com"
    assert sent.headers["x-amz-security-token"] == "host-session-token-never-sent"


async def test_bedrock_the_providers_own_keys_go_to_its_endpoint() -> None:
    seen = serve()
    entry = bedrock_dep(KEYS)
    await BedrockProvider(entry.provider).complete(ASK, entry, Exchange())
    (sent,) = seen
    assert sent.url.host == "collector.example.net"
    assert ACCESS_KEY in sent.headers["authorization"]
    assert "x-amz-security-token" not in sent.headers


async def test_the_operator_may_allow_any_endpoint(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT = True
    seen = serve()
    entry = bedrock_dep({"aws_region_name": REGION})
    await BedrockProvider(entry.provider).complete(ASK, entry, Exchange())
    assert seen[0].url.host == "collector.example.net"


@pytest.mark.parametrize(
    "host",
    [
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        "https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com",
        "https://bedrock-runtime.cn-north-1.amazonaws.com.cn",
        "https://vpce-0abc-1def.bedrock-runtime.eu-west-1.vpce.amazonaws.com",
        "https://bedrock-agent-runtime.us-east-1.amazonaws.com",
    ],
)
def test_bedrock_official_hosts(host: str) -> None:
    assert BedrockProvider.official_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "http://bedrock-runtime.us-east-1.amazonaws.com",
        "https://bedrock-runtime.us-east-1.amazonaws.com.evil.net",
        "https://evil.net/bedrock-runtime.us-east-1.amazonaws.com",
        "https://mybucket.s3.amazonaws.com",
        "https://x.bedrock-runtime.us-east-1.amazonaws.com",
    ],
)
def test_bedrock_other_hosts(host: str) -> None:
    assert not BedrockProvider.official_host(host)


def test_vertex_official_hosts() -> None:
    assert VertexAIProvider.official_host("https://aiplatform.googleapis.com")
    assert VertexAIProvider.official_host("https://europe-west4-aiplatform.googleapis.com")
    assert not VertexAIProvider.official_host("https://aiplatform.googleapis.com.evil.net")
    assert not VertexAIProvider.official_host("http://aiplatform.googleapis.com")


def vertex(base_url: str, secret: str = "") -> VertexAIProvider:
    return VertexAIProvider(ProviderEntry(5, "vtx", "vertex_ai", base_url, secret, {}, "", None))


@pytest.mark.parametrize("credentials", ["adc", "path"])
async def test_vertex_never_fetches_a_host_token_for_another_host(
    credentials: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str | None] = []

    async def token(source: str | None) -> tuple[str, str | None]:
        fetched.append(source)
        return "ya29.host-token", "proj"

    monkeypatch.setattr(google_auth, "access_token", token)
    seen = serve()
    params = {"vertex_project": "p"}
    if credentials == "path":
        params["vertex_credentials"] = str(tmp_path / "sa.json")
    d = deployment("public", "gemini-2.5-pro", params=params)
    with pytest.raises(errors.ConfigurationError, match=SETTING) as caught:
        await vertex(EVIL).complete(ASK, d, Exchange())
    assert fetched == [] and seen == []
    assert "ya29" not in str(caught.value)


async def test_vertex_the_providers_own_key_goes_to_its_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def token(source: str | None) -> tuple[str, str | None]:
        return "ya29.own-token", "proj"

    monkeypatch.setattr(google_auth, "access_token", token)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"candidates": [{"content": {"parts": [{"text": "ok"}]}}]})

    http.use_transport(httpx.MockTransport(record))
    own = json.dumps({"type": "service_account", "project_id": "p"})
    d = deployment("public", "gemini-2.5-pro", params={"vertex_project": "p"})
    await vertex(EVIL, secret=own).complete(ASK, d, Exchange())
    assert seen[0].url.host == "collector.example.net"
    assert seen[0].headers["authorization"] == "Bearer ya29.own-token"


def test_saving_host_credentials_for_a_custom_endpoint_is_a_422(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    for kind, taken in (("bedrock", {"aws_region_name": REGION}), ("vertex_ai", {})):
        answer = api.post(
            "/api/providers/",
            {
                "name": f"p-{kind.replace('_', '-')}",
                "kind": kind,
                "base_url": EVIL,
                "settings": taken,
            },
            content_type="application/json",
        )
        assert answer.status_code == 422, answer.content
        assert SETTING in json.dumps(answer.json()["errors"]["base_url"])
    assert not Provider.objects.exists()
    ok = api.post(
        "/api/providers/",
        {
            "name": "own-keys",
            "kind": "bedrock",
            "base_url": EVIL,
            "secret": SECRET_KEY,
            "settings": {"aws_region_name": REGION, "aws_access_key_id": ACCESS_KEY},
        },
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.content
