"""The OpenAI-compatible adapter: request building, response parsing, the chunk
translator on golden upstream transcripts, and the wire (through a MockTransport)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.base import errors, http
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.streaming import EventBatches, fold_events
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
from gateway.codecs.openai_chat.outbound import (
    ChunkTranslator,
    clean_schema_for_gemini,
    parse_response,
)
from gateway.providers.base import Exchange, MediaPost
from gateway.providers.openai_compatible import (
    AzureOpenAIProvider,
    OpenAICompatibleProvider,
    build_body,
)
from tests.gateway import entries

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"


def provider_entry(**overrides) -> ProviderEntry:
    values = dict(
        id=1,
        name="up",
        kind="openai",
        base_url="http://upstream.test/v1",
        secret="sk-upstream-secret",
        extra_headers={},
        api_version="",
        timeout=None,
    )
    values.update(overrides)
    return ProviderEntry(**values)


def deployment(provider: ProviderEntry | None = None, **overrides) -> DeploymentEntry:
    values = dict(id=1, provider=provider or provider_entry())
    values.update(overrides)
    return entries.deployment("public-model", values.pop("model", "gpt-4o"), **values)


def chat(**overrides) -> ChatRequest:
    values = dict(model="public-model", messages=[Message("user", [Text("hi")])])
    values.update(overrides)
    return ChatRequest(**values)


# --- build_body ----------------------------------------------------------------------


def test_build_body_maps_system_history_tools_and_images():
    request = chat(
        system=[Text("You are terse."), Text("Answer in French.")],
        messages=[
            Message("user", [Text("Weather in Paris?"), Image(url="https://img.test/a.png")]),
            Message(
                "assistant",
                [
                    Thinking("need the tool", signature="sig"),
                    Text("Checking."),
                    ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),
                    ToolCall(id="call_2", name="get_time", arguments={}),
                ],
            ),
            Message(
                "user",
                [
                    Text("and now?"),
                    ToolResult("call_1", [Text("18C")]),
                    ToolResult("call_2", [Text("boom")], is_error=True),
                ],
            ),
            Message("user", [Image(data="iVBORw0KGgo=", media_type="image/png")]),
        ],
        tools=[
            Tool(
                "get_weather",
                "Weather by city",
                {"type": "object", "properties": {"city": {"type": "string"}}},
            )
        ],
        tool_choice=ToolChoice(mode="tool", name="get_weather", parallel=False),
    )
    body = build_body(request, deployment())
    assert body["model"] == "gpt-4o"
    assert body["messages"] == [
        {"role": "system", "content": "You are terse.\n\nAnswer in French."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "boom"},
        {"role": "user", "content": "and now?"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ],
        },
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather by city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert "stream" not in body


def test_thinking_history_becomes_reasoning_content_only_on_reasoning_deployments():
    request = chat(
        messages=[
            Message("assistant", [Thinking("hmm"), Text("ok")]),
            Message("user", [Text("go")]),
        ]
    )
    plain = build_body(request, deployment())
    assert plain["messages"][0] == {"role": "assistant", "content": "ok"}
    reasoning = build_body(request, deployment(supports_reasoning=True))
    assert reasoning["messages"][0] == {
        "role": "assistant",
        "content": "ok",
        "reasoning_content": "hmm",
    }


def test_tool_results_with_images_hand_the_images_to_the_user_content():
    image = Image(data="AAAA", media_type="image/jpeg")
    request = chat(messages=[Message("user", [ToolResult("call_9", [Text("screenshot:"), image])])])
    assert build_body(request, deployment())["messages"] == [
        {"role": "tool", "tool_call_id": "call_9", "content": "screenshot:"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}],
        },
    ]


def test_mid_conversation_system_message_stays_in_place():
    request = chat(
        messages=[
            Message("user", [Text("a")]),
            Message("system", [Text("be brief")]),
            Message("user", [Text("b")]),
        ]
    )
    roles = [(m["role"], m["content"]) for m in build_body(request, deployment())["messages"]]
    assert roles == [("user", "a"), ("system", "be brief"), ("user", "b")]


@pytest.mark.parametrize(
    ("reasoning", "expected"),
    [
        (Reasoning(effort="high"), "high"),
        (Reasoning(budget_tokens=1024), "low"),
        (Reasoning(budget_tokens=4096), "low"),
        (Reasoning(budget_tokens=4097), "medium"),
        (Reasoning(budget_tokens=16384), "medium"),
        (Reasoning(budget_tokens=32000), "high"),
    ],
)
def test_reasoning_is_bucketed_into_effort_for_reasoning_deployments(reasoning, expected):
    body = build_body(chat(reasoning=reasoning), deployment(supports_reasoning=True))
    assert body["reasoning_effort"] == expected
    assert "reasoning_effort" not in build_body(chat(reasoning=reasoning), deployment())


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        ("gpt-4o", {}, "max_tokens"),
        ("o3-mini", {}, "max_completion_tokens"),
        ("o1", {}, "max_completion_tokens"),
        ("gpt-5-mini", {}, "max_completion_tokens"),
        ("openai/o4-mini", {}, "max_completion_tokens"),
        ("llama3", {"max_tokens_field": "max_completion_tokens"}, "max_completion_tokens"),
        ("omni-moderation", {}, "max_tokens"),
    ],
)
def test_max_tokens_field_and_clamp(model, params, field):
    body = build_body(
        chat(max_tokens=100_000), deployment(model=model, params=params, max_output_tokens=8192)
    )
    other = {"max_tokens", "max_completion_tokens"} - {field}
    assert body[field] == 8192
    assert not other & body.keys()
    assert "max_tokens_field" not in body
    assert "max_tokens" not in build_body(chat(), deployment(max_output_tokens=8192))


def test_sampling_stop_format_user_stream_extra_and_params():
    request = chat(
        temperature=0.2,
        top_p=0.9,
        stop=["END"],
        user="u-1",
        stream=True,
        response_format=ResponseFormat(
            type="json_schema", schema={"type": "object"}, name="out", strict=True
        ),
        extra={"seed": 7},
        dialect="openai",
    )
    body = build_body(
        request, deployment(params={"temperature": 0.6, "max_tokens_field": "max_tokens"})
    )
    assert body["temperature"] == 0.6  # the deployment's fixed setting wins
    assert body["top_p"] == 0.9
    assert body["stop"] == ["END"]
    assert body["user"] == "u-1"
    assert body["seed"] == 7
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }


def test_extra_fields_are_forwarded_only_from_openai_callers():
    assert build_body(chat(extra={"seed": 1}, dialect="openai"), deployment())["seed"] == 1
    anthropic_caller = chat(extra={"container": "c1"}, dialect="anthropic")
    assert "container" not in build_body(anthropic_caller, deployment())


def test_top_k_goes_only_to_deployments_that_take_it():
    """A per-deployment capability, not a guess from the host: Groq, Mistral and other
    hosted APIs answered 400 to top_k, while vLLM and Ollama take it."""
    takes = deployment(supports_top_k=True)
    assert build_body(chat(top_k=40), takes)["top_k"] == 40
    self_hosted = deployment(provider_entry(base_url="http://10.0.0.5:8000/v1"))
    assert "top_k" not in build_body(chat(top_k=40), self_hosted)
    adapter = OpenAICompatibleProvider(provider_entry())
    assert adapter.unsupported_params(chat(top_k=40), self_hosted) == ["top_k"]
    assert adapter.unsupported_params(chat(top_k=40), takes) == []
    assert adapter.unsupported_params(chat(), self_hosted) == []


def test_clean_schema_for_gemini_drops_rejected_keywords_but_keeps_property_names():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "format": {"type": "string", "format": "uri", "description": "a property named format"},
            "when": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "format": "int64", "minimum": 0},
            "tags": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "either": {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]},
        },
        "required": ["format"],
    }
    assert clean_schema_for_gemini(schema) == {
        "type": "object",
        "properties": {
            "format": {"type": "string", "description": "a property named format"},
            "when": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "format": "int64", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "object"}},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["format"],
    }
    assert "$schema" in schema  # the input is not modified


def test_gemini_endpoint_gets_cleaned_tool_schemas_others_do_not():
    params = {"type": "object", "additionalProperties": False, "properties": {}}
    request = chat(tools=[Tool("t", None, params)])
    gemini = deployment(
        provider_entry(base_url="https://generativelanguage.googleapis.com/v1beta/openai/")
    )
    assert build_body(request, gemini)["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {},
    }
    assert build_body(request, deployment())["tools"][0]["function"]["parameters"] == params


# --- parse_response ------------------------------------------------------------------


def test_parse_response_reads_reasoning_text_calls_and_cached_usage():
    data = {
        "id": "x",
        "model": "m",
        "created": 5,
        "choices": [
            {
                "message": {
                    "content": "Sure.",
                    "reasoning": "think",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": 1}'},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "g", "arguments": "{broken"},
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 60},
        },
    }
    response = parse_response(data)
    assert response.parts == [
        Thinking("think"),
        Text("Sure."),
        ToolCall("c1", "f", {"a": 1}),
        ToolCall("c2", "g", {}, raw_arguments="{broken"),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(input_tokens=40, output_tokens=7, cache_read_tokens=60)


@pytest.mark.parametrize(
    ("raw", "has_calls", "expected"),
    [
        ("stop", False, "stop"),
        ("length", False, "length"),
        ("content_filter", False, "content_filter"),
        ("function_call", True, "tool_calls"),
        ("stop", True, "tool_calls"),
        (None, False, "stop"),
    ],
)
def test_finish_reason_mapping(raw, has_calls, expected):
    message = {"content": "x"}
    if has_calls:
        message["tool_calls"] = [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]
    data = {"choices": [{"message": message, "finish_reason": raw}]}
    assert parse_response(data).finish_reason == expected


def test_deepseek_cache_hit_tokens_count_as_cache_reads():
    data = {
        "choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 1,
            "prompt_cache_hit_tokens": 32,
            "prompt_cache_miss_tokens": 18,
        },
    }
    assert parse_response(data).usage == Usage(
        input_tokens=18, output_tokens=1, cache_read_tokens=32
    )


# --- golden transcripts --------------------------------------------------------------

GOLDEN = {
    "openai_text": [
        Start("chatcmpl-BVx1Yk3xTQm9aZ", "gpt-4o-2024-08-06", 1746712345),
        PartStart(0, "text"),
        TextDelta(0, "Hello"),
        TextDelta(0, "! How can"),
        TextDelta(0, " I help?"),
        PartStop(0),
        UsageEvent(Usage(input_tokens=186, output_tokens=9, cache_read_tokens=1024)),
        Finish("stop"),
    ],
    "openai_tools": [
        Start("chatcmpl-BVx2Tool9kq", "gpt-4.1-mini-2025-04-14", 1746712400),
        PartStart(0, "tool_call", "call_Wq8xKj2LmN0pQr", "get_weather"),
        ToolArgsDelta(0, '{"'),
        ToolArgsDelta(0, "city"),
        ToolArgsDelta(0, '":"Paris"}'),
        PartStop(0),
        UsageEvent(Usage(input_tokens=84, output_tokens=15)),
        Finish("tool_calls"),
    ],
    "vllm_text_tools": [
        Start("chatcmpl-9f1c2e7a4b3d4e5f", "Qwen/Qwen2.5-7B-Instruct", 1746713000),
        PartStart(0, "text"),
        TextDelta(0, "Let me check"),
        TextDelta(0, " the weather."),
        PartStop(0),
        PartStart(1, "tool_call", "chatcmpl-tool-5c0f4a1e2b", "get_weather"),
        ToolArgsDelta(1, '{"city": "'),
        ToolArgsDelta(1, 'Berlin"}'),
        PartStop(1),
        UsageEvent(Usage(input_tokens=312, output_tokens=29)),
        Finish("tool_calls"),
    ],
    "openai_parallel_tools": [
        Start("chatcmpl-BVx3Par7Zt", "gpt-4o-2024-08-06", 1746712500),
        PartStart(0, "tool_call", "call_Aa11", "get_weather"),
        ToolArgsDelta(0, '{"city": "Paris"}'),
        PartStop(0),
        PartStart(1, "tool_call", "call_Bb22", "get_weather"),
        ToolArgsDelta(1, '{"city"'),
        ToolArgsDelta(1, ': "Rome"}'),
        PartStop(1),
        PartStart(2, "tool_call", "call_Cc33", "get_time"),
        ToolArgsDelta(2, '{"tz": "Europe/Rome"}'),
        PartStop(2),
        UsageEvent(Usage(input_tokens=150, output_tokens=58)),
        Finish("tool_calls"),
    ],
    "deepseek_reasoning": [
        Start("4f7b1d2c-9a8e-4c1b-b0e3-2d6f5a9c8e71", "deepseek-reasoner", 1746714000),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "The user asks"),
        ThinkingDelta(0, " 9.11 vs 9.8; 9.8 is larger."),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "9.8"),
        TextDelta(1, " is larger."),
        PartStop(1),
        UsageEvent(Usage(input_tokens=20, output_tokens=31, reasoning_tokens=24)),
        Finish("stop"),
    ],
    "vllm_content_with_finish": [
        Start("chatcmpl-a0b1c2d3e4f5", "meta-llama/Llama-3.1-8B-Instruct", 1746715000),
        PartStart(0, "text"),
        TextDelta(0, "Once upon"),
        TextDelta(0, " a time"),
        PartStop(0),
        UsageEvent(Usage(input_tokens=12, output_tokens=4)),
        Finish("length"),
    ],
}


def sse_transport(payload: bytes, status: int = 200, seen: list | None = None, headers=None):
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(
            status, content=payload, headers=headers or {"content-type": "text/event-stream"}
        )

    return httpx.MockTransport(handler)


@pytest.fixture
def upstream():
    """Install a MockTransport answering with the given bytes; yields the setter."""

    def install(payload: bytes, status: int = 200, seen=None, headers=None):
        http.use_transport(sse_transport(payload, status, seen, headers))

    yield install
    http.use_transport(None)


async def collect(iterator) -> list:
    return [event async for event in iterator]


@pytest.mark.parametrize("name", sorted(GOLDEN))
async def test_golden_transcript_gives_exact_events(name, upstream):
    upstream((FIXTURES / f"{name}.sse").read_bytes())
    adapter = OpenAICompatibleProvider(provider_entry())
    exchange = Exchange()
    events = await collect(adapter.stream(chat(stream=True), deployment(), exchange))
    assert events == GOLDEN[name]
    assert exchange.usage == GOLDEN[name][-2].usage
    assert exchange.response_body == (FIXTURES / f"{name}.sse").read_bytes()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_folded_stream_equals_parsed_complete_body(name):
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    assert fold_events(GOLDEN[name]) == parse_response(body)


@pytest.mark.parametrize("name", sorted(GOLDEN))
async def test_complete_through_the_wire_equals_parse_response(name, upstream):
    raw = (FIXTURES / f"{name}.json").read_bytes()
    upstream(raw, headers={"content-type": "application/json"})
    exchange = Exchange()
    response = await OpenAICompatibleProvider(provider_entry()).complete(
        chat(), deployment(), exchange
    )
    assert response == parse_response(json.loads(raw))
    assert exchange.usage == response.usage and exchange.status == 200


async def test_midstream_error_chunk_becomes_error_event_after_partial_text(upstream):
    upstream((FIXTURES / "openai_midstream_error.sse").read_bytes())
    events = await collect(
        OpenAICompatibleProvider(provider_entry()).stream(chat(), deployment(), Exchange())
    )
    assert events[:3] == [
        Start("chatcmpl-BVx4Err0rr", "gpt-4o-2024-08-06", 1746712600),
        PartStart(0, "text"),
        TextDelta(0, "Partial answ"),
    ]
    assert len(events) == 4 and isinstance(events[3], ErrorEvent)
    assert isinstance(events[3].error, errors.UpstreamError)
    assert "The server had an error" in events[3].error.message


def test_translator_splits_every_trap_in_order():
    t = ChunkTranslator()
    events = t.feed(
        {"id": "a", "model": "m", "choices": [{"delta": {"role": "assistant", "content": ""}}]}
    )
    events += t.feed({"choices": [{"delta": {"reasoning_content": "r"}}]})
    events += t.feed({"choices": [{"delta": {"content": "t", "tool_calls": []}}]})
    events += t.feed(
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c0", "function": {"name": "f", "arguments": "{}"}},
                            {"index": 1, "id": "c1", "function": {"name": "g", "arguments": ""}},
                        ]
                    }
                }
            ]
        }
    )
    events += t.feed(
        {
            "choices": [
                {
                    "delta": {"tool_calls": [{"index": 1, "function": {"arguments": '{"x":1}'}}]},
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    assert t.feed({"choices": [], "usage": None}) == []
    events += t.finish()  # stream ended without a usage chunk: Finish is released here
    assert events == [
        Start("a", "m", 0),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "r"),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "t"),
        PartStop(1),
        PartStart(2, "tool_call", "c0", "f"),
        ToolArgsDelta(2, "{}"),
        PartStop(2),
        PartStart(3, "tool_call", "c1", "g"),
        ToolArgsDelta(3, '{"x":1}'),
        PartStop(3),
        Finish("tool_calls"),
    ]
    assert t.finish() == []


async def test_stream_cut_without_finish_yields_error_event(upstream):
    cut = b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    upstream(cut)
    events = await collect(
        OpenAICompatibleProvider(provider_entry()).stream(chat(), deployment(), Exchange())
    )
    assert events[:3] == [Start("x", "m", 0), PartStart(0, "text"), TextDelta(0, "Hi")]
    assert (
        isinstance(events[-1], ErrorEvent) and "ended before finishing" in events[-1].error.message
    )


# --- the wire ------------------------------------------------------------------------


async def test_request_goes_to_chat_completions_with_bearer_secret_and_extra_headers(
    upstream, monkeypatch
):
    monkeypatch.setenv("UPSTREAM_KEY", "sk-from-env")
    seen: list[httpx.Request] = []
    upstream((FIXTURES / "openai_text.json").read_bytes(), seen=seen)
    entry = provider_entry(
        base_url="http://upstream.test/v1/",
        secret="os.environ/UPSTREAM_KEY",
        extra_headers={"X-Org": "acme"},
    )
    await OpenAICompatibleProvider(entry).complete(
        chat(max_tokens=5), deployment(entry), Exchange()
    )
    (request,) = seen
    assert str(request.url) == "http://upstream.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-from-env"
    assert request.headers["x-org"] == "acme"
    body = orjson.loads(request.content)
    assert body["model"] == "gpt-4o" and body["max_tokens"] == 5 and "stream" not in body


async def test_no_secret_sends_no_authorization_header(upstream):
    seen: list[httpx.Request] = []
    upstream((FIXTURES / "openai_text.json").read_bytes(), seen=seen)
    entry = provider_entry(secret="")
    await OpenAICompatibleProvider(entry).complete(chat(), deployment(entry), Exchange())
    assert "authorization" not in seen[0].headers


async def test_passthrough_never_forwards_the_callers_key(upstream):
    seen: list[httpx.Request] = []
    upstream((FIXTURES / "openai_text.json").read_bytes(), seen=seen)
    caller_headers = {
        "Authorization": "Bearer sk-gateway-caller",
        "x-api-key": "sk-gateway-caller",
        "OpenAI-Beta": "x",
    }
    exchange = Exchange()
    data = await OpenAICompatibleProvider(provider_entry()).passthrough(
        {"model": "gpt-4o", "messages": [], "logit_bias": {"1": 2}},
        deployment(),
        exchange,
        caller_headers,
    )
    assert data["id"] == "chatcmpl-BVx1Yk3xTQm9aZ"
    sent = seen[0]
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    assert "sk-gateway-caller" not in str(sent.headers.raw)
    assert sent.headers["openai-beta"] == "x"
    assert orjson.loads(sent.content)["logit_bias"] == {"1": 2}
    assert exchange.usage == Usage(input_tokens=186, output_tokens=9, cache_read_tokens=1024)


async def test_azure_url_and_api_key_header(upstream):
    seen: list[httpx.Request] = []
    upstream((FIXTURES / "openai_text.json").read_bytes(), seen=seen)
    entry = provider_entry(
        kind="azure", base_url="https://acme.openai.azure.com/", api_version="2025-01-01-preview"
    )
    await AzureOpenAIProvider(entry).complete(
        chat(), deployment(entry, model="my-gpt4o"), Exchange()
    )
    url = str(seen[0].url)
    assert (
        url
        == "https://acme.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2025-01-01-preview"
    )
    assert seen[0].headers["api-key"] == "sk-upstream-secret"
    assert "authorization" not in seen[0].headers
    default = provider_entry(kind="azure", base_url="https://acme.openai.azure.com")
    assert (
        AzureOpenAIProvider(default)
        .url("chat/completions", deployment(default, model="d"))
        .endswith("?api-version=2024-10-21")
    )


async def test_429_maps_to_upstream_error_with_retry_after(upstream):
    body = b'{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}'
    upstream(body, status=429, headers={"retry-after": "7", "content-type": "application/json"})
    with pytest.raises(errors.UpstreamError) as caught:
        await OpenAICompatibleProvider(provider_entry()).complete(chat(), deployment(), Exchange())
    error = caught.value
    assert error.status == 429 and error.retry_after == 7.0 and error.kind == "rate_limit_error"
    assert "Rate limit reached for gpt-4o" in error.message and error.retryable


async def test_500_before_first_event_raises_from_stream(upstream):
    upstream(b'{"error":{"message":"internal","type":"server_error"}}', status=500)
    with pytest.raises(errors.UpstreamError) as caught:
        await collect(
            OpenAICompatibleProvider(provider_entry()).stream(chat(), deployment(), Exchange())
        )
    assert caught.value.status == 500 and "internal" in caught.value.message


async def test_529_is_overloaded(upstream):
    upstream(b"overloaded", status=529)
    with pytest.raises(errors.UpstreamOverloaded):
        await OpenAICompatibleProvider(provider_entry()).complete(chat(), deployment(), Exchange())


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("slow"), errors.UpstreamTimeout),
        (httpx.ConnectError("refused"), errors.UpstreamConnectionError),
    ],
)
async def test_wire_failures_map_to_upstream_errors(exc, expected):
    def handler(request):
        raise exc

    http.use_transport(httpx.MockTransport(handler))
    try:
        adapter = OpenAICompatibleProvider(provider_entry())
        with pytest.raises(expected):
            await adapter.complete(chat(), deployment(), Exchange())
        with pytest.raises(expected):
            await collect(adapter.stream(chat(), deployment(), Exchange()))
    finally:
        http.use_transport(None)


async def test_failure_after_first_event_is_yielded_as_error_event():
    class Boom(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
            raise httpx.ReadError("connection reset")

    http.use_transport(httpx.MockTransport(lambda request: httpx.Response(200, stream=Boom())))
    try:
        events = await collect(
            OpenAICompatibleProvider(provider_entry()).stream(chat(), deployment(), Exchange())
        )
    finally:
        http.use_transport(None)
    assert events[:3] == [Start("x", "m", 0), PartStart(0, "text"), TextDelta(0, "Hi")]
    assert isinstance(events[3], ErrorEvent) and isinstance(
        events[3].error, errors.UpstreamConnectionError
    )
    assert len(events) == 4


async def test_missing_env_secret_names_the_variable_and_sends_nothing(upstream, monkeypatch):
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    seen: list = []
    upstream(b"{}", seen=seen)
    entry = provider_entry(secret="os.environ/NOT_SET_KEY")
    # a configuration error (issue #12): routing moves on without retry or cooldown
    with pytest.raises(errors.ConfigurationError) as caught:
        await OpenAICompatibleProvider(entry).complete(chat(), deployment(entry), Exchange())
    assert "NOT_SET_KEY" in caught.value.message and caught.value.status == 500
    assert seen == []


async def test_secret_never_appears_in_error_messages(upstream):
    upstream(b'{"error":{"message":"Incorrect API key provided"}}', status=401)
    with pytest.raises(errors.UpstreamError) as caught:
        await OpenAICompatibleProvider(provider_entry()).complete(chat(), deployment(), Exchange())
    assert "sk-upstream-secret" not in str(caught.value) and caught.value.status == 401


# --- passthrough streaming and the other endpoints -----------------------------------


async def test_passthrough_stream_forwards_raw_events_and_hides_usage_the_caller_did_not_ask_for(
    upstream,
):
    seen: list[httpx.Request] = []
    raw = (FIXTURES / "openai_text.sse").read_bytes()
    upstream(raw, seen=seen)
    exchange = Exchange()
    adapter = OpenAICompatibleProvider(provider_entry())
    items = await collect(
        adapter.passthrough_stream(
            {"model": "gpt-4o", "messages": [], "stream": True}, deployment(), exchange, {}
        )
    )
    sent = orjson.loads(seen[0].content)
    assert sent["stream_options"] == {"include_usage": True}
    forwarded = b"".join(chunk for chunk, _ in items)
    upstream_events = raw.split(b"\n\n")
    assert (
        forwarded
        == b"\n\n".join(e for e in upstream_events if e and b'"choices":[]' not in e) + b"\n\n"
    )
    events = [e for _, evs in items for e in evs]
    assert events == GOLDEN["openai_text"]
    assert exchange.usage.output_tokens == 9


async def test_passthrough_stream_keeps_usage_chunk_when_caller_asked(upstream):
    raw = (FIXTURES / "openai_text.sse").read_bytes()
    upstream(raw)
    body = {
        "model": "gpt-4o",
        "messages": [],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    items = await collect(
        OpenAICompatibleProvider(provider_entry()).passthrough_stream(
            body, deployment(), Exchange(), {}
        )
    )
    assert b"".join(chunk for chunk, _ in items) == raw


async def test_passthrough_stream_error_before_first_event_raises(upstream):
    upstream(b'{"error":{"message":"bad model"}}', status=404)
    with pytest.raises(errors.UpstreamError):
        await collect(
            OpenAICompatibleProvider(provider_entry()).passthrough_stream(
                {"model": "x"}, deployment(), Exchange(), {}
            )
        )


async def test_passthrough_stream_error_event_read_with_text_goes_to_the_client_in_stream(
    upstream,
):
    text = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    failure = b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    upstream(text + failure + text)  # one read: text, the failure, what follows it
    items = await collect(
        OpenAICompatibleProvider(provider_entry()).passthrough_stream(
            {"model": "gpt-4o", "messages": [], "stream": True}, deployment(), Exchange(), {}
        )
    )
    # the first token at once, then the failure; nothing after it
    assert [chunk for chunk, _ in items] == [text, failure]
    assert any(isinstance(e, ErrorEvent) for e in items[1][1])


async def test_passthrough_stream_error_as_its_first_event_raises_for_a_retry(upstream):
    failure = b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    text = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    upstream(failure + text)
    with pytest.raises(errors.UpstreamError):
        await collect(
            OpenAICompatibleProvider(provider_entry()).passthrough_stream(
                {"model": "gpt-4o", "messages": [], "stream": True}, deployment(), Exchange(), {}
            )
        )


async def test_embeddings_and_legacy_completions_pass_through(upstream):
    seen: list[httpx.Request] = []
    upstream(
        b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"e","usage":{"prompt_tokens":3,"total_tokens":3}}',
        seen=seen,
    )
    adapter = OpenAICompatibleProvider(provider_entry())
    exchange = Exchange()
    data = await adapter.embeddings({"model": "e", "input": "hi"}, deployment(), exchange)
    assert data["data"][0]["embedding"] == [0.1] and exchange.usage.input_tokens == 3
    assert str(seen[0].url) == "http://upstream.test/v1/embeddings"
    await adapter.text_completion({"model": "e", "prompt": "hi"}, deployment(), Exchange())
    assert str(seen[1].url) == "http://upstream.test/v1/completions"


async def test_a_media_post_goes_to_its_path_with_its_content_type(upstream):
    seen: list[httpx.Request] = []
    upstream(b"RIFF-audio", seen=seen, headers={"content-type": "audio/wav"})
    adapter = OpenAICompatibleProvider(provider_entry())
    pieces: list[bytes | memoryview] = [b"--b\r\n", memoryview(b"part"), b"\r\n--b--"]
    form = MediaPost("audio/transcriptions", pieces, "multipart/form-data; boundary=b")
    assert await adapter.media(form, deployment(), Exchange()) == (b"RIFF-audio", "audio/wav")
    speech = MediaPost("audio/speech", b'{"model":"tts"}', "application/json")
    kind, chunks = await adapter.media_stream(speech, deployment(), Exchange())
    assert kind == "audio/wav" and b"".join(await collect(chunks)) == b"RIFF-audio"
    assert [str(r.url) for r in seen] == [
        "http://upstream.test/v1/audio/transcriptions",
        "http://upstream.test/v1/audio/speech",
    ]
    assert seen[0].headers["content-type"] == "multipart/form-data; boundary=b"
    assert seen[0].content == b"--b\r\npart\r\n--b--"
    assert seen[1].headers["content-type"] == "application/json"


async def test_legacy_completion_stream_forwards_raw_sse(upstream):
    raw = (
        b'data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"text":"Hi","index":0,"logprobs":null,"finish_reason":null}]}\n\n'
        b'data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}]}\n\n'
        b'data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}\n\n'
        b"data: [DONE]\n\n"
    )
    upstream(raw)
    exchange = Exchange()
    adapter = OpenAICompatibleProvider(provider_entry())
    items = await collect(
        adapter.text_completion_stream(
            {"model": "m", "prompt": "x", "stream": True}, deployment(), exchange
        )
    )
    chunks = [chunk for chunk, _events in items if chunk]
    assert b"".join(chunks) == raw.replace(raw.split(b"\n\n")[2] + b"\n\n", b"")
    assert exchange.usage == Usage(input_tokens=2, output_tokens=1)


async def test_list_models(upstream):
    seen: list[httpx.Request] = []
    upstream(
        b'{"object":"list","data":[{"id":"gpt-4o","object":"model"},{"id":"o3","object":"model"}]}',
        seen=seen,
    )
    assert await OpenAICompatibleProvider(provider_entry()).list_models() == ["gpt-4o", "o3"]
    assert seen[0].method == "GET" and str(seen[0].url) == "http://upstream.test/v1/models"


def test_a_streamed_refusal_reads_as_text_like_an_unstreamed_one():
    t = ChunkTranslator()
    events = t.feed({"id": "a", "model": "m", "choices": [{"delta": {"role": "assistant"}}]})
    events += t.feed({"choices": [{"delta": {"refusal": "I can't "}}]})
    events += t.feed({"choices": [{"delta": {"refusal": "help with that."}}]})
    events += t.feed({"choices": [{"delta": {}, "finish_reason": "stop"}]})
    events += t.finish()
    text = "".join(e.text for e in events if type(e).__name__ == "TextDelta")
    assert text == "I can't help with that."


def test_tool_strict_reaches_the_function_when_known_and_never_gemini():
    params = {"type": "object", "properties": {}, "additionalProperties": False}
    request = chat(tools=[Tool("a", None, params, strict=True), Tool("b", None, params)])
    functions = [t["function"] for t in build_body(request, deployment())["tools"]]
    assert functions == [
        {"name": "a", "parameters": params, "strict": True},
        {"name": "b", "parameters": params},
    ]
    gemini = deployment(
        provider_entry(base_url="https://generativelanguage.googleapis.com/v1beta/openai/")
    )
    assert all("strict" not in t["function"] for t in build_body(request, gemini)["tools"])


def test_strict_json_schema_format_without_a_name_is_named_response():
    fmt = ResponseFormat(type="json_schema", schema={"type": "object"}, strict=True)
    assert build_body(chat(response_format=fmt), deployment())["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}, "strict": True},
    }


def test_long_end_user_ids_are_hashed_to_what_openai_takes():
    """Claude Code's metadata.user_id is about 150 characters; OpenAI takes 64."""
    claude_code = (
        "user_"
        + "ab12" * 16
        + "_account_4f1c9e0a-5d7b-4c1e-9a65-3b8f0d2e7c41_session_"
        + ("8e2d6a10-7c3b-4f95-b1e4-5a9c0d3f2b67")
    )
    assert len(claude_code) > 64
    sent = build_body(chat(user=claude_code), deployment())["user"]
    assert len(sent) == 64 and sent == build_body(chat(user=claude_code), deployment())["user"]
    assert sent != build_body(chat(user=claude_code + "x"), deployment())["user"]
    assert build_body(chat(user="u-1"), deployment())["user"] == "u-1"
    assert "user" not in build_body(chat(), deployment())


