"""The Anthropic Messages dialect inbound: request parsing, response and stream
rendering (golden: canonical events -> the exact Anthropic events), errors, models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gateway.base.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    RequestTooLarge,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamTimeout,
)
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Document,
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
from gateway.codecs.anthropic import inbound
from gateway.codecs.anthropic.inbound import (
    closed_schema,
    parse_request,
    render_error,
    render_models,
    render_response,
    render_stream,
    render_stream_error,
)
from tests.gateway.providers.test_anthropic import (
    MODEL,
    TRANSCRIPTS,
    transcript_events,
    translated,
)


def body(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    base.update(fields)
    return base


# --- parse_request -----------------------------------------------------------------------


def test_minimal_request():
    parsed = parse_request(body(), {})
    assert parsed.model == "claude-sonnet-4-5" and parsed.max_tokens == 1024
    assert parsed.messages == [Message("user", [Text("Hello")])]
    assert parsed.extra == {} and parsed.unmapped == [] and parsed.stream is False


def test_missing_max_tokens_is_named():
    payload = body()
    del payload["max_tokens"]
    with pytest.raises(InvalidRequest) as caught:
        parse_request(payload, {})
    assert caught.value.param == "max_tokens" and "max_tokens" in caught.value.message
    assert caught.value.status == 400


def test_claude_code_style_request():
    """System blocks with cache_control, tools, thinking, metadata, betas, output_config."""
    payload = body(
        system=[
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Project rules.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "fix it", "cache_control": {"type": "ephemeral"}}
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "look first", "signature": "sig1"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "Reading."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "Read",
                        "input": {"file_path": "/a.py"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "print(1)"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "denied"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "iVBO",
                                },
                            },
                        ],
                    },
                ],
            },
            {"role": "system", "content": "Auto-approve mode is on."},
        ],
        tools=[
            {
                "name": "Read",
                "description": "Read a file",
                "input_schema": {"type": "object", "properties": {}},
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        thinking={"type": "enabled", "budget_tokens": 4000},
        temperature=1,
        top_p=0.95,
        top_k=10,
        stop_sequences=["</done>"],
        stream=True,
        metadata={"user_id": "user_abc_account_1_session_2"},
        output_config={"effort": "high"},
        context_management={"edits": []},
    )
    parsed = parse_request(
        payload, {"Anthropic-Version": "2023-06-01", "anthropic-beta": "a,b", "x-api-key": "k"}
    )
    assert parsed.system == [Text("You are Claude Code."), Text("Project rules.", cache="5m")]
    assert parsed.messages == [
        Message("user", [Text("fix it", cache="5m")]),
        Message(
            "assistant",
            [
                Thinking("look first", signature="sig1"),
                Thinking(redacted="opaque"),
                Text("Reading."),
                ToolCall(id="toolu_1", name="Read", arguments={"file_path": "/a.py"}),
            ],
        ),
        Message(
            "user",
            [
                ToolResult("toolu_1", [Text("print(1)")]),
                ToolResult(
                    "toolu_2",
                    [Text("denied"), Image(data="iVBO", media_type="image/png")],
                    is_error=True,
                ),
            ],
        ),
        Message("system", [Text("Auto-approve mode is on.")]),
    ]
    assert parsed.tools == [Tool("Read", "Read a file", {"type": "object", "properties": {}})]
    assert parsed.tool_choice == ToolChoice("required", parallel=False)
    assert parsed.reasoning == Reasoning(budget_tokens=4000)
    assert (parsed.temperature, parsed.top_p, parsed.top_k) == (1, 0.95, 10)
    assert parsed.stop == ["</done>"] and parsed.stream is True
    assert parsed.user == "user_abc_account_1_session_2"
    assert parsed.extra == {
        "output_config": {"effort": "high"},
        "context_management": {"edits": []},
    }
    assert set(parsed.unmapped) == {  # cache_control is carried as breakpoints
        "web_search_20250305",
        "output_config",
        "context_management",
    }
    assert parsed.headers == {"anthropic-version": "2023-06-01", "anthropic-beta": "a,b"}


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, Reasoning(budget_tokens=2048)),
        ({"type": "adaptive"}, Reasoning()),
        ({"type": "disabled"}, None),
    ],
)
def test_thinking_modes(thinking, expected):
    assert parse_request(body(thinking=thinking), {}).reasoning == expected


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, ToolChoice("auto")),
        ({"type": "tool", "name": "Read"}, ToolChoice("tool", name="Read")),
        ({"type": "none"}, ToolChoice("none")),
    ],
)
def test_tool_choice_modes(choice, expected):
    assert parse_request(body(tool_choice=choice), {}).tool_choice == expected


def test_image_by_url_and_unmapped_extras():
    payload = body(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.test/a.png"},
                    },
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "x"},
                    },
                ],
            }
        ],
        container="container_1",
        mcp_servers=[],
        service_tier="auto",
        some_future_field=1,
    )
    parsed = parse_request(payload, {})
    assert parsed.messages[0].parts == [
        Image(url="https://example.test/a.png"),
        Document(media_type="text/plain", text="x"),
    ]
    # mcp_servers is modelled (hosted MCP tools, gateway/features/mcp/hosted), not unmapped
    assert set(parsed.extra) == {"container", "service_tier", "some_future_field"}
    assert set(parsed.unmapped) == {"container", "service_tier", "some_future_field"}
    assert parsed.mcp_servers == []


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (body(model=None), "model"),
        (body(max_tokens="many"), "max_tokens"),
        (body(max_tokens=0), "max_tokens"),  # Anthropic refuses 0; a translation must too
        (body(max_tokens=-5), "max_tokens"),
        (body(messages="hi"), "messages"),
        (body(messages=[]), "messages"),
        (body(messages=[{"role": "robot", "content": "x"}]), "messages.0.role"),
        (body(messages=[{"role": "user"}]), "messages.0.content"),
        (
            body(
                messages=[
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [{"type": "txt"}]},
                ]
            ),
            "messages.1.content.0.type",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "text"}]}]),
            "messages.0.content.0.text",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}
                ]
            ),
            "messages.0.content.0.source.type",
        ),
        (
            body(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
                    }
                ]
            ),
            "messages.0.content.0.input",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]),
            "messages.0.content.0.tool_use_id",
        ),
        (body(system=[{"type": "image"}]), "system.0.type"),
        (body(tools=[{"name": "f"}]), "tools.0.input_schema"),
        (body(tool_choice={"type": "tool"}), "tool_choice.name"),
        (body(tool_choice={"type": "sometimes"}), "tool_choice.type"),
        (body(thinking={"type": "enabled"}), "thinking.budget_tokens"),
        (body(stop_sequences="END"), "stop_sequences"),
        (body(temperature="hot"), "temperature"),
        (body(stream="yes"), "stream"),
        (body(metadata={"user_id": 5}), "metadata.user_id"),
    ],
)
def test_wrong_shapes_name_the_field(payload, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_request(payload, {})
    assert caught.value.param == param
    assert caught.value.message.startswith(param)


# --- render_response ---------------------------------------------------------------------


def req(**overrides: Any) -> ChatRequest:
    values: dict[str, Any] = {"model": "claude", "max_tokens": 100}
    values.update(overrides)
    return ChatRequest(**values)


def test_render_response_orders_blocks_and_maps_usage():
    response = ChatResponse(
        id="chatcmpl-123",
        model="gpt-4o",
        parts=[
            Text("Let me look."),
            ToolCall(id="call_1", name="Read", arguments={"p": 1}),
            Thinking("hmm", signature="s"),
        ],
        finish_reason="tool_calls",
        usage=Usage(input_tokens=10, output_tokens=5, cache_read_tokens=3, cache_write_tokens=2),
    )
    assert render_response(response, req()) == {
        "id": "msg_chatcmpl-123",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "Read", "input": {"p": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 3,
            "cache_creation_input_tokens": 2,
        },
    }


@pytest.mark.parametrize(
    ("reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("tool_calls", "tool_use"),
    ],
)
def test_stop_reasons(reason, stop_reason):
    rendered = render_response(ChatResponse(id="msg_1", model="m", finish_reason=reason), req())
    assert rendered["stop_reason"] == stop_reason and rendered["id"] == "msg_1"


def test_stop_sequence_is_reported():
    response = ChatResponse(id="x", model="m", finish_reason="stop_sequence", stop_sequence="</a>")
    rendered = render_response(response, req())
    assert (rendered["stop_reason"], rendered["stop_sequence"]) == ("stop_sequence", "</a>")


def test_tool_calls_with_plain_stop_still_say_tool_use():
    response = ChatResponse(
        id="x", model="m", parts=[ToolCall(id="c", name="f")], finish_reason="stop"
    )
    assert render_response(response, req())["stop_reason"] == "tool_use"


# --- render_stream -----------------------------------------------------------------------


async def aiter(events):
    for event in events:
        yield event


async def rendered(events, request: ChatRequest | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Render, check each chunk is one well-formed SSE event, return (name, data)."""
    out = []
    async for chunk in render_stream(aiter(events), request or req()):
        text = chunk.decode()
        assert text.endswith("\n\n") and text.count("\n\n") == 1
        name_line, data_line = text.strip().split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        name, data = name_line[7:], json.loads(data_line[6:])
        assert data["type"] == name
        out.append((name, data))
    return out


