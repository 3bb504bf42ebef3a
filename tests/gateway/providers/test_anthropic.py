"""The Anthropic adapter: request translation, golden stream transcripts, HTTP
behaviour (what the upstream receives) and error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import (
    ConfigurationError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamTimeout,
)
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ChatRequest,
    ErrorEvent,
    Finish,
    Message,
    PartStart,
    PartStop,
    Start,
    Text,
    TextDelta,
    ThinkingDelta,
    Tool,
    ToolArgsDelta,
    Usage,
    UsageEvent,
)
from gateway.codecs.anthropic.outbound import StreamTranslator, parse_response
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Exchange
from tests import anthropic_rules
from tests.gateway import entries

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
MODEL = "claude-sonnet-4-5-20250929"
SECRET = "sk-ant-provider-secret"
GATEWAY_KEY = "sk-switchyard-caller-key"
TRANSCRIPTS = ["text", "tool_use", "parallel_tools", "thinking"]


def transcript(name: str) -> bytes:
    return (FIXTURES / f"{name}.sse").read_bytes()


def transcript_events(name: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, data) pairs of a fixture transcript, in order."""
    pairs = []
    for chunk in transcript(name).decode().split("\n\n"):
        if not chunk.strip():
            continue
        fields = dict(line.split(": ", 1) for line in chunk.splitlines())
        pairs.append((fields["event"], json.loads(fields["data"])))
    return pairs


def translated(name: str) -> list:
    translator = StreamTranslator()
    events = []
    for _event, data in transcript_events(name):
        events += translator.feed(data)
    return events + translator.finish()


def body_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def make_provider(**overrides: Any) -> ProviderEntry:
    values = dict(
        id=1,
        name="anthropic-main",
        kind="anthropic",
        base_url="https://api.example.test/",
        secret=SECRET,
        extra_headers={"x-team": "core"},
        api_version="",
        timeout=None,
    )
    values.update(overrides)
    return ProviderEntry(**values)


def make_deployment(provider: ProviderEntry | None = None, **overrides: Any) -> DeploymentEntry:
    values: dict[str, Any] = dict(
        id=7,
        provider=provider or make_provider(),
        input_price=Decimal(3),
        output_price=Decimal(15),
        cache_read_price=Decimal("0.3"),
        cache_write_price=Decimal("3.75"),
        context_window=200_000,
        max_output_tokens=64_000,
        supports_reasoning=True,
    )
    values.update(overrides)
    return entries.deployment("claude", values.pop("model", "claude-sonnet-4-5"), **values)


def user(text: str) -> Message:
    return Message("user", [Text(text)])


def request(**overrides: Any) -> ChatRequest:
    values: dict[str, Any] = dict(model="claude", messages=[user("hi")], max_tokens=1000)
    values.update(overrides)
    return ChatRequest(**values)


EXPECTED_EVENTS = {
    "text": [
        Start("msg_01TextXyZ", MODEL, usage=Usage(25, 1, 10, 0)),
        PartStart(0, "text"),
        TextDelta(0, "Hello"),
        TextDelta(0, "! How can"),
        TextDelta(0, " I help you today?"),
        PartStop(0),
        UsageEvent(Usage(25, 15, 10, 0)),
        Finish("stop"),
    ],
    "tool_use": [
        Start("msg_01ToolAbc", MODEL, usage=Usage(412, 2)),
        PartStart(0, "text"),
        TextDelta(0, "I'll check the weather"),
        TextDelta(0, " in Paris."),
        PartStop(0),
        PartStart(1, "tool_call", "toolu_01WeatherA", "get_weather"),
        ToolArgsDelta(1, '{"loc'),
        ToolArgsDelta(1, 'ation": "Par'),
        ToolArgsDelta(1, 'is, France"'),
        ToolArgsDelta(1, ', "unit": "c'),
        ToolArgsDelta(1, 'elsius"}'),
        PartStop(1),
        UsageEvent(Usage(412, 68)),
        Finish("tool_calls"),
    ],
    "parallel_tools": [
        Start("msg_01ParLel", MODEL, usage=Usage(530, 1, 0, 1200)),
        PartStart(0, "tool_call", "toolu_01Read", "Read"),
        ToolArgsDelta(0, '{"file_path":'),
        ToolArgsDelta(0, ' "/src/app.py"}'),
        PartStop(0),
        PartStart(1, "tool_call", "toolu_02Grep", "Grep"),
        ToolArgsDelta(1, '{"pattern": "def '),
        ToolArgsDelta(1, 'main", "path": "/src"}'),
        PartStop(1),
        PartStart(2, "tool_call", "toolu_03Ls", "LS"),
        PartStop(2),
        UsageEvent(Usage(530, 91, 0, 1200)),
        Finish("tool_calls"),
    ],
    "thinking": [
        Start("msg_01ThinK", MODEL, usage=Usage(88, 3)),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "The user asks 27 * 453."),
        ThinkingDelta(0, " 27*453 = 12231."),
        ThinkingDelta(0, signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"),
        PartStop(0),
        PartStart(1, "thinking"),
        ThinkingDelta(
            1, redacted="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
        ),
        PartStop(1),
        PartStart(2, "text"),
        TextDelta(2, "27 × 453 = "),
        TextDelta(2, "12,231."),
        PartStop(2),
        UsageEvent(Usage(88, 240)),
        Finish("stop_sequence", "</answer>"),
    ],
}