# --- what the shared path must keep doing for OpenAI-compatible upstreams -----------


async def test_translated_calls_forward_no_caller_headers(upstream):
    """Caller headers go along on passthrough only: an Anthropic caller's version and
    beta headers (or anything else) never reach an OpenAI-compatible upstream."""
    seen: list[httpx.Request] = []
    upstream((FIXTURES / "openai_text.json").read_bytes(), seen=seen)
    request = chat(headers={"anthropic-beta": "b1", "OpenAI-Beta": "x"})
    await OpenAICompatibleProvider(provider_entry()).complete(request, deployment(), Exchange())
    upstream((FIXTURES / "openai_text.sse").read_bytes(), seen=seen)
    await collect(
        OpenAICompatibleProvider(provider_entry()).stream(request, deployment(), Exchange())
    )
    for sent in seen:
        assert "anthropic-beta" not in sent.headers and "openai-beta" not in sent.headers
        assert sent.headers["authorization"] == "Bearer sk-upstream-secret"


async def test_streams_ask_for_event_streams_and_whole_answers_for_json(upstream):
    seen: list[httpx.Request] = []
    adapter = OpenAICompatibleProvider(provider_entry())
    upstream((FIXTURES / "openai_text.sse").read_bytes(), seen=seen)
    await collect(adapter.stream(chat(), deployment(), Exchange()))
    await collect(adapter.passthrough_stream({"model": "m"}, deployment(), Exchange(), {}))
    upstream((FIXTURES / "openai_text.json").read_bytes(), seen=seen)
    await adapter.complete(chat(), deployment(), Exchange())
    await adapter.passthrough({"model": "m"}, deployment(), Exchange(), {})
    accepts = [sent.headers["accept"] for sent in seen]
    assert accepts == ["text/event-stream"] * 2 + ["application/json"] * 2


