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
    InvalidRequest,
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
    Image,
    Message,
    PartStart,
    PartStop,
    Reasoning,
    ResponseFormat,
    Start,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    Tool,
    ToolArgsDelta,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
    UsageEvent,
)
from gateway.codecs.anthropic.outbound import JSON_TOOL, StreamTranslator, parse_response
from gateway.providers.anthropic import AnthropicProvider, build_body
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


# --- build_body --------------------------------------------------------------------------


def test_body_carries_model_max_tokens_system_and_sampling():
    body = build_body(
        request(
            system=[Text("Be brief."), Text("Use French.")],
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop=["END"],
            user="user-42",
        ),
        make_deployment(),
    )
    assert body == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 1000,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
    }


@pytest.mark.parametrize(
    ("asked", "ceiling", "expected"),
    [(None, 8192, 8192), (None, None, 4096), (100_000, 64_000, 64_000), (0, 64_000, 0)],
)
def test_max_tokens_defaults_and_is_clamped(asked, ceiling, expected):
    body = build_body(request(max_tokens=asked), make_deployment(max_output_tokens=ceiling))
    assert body["max_tokens"] == expected


def test_system_messages_merge_into_system_on_models_without_mid_conversation_system():
    messages = [
        Message("system", [Text("lead")]),
        user("one"),
        Message("system", [Text("now answer in Go")]),
        Message("assistant", [Text("ok")]),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert body["system"] == [
        {"type": "text", "text": "lead"},
        {"type": "text", "text": "now answer in Go"},
    ]
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant"]


def test_mid_conversation_system_kept_in_place_where_the_model_accepts_it():
    messages = [
        user("one"),
        Message("assistant", [Text("two")]),
        user("three"),
        Message("system", [Text("auto-approve is on")]),
    ]
    body = build_body(request(messages=messages), make_deployment(model="claude-opus-4-8"))
    assert "system" not in body
    assert body["messages"][-1] == {
        "role": "system",
        "content": [{"type": "text", "text": "auto-approve is on"}],
    }


def test_mid_conversation_system_followed_by_user_is_moved_and_users_rejoined():
    messages = [user("one"), Message("system", [Text("note")]), user("two")]
    body = build_body(request(messages=messages), make_deployment(model="claude-opus-4-8"))
    assert body["system"] == [{"type": "text", "text": "note"}]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        }
    ]


def test_tool_turns_alternate_with_results_first_in_one_user_turn():
    call_a = ToolCall(id="toolu_a", name="Read", arguments={"path": "a"})
    call_b = ToolCall(id="toolu_b", name="Read", arguments={"path": "b"})
    messages = [
        user("read both"),
        Message("assistant", [Text("Reading.")]),
        Message("assistant", [call_a, call_b]),
        Message("tool", [ToolResult("toolu_a", [Text("A")])]),
        Message("tool", [ToolResult("toolu_b", [Text("no such file")], is_error=True)]),
        user("and summarise"),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "read both"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_a", "name": "Read", "input": {"path": "a"}},
                {"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {"path": "b"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_a",
                    "content": [{"type": "text", "text": "A"}],
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": [{"type": "text", "text": "no such file"}],
                    "is_error": True,
                },
                {"type": "text", "text": "and summarise"},
            ],
        },
    ]


def test_tool_result_placed_before_text_sent_in_the_same_user_message():
    messages = [
        user("go"),
        Message("assistant", [ToolCall(id="t1", name="f")]),
        Message("user", [Text("also this"), ToolResult("t1", [])]),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert [b["type"] for b in body["messages"][2]["content"]] == ["tool_result", "text"]
    assert "content" not in body["messages"][2]["content"][0]


def test_thinking_kept_only_when_signed_and_redacted_round_trips():
    messages = [
        user("q"),
        Message(
            "assistant",
            [
                Thinking("signed", signature="sig"),
                Thinking("unsigned from another model"),
                Thinking(redacted="opaque"),
                Text("answer"),
            ],
        ),
    ]
    body = build_body(request(messages=messages), make_deployment())
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "signed", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "answer"},
    ]