def expected_from_transcript(name: str) -> list[tuple[str, dict[str, Any]]]:
    """What a client must receive for a transcript: the same events, minus pings and the
    empty input_json_delta Anthropic sends first (the renderer never sends empty deltas)."""
    return [
        (event, data)
        for event, data in transcript_events(name)
        if event != "ping" and data.get("delta", {}).get("partial_json") != ""
    ]


@pytest.mark.parametrize("name", TRANSCRIPTS)
async def test_canonical_events_render_to_the_exact_anthropic_events(name):
    assert await rendered(translated(name), req(model=MODEL)) == expected_from_transcript(name)


async def test_mid_stream_error_renders_error_event_and_ends():
    events = await rendered(translated("overloaded_midstream"), req(model=MODEL))
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "error",
    ]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def block_events(events):
    return [
        (n, d.get("index"), d.get("content_block") or d.get("delta"))
        for n, d in events
        if n.startswith("content_block")
    ]


async def test_empty_parts_and_deltas_never_reach_the_client():
    events = await rendered(
        [
            Start("r1", "up"),
            PartStart(0, "text"),
            TextDelta(0, ""),
            PartStop(0),
            PartStart(1, "tool_call", "call_1", "Read"),
            ToolArgsDelta(1, ""),
            ToolArgsDelta(1, '{"a":1}'),
            PartStop(1),
            Finish("tool_calls"),
        ]
    )
    assert block_events(events) == [
        (
            "content_block_start",
            0,
            {"type": "tool_use", "id": "call_1", "name": "Read", "input": {}},
        ),
        ("content_block_delta", 0, {"type": "input_json_delta", "partial_json": '{"a":1}'}),
        ("content_block_stop", 0, None),
    ]