async def test_done_without_a_finish_reason_finishes_with_stop(upstream):
    """Some servers end with ``[DONE]`` and never send a finish_reason: a finished
    answer, not a cut stream."""
    upstream(
        b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b"data: [DONE]\n\n"
    )
    events = await collect(
        OpenAICompatibleProvider(provider_entry()).stream(chat(), deployment(), Exchange())
    )
    assert events == [
        Start("x", "m", 0),
        PartStart(0, "text"),
        TextDelta(0, "Hi"),
        PartStop(0),
        Finish("stop"),
    ]


async def test_an_event_error_message_is_an_error_in_the_stream(upstream):
    upstream(
        b'data: {"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'event: error\ndata: {"message":"overloaded","code":"529"}\n\n'
    )
    events = await collect(
        OpenAICompatibleProvider(provider_entry()).stream(chat(), deployment(), Exchange())
    )
    assert events[:3] == [Start("x", "m", 0), PartStart(0, "text"), TextDelta(0, "Hi")]
    [failure] = events[3:]
    assert isinstance(failure, ErrorEvent) and failure.error.message == "overloaded"
    assert failure.error.status == 529
    upstream(b'event: error\ndata: {"message":"bad key","code":401}\n\n')
    with pytest.raises(errors.UpstreamError) as caught:
        await collect(
            OpenAICompatibleProvider(provider_entry()).stream(chat(), deployment(), Exchange())
        )
    assert caught.value.status == 401