def test_images_by_url_base64_and_data_url():
    parts = [
        Image(url="https://example.test/cat.png"),
        Image(data="QUJD", media_type="image/jpeg"),
        Image(url="data:image/webp;base64,REVG"),
    ]
    body = build_body(request(messages=[Message("user", parts)]), make_deployment())
    assert [b["source"] for b in body["messages"][0]["content"]] == [
        {"type": "url", "url": "https://example.test/cat.png"},
        {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"},
        {"type": "base64", "media_type": "image/webp", "data": "REVG"},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice("auto"), {"type": "auto"}),
        (ToolChoice("required"), {"type": "any"}),
        (ToolChoice("tool", name="lookup"), {"type": "tool", "name": "lookup"}),
        (ToolChoice("none"), {"type": "none"}),
        (ToolChoice("auto", parallel=False), {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tools_and_tool_choice(choice, expected):
    tool = Tool(
        "lookup", "Find a thing", {"type": "object", "properties": {"q": {"type": "string"}}}
    )
    body = build_body(request(tools=[tool], tool_choice=choice), make_deployment())
    assert body["tools"] == [
        {
            "name": "lookup",
            "description": "Find a thing",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == expected


def test_thinking_budget_sent_without_temperature_and_max_tokens_raised_for_it():
    body = build_body(
        request(
            max_tokens=2000,
            temperature=0.3,
            top_k=5,
            top_p=0.97,
            reasoning=Reasoning(budget_tokens=10_000),
        ),
        make_deployment(),
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 10_000}
    assert body["max_tokens"] == 12_000
    assert "temperature" not in body and "top_k" not in body
    assert body["top_p"] == 0.97


@pytest.mark.parametrize(("effort", "budget"), [("low", 2048), ("medium", 8192), ("high", 24576)])
def test_reasoning_effort_buckets_to_a_budget(effort, budget):
    body = build_body(
        request(max_tokens=32_000, reasoning=Reasoning(effort=effort)), make_deployment()
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}


def test_thinking_budget_fits_under_the_ceiling_or_is_dropped():
    fitted = build_body(
        request(max_tokens=4000, reasoning=Reasoning(budget_tokens=8000)),
        make_deployment(max_output_tokens=6000),
    )
    assert fitted["max_tokens"] == 6000 and fitted["thinking"]["budget_tokens"] == 5999
    dropped = build_body(
        request(max_tokens=500, reasoning=Reasoning(budget_tokens=2000)),
        make_deployment(max_output_tokens=900),
    )
    assert "thinking" not in dropped and dropped["max_tokens"] == 500


def test_reasoning_dropped_for_non_reasoning_deployments_and_forced_tools():
    plain = build_body(
        request(reasoning=Reasoning(budget_tokens=2048)), make_deployment(supports_reasoning=False)
    )
    assert "thinking" not in plain
    forced = build_body(
        request(
            reasoning=Reasoning(budget_tokens=2048),
            tools=[Tool("f")],
            tool_choice=ToolChoice("required"),
        ),
        make_deployment(),
    )
    assert "thinking" not in forced and forced["max_tokens"] == 1000


def test_reasoning_dropped_when_the_last_tool_turn_has_no_signed_thinking():
    loop = [
        user("list files"),
        Message("assistant", [ToolCall(id="call_1", name="LS", arguments={})]),
        Message("tool", [ToolResult("call_1", [Text("a.py")])]),
    ]
    unsigned = build_body(
        request(messages=loop, reasoning=Reasoning(budget_tokens=2048)), make_deployment()
    )
    assert "thinking" not in unsigned
    loop[1].parts.insert(0, Thinking("plan", signature="sig"))
    signed = build_body(
        request(messages=loop, reasoning=Reasoning(budget_tokens=2048)), make_deployment()
    )
    assert signed["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_tool_choice_left_out_without_tools():
    assert "tool_choice" not in build_body(
        request(tool_choice=ToolChoice("none")), make_deployment()
    )


def test_adaptive_reasoning_passes_as_adaptive():
    body = build_body(request(reasoning=Reasoning()), make_deployment())
    assert body["thinking"] == {"type": "adaptive"}


def test_json_schema_response_format_becomes_a_forced_tool():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = build_body(
        request(response_format=ResponseFormat("json_schema", schema=schema, name="place")),
        make_deployment(),
    )
    assert body["tools"] == [
        {
            "name": JSON_TOOL,
            "description": "Give your answer as this tool's input.",
            "input_schema": schema,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_json_object_with_caller_tools_asks_by_instruction():
    body = build_body(
        request(response_format=ResponseFormat("json_object"), tools=[Tool("f")]), make_deployment()
    )
    assert [t["name"] for t in body["tools"]] == ["f"]
    assert "JSON" in body["system"][-1]["text"]


def test_n_above_one_is_a_clear_400():
    with pytest.raises(InvalidRequest) as caught:
        build_body(request(n=2), make_deployment())
    assert caught.value.status == 400 and "n > 1" in caught.value.message


def test_extra_forwarded_only_for_anthropic_callers():
    extra = {"context_management": {"edits": []}, "logprobs": True}
    from_anthropic = build_body(request(extra=extra, dialect="anthropic"), make_deployment())
    assert from_anthropic["context_management"] == {"edits": []}
    assert "logprobs" not in from_anthropic
    from_openai = build_body(request(extra=extra, dialect="openai"), make_deployment())
    assert "context_management" not in from_openai


# --- responses and golden stream transcripts ---------------------------------------------

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


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_translates_to_the_exact_canonical_events(name):
    assert translated(name) == EXPECTED_EVENTS[name]


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_folded_stream_equals_the_non_streamed_response(name):
    assert fold_events(translated(name)) == parse_response(body_fixture(name))


def test_parse_response_maps_blocks_reasons_and_usage():
    response = parse_response(body_fixture("tool_use"))
    assert response.parts == [
        Text("I'll check the weather in Paris."),
        ToolCall(
            id="toolu_01WeatherA",
            name="get_weather",
            arguments={"location": "Paris, France", "unit": "celsius"},
        ),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(412, 68)
    thinking = parse_response(body_fixture("thinking"))
    assert (thinking.finish_reason, thinking.stop_sequence) == ("stop_sequence", "</answer>")
    for stop_reason, canonical in [
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("end_turn", "stop"),
    ]:
        assert (
            parse_response({"content": [], "stop_reason": stop_reason}).finish_reason == canonical
        )


def test_mid_stream_error_event_becomes_error_event():
    events = translated("overloaded_midstream")
    assert events[:3] == [
        Start("msg_01OverL", MODEL, usage=Usage(40, 1)),
        PartStart(0, "text"),
        TextDelta(0, "Partial answer"),
    ]
    assert len(events) == 4 and isinstance(events[3], ErrorEvent)
    assert (
        isinstance(events[3].error, UpstreamOverloaded) and events[3].error.message == "Overloaded"
    )


def test_json_output_tool_comes_back_as_text_in_both_paths():
    body = {
        "id": "msg_j",
        "model": MODEL,
        "content": [
            {"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL, "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }
    parsed = parse_response(body)
    assert parsed.parts == [Text('{"city":"Oslo"}')] and parsed.finish_reason == "stop"
    translator = StreamTranslator()
    events = []
    for data in [
        {
            "type": "message_start",
            "message": {"id": "msg_j", "model": MODEL, "usage": {"input_tokens": 5}},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL, "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]:
        events += translator.feed(data)
    assert events[1:4] == [PartStart(0, "text"), TextDelta(0, '{"city":'), TextDelta(0, '"Oslo"}')]
    assert fold_events(events) == parsed


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
        request(), make_deployment(), inbound, {}
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


def test_user_ids_anthropic_would_refuse_are_hashed():
    """Anthropic takes an opaque metadata.user_id; an OpenAI caller's ``user`` may be an
    e-mail address."""
    sent = build_body(request(user="ada@example.com"), make_deployment())["metadata"]
    assert len(sent["user_id"]) == 64 and "@" not in sent["user_id"]
    again = build_body(request(user="ada@example.com"), make_deployment())["metadata"]
    assert again == sent
    kept = build_body(request(user="user_42-a"), make_deployment())["metadata"]
    assert kept == {"user_id": "user_42-a"}