async def test_kind_switches_and_parallel_calls_without_part_stop_keep_first_deltas():
    """An adapter that never sends PartStop: each new part closes the open block, opens
    the next index and still delivers the delta that triggered the switch."""
    events = await rendered(
        [
            Start("r1", "up"),
            ThinkingDelta(0, "think"),
            TextDelta(1, "Hi"),
            PartStart(2, "tool_call", "call_a", "A"),
            ToolArgsDelta(2, '{"x":'),
            PartStart(3, "tool_call", "call_b", "B"),
            ToolArgsDelta(3, "{}"),
            ToolArgsDelta(2, "1}"),  # late fragment of a closed call: dropped, not misplaced
            Finish("tool_calls"),
        ]
    )
    assert block_events(events) == [
        ("content_block_start", 0, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "think"}),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, {"type": "text", "text": ""}),
        ("content_block_delta", 1, {"type": "text_delta", "text": "Hi"}),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, {"type": "tool_use", "id": "call_a", "name": "A", "input": {}}),
        ("content_block_delta", 2, {"type": "input_json_delta", "partial_json": '{"x":'}),
        ("content_block_stop", 2, None),
        ("content_block_start", 3, {"type": "tool_use", "id": "call_b", "name": "B", "input": {}}),
        ("content_block_delta", 3, {"type": "input_json_delta", "partial_json": "{}"}),
        ("content_block_stop", 3, None),
    ]