async def test_a_200_error_body_raises_the_upstream_error_on_every_path(upstream):
    body = b'{"error":{"message":"model is loading","code":503}}'
    upstream(body, headers={"content-type": "application/json"})
    adapter = OpenAICompatibleProvider(provider_entry())
    exchange = Exchange()
    with pytest.raises(errors.UpstreamError) as caught:
        await adapter.complete(chat(), deployment(), exchange)
    assert caught.value.status == 503 and "model is loading" in caught.value.message
    assert exchange.status == 200 and bytes(exchange.response_body) == body
    with pytest.raises(errors.UpstreamError, match="model is loading"):
        await adapter.passthrough({"model": "m"}, deployment(), Exchange(), {})
    with pytest.raises(errors.UpstreamError, match="model is loading"):
        await adapter.embeddings({"model": "e", "input": "x"}, deployment(), Exchange())
    upstream(b"[1, 2]", headers={"content-type": "application/json"})
    with pytest.raises(errors.UpstreamError, match="unexpected JSON"):
        await adapter.complete(chat(), deployment(), Exchange())


async def test_the_upstream_host_reaches_the_codec_through_the_wire(upstream):
    """Gemini's OpenAI endpoint takes a JSON-schema subset: the codec knows the host
    from the target the provider builds."""
    seen: list[httpx.Request] = []
    upstream((FIXTURES / "openai_text.json").read_bytes(), seen=seen)
    params = {"type": "object", "additionalProperties": False, "properties": {}}
    entry = provider_entry(base_url="https://generativelanguage.googleapis.com/v1beta/openai")
    await OpenAICompatibleProvider(entry).complete(
        chat(tools=[Tool("t", None, params)]), deployment(entry), Exchange()
    )
    sent = orjson.loads(seen[0].content)["tools"][0]["function"]["parameters"]
    assert sent == {"type": "object", "properties": {}}


