"""The ``openai_responses`` provider: HTTP and auth around the Responses codec, and the
whole service path from Chat Completions and Anthropic clients to a Responses upstream
(``httpx.MockTransport`` serving the golden fixtures)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import errors, http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.base.streaming import fold_events
from gateway.base.types import ChatRequest, ErrorEvent, Message, Reasoning, Text
from gateway.codecs import CODECS
from gateway.codecs.openai_responses import codec as CODEC
from gateway.codecs.openai_responses import maps
from gateway.core import service
from gateway.providers import openai_responses as openai_responses_provider
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.openai_responses import OpenAIResponsesProvider

from ..entries import deployment, route, snapshot

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openai_responses"
SECRET = "sk-upstream-responses-0123456789"
PROVIDER = ProviderEntry(
    31, "oai-responses", "openai_responses", "https://api.test/v1/", SECRET,
    {"OpenAI-Organization": "org-x"}, "", None,
)  # fmt: skip
DEPLOYMENT = deployment("r", "o3-pro", provider=PROVIDER, supports_reasoning=True)
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


# --- the provider ----------------------------------------------------------------------


def test_the_kind_resolves_to_this_provider() -> None:
    assert isinstance(adapter_for(PROVIDER), OpenAIResponsesProvider)
    assert adapter_for(PROVIDER).speaks is CODECS["responses"]  # the one name of the format


async def test_complete_posts_to_responses_with_bearer_auth_and_extra_headers() -> None:
    seen = serve(lambda r: httpx.Response(200, content=fixture("text.json")))
    exchange = Exchange()
    response = await adapter_for(PROVIDER).complete(REQUEST, DEPLOYMENT, exchange)
    assert response.text() == "Hello! How can I help?"
    assert str(seen[0].url) == "https://api.test/v1/responses"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert seen[0].headers["openai-organization"] == "org-x"
    body = orjson.loads(seen[0].content)
    assert body["model"] == "o3-pro" and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert exchange.usage.cache_read_tokens == 16 and exchange.status == 200


async def test_an_empty_base_url_is_openais() -> None:
    seen = serve(lambda r: httpx.Response(200, content=fixture("text.json")))
    entry = ProviderEntry(32, "oai", "openai_responses", "", SECRET, {}, "", None)
    await adapter_for(entry).complete(
        REQUEST, deployment("r", "o3-pro", provider=entry), Exchange()
    )
    assert str(seen[0].url) == "https://api.openai.com/v1/responses"


async def test_stream_folds_to_the_whole_answer() -> None:
    seen = serve(lambda r: httpx.Response(200, content=fixture("reasoning_tools.sse")))
    request = replace(REQUEST, stream=True)
    events = [e async for e in adapter_for(PROVIDER).stream(request, DEPLOYMENT, Exchange())]
    assert orjson.loads(seen[0].content)["stream"] is True
    assert fold_events(events) == CODEC.parse_response(json.loads(fixture("reasoning_tools.json")))


async def test_a_stream_that_fails_before_output_raises_for_routing() -> None:
    serve(lambda r: httpx.Response(200, content=fixture("failed.sse")))
    request = replace(REQUEST, stream=True)
    with pytest.raises(errors.UpstreamError) as caught:
        [e async for e in adapter_for(PROVIDER).stream(request, DEPLOYMENT, Exchange())]
    assert caught.value.status == 429 and caught.value.retryable


async def test_a_stream_that_fails_after_output_ends_in_an_error_event() -> None:
    serve(lambda r: httpx.Response(200, content=fixture("error_midstream.sse")))
    request = replace(REQUEST, stream=True)
    events = [e async for e in adapter_for(PROVIDER).stream(request, DEPLOYMENT, Exchange())]
    assert isinstance(events[-1], ErrorEvent) and events[-1].error.status == 500


async def test_error_envelope_keeps_status_and_retry_after() -> None:
    serve(
        lambda r: httpx.Response(
            429, content=fixture("error_429.json"), headers={"retry-after": "3"}
        )
    )
    with pytest.raises(errors.UpstreamError) as caught:
        await adapter_for(PROVIDER).complete(REQUEST, DEPLOYMENT, Exchange())
    assert caught.value.status == 429 and caught.value.retry_after == 3
    assert SECRET not in caught.value.message


async def test_an_unset_secret_is_a_configuration_error_without_connecting(monkeypatch) -> None:
    monkeypatch.delenv("SYTEST_UNSET_KEY", raising=False)
    seen = serve(lambda r: httpx.Response(200, content=fixture("text.json")))
    provider = replace(PROVIDER, secret="os.environ/SYTEST_UNSET_KEY")
    with pytest.raises(errors.ConfigurationError, match="SYTEST_UNSET_KEY"):
        await adapter_for(provider).complete(REQUEST, DEPLOYMENT, Exchange())
    assert seen == []


def test_unsupported_params_follow_the_deployment() -> None:
    request = replace(REQUEST, stop=["x"], temperature=0.2)
    adapter = adapter_for(PROVIDER)
    # stop is not one: the gateway emulates it (gateway.core.emulation)
    assert adapter.unsupported_params(request, DEPLOYMENT) == ["temperature"]
    plain = replace(DEPLOYMENT, supports_reasoning=False)
    assert adapter.unsupported_params(request, plain) == []


async def test_list_models_asks_the_models_endpoint_with_the_same_auth() -> None:
    listing = {
        "object": "list",
        "data": [{"id": "o3-pro", "object": "model"}, {"id": "codex-mini"}],
    }
    seen = serve(lambda r: httpx.Response(200, json=listing))
    assert await adapter_for(PROVIDER).list_models() == ["o3-pro", "codex-mini"]
    assert str(seen[0].url) == "https://api.test/v1/models" and seen[0].method == "GET"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    serve(lambda r: httpx.Response(401, json={"error": {"message": "Incorrect API key"}}))
    with pytest.raises(errors.UpstreamError, match="Incorrect API key"):
        await adapter_for(PROVIDER).list_models()


# --- through the service ---------------------------------------------------------------


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    """Routes ``resp`` (drop_params) and ``strict-resp`` (no drop_params) to a Responses
    upstream; the handler answers from ``answers`` (name of a fixture per call)."""
    monkeypatch.setattr(journal, "record", lambda record: None)
    base = route("resp", "o3-pro", max_attempts=1, provider=PROVIDER)
    base = replace(
        base,
        deployments=(
            replace(base.deployments[0], supports_reasoning=True, max_output_tokens=4096),
        ),
    )
    twice = route("resp-twice", "o3-pro", "o3-pro", max_attempts=2, provider=PROVIDER)
    registry.install(snapshot(base, replace(base, name="strict-resp", drop_params=False), twice))
    answers: list[tuple[int, str]] = []
    received: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(orjson.loads(request.content))
        status, name = answers.pop(0)
        return httpx.Response(status, content=fixture(name))

    http.use_transport(httpx.MockTransport(handler))
    yield answers, received


async def call(dialect: str, body: dict) -> service.Reply | service.StreamReply:
    return await service.handle("chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER))


async def test_chat_client_gets_reasoning_text_and_parallel_tool_calls(gateway) -> None:
    answers, received = gateway
    answers.append((200, "reasoning_tools.json"))
    reply = await call(
        "openai",
        {
            "model": "resp",
            "messages": [{"role": "user", "content": "Weather?"}],
            "reasoning_effort": "high",
        },
    )
    assert reply.status == 200
    data = orjson.loads(reply.body)
    message = data["choices"][0]["message"]
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] == "Let me look both up."
    assert "Checking two cities" in message["reasoning_content"]
    assert [c["id"] for c in message["tool_calls"]] == ["call_P4r1sWe4th3r", "call_T0ky0We4th3r"]
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] == 320
    assert received[0]["reasoning"] == {"effort": "high", "summary": "auto"}


async def test_anthropic_client_streams_thinking_with_the_packed_signature(gateway) -> None:
    answers, received = gateway
    answers.append((200, "reasoning_tools.sse"))
    reply = await call(
        "anthropic",
        {
            "model": "resp",
            "max_tokens": 20000,
            "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "Weather?"}],
        },
    )
    assert isinstance(reply, service.StreamReply) and reply.status == 200
    text = b"".join([c async for c in reply.chunks]).decode()
    assert '"type":"thinking_delta"' in text.replace(" ", "")
    signature = maps.pack_reasoning(
        "gAAAAABor-EnCRyPtEdReAsOnInGbLoB_0123456789abcdefABCDEF-_==",
        "rs_68af1c0f11c881939e0d7c2a3b4c5d6e0c1b2d3e4f5a6b7c",
    )
    assert signature in text
    assert '"stop_reason":"tool_use"' in text.replace(" ", "")
    assert received[0]["max_output_tokens"] == 4096 and received[0]["reasoning"]["effort"] == "low"


async def test_upstream_rate_limit_is_the_callers_own_envelope(gateway) -> None:
    answers, _ = gateway
    answers.append((429, "error_429.json"))
    reply = await call(
        "anthropic",
        {"model": "resp", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
    )
    assert reply.status == 429
    assert orjson.loads(reply.body)["error"]["type"] == "rate_limit_error"
    answers.append((429, "error_429.json"))
    reply = await call("openai", {"model": "resp", "messages": [{"role": "user", "content": "x"}]})
    assert reply.status == 429
    assert orjson.loads(reply.body)["error"]["type"] == "rate_limit_error"


async def test_stop_is_emulated_on_either_route_never_dropped(gateway) -> None:
    """The Responses API has no stop sequences: the gateway cuts the text at the first
    one (a route without drop_params takes the request too: nothing is dropped)."""
    answers, received = gateway
    body = {"model": "resp", "messages": [{"role": "user", "content": "x"}], "stop": ["How"]}
    for model in ("resp", "strict-resp"):
        answers.append((200, "text.json"))
        reply = await call("openai", {**body, "model": model})
        assert reply.status == 200 and "stop" not in received[-1]
        choice = orjson.loads(reply.body)["choices"][0]
        assert choice["message"]["content"] == "Hello! "
        assert choice["finish_reason"] == "stop"
    answers.append((200, "text.json"))
    reply = await call("anthropic", {**body, "max_tokens": 50, "stop_sequences": ["can", "How"]})
    data = orjson.loads(reply.body)
    assert data["content"] == [{"type": "text", "text": "Hello! "}]
    assert data["stop_reason"] == "stop_sequence" and data["stop_sequence"] == "How"
    # the upstream billed all 8 output tokens it generated: the caller sees them
    assert data["usage"]["output_tokens"] == 8


async def test_a_stop_split_across_stream_deltas_is_caught(gateway) -> None:
    answers, _ = gateway
    answers.append((200, "text.sse"))  # deltas "Hello!", " How can", " I help?"
    reply = await call(
        "anthropic",
        {
            "model": "resp",
            "max_tokens": 50,
            "stream": True,
            "stop_sequences": ["can I"],
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert isinstance(reply, service.StreamReply)
    text = b"".join([c async for c in reply.chunks]).decode()
    deltas = [
        orjson.loads(line[6:])["delta"]
        for line in text.splitlines()
        if line.startswith("data: ") and '"content_block_delta"' in line
    ]
    assert "".join(d["text"] for d in deltas) == "Hello! How "
    ending = next(orjson.loads(line[6:]) for line in text.splitlines() if '"message_delta"' in line)
    assert ending["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "can I"}
    assert ending["usage"]["output_tokens"] == 8
    assert text.count("event: content_block_stop") == 1 and "event: message_stop" in text


async def test_max_tokens_below_the_floor_sends_the_floor_and_cuts_the_answer(gateway) -> None:
    answers, received = gateway
    answers.append((200, "text.json"))
    body = {"model": "resp", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]}
    reply = await call("openai", body)
    assert received[-1]["max_output_tokens"] == maps.MIN_OUTPUT_TOKENS == 16
    choice = orjson.loads(reply.body)["choices"][0]
    assert choice["message"]["content"] == "Hello!"  # "Hello" "!": two tokens
    assert choice["finish_reason"] == "length"
    answers.append((200, "text.sse"))
    reply = await call("anthropic", {**body, "stream": True, "max_tokens": 3})
    text = b"".join([c async for c in reply.chunks]).decode()
    deltas = [
        orjson.loads(line[6:])["delta"]["text"]
        for line in text.splitlines()
        if line.startswith("data: ") and '"text_delta"' in line
    ]
    assert "".join(deltas) == "Hello! How"
    assert '"stop_reason":"max_tokens"' in text.replace(" ", "")


async def test_upstream_refusing_the_gateways_key_is_a_502_not_the_callers_401(gateway) -> None:
    answers, _ = gateway
    answers.append((401, "error_429.json"))
    reply = await call("openai", {"model": "resp", "messages": [{"role": "user", "content": "x"}]})
    assert reply.status == 502
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == "api_error" and "credentials" in error["message"]
    assert SECRET not in reply.body.decode()


async def test_overload_is_the_callers_overload_and_fails_over(gateway) -> None:
    answers, received = gateway
    answers.append((503, "error_503_overloaded.json"))
    body = {"model": "resp", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    reply = await call("anthropic", body)
    assert reply.status == 529
    assert orjson.loads(reply.body)["error"]["type"] == "overloaded_error"
    answers.extend([(503, "error_503_overloaded.json"), (200, "text.json")])
    reply = await call("anthropic", {**body, "model": "resp-twice"})
    assert reply.status == 200 and len(received) == 3
    assert orjson.loads(reply.body)["content"][0]["text"] == "Hello! How can I help?"


async def test_a_stream_failing_before_output_fails_over_to_the_next_attempt(gateway) -> None:
    """response.failed before any output raises inside the provider (Start is held
    back), so routing retries: the caller sees one clean stream."""
    answers, received = gateway
    answers.extend([(200, "failed.sse"), (200, "text.sse")])
    reply = await call(
        "openai",
        {"model": "resp-twice", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    )
    assert isinstance(reply, service.StreamReply) and reply.status == 200
    text = b"".join([c async for c in reply.chunks]).decode()
    assert len(received) == 2
    assert "Hello!" in text and "error" not in text and text.rstrip().endswith("[DONE]")


UNVERIFIED = {
    "error": {
        "message": "Your organization must be verified to generate reasoning summaries.",
        "type": "invalid_request_error",
        "param": "reasoning.summary",
        "code": "unsupported_value",
    }
}


@pytest.fixture
def unverified_org(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """An upstream that refuses any body asking for a reasoning summary."""
    monkeypatch.setattr(openai_responses_provider, "_NO_SUMMARY_UNTIL", {})
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        bodies.append(body)
        if "summary" in body.get("reasoning", {}):
            return httpx.Response(400, json=UNVERIFIED)
        name = "text.sse" if body.get("stream") else "text.json"
        return httpx.Response(200, content=fixture(name))

    http.use_transport(httpx.MockTransport(handler))
    return bodies


THINK = replace(REQUEST, reasoning=Reasoning(effort="high"))


async def test_unverified_org_is_retried_without_a_summary_then_not_asked_again(
    unverified_org,
) -> None:
    exchange = Exchange()
    response = await adapter_for(PROVIDER).complete(THINK, DEPLOYMENT, exchange)
    assert response.text() == "Hello! How can I help?" and exchange.status == 200
    assert b"verified" not in exchange.response_body  # the refused attempt is not kept
    assert [b["reasoning"] for b in unverified_org] == [
        {"effort": "high", "summary": "auto"},
        {"effort": "high"},
    ]
    stream = replace(THINK, stream=True)
    events = [e async for e in adapter_for(PROVIDER).stream(stream, DEPLOYMENT, Exchange())]
    assert fold_events(events).text() == "Hello! How can I help?"
    assert len(unverified_org) == 3 and unverified_org[2]["reasoning"] == {"effort": "high"}


async def test_unverified_org_stream_is_retried_before_its_first_event(unverified_org) -> None:
    stream = replace(THINK, stream=True)
    events = [e async for e in adapter_for(PROVIDER).stream(stream, DEPLOYMENT, Exchange())]
    assert fold_events(events).text() == "Hello! How can I help?"
    assert [b["reasoning"] for b in unverified_org] == [
        {"effort": "high", "summary": "auto"},
        {"effort": "high"},
    ]


async def test_other_400s_are_not_retried(unverified_org, monkeypatch) -> None:
    serve(lambda r: httpx.Response(400, content=fixture("error_400_context.json")))
    with pytest.raises(errors.UpstreamError, match="context window"):
        await adapter_for(PROVIDER).complete(THINK, DEPLOYMENT, Exchange())
    assert openai_responses_provider._NO_SUMMARY_UNTIL == {}
