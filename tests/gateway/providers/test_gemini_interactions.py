"""The ``gemini_interactions`` provider: where it posts, how it authenticates, and that
its stream, folded, equals its complete answer (``httpx.MockTransport`` serving the
golden fixtures of tests/fixtures/gemini_interactions)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.base import errors, http
from gateway.base.entries import ProviderEntry
from gateway.base.streaming import fold_events
from gateway.base.types import ChatRequest, ErrorEvent, Message, Text
from gateway.codecs import CODECS
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.gemini_interactions import GeminiInteractionsProvider

from ..entries import deployment

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gemini_interactions"
SECRET = "AIza-upstream-interactions-0123"
PROVIDER = ProviderEntry(41, "gi", "gemini_interactions", "", SECRET, {"x-extra": "1"}, "", None)
DEPLOYMENT = deployment("r", "gemini-3.5-flash", provider=PROVIDER, supports_reasoning=True)
REQUEST = ChatRequest(model="r", messages=[Message("user", [Text("hi")])])


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def serve(handler) -> list[httpx.Request]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http.use_transport(httpx.MockTransport(record))
    return seen


@pytest.fixture(autouse=True)
def _no_transport_leak():
    yield
    http.use_transport(None)


def test_the_kind_resolves_to_this_provider() -> None:
    adapter = adapter_for(PROVIDER)
    assert isinstance(adapter, GeminiInteractionsProvider)
    assert adapter.speaks is CODECS["gemini_interactions"]


async def test_complete_posts_to_interactions_with_the_key_in_a_header() -> None:
    seen = serve(lambda r: httpx.Response(200, content=fixture("text.json")))
    exchange = Exchange()
    response = await adapter_for(PROVIDER).complete(REQUEST, DEPLOYMENT, exchange)
    assert response.text() == "Hello! How can I help?"
    sent = seen[0]
    assert str(sent.url) == "https://generativelanguage.googleapis.com/v1beta/interactions"
    assert sent.headers["x-goog-api-key"] == SECRET and SECRET not in str(sent.url)
    assert sent.headers["api-revision"] == "2026-05-20" and sent.headers["x-extra"] == "1"
    body = orjson.loads(sent.content)
    assert body["model"] == "gemini-3.5-flash" and body["store"] is False
    assert exchange.usage.input_tokens == 12 and exchange.status == 200


@pytest.mark.parametrize(
    ("base", "version", "url"),
    [
        ("http://gw.test/", "", "http://gw.test/v1beta/interactions"),
        ("http://gw.test", "v1", "http://gw.test/v1/interactions"),
        ("http://gw.test/v1", "", "http://gw.test/v1/interactions"),
    ],
)
async def test_base_url_and_api_version(base: str, version: str, url: str) -> None:
    seen = serve(lambda r: httpx.Response(200, content=fixture("text.json")))
    entry = replace(PROVIDER, base_url=base, api_version=version)
    await adapter_for(entry).complete(REQUEST, replace(DEPLOYMENT, provider=entry), Exchange())
    assert str(seen[0].url) == url


@pytest.mark.parametrize("name", ["text", "reasoning_tools"])
async def test_stream_folds_to_the_whole_answer(name: str) -> None:
    seen = serve(lambda r: httpx.Response(200, content=fixture(f"{name}.sse")))
    request = replace(REQUEST, stream=True)
    exchange = Exchange()
    events = [e async for e in adapter_for(PROVIDER).stream(request, DEPLOYMENT, exchange)]
    assert orjson.loads(seen[0].content)["stream"] is True
    assert seen[0].headers["accept"] == "text/event-stream"
    serve(lambda r: httpx.Response(200, content=fixture(f"{name}.json")))
    whole = await adapter_for(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())
    assert fold_events(events) == whole
    assert exchange.usage == whole.usage


async def test_an_error_mid_stream_is_an_error_event() -> None:
    serve(lambda r: httpx.Response(200, content=fixture("error_midstream.sse")))
    request = replace(REQUEST, stream=True)
    events = [e async for e in adapter_for(PROVIDER).stream(request, DEPLOYMENT, Exchange())]
    assert isinstance(events[-1], ErrorEvent)


async def test_upstream_errors_keep_their_status() -> None:
    serve(lambda r: httpx.Response(429, content=fixture("error_429.json")))
    with pytest.raises(errors.UpstreamError) as caught:
        await adapter_for(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())
    assert caught.value.status == 429 and caught.value.retryable
    serve(lambda r: httpx.Response(400, content=fixture("error_400_key.json")))
    with pytest.raises(errors.UpstreamError) as refused:
        await adapter_for(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())
    assert refused.value.status == 401


async def test_a_missing_key_is_a_configuration_error_before_any_connection() -> None:
    seen = serve(lambda r: httpx.Response(200, content=fixture("text.json")))
    entry = replace(PROVIDER, secret="")
    with pytest.raises(errors.ConfigurationError):
        await adapter_for(entry).complete(REQUEST, replace(DEPLOYMENT, provider=entry), Exchange())
    assert seen == []


async def test_a_refused_deployment_param_never_reaches_the_interactions_api() -> None:
    """The model fixes its sampling (the catalog's ``rejects``): the deployment's
    temperature is left out, noted as the Anthropic provider notes it; the upstream here
    refuses it as Google does (``tests.google_rules``)."""
    from gateway.catalog import entry_for
    from gateway.catalog.matching import KindVendor
    from tests import google_rules

    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        problem = google_rules.refusal(body["model"], body.get("generation_config"))
        if problem:
            error = {"code": 400, "message": problem, "status": "INVALID_ARGUMENT"}
            return httpx.Response(400, json={"error": error})
        return httpx.Response(200, content=fixture("text.json"))

    seen = serve(handler)
    catalog = entry_for(KindVendor("gemini"), "", "gemini-3.7-flash")
    entry = replace(
        DEPLOYMENT, model="gemini-3.7-flash", catalog=catalog, params={"temperature": 0.2}
    )
    adapter = adapter_for(PROVIDER)
    assert adapter.dropped_params(entry) == [
        ("temperature (deployment params)", "dropped", "the model refuses it")
    ]
    response = await adapter.complete(REQUEST, entry, Exchange())
    assert response.text() == "Hello! How can I help?"
    assert "temperature" not in orjson.loads(seen[-1].content).get("generation_config", {})
    # control: the same param on a model that takes it goes, and nothing is noted
    taking = replace(entry, model="gemini-3.5-flash", catalog=None)
    assert adapter.dropped_params(taking) == []
    await adapter.complete(REQUEST, taking, Exchange())
    assert orjson.loads(seen[-1].content)["generation_config"] == {"temperature": 0.2}