async def test_a_passed_through_stream_records_the_raw_upstream_bytes(upstream):
    raw = (FIXTURES / "openai_text.sse").read_bytes()
    upstream(raw)
    exchange = Exchange()
    await collect(
        OpenAICompatibleProvider(provider_entry()).passthrough_stream(
            {"model": "gpt-4o", "messages": []}, deployment(), exchange, {}
        )
    )
    assert exchange.status == 200 and bytes(exchange.response_body) == raw
    assert exchange.url == "http://upstream.test/v1/chat/completions"
    assert exchange.usage == Usage(input_tokens=186, output_tokens=9, cache_read_tokens=1024)


async def test_azure_passthrough_and_legacy_endpoints_use_the_deployment_path(upstream):
    seen: list[httpx.Request] = []
    upstream(b'{"object":"list","data":[],"model":"e"}', seen=seen)
    entry = provider_entry(kind="azure", base_url="https://acme.openai.azure.com")
    adapter = AzureOpenAIProvider(entry)
    await adapter.embeddings(
        {"model": "e", "input": "x"}, deployment(entry, model="emb"), Exchange()
    )
    upstream((FIXTURES / "openai_text.sse").read_bytes(), seen=seen)
    await collect(
        adapter.passthrough_stream({"model": "d"}, deployment(entry, model="d"), Exchange(), {})
    )
    base = "https://acme.openai.azure.com/openai/deployments"
    assert [str(s.url) for s in seen] == [
        f"{base}/emb/embeddings?api-version=2024-10-21",
        f"{base}/d/chat/completions?api-version=2024-10-21",
    ]
    assert all(s.headers["api-key"] == "sk-upstream-secret" for s in seen)