async def test_usage_in_message_start_and_final_real_usage_in_message_delta():
    events = await rendered(
        [
            Start("chatcmpl-9", "up", usage=Usage(input_tokens=120)),
            PartStart(0, "text"),
            TextDelta(0, "ok"),
            PartStop(0),
            Finish("length"),
            UsageEvent(Usage(input_tokens=100, output_tokens=7, cache_read_tokens=20)),
        ]
    )
    start = events[0][1]["message"]
    assert start["id"] == "msg_chatcmpl-9" and start["model"] == "claude" and start["content"] == []
    assert start["usage"]["input_tokens"] == 120
    assert events[-2] == (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {
                "input_tokens": 100,
                "output_tokens": 7,
                "cache_read_input_tokens": 20,
                "cache_creation_input_tokens": 0,
            },
        },
    )
    assert events[-1] == ("message_stop", {"type": "message_stop"})


async def test_tool_calls_finished_with_stop_render_tool_use():
    events = await rendered(
        [Start("r", "u"), PartStart(0, "tool_call", "c", "f"), PartStop(0), Finish("stop")]
    )
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


async def test_render_stream_is_incremental():
    """Events are written as they arrive, not after the upstream finishes."""
    seen: list[str] = []

    async def source():
        seen.append("start")
        yield Start("r", "u")
        seen.append("delta")
        yield TextDelta(0, "x")
        seen.append("never")

    stream = render_stream(source(), req())
    first = await stream.__anext__()
    assert b"message_start" in first and seen == ["start"]
    await stream.aclose()


@hypothesis_settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=5))
@example(texts=['say "hi"\n\t\\', "\u2028 \U0001f600 \x00", "</script>"])
def test_text_deltas_to_an_open_block_are_the_bytes_the_general_rendering_makes(texts):
    """Text deltas to an open block are written without building their dicts: the bytes
    must be exactly what ``_event`` makes of them (the block's number, the text's JSON)."""
    renderer = inbound.StreamRenderer(req())
    renderer.feed(Start("r", "u"))
    renderer.feed(PartStart(0, "thinking"))
    renderer.feed(ThinkingDelta(0, "t"))
    renderer.feed(PartStop(0))
    renderer.feed(PartStart(1, "text"))
    out = [chunk for text in texts for chunk in renderer.feed(TextDelta(1, text))]
    number = 1  # block 0 was the thinking; the first text that is not empty opens block 1
    expected = []
    for text in texts:
        if not text:
            continue  # an empty delta writes nothing
        if not expected:
            block = {"type": "text", "text": ""}
            start = {"type": "content_block_start", "index": number, "content_block": block}
            expected.append(inbound._event("content_block_start", start))
        delta = {"type": "text_delta", "text": text}
        body = {"type": "content_block_delta", "index": number, "delta": delta}
        expected.append(inbound._event("content_block_delta", body))
    assert out == expected
    assert bool(renderer.feed(PartStop(1))) == bool(expected)  # it closes what opened
    assert renderer.feed(TextDelta(1, "late")) == []  # a closed block takes no more


