"""``POST /v1/responses/input_tokens`` through the official ``openai`` SDK
(``client.responses.input_tokens.count``), in process (the ASGI app on an httpx
transport): counted by the upstream's own counter where it has one (a Responses API
upstream's ``/responses/input_tokens``, Anthropic's ``count_tokens``, Gemini's
``countTokens``), else by the gateway's tokenizer, and answered in OpenAI's shape
(``{"object": "response.input_tokens", "input_tokens": N}``). Before, the path was a 404:
the SDK raised ``NotFoundError``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import openai
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http, lifecycle
from gateway.base.entries import ProviderEntry
from gateway.journal.record import Record
from gateway.server.asgi import application
from tests.gateway.entries import route, snapshot

MASTER = "sk-input-tokens-master"
RESPONSES = ProviderEntry(
    961, "resp", "openai_responses", "http://resp.test/v1", "sk-up", {}, "", None
)
ANTHROPIC = ProviderEntry(962, "ant", "anthropic", "http://ant.test", "sk-ant", {}, "", None)
GEMINI = ProviderEntry(963, "gem", "gemini", "http://gem.test/v1beta", "k", {}, "", None)
PLAIN = ProviderEntry(964, "vllm", "openai", "http://vllm.test/v1", "", {}, "", None)
TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]


@pytest.fixture
async def client(
    settings, monkeypatch: pytest.MonkeyPatch, snapshot_reset
) -> AsyncIterator[tuple[openai.AsyncOpenAI, list[httpx.Request], list[Record]]]:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    # served in process: the snapshot below stands for the start-up's (no database)
    monkeypatch.setattr(lifecycle, "_started_loop", asyncio.get_running_loop())
    records: list[Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    routes = [
        route("gpt-6-sol", "up-gpt-6-sol", provider=RESPONSES),
        route("claude", "claude-opus-5-5", provider=ANTHROPIC),
        route("gemini", "gemini-3.8-flash", provider=GEMINI),
        route("local", "llama", provider=PLAIN),
    ]
    registry.install(snapshot(*routes))
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if request.url.host == "down.test":  # a Responses server without the counter
            return httpx.Response(404, json={"error": {"message": "Not Found"}})
        if path.endswith("/responses/input_tokens"):
            return httpx.Response(200, json={"object": "response.input_tokens", "input_tokens": 42})
        if path.endswith("/messages/count_tokens"):
            return httpx.Response(200, json={"input_tokens": 17})
        if path.endswith(":countTokens"):
            return httpx.Response(200, json={"totalTokens": 23})
        return httpx.Response(404, json={"error": {"message": f"no {path} here"}})

    http.use_transport(httpx.MockTransport(upstream))
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http_client:
        sdk = openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key=MASTER, http_client=http_client, max_retries=0
        )
        yield sdk, seen, records
    http.use_transport(None)


def sent(request: httpx.Request) -> dict[str, Any]:
    return orjson.loads(request.content)


async def test_a_responses_upstream_counts_with_its_own_counter(client) -> None:
    sdk, seen, records = client
    counted = await sdk.responses.input_tokens.count(
        model="gpt-6-sol", input="How many tokens is this?", instructions="Be brief.", tools=TOOLS
    )
    assert (counted.object, counted.input_tokens) == ("response.input_tokens", 42)
    (request,) = seen
    assert str(request.url) == "http://resp.test/v1/responses/input_tokens"
    assert request.headers["authorization"] == "Bearer sk-up"  # the upstream's key
    body = sent(request)
    assert body["model"] == "up-gpt-6-sol"  # the deployment's model, not the route
    assert body["input"] == "How many tokens is this?" and body["instructions"] == "Be brief."
    assert body["tools"] == TOOLS and "store" not in body
    assert records[-1].endpoint == "input_tokens" and records[-1].cost_usd == 0


async def test_anthropic_and_gemini_upstreams_count_with_theirs(client) -> None:
    sdk, seen, _ = client
    claude = await sdk.responses.input_tokens.count(model="claude", input="Hello there")
    assert claude.input_tokens == 17
    assert seen[-1].url.path == "/v1/messages/count_tokens"
    body = sent(seen[-1])  # the Responses input written as Anthropic's messages
    assert body["model"] == "claude-opus-5-5"
    (message,) = body["messages"]
    assert message["role"] == "user" and "Hello there" in orjson.dumps(message).decode()
    gemini = await sdk.responses.input_tokens.count(model="gemini", input="Hello there")
    assert gemini.input_tokens == 23
    assert seen[-1].url.path.endswith("/models/gemini-3.8-flash:countTokens")


async def test_an_upstream_without_a_counter_is_counted_here(client) -> None:
    sdk, seen, _ = client
    raw = await sdk.responses.input_tokens.with_raw_response.count(
        model="local", input="one two three four five six seven eight nine ten"
    )
    counted = raw.parse()
    assert counted.object == "response.input_tokens" and 5 <= counted.input_tokens <= 40
    assert raw.headers["x-switchyard-token-count"] == "estimate"
    assert seen == []  # vLLM's OpenAI server has no counter: nothing went upstream
    # the more input, the more tokens (the count is of this request)
    longer = await sdk.responses.input_tokens.count(model="local", input="word " * 200)
    assert longer.input_tokens > counted.input_tokens


async def test_a_failing_counter_falls_back_to_the_tokenizer(client, snapshot_reset) -> None:
    sdk, seen, _ = client
    broken = replace(RESPONSES, base_url="http://down.test/v1")
    registry.install(snapshot(route("broken", "up", provider=broken)))
    raw = await sdk.responses.input_tokens.with_raw_response.count(model="broken", input="Hi")
    assert raw.parse().input_tokens > 0
    assert raw.headers["x-switchyard-token-count"] == "estimate"
    assert seen[-1].url.host == "down.test"  # it was asked (a 404), then counted here


async def test_errors_are_in_openais_shape(client) -> None:
    sdk, _, _ = client
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.responses.input_tokens.count(model="no-such-route", input="Hi")
    assert caught.value.body["message"]  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        await openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key="sk-wrong", http_client=sdk._client, max_retries=0
        ).responses.input_tokens.count(model="gpt-6-sol", input="Hi")