async def test_a_read_with_the_whole_answer_hands_its_first_two_tokens_on_alone(upstream):
    """The first content event ends its batch, and so does the second (a post_call
    check waits for it to see where the first word ends): both go on before the rest of
    the read is parsed."""
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    deltas = [{"role": "assistant", "content": ""}] + [{"content": f"w{n} "} for n in range(6)]
    wire = b"".join(
        b"data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": d}]}).encode() + b"\n\n"
        for d in deltas
    )
    upstream(wire + b"data: [DONE]\n\n")
    adapter = OpenAICompatibleProvider(provider_entry())
    stream = adapter.stream(chat(stream=True), deployment(), Exchange())
    assert isinstance(stream, EventBatches)
    batches = stream.batches()
    texts = []
    for _ in range(3):
        batch = await anext(batches)
        texts.append([e.text for e in batch if isinstance(e, TextDelta)])
    await stream.aclose()
    assert texts[:2] == [["w0 "], ["w1 "]]  # each alone at the end of its batch
    assert texts[2] == ["w2 ", "w3 ", "w4 ", "w5 "]  # the rest of the read, together


def test_a_passed_through_body_takes_no_proxy_identity_header_of_the_callers():
    """On passthrough the caller's headers go along, but never the proxy's (the client's
    address, the original host or path: ``gateway.base.types.refused_caller_header``, L24) nor its
    credentials; a header of the caller's own does (the control)."""
    adapter = OpenAICompatibleProvider(provider_entry())
    caller = {
        "x-tenant": "t",
        "x-forwarded-for": "127.0.0.1",
        "forwarded": "for=127.0.0.1",
        "x-real-ip": "10.0.0.1",
        "x-original-url": "/admin",
        "x-rewrite-url": "/admin",
        "transfer-encoding": "chunked",
        "authorization": "Bearer caller-key",
    }
    assert adapter.relayed(caller) == {"x-tenant": "t"}