# --- errors, models, token counts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (GatewayError("boom"), "api_error"),
        (InvalidRequest("bad"), "invalid_request_error"),
        (RequestTooLarge("big"), "request_too_large"),
        (ModelNotFound("nope"), "not_found_error"),
        (RateLimited("slow down", retry_after=3), "rate_limit_error"),
        (UpstreamOverloaded("busy"), "overloaded_error"),
        (UpstreamError("unavailable", status=503), "overloaded_error"),
        (UpstreamError("bad gateway", status=502), "api_error"),
        (UpstreamTimeout("slow"), "timeout_error"),
    ],
)
def test_render_error(error, kind):
    assert render_error(error) == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
    }


def test_render_stream_error_is_an_sse_error_event():
    chunk = render_stream_error(UpstreamOverloaded("Overloaded"))
    assert (
        chunk
        == b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )


def test_render_models_and_count_tokens():
    listed = render_models(
        [ModelInfo("claude", created=1_700_000_000), ModelInfo("fast", display_name="Fast")]
    )
    assert listed == {
        "data": [
            {
                "type": "model",
                "id": "claude",
                "display_name": "claude",
                "created_at": "2023-11-14T22:13:20Z",
            },
            {
                "type": "model",
                "id": "fast",
                "display_name": "Fast",
                "created_at": "1970-01-01T00:00:00Z",
            },
        ],
        "has_more": False,
        "first_id": "claude",
        "last_id": "fast",
    }
    assert render_models([])["first_id"] is None
    assert inbound.CLIENT.render_count_tokens(42) == {"input_tokens": 42}


async def test_error_event_object_renders_even_when_not_a_gateway_error():
    events = await rendered([Start("r", "u"), ErrorEvent(RuntimeError("weird"))])
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "weird"}},
    )


# --- structured output and strict tools ------------------------------------------------------

PERSON = {
    "title": "Person",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "fields",
    [
        {"output_config": {"format": {"type": "json_schema", "schema": PERSON}}},
        {"output_format": {"type": "json_schema", "schema": PERSON}},  # the older beta field
    ],
)
def test_output_format_json_schema_becomes_a_strict_response_format(fields):
    parsed = parse_request(body(**fields), {})
    assert parsed.response_format == ResponseFormat(
        type="json_schema", schema=PERSON, name="Person", strict=True
    )
    assert parsed.unmapped == []  # fully mapped: nothing to drop or reject
    assert parsed.extra == fields  # kept for same-dialect passthrough


