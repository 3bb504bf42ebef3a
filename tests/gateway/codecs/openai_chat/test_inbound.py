"""Inbound OpenAI Chat Completions: request parsing with field-naming errors, and the
response, stream, error and model-list shapes the official ``openai`` SDK reads."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway.base import errors
from gateway.base.streaming import SSEMessage, iter_sse
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    ErrorEvent,
    Finish,
    Image,
    Message,
    ModelInfo,
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
from gateway.codecs.openai_chat.inbound import (
    parse_request,
    render_error,
    render_models,
    render_response,
    render_stream,
    render_stream_error,
)
from gateway.codecs.openai_chat.outbound import ChunkTranslator, parse_response

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "openai"


def parse(**body) -> ChatRequest:
    body.setdefault("model", "gpt-4o")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_request(body, {})


def param_of(**body) -> str | None:
    with pytest.raises(errors.InvalidRequest) as caught:
        parse(**body)
    return caught.value.param


# --- parse_request -------------------------------------------------------------------


def test_parses_a_full_agent_conversation():
    request = parse(
        messages=[
            {"role": "system", "content": "You are a helper."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image and the weather?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://img.test/cat.png", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "I should call the tool.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "now", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "12:00"}],
            },
            {"role": "user", "content": "thanks", "name": "ann"},
            {"role": "system", "content": "Wrap up."},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        tool_choice="required",
        parallel_tool_calls=False,
        max_completion_tokens=512,
        max_tokens=99,
        temperature=0.3,
        top_p=0.8,
        stop="END",
        stream=True,
        stream_options={"include_usage": True},
        response_format={"type": "json_object"},
        reasoning_effort="low",
        user="user-7",
        n=2,
        seed=42,
        logprobs=True,
    )
    assert request == ChatRequest(
        dialect="openai",
        model="gpt-4o",
        system=[Text("You are a helper."), Text("Use tools.")],
        messages=[
            Message(
                "user",
                [
                    Text("What is in this image and the weather?"),
                    Image(url="https://img.test/cat.png"),
                    Image(data="/9j/4AAQ", media_type="image/jpeg"),
                ],
            ),
            Message(
                "assistant",
                [
                    Thinking("I should call the tool."),
                    ToolCall("call_1", "get_weather", {"city": "Paris"}),
                    ToolCall("call_2", "now", {}),
                ],
            ),
            Message(
                "user", [ToolResult("call_1", [Text("18C")]), ToolResult("call_2", [Text("12:00")])]
            ),
            Message("user", [Text("thanks")], name="ann"),
            Message("system", [Text("Wrap up.")]),
        ],
        tools=[
            Tool(
                "get_weather",
                "Weather",
                {"type": "object", "properties": {"city": {"type": "string"}}},
            )
        ],
        tool_choice=ToolChoice(mode="required", parallel=False),
        max_tokens=512,
        temperature=0.3,
        top_p=0.8,
        stop=["END"],
        stream=True,
        include_usage=True,
        response_format=ResponseFormat(type="json_object"),
        reasoning=Reasoning(effort="low"),
        user="user-7",
        end_user="user-7",
        n=2,
        extra={"seed": 42, "logprobs": True},
        unmapped=["seed", "logprobs"],
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("auto", ToolChoice(mode="auto")),
        ("none", ToolChoice(mode="none")),
        ({"type": "function", "function": {"name": "f"}}, ToolChoice(mode="tool", name="f")),
    ],
)
def test_tool_choice_forms(raw, expected):
    assert parse(tool_choice=raw).tool_choice == expected


def test_parallel_tool_calls_alone_gives_auto_choice():
    assert parse(parallel_tool_calls=False).tool_choice == ToolChoice(mode="auto", parallel=False)


def test_max_tokens_stop_list_and_json_schema():
    request = parse(
        max_tokens=64,
        stop=["a", "b"],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
        },
    )
    assert request.max_tokens == 64 and request.stop == ["a", "b"]
    assert request.response_format == ResponseFormat(
        type="json_schema", schema={"type": "object"}, name="out", strict=True
    )
    assert request.extra == {} and request.unmapped == [] and not request.stream


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": None}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),  # OpenAI: required
        ({"messages": [{"role": "system", "content": None}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "developer"}]},
            "messages[1].content",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "no type"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png,xx"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"stream": "yes"}, "stream"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"stop": [1]}, "stop[0]"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": [{"type": 7}]}, "tools[0].type"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
)
def test_invalid_fields_are_named(body, param):
    assert param_of(**body) == param


def test_arguments_that_are_not_a_json_object_are_kept_raw():
    # a call cut off by max_tokens comes back to us in the next turn's history
    request = parse(
        messages=[
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1"}},
                    {"id": "d", "type": "function", "function": {"name": "g", "arguments": '{"a'}},
                ],
            }
        ]
    )
    calls = request.messages[0].parts
    assert [(c.arguments, c.raw_arguments) for c in calls] == [({}, "[1"), ({}, '{"a')]


def test_parts_and_tools_openai_has_but_we_do_not_model_are_named_not_refused():
    request = parse(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "listen"},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                ],
            }
        ],
        tools=[
            {"type": "custom", "custom": {"name": "grammar"}},
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
        ],
    )
    assert [p.text for p in request.messages[0].parts] == ["listen"]
    assert [t.name for t in request.tools] == ["f"]
    assert request.unmapped == [
        "messages[0].content[1] (input_audio)",
        "tools[0] (custom)",
    ]


def test_non_object_body_is_rejected():
    with pytest.raises(errors.InvalidRequest):
        parse_request([], {})


# --- render_response -----------------------------------------------------------------

REQUEST = ChatRequest(model="public-name")


def test_render_response_exact_shape_and_sdk_validates_it():
    response = ChatResponse(
        id="chatcmpl-1",
        model="upstream-model",
        created=1700000000,
        parts=[
            Thinking("hm"),
            Text("Calling."),
            ToolCall("call_1", "f", {"a": 1}),
            ToolCall("call_2", "g", {}, raw_arguments="{bad"),
        ],
        finish_reason="tool_calls",
        usage=Usage(
            input_tokens=10,
            output_tokens=5,
            cache_read_tokens=80,
            cache_write_tokens=10,
            reasoning_tokens=3,
        ),
    )
    body = render_response(response, REQUEST)
    assert body == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "public-name",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Calling.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a":1}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "g", "arguments": "{bad"},
                        },
                    ],
                    "reasoning_content": "hm",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "total_tokens": 105,
            "prompt_tokens_details": {"cached_tokens": 80},
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    }
    ChatCompletion.model_validate(body)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("stop_sequence", "stop"), ("length", "length"), ("content_filter", "content_filter")],
)
def test_render_response_finish_reasons_and_tool_only_content_is_null(reason, expected):
    body = render_response(ChatResponse(id="", model="m", parts=[], finish_reason=reason), REQUEST)
    assert body["choices"][0]["finish_reason"] == expected
    assert body["choices"][0]["message"]["content"] == ""
    assert body["id"].startswith("chatcmpl-") and body["created"] > 0
    calls_only = render_response(
        ChatResponse(id="x", model="m", parts=[ToolCall("c", "f")]), REQUEST
    )
    assert calls_only["choices"][0]["message"]["content"] is None


# --- render_stream -------------------------------------------------------------------


async def agen(items):
    for item in items:
        yield item


async def rendered(events, **request) -> list[bytes]:
    req = ChatRequest(model="public-name", stream=True, **request)
    return [chunk async for chunk in render_stream(agen(events), req)]


def decode(chunks: list[bytes]) -> list:
    out = []
    for chunk in chunks:
        assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
        data = chunk[6:-2]
        out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def chunk(delta, finish=None):
    return {
        "id": "msg_1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "public-name",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


THINK_TEXT_TOOLS = [
    Start("msg_1", "claude-x", 1700000000, Usage(input_tokens=10)),
    PartStart(0, "thinking"),
    ThinkingDelta(0, "Let me"),
    ThinkingDelta(0, "", signature="sig"),
    PartStop(0),
    PartStart(1, "text"),
    TextDelta(1, "Sure."),
    PartStop(1),
    PartStart(2, "tool_call", "toolu_a", "get_weather"),
    ToolArgsDelta(2, '{"city":'),
    ToolArgsDelta(2, '"Paris"}'),
    PartStop(2),
    PartStart(3, "tool_call", "toolu_b", "now"),
    PartStop(3),
    UsageEvent(Usage(output_tokens=20, cache_read_tokens=5)),
    Finish("tool_calls"),
]


async def test_render_stream_exact_chunks_with_usage():
    chunks = decode(await rendered(THINK_TEXT_TOOLS, include_usage=True))
    usage_chunk = {k: v for k, v in chunk({}).items() if k != "choices"}
    usage_chunk["choices"] = []
    usage_chunk["usage"] = {
        "prompt_tokens": 15,
        "completion_tokens": 20,
        "total_tokens": 35,
        "prompt_tokens_details": {"cached_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert chunks == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Let me"}),
        chunk({"content": "Sure."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_b",
                        "type": "function",
                        "function": {"name": "now", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),  # no inputs
        chunk({}, "tool_calls"),
        usage_chunk,
        "[DONE]",
    ]
    for item in chunks[:-1]:
        ChatCompletionChunk.model_validate(item)


async def test_render_stream_without_include_usage_has_no_usage_chunk():
    chunks = decode(await rendered(THINK_TEXT_TOOLS))
    assert chunks[-2] == chunk({}, "tool_calls")
    assert chunks[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks[:-1])


async def test_render_stream_error_ends_with_error_chunk_and_no_done():
    events = [
        Start("msg_1", "m", 1700000000),
        PartStart(0, "text"),
        TextDelta(0, "Hi"),
        ErrorEvent(errors.UpstreamOverloaded("Overloaded")),
    ]
    chunks = decode(await rendered(events, include_usage=True))
    assert chunks == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hi"}),
        {
            "error": {
                "message": "Overloaded",
                "type": "api_error",
                "param": None,
                "code": "overloaded",
            }
        },
    ]


async def test_render_stream_without_finish_is_an_error_not_a_silent_cut():
    chunks = decode(
        await rendered([Start("msg_1", "m", 1700000000), PartStart(0, "text"), TextDelta(0, "Hi")])
    )
    assert "error" in chunks[-1] and "[DONE]" not in chunks


async def test_render_stream_usage_after_finish_still_comes_before_done():
    events = [
        Start("msg_1", "m", 1700000000),
        Finish("stop"),
        UsageEvent(Usage(input_tokens=3, output_tokens=1)),
    ]
    chunks = decode(await rendered(events, include_usage=True))
    assert chunks[1] == chunk({}, "stop")
    assert chunks[2]["usage"]["prompt_tokens"] == 3 and chunks[2]["choices"] == []
    assert chunks[3] == "[DONE]"


async def sse_messages(raw: bytes) -> list[SSEMessage]:
    async def lines():
        for line in raw.decode().split("\n"):
            yield line

    return [m async for m in iter_sse(lines())]


@pytest.mark.parametrize(
    "name",
    [
        "openai_text",
        "openai_tools",
        "vllm_text_tools",
        "openai_parallel_tools",
        "deepseek_reasoning",
        "vllm_content_with_finish",
    ],
)
async def test_upstream_transcript_rendered_and_accumulated_by_the_sdk_matches_the_complete_body(
    name,
):
    """Upstream chunks -> canonical -> our chunks -> the openai SDK's own accumulator:
    the final message equals what the non-streamed body says."""
    translator = ChunkTranslator()
    events = []
    for message in await sse_messages((FIXTURES / f"{name}.sse").read_bytes()):
        events += (
            translator.finish()
            if message.data == "[DONE]"
            else translator.feed(json.loads(message.data))
        )
    chunks = decode(await rendered(events, include_usage=True))
    state = ChatCompletionStreamState()
    for item in chunks[:-1]:
        state.handle_chunk(ChatCompletionChunk.model_validate(item))
    final = state.current_completion_snapshot  # get_final_completion raises on "length"
    expected = render_response(
        parse_response(json.loads((FIXTURES / f"{name}.json").read_text())), REQUEST
    )
    got = final.choices[0]
    want = expected["choices"][0]
    assert got.finish_reason == want["finish_reason"]
    assert (got.message.content or None) == (want["message"]["content"] or None)
    calls = [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in got.message.tool_calls or []
    ]
    wanted = want["message"].get("tool_calls", [])
    assert calls == [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in wanted
    ]
    assert len(calls) == {"openai_tools": 1, "vllm_text_tools": 1, "openai_parallel_tools": 3}.get(
        name, 0
    )
    assert final.usage.model_dump(exclude_none=True) == expected["usage"]


# --- errors and models ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "type_", "code"),
    [
        (errors.InvalidRequest("bad", param="messages[0]"), 400, "invalid_request_error", None),
        (errors.RequestTooLarge("big"), 413, "invalid_request_error", "request_too_large"),
        (errors.AuthenticationFailed("no key"), 401, "invalid_api_key", "invalid_api_key"),
        (errors.PermissionDenied("nope"), 403, "permission_error", "permission_denied"),
        (errors.ModelNotFound("which?"), 404, "invalid_request_error", "model_not_found"),
        (
            errors.RateLimited("slow down", retry_after=3),
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (errors.UpstreamError("upstream returned 500: x", status=500), 500, "api_error", None),
        (errors.UpstreamTimeout("slow"), 504, "api_error", "timeout"),
        (
            errors.UpstreamError("ctx", status=400, code="context_length_exceeded"),
            400,
            "invalid_request_error",
            "context_length_exceeded",
        ),
    ],
)
def test_render_error(error, status, type_, code):
    assert error.status == status
    assert render_error(error) == {
        "error": {"message": error.message, "type": type_, "param": error.param, "code": code}
    }


def test_render_stream_error_is_one_sse_event():
    raw = render_stream_error(errors.InvalidRequest("bad", param="model"))
    assert (
        raw
        == b'data: {"error":{"message":"bad","type":"invalid_request_error","param":"model","code":null}}\n\n'
    )


def test_render_models():
    assert render_models([ModelInfo("fast", created=5, owned_by="acme")]) == {
        "object": "list",
        "data": [{"id": "fast", "object": "model", "created": 5, "owned_by": "acme"}],
    }


def test_function_strict_is_carried_and_checked():
    fn = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    request = parse(
        tools=[
            {"type": "function", "function": {**fn, "strict": True}},
            {"type": "function", "function": {**fn, "name": "g"}},
        ]
    )
    assert [(t.name, t.strict) for t in request.tools] == [("f", True), ("g", None)]
    bad = [{"type": "function", "function": {**fn, "strict": "true"}}]
    assert param_of(tools=bad) == "tools[0].function.strict"
