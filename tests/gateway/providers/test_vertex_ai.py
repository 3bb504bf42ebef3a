"""The Vertex AI provider against the mock Vertex AI and its OAuth token endpoint: a
service account's JWT assertion, verified for real, exchanged for a token that is cached,
refreshed before it expires, fetched off the event loop; token failures are
configuration errors; the URL carries project, location and model."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.base import errors
from gateway.base.entries import ProviderEntry
from gateway.base.types import ChatRequest, Message, Text
from gateway.providers import google_auth
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.vertex_ai import VertexAIProvider, host_for

from ...integration.mock_gemini import GReply, MockGemini, new_service_account
from ..entries import deployment


@pytest.fixture
def mock(gemini_upstream: MockGemini, settings) -> Iterator[MockGemini]:  # type: ignore[no-untyped-def]
    # the mock stands in for Google's own host: host credentials may go to it (the
    # operator's setting; refused by default: test_ambient_credentials)
    settings.SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT = True
    gemini_upstream.reset()
    google_auth.forget()
    yield gemini_upstream
    google_auth.forget()


@pytest.fixture
def key_file(mock: MockGemini, tmp_path: Path) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(mock.service_account("proj-from-key")))
    return path


def vertex(mock: MockGemini, secret: str = "", headers: dict | None = None) -> VertexAIProvider:
    return VertexAIProvider(
        ProviderEntry(5, "vtx", "vertex_ai", mock.url, secret, headers or {}, "", None)
    )


def dep(**params):  # type: ignore[no-untyped-def]
    return deployment("public", "gemini-2.5-pro", params=params)


ASK = ChatRequest(model="public", messages=[Message("user", [Text("hi")])])


def test_kind_is_registered_and_hosts() -> None:
    entry = ProviderEntry(1, "v", "vertex_ai", "", "", {}, "", None)
    assert isinstance(adapter_for(entry), VertexAIProvider)
    assert host_for("global") == "https://aiplatform.googleapis.com"
    assert host_for("europe-west4") == "https://europe-west4-aiplatform.googleapis.com"


async def test_service_account_file_token_and_url(mock: MockGemini, key_file: Path) -> None:
    mock.queue(GReply(text="Vertex says hi"))
    params = {
        "vertex_project": "my-proj",
        "vertex_location": "europe-west4",
        "vertex_credentials": str(key_file),
        "temperature": 0.5,
    }
    exchange = Exchange()
    response = await vertex(mock, headers={"x-goog-user-project": "billing"}).complete(
        ASK, dep(**params), exchange
    )
    assert response.text() == "Vertex says hi"
    seen = mock.last
    assert seen.path == (
        "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-pro:generateContent"
    )
    assert seen.headers["authorization"].startswith("Bearer ya29.mock-")
    assert seen.headers["x-goog-user-project"] == "billing"
    assert seen.body["generationConfig"] == {"temperature": 0.5}  # no vertex_* params upstream
    assert b"vertex" not in exchange.request_body and mock.token_requests == 1


async def test_token_is_cached_and_refreshed_before_expiry(
    mock: MockGemini, key_file: Path
) -> None:
    p = vertex(mock)
    d = dep(vertex_credentials=str(key_file))
    for _ in range(3):
        await p.complete(ASK, d, Exchange())
    assert mock.token_requests == 1  # one token for three calls
    assert mock.chats[0].path.startswith("/v1/projects/proj-from-key/locations/us-central1/")

    google_auth.forget()
    mock.token_lifetime = 120  # inside the refresh margin: every call needs a new token
    await p.complete(ASK, d, Exchange())
    await p.complete(ASK, d, Exchange())
    assert mock.token_requests == 3
    tokens = {s.headers["authorization"] for s in mock.chats[-2:]}
    assert len(tokens) == 2


async def test_concurrent_cold_requests_share_one_refresh_off_the_loop(
    mock: MockGemini, key_file: Path
) -> None:
    mock.token_delay = 0.4
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    beat = asyncio.create_task(ticker())
    d = dep(vertex_credentials=str(key_file))
    started = time.perf_counter()
    await asyncio.gather(*(vertex(mock).complete(ASK, d, Exchange()) for _ in range(5)))
    beat.cancel()
    assert time.perf_counter() - started >= 0.4
    assert mock.token_requests == 1
    assert ticks >= 10  # the loop kept running while the token was fetched


async def test_credentials_from_the_secret_or_an_env_reference(
    mock: MockGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = mock.service_account("proj-secret")
    await vertex(mock, secret=json.dumps(info)).complete(ASK, dep(), Exchange())
    assert "/projects/proj-secret/" in mock.last.path
    monkeypatch.setenv("VERTEX_SA_JSON", json.dumps(mock.service_account("proj-env")))
    await vertex(mock).complete(
        ASK, dep(vertex_credentials="os.environ/VERTEX_SA_JSON"), Exchange()
    )
    assert "/projects/proj-env/" in mock.last.path
    monkeypatch.setenv("VERTEX_PROJECT", "proj-override")
    await vertex(mock).complete(
        ASK,
        dep(
            vertex_credentials="os.environ/VERTEX_SA_JSON",
            vertex_project="os.environ/VERTEX_PROJECT",
        ),
        Exchange(),
    )
    assert "/projects/proj-override/" in mock.last.path
    inline = mock.service_account("proj-inline")
    await vertex(mock).complete(ASK, dep(vertex_credentials=inline), Exchange())
    assert "/projects/proj-inline/" in mock.last.path


async def test_a_location_that_is_not_a_region_name_is_refused(
    mock: MockGemini, key_file: Path
) -> None:
    d = dep(vertex_credentials=str(key_file), vertex_location="evil.example/#")
    with pytest.raises(errors.ConfigurationError, match="not a region name"):
        await vertex(mock).complete(ASK, d, Exchange())
    assert mock.seen == []


async def test_application_default_credentials(
    mock: MockGemini, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    await vertex(mock).complete(ASK, dep(), Exchange())
    assert "/projects/proj-from-key/" in mock.last.path


async def test_a_key_the_token_endpoint_rejects_is_a_configuration_error(
    mock: MockGemini, tmp_path: Path
) -> None:
    forged, _public = new_service_account(mock.token_uri)
    registered = mock.service_account()
    forged["client_email"] = registered["client_email"]  # right name, wrong key
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    with pytest.raises(errors.ConfigurationError) as caught:
        await vertex(mock).complete(ASK, dep(vertex_credentials=str(path)), Exchange())
    assert "Invalid JWT Signature" in caught.value.message
    assert "PRIVATE KEY" not in caught.value.message and mock.chats == []
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        ("/nonexistent/sa.json", "does not exist"),
        ("{not json", "not valid JSON"),
        ('{"type": "service_account"}', "could not get a Google Cloud access token"),
    ],
)
async def test_unusable_credentials_are_configuration_errors(
    mock: MockGemini, credentials: str, words: str
) -> None:
    with pytest.raises(errors.ConfigurationError, match=words):
        await vertex(mock).complete(ASK, dep(vertex_credentials=credentials), Exchange())
    assert mock.seen == []


async def test_token_endpoint_failure_and_missing_env(
    mock: MockGemini, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock.token_failure = {"error": "invalid_grant", "error_description": "account disabled"}
    with pytest.raises(errors.ConfigurationError, match="account disabled"):
        await vertex(mock).complete(ASK, dep(vertex_credentials=str(key_file)), Exchange())
    monkeypatch.delenv("VERTEX_UNSET", raising=False)
    with pytest.raises(errors.ConfigurationError, match="VERTEX_UNSET"):
        await vertex(mock).complete(
            ASK, dep(vertex_credentials="os.environ/VERTEX_UNSET"), Exchange()
        )


async def test_an_expired_or_foreign_token_is_refused_by_the_mock(mock: MockGemini) -> None:
    import httpx

    url = mock.url + "/v1/projects/p/locations/l/publishers/google/models/m:generateContent"
    async with httpx.AsyncClient() as client:
        answer = await client.post(url, json={}, headers={"Authorization": "Bearer forged"})
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_stream_count_tokens_and_tuned_model_paths(mock: MockGemini, key_file: Path) -> None:
    d = dep(vertex_credentials=str(key_file), vertex_location="global")
    p = vertex(mock)
    mock.queue(GReply(text="streamed from vertex"))
    events = [
        e
        async for e in p.stream(
            ChatRequest(model="x", messages=ASK.messages, stream=True), d, Exchange()
        )
    ]
    assert "".join(getattr(e, "text", "") for e in events) == "streamed from vertex"
    assert mock.last.path.endswith(
        "/locations/global/publishers/google/models/gemini-2.5-pro:streamGenerateContent"
    )
    count = await p.count_tokens(ASK, d, {})
    assert count and "generateContentRequest" not in mock.seen[-1].body
    assert mock.seen[-1].body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    tuned = deployment(
        "public",
        "projects/p1/locations/us-east1/endpoints/123",
        params={"vertex_credentials": str(key_file)},
    )
    url, _ = await p.locate(tuned)
    assert url == mock.url + "/v1/projects/p1/locations/us-east1/endpoints/123"


async def test_provider_settings_are_defaults_under_the_deployment_params(
    mock: MockGemini, key_file: Path
) -> None:
    """Project and location may sit on the provider (the console's Vertex form)."""
    entry = ProviderEntry(
        5,
        "vtx",
        "vertex_ai",
        mock.url,
        str(key_file),
        {},
        "",
        None,
        settings={"vertex_project": "from-provider", "vertex_location": "asia-east1"},
    )
    mock.queue(GReply(text="a"), GReply(text="b"))
    await VertexAIProvider(entry).complete(ASK, dep(), Exchange())
    assert mock.last.path.startswith("/v1/projects/from-provider/locations/asia-east1/")
    await VertexAIProvider(entry).complete(ASK, dep(vertex_location="us-east5"), Exchange())
    assert mock.last.path.startswith("/v1/projects/from-provider/locations/us-east5/")
    with pytest.raises(errors.GatewayError, match="cannot list models"):
        await VertexAIProvider(entry).list_models()