def test_output_config_keeps_its_other_keys_unmapped_and_untitled_schemas_have_no_name():
    schema = {"type": "object", "title": "not a valid name!"}
    parsed = parse_request(
        body(output_config={"effort": "low", "format": {"type": "json_schema", "schema": schema}}),
        {},
    )
    assert parsed.response_format == ResponseFormat(
        type="json_schema",
        schema=schema,
        name=None,
        strict=False,  # open: see closed_schema
    )
    assert parsed.unmapped == ["output_config"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"output_config": "json"}, "output_config"),
        ({"output_config": {"format": "json"}}, "output_config.format"),
        ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type"),
        ({"output_format": {"type": "json_schema"}}, "output_format.schema"),
        ({"tools": [{"name": "t", "input_schema": {}, "strict": "yes"}]}, "tools.0.strict"),
    ],
)
def test_bad_output_format_or_strict_is_named(fields, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_request(body(**fields), {})
    assert caught.value.param == param and caught.value.status == 400


def test_tool_strict_is_carried_not_unmapped():
    closed = {"type": "object", "properties": {}, "additionalProperties": False}
    open_ = {"type": "object", "properties": {"x": {"type": "string"}}}
    parsed = parse_request(
        body(
            tools=[
                {"name": "a", "input_schema": closed, "strict": True},
                {"name": "b", "input_schema": closed},
                {"name": "c", "input_schema": open_, "strict": True},
                {"name": "d", "input_schema": closed, "strict": False},
            ]
        ),
        {},
    )
    assert [(t.name, t.strict) for t in parsed.tools] == [
        ("a", True),
        ("b", None),
        ("c", False),  # Anthropic-strict, but an OpenAI upstream would refuse it as strict
        ("d", False),
    ]
    assert parsed.unmapped == []


@pytest.mark.parametrize(
    ("schema", "closed"),
    [
        (PERSON, True),
        ({"type": "object", "properties": {}, "additionalProperties": False}, True),
        ({**PERSON, "required": ["name"]}, False),  # an optional property
        ({**PERSON, "additionalProperties": True}, False),
        ({k: v for k, v in PERSON.items() if k != "additionalProperties"}, False),
        ({"type": "array", "items": PERSON}, False),  # the root must be an object
        (
            {
                **PERSON,
                "properties": {
                    "pets": {"type": "array", "items": {"$ref": "#/$defs/Pet"}},
                    "home": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Place"}]},
                },
                "required": ["pets", "home"],
                "$defs": {
                    "Pet": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                        "additionalProperties": False,
                    },
                    "Place": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
            False,  # Place is open
        ),
        (
            {
                **PERSON,
                "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                "required": ["tags"],
            },
            True,
        ),
        ({**PERSON, "allOf": [{"type": "object"}]}, False),
    ],
)
def test_closed_schema_is_what_openai_strict_mode_takes(schema, closed):
    assert closed_schema(schema) is closed


# --- message_start usage on translated streams ------------------------------------------------


async def test_message_start_states_the_gateways_prompt_count_when_the_upstream_has_none():
    request = req()
    request.prompt_tokens = 1234
    events = await rendered(
        [
            Start(id="chatcmpl-1", model="up"),  # OpenAI upstreams report usage only at the end
            TextDelta(0, "Hi"),
            Finish("stop"),
            UsageEvent(Usage(input_tokens=1180, output_tokens=2, cache_read_tokens=64)),
        ],
        request,
    )
    start, delta = events[0][1], events[-2][1]
    assert start["message"]["usage"] == {
        "input_tokens": 1234,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    assert delta["usage"] == {  # the final numbers are the upstream's, untouched
        "input_tokens": 1180,
        "output_tokens": 2,
        "cache_read_input_tokens": 64,
        "cache_creation_input_tokens": 0,
    }


async def test_message_start_keeps_the_upstreams_own_input_usage():
    request = req()
    request.prompt_tokens = 1234
    events = await rendered(
        [Start(id="msg_1", model="up", usage=Usage(input_tokens=7, cache_read_tokens=900))],
        request,
    )
    assert events[0][1]["message"]["usage"]["input_tokens"] == 7
    without = await rendered([Start(id="msg_1", model="up")], req())
    assert without[0][1]["message"]["usage"]["input_tokens"] == 0  # not counted: not invented


async def test_streamed_thinking_block_starts_as_anthropic_starts_it():
    """A translated thinking block opens as Anthropic's do, with an empty ``signature``
    (the non-streamed body carries one too): every event validates against the
    official SDK's stream event schema, strictly."""
    import pydantic
    from anthropic.types import RawMessageStreamEvent

    schema = pydantic.TypeAdapter(RawMessageStreamEvent)
    events = await rendered(
        [
            Start("r1", "up"),
            PartStart(0, "thinking"),
            ThinkingDelta(0, "ponder"),
            ThinkingDelta(0, "", signature="sig-1"),
            PartStop(0),
            PartStart(1, "text"),
            TextDelta(1, "Hi"),
            PartStop(1),
            Finish("stop"),
        ]
    )
    for name, data in events:
        if name != "ping":
            schema.validate_python(data)
    start = next(d for n, d in events if n == "content_block_start")
    assert start["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}


# --- the plain reading of an agent's blocks ---------------------------------------------

_ANY_VALUE = st.sampled_from([None, "", "x", 0, 1, True, [], {}, "toolu_1", {"a": 1}])
_ITEM = st.one_of(
    _ANY_VALUE,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image", "nope"])},
        optional={
            "text": _ANY_VALUE,
            "citations": _ANY_VALUE,
            "cache_control": st.sampled_from([None, {"type": "ephemeral"}, "bad"]),
        },
    ),
)
_BLOCK = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["text", "tool_use", "tool_result", "mcp_tool_result", "thinking", "nope", 7]
        )
    },
    optional={
        "text": _ANY_VALUE,
        "citations": _ANY_VALUE,
        "id": _ANY_VALUE,
        "name": _ANY_VALUE,
        "input": _ANY_VALUE,
        "tool_use_id": _ANY_VALUE,
        "is_error": _ANY_VALUE,
        "content": st.one_of(_ANY_VALUE, st.lists(_ITEM, max_size=3)),
        "cache_control": st.sampled_from([None, {"type": "ephemeral", "ttl": "1h"}, "bad"]),
    },
)