# --- build_body --------------------------------------------------------------------------


# --- responses and golden stream transcripts ---------------------------------------------


# --- HTTP: what the upstream receives, and what comes back ---------------------------------


class Upstream:
    """A MockTransport recording requests; ``reply`` sets the answer."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.reply: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(500)

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        return anthropic_rules.refused(req) or self.reply(req)  # what the API refuses

    @property
    def body(self) -> dict[str, Any]:
        return orjson.loads(self.requests[-1].content)


@pytest.fixture
def upstream():
    mock = Upstream()
    http.use_transport(httpx.MockTransport(mock))
    yield mock
    http.use_transport(None)


def sse_response(content: bytes | Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=content)


def caller_request(**overrides: Any) -> ChatRequest:
    headers = {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "interleaved-thinking-2025-05-14",
    }
    return request(headers=headers, **overrides)


async def collect(iterator) -> list:
    return [item async for item in iterator]


async def test_complete_posts_to_messages_with_the_provider_secret(upstream):
    upstream.reply = lambda r: httpx.Response(200, json=body_fixture("text"))
    adapter, exchange = AnthropicProvider(make_provider()), Exchange()
    response = await adapter.complete(caller_request(), make_deployment(), exchange)
    sent = upstream.requests[0]
    assert str(sent.url) == "https://api.example.test/v1/messages"
    assert sent.headers["x-api-key"] == SECRET
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.headers["x-team"] == "core"
    assert "authorization" not in sent.headers
    assert GATEWAY_KEY not in str(sent.headers)
    assert upstream.body["model"] == "claude-sonnet-4-5" and "stream" not in upstream.body
    assert response == parse_response(body_fixture("text"))
    assert exchange.usage == Usage(25, 15, 10, 0) and exchange.status == 200
    assert exchange.url == "https://api.example.test/v1/messages"


async def test_default_host_and_version(upstream):
    upstream.reply = lambda r: httpx.Response(200, json=body_fixture("text"))
    adapter = AnthropicProvider(make_provider(base_url="", extra_headers={}))
    await adapter.complete(request(), make_deployment(), Exchange())
    sent = upstream.requests[0]
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in sent.headers


async def test_secret_from_environment(upstream, monkeypatch):
    monkeypatch.setenv("SYTEST_ANTHROPIC_KEY", "sk-from-env")
    upstream.reply = lambda r: httpx.Response(200, json=body_fixture("text"))
    adapter = AnthropicProvider(make_provider(secret="os.environ/SYTEST_ANTHROPIC_KEY"))
    await adapter.complete(request(), make_deployment(), Exchange())
    assert upstream.requests[0].headers["x-api-key"] == "sk-from-env"


async def test_missing_env_secret_is_named(upstream, monkeypatch):
    monkeypatch.delenv("SYTEST_MISSING", raising=False)
    adapter = AnthropicProvider(make_provider(secret="os.environ/SYTEST_MISSING"))
    # a configuration error (issue #12): routing moves on without retry or cooldown
    with pytest.raises(ConfigurationError) as caught:
        await adapter.complete(request(), make_deployment(), Exchange())
    assert caught.value.status == 500 and "SYTEST_MISSING" in caught.value.message
    assert upstream.requests == []


def error_reply(status: int, kind: str, message: str, headers: dict | None = None):
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return lambda r: httpx.Response(status, json=body, headers=headers)


async def test_rate_limit_passes_status_message_and_retry_after(upstream):
    upstream.reply = error_reply(
        429, "rate_limit_error", "Number of request tokens has exceeded", {"retry-after": "7"}
    )
    with pytest.raises(UpstreamError) as caught:
        await AnthropicProvider(make_provider()).complete(request(), make_deployment(), Exchange())
    error = caught.value
    assert (error.status, error.kind, error.retry_after) == (429, "rate_limit_error", 7.0)
    assert error.message == "Number of request tokens has exceeded" and error.retryable
    assert SECRET not in error.message


async def test_529_is_overloaded_and_500_is_retryable(upstream):
    upstream.reply = error_reply(529, "overloaded_error", "Overloaded")
    with pytest.raises(UpstreamOverloaded) as overloaded:
        await AnthropicProvider(make_provider()).complete(request(), make_deployment(), Exchange())
    assert overloaded.value.status == 529
    upstream.reply = error_reply(500, "api_error", "Internal server error")
    with pytest.raises(UpstreamError) as failed:
        await AnthropicProvider(make_provider()).complete(request(), make_deployment(), Exchange())
    assert failed.value.status == 500 and failed.value.retryable


async def test_bad_request_is_not_retryable(upstream):
    upstream.reply = error_reply(
        400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
    )
    with pytest.raises(UpstreamError) as caught:
        await AnthropicProvider(make_provider()).complete(request(), make_deployment(), Exchange())
    assert caught.value.status == 400 and not caught.value.retryable
    assert caught.value.context_window_exceeded


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ReadTimeout("read timed out"), UpstreamTimeout),
        (httpx.ConnectError("[Errno 111] Connection refused"), UpstreamConnectionError),
    ],
)
async def test_transport_failures_map(upstream, raised, expected):
    def fail(req):
        raise raised

    upstream.reply = fail
    with pytest.raises(expected):
        await AnthropicProvider(make_provider()).complete(request(), make_deployment(), Exchange())
    with pytest.raises(expected):
        await collect(
            AnthropicProvider(make_provider()).stream(request(), make_deployment(), Exchange())
        )


@pytest.mark.parametrize("name", TRANSCRIPTS)
async def test_stream_yields_golden_events_and_folds_to_complete(upstream, name):
    adapter = AnthropicProvider(make_provider())
    upstream.reply = lambda r: sse_response(transcript(name))
    exchange = Exchange()
    events = await collect(adapter.stream(caller_request(stream=True), make_deployment(), exchange))
    assert events == EXPECTED_EVENTS[name]
    assert upstream.body["stream"] is True
    assert upstream.requests[0].headers["x-api-key"] == SECRET
    assert exchange.usage == fold_events(events).usage
    upstream.reply = lambda r: httpx.Response(200, json=body_fixture(name))
    assert fold_events(events) == await adapter.complete(
        caller_request(), make_deployment(), Exchange()
    )


async def test_stream_failure_before_the_first_event_raises(upstream):
    upstream.reply = error_reply(529, "overloaded_error", "Overloaded")
    with pytest.raises(UpstreamOverloaded):
        await collect(
            AnthropicProvider(make_provider()).stream(request(), make_deployment(), Exchange())
        )
    error_first = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    upstream.reply = lambda r: sse_response(error_first)
    with pytest.raises(UpstreamOverloaded):
        await collect(
            AnthropicProvider(make_provider()).stream(request(), make_deployment(), Exchange())
        )


async def test_stream_error_after_the_first_event_is_yielded(upstream):
    upstream.reply = lambda r: sse_response(transcript("overloaded_midstream"))
    events = await collect(
        AnthropicProvider(make_provider()).stream(request(), make_deployment(), Exchange())
    )
    assert [type(e).__name__ for e in events] == ["Start", "PartStart", "TextDelta", "ErrorEvent"]
    assert isinstance(events[-1].error, UpstreamOverloaded)


async def test_connection_lost_mid_stream_is_yielded_as_error(upstream):
    head = transcript("text").split(b"event: content_block_stop")[0]

    async def broken():
        yield head
        raise httpx.ReadError("connection reset by peer")

    upstream.reply = lambda r: sse_response(broken())
    events = await collect(
        AnthropicProvider(make_provider()).stream(request(), make_deployment(), Exchange())
    )
    assert isinstance(events[0], Start) and isinstance(events[-1], ErrorEvent)
    assert isinstance(events[-1].error, UpstreamConnectionError)
    assert sum(isinstance(e, TextDelta) for e in events) == 3


async def test_stream_cut_without_message_stop_is_an_error(upstream):
    cut = transcript("text").split(b"event: message_delta")[0]
    upstream.reply = lambda r: sse_response(cut)
    events = await collect(
        AnthropicProvider(make_provider()).stream(request(), make_deployment(), Exchange())
    )
    assert isinstance(events[-1], ErrorEvent) and not any(isinstance(e, Finish) for e in events)


async def test_passthrough_keeps_fields_rewrites_model_and_forwards_headers(upstream):
    upstream.reply = lambda r: httpx.Response(200, json=body_fixture("text"))
    inbound = {
        "model": "claude",
        "max_tokens": 200_000,
        "messages": [{"role": "user", "content": "hi"}],
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    }
    exchange = Exchange()
    data = await AnthropicProvider(make_provider()).passthrough(
        inbound, make_deployment(), exchange, {"anthropic-beta": "context-management-2025-06-27"}
    )
    assert data == body_fixture("text")
    assert upstream.body == {**inbound, "model": "claude-sonnet-4-5", "max_tokens": 64_000}
    assert upstream.requests[0].headers["anthropic-beta"] == "context-management-2025-06-27"
    assert exchange.usage == Usage(25, 15, 10, 0)
    assert inbound["model"] == "claude"  # the caller's dict is untouched


async def test_passthrough_stream_forwards_every_event_byte_for_byte(upstream):
    upstream.reply = lambda r: sse_response(transcript("tool_use"))
    pairs = await collect(
        AnthropicProvider(make_provider()).passthrough_stream(
            {"model": "claude", "max_tokens": 10, "messages": [], "stream": True},
            make_deployment(),
            Exchange(),
            {},
        )
    )
    assert b"".join(raw for raw, _ in pairs) == transcript("tool_use")
    assert [e for _, events in pairs for e in events] == EXPECTED_EVENTS["tool_use"]
    # what arrived together is forwarded in one piece, but for the first token, which
    # goes at once: up to the first content delta, then the rest
    assert len(pairs) == 2
    first_delta = [
        i
        for i, e in enumerate(EXPECTED_EVENTS["tool_use"])
        if isinstance(e, TextDelta | ToolArgsDelta | ThinkingDelta)
    ][0]
    assert len(pairs[0][1]) == first_delta + 1


async def test_passthrough_stream_forwards_events_as_they_arrive(upstream):
    events = [e + b"\n\n" for e in transcript("tool_use").split(b"\n\n") if e.strip()]

    async def one_event_per_read():
        for event in events:
            yield event

    upstream.reply = lambda r: sse_response(one_event_per_read())
    pairs = await collect(
        AnthropicProvider(make_provider()).passthrough_stream(
            {"model": "claude", "max_tokens": 10, "messages": [], "stream": True},
            make_deployment(),
            Exchange(),
            {},
        )
    )
    assert [raw for raw, _ in pairs] == events
    assert [e for _, events in pairs for e in events] == EXPECTED_EVENTS["tool_use"]
    assert pairs[1][1] == []  # the ping carries no canonical event


async def test_count_tokens_posts_the_countable_fields(upstream):
    upstream.reply = lambda r: httpx.Response(200, json={"input_tokens": 1234})
    count = await AnthropicProvider(make_provider()).count_tokens(
        caller_request(system=[Text("sys")], temperature=0.5, tools=[Tool("f")]),
        make_deployment(),
        {},
    )
    assert count == 1234
    assert str(upstream.requests[0].url) == "https://api.example.test/v1/messages/count_tokens"
    assert upstream.requests[0].headers["anthropic-version"] == "2023-06-01"
    assert set(upstream.body) == {"model", "messages", "system", "tools"}


async def test_count_tokens_of_a_caller_body(upstream):
    upstream.reply = lambda r: httpx.Response(200, json={"input_tokens": 9})
    inbound = {
        "model": "claude",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    count = await AnthropicProvider(make_provider()).count_tokens(
        request(), make_deployment(), inbound
    )
    assert count == 9
    assert upstream.body == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "x"}],
    }


async def test_list_models(upstream):
    upstream.reply = lambda r: httpx.Response(
        200,
        json={
            "data": [
                {"type": "model", "id": "claude-opus-4-1"},
                {"type": "model", "id": "claude-haiku-4-5"},
            ]
        },
    )
    assert await AnthropicProvider(make_provider()).list_models() == [
        "claude-opus-4-1",
        "claude-haiku-4-5",
    ]
    sent = upstream.requests[0]
    assert sent.method == "GET" and sent.url.path == "/v1/models"
    assert sent.headers["x-api-key"] == SECRET