def _read(blocks: list[Any], role: str) -> Any:
    parser = inbound._Parser()
    try:
        parts = parser.content(blocks, role, 3)
    except InvalidRequest as exc:
        return ("error", str(exc), exc.param)
    return (parts, parser.unmapped, parser.cache_marks)


@hypothesis_settings(max_examples=600, deadline=None)
@example([{"type": "text", "text": "x", "citations": [{"a": 1}]}], "user")
@example([{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}], "system")
@example([{"type": "tool_use", "id": "", "name": "x", "input": {}}], "assistant")
@example([{"type": "tool_use", "id": "t", "name": "x", "input": {}}], "system")
@example([{"type": "tool_result", "tool_use_id": "", "content": "x"}], "user")
@example([{"type": "tool_result", "tool_use_id": "t", "is_error": 1}], "user")
@example([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image"}]}], "user")
@example([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text"}]}], "user")
@example([{"type": "tool_result", "tool_use_id": "t", "content": {"a": 1}}], "user")
@given(
    blocks=st.lists(st.one_of(_BLOCK, _ANY_VALUE), max_size=4),
    role=st.sampled_from(["user", "assistant", "system"]),
)
def test_the_plain_reading_of_a_block_is_the_long_ones(blocks: list[Any], role: str) -> None:
    """Blocks read without their parameter path give what the long reading gives: the
    same parts, notes and cache marks, or the same error naming the same path."""
    plain = _read(blocks, role)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inbound, "_plain_block", lambda block, role: None)
        assert plain == _read(blocks, role)


def test_an_agents_blocks_are_read_the_plain_way() -> None:
    """(So the test above compares two readings: the common shapes take the plain one.)"""
    assert inbound._plain_block({"type": "text", "text": "hi"}, "user") == Text("hi")
    call = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a"}}
    assert inbound._plain_block(call, "assistant") == ToolCall("toolu_1", "Read", {"path": "a"})
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    assert inbound._plain_block(result, "user") == ToolResult("toolu_1", [Text("ok")])
    marked = {**result, "cache_control": {"type": "ephemeral"}}
    assert inbound._plain_block(marked, "user") is None  # a breakpoint: the long way


def test_a_tool_searchs_tool_reference_reaches_another_format_as_text() -> None:
    """Claude Code's tool search answers with ``tool_reference`` blocks inside a tool
    result; on an OpenAI upstream that was an empty tool message."""
    from gateway.codecs.base import Target
    from gateway.codecs.openai_chat.outbound import build_body as openai_body

    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [
            {"role": "user", "content": "Find the weather tool"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {"q": "w"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            {"type": "tool_reference", "tool_name": "mcp__weather__forecast"},
                            {"type": "tool_reference", "tool_name": "mcp__weather__alerts"},
                        ],
                    }
                ],
            },
        ],
    }
    request = inbound.parse_request(body, {})
    tool_message = openai_body(request, Target(model="gpt"))["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "t1"
    assert "mcp__weather__forecast" in tool_message["content"]
    assert "mcp__weather__alerts" in tool_message["content"]
    # control: a plain text result renders as it did
    body["messages"][-1]["content"][0]["content"] = [{"type": "text", "text": "72F"}]
    plain = openai_body(inbound.parse_request(body, {}), Target(model="gpt"))["messages"][-1]
    assert plain["content"] == "72F"
