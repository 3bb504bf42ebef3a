"""Inbound OpenAI Responses API: request parsing (input items -> canonical messages,
ids kept, stateful fields refused, field-naming errors), the response object, and the
exact SSE event sequences, checked against the ``openai`` SDK's own types and its
stream accumulator."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway.base import errors
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    ErrorEvent,
    Finish,
    Image,
    PartStart,
    PartStop,
    Reasoning,
    ResponseFormat,
    Start,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
    UsageEvent,
)
from gateway.codecs.openai_responses.inbound import (
    parse_request,
    render_error,
    render_response,
    render_stream,
    render_stream_error,
)

EVENTS = TypeAdapter(ResponseStreamEvent)


def parse(**body: Any) -> ChatRequest:
    body.setdefault("model", "gpt-4.1")
    body.setdefault("input", "hi")
    return parse_request(body, {})


def param_of(**body: Any) -> str | None:
    with pytest.raises(errors.InvalidRequest) as caught:
        parse(**body)
    return caught.value.param


# --- requests ------------------------------------------------------------------------


def test_string_input_is_one_user_message_and_instructions_the_system_prompt() -> None:
    request = parse(input="Hello", instructions="Be brief.", max_output_tokens=50, stream=True)
    assert request.dialect == "responses"
    assert [(m.role, m.text()) for m in request.messages] == [("user", "Hello")]
    assert request.system == [Text("Be brief.")]
    assert request.max_tokens == 50
    assert request.stream is True


def test_conversation_items_become_canonical_turns_with_call_ids_kept() -> None:
    request = parse(
        input=[
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "Need the tool."}],
                "encrypted_content": "sig-abc",
            },
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_A",
                "name": "wx",
                "arguments": '{"city": "Paris"}',
            },
            {
                "type": "function_call",
                "id": "fc_2",
                "call_id": "call_B",
                "name": "wx",
                "arguments": "",
            },
            {"type": "function_call_output", "call_id": "call_A", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "call_B",
                "output": [{"type": "input_text", "text": "rain"}],
            },
            {"role": "user", "content": "Thanks"},
        ]
    )
    assert request.system == [Text("Use tools.")]
    roles = [m.role for m in request.messages]
    assert roles == ["user", "assistant", "user", "user"]
    assistant = request.messages[1]
    assert assistant.parts == [
        Thinking("Need the tool.", signature="sig-abc"),
        Text("Checking."),
        ToolCall(id="call_A", name="wx", arguments={"city": "Paris"}),
        ToolCall(id="call_B", name="wx", arguments={}),
    ]
    assert request.messages[2].parts == [
        ToolResult("call_A", [Text("sunny")]),
        ToolResult("call_B", [Text("rain")]),
    ]
    assert request.messages[3].text() == "Thanks"


def test_reasoning_with_only_encrypted_content_is_kept_and_system_messages_stay() -> None:
    request = parse(
        input=[
            {"role": "user", "content": "a"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {"role": "assistant", "content": "b"},
            {"role": "system", "content": "now be terse"},
        ]
    )
    assert request.messages[1].parts == [Thinking("", redacted="opaque"), Text("b")]
    assert (request.messages[2].role, request.messages[2].text()) == ("system", "now be terse")


def test_images_by_url_and_data_url() -> None:
    request = parse(
        input=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_image",
                        "image_url": "https://x.test/cat.png",
                        "detail": "auto",
                    },
                    {"type": "input_image", "image_url": "data:image/jpeg;base64,QUJD"},
                ],
            }
        ]
    )
    assert request.messages[0].parts == [
        Image(url="https://x.test/cat.png"),
        Image(data="QUJD", media_type="image/jpeg"),
    ]


def test_settings_map_to_canonical_fields() -> None:
    request = parse(
        tools=[
            {
                "type": "function",
                "name": "wx",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            }
        ],
        tool_choice={"type": "function", "name": "wx"},
        parallel_tool_calls=False,
        temperature=0.2,
        top_p=0.9,
        reasoning={"effort": "high", "summary": "auto"},
        text={
            "format": {
                "type": "json_schema",
                "name": "out",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
        user="u-1",
        store=False,
        include=[],
        truncation="disabled",
        metadata={"run": "7"},
    )
    assert [(t.name, t.description) for t in request.tools] == [("wx", "Weather")]
    assert request.tool_choice == ToolChoice(mode="tool", name="wx", parallel=False)
    assert (request.temperature, request.top_p, request.user) == (0.2, 0.9, "u-1")
    assert request.reasoning == Reasoning(effort="high")
    assert request.response_format == ResponseFormat(
        type="json_schema", schema={"type": "object"}, name="out", strict=True
    )
    assert request.unmapped == []  # store, empty include, disabled truncation ask nothing
    assert request.extra["metadata"] == {"run": "7"}


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_modes(choice: str) -> None:
    assert parse(tool_choice=choice).tool_choice == ToolChoice(mode=choice)


def test_hosted_tools_and_unknown_fields_are_unmapped() -> None:
    request = parse(
        tools=[{"type": "function", "name": "f"}, {"type": "web_search"}],
        prompt_cache_key="k",
        include=["reasoning.encrypted_content"],
        text={"verbosity": "low"},
    )
    assert [t.name for t in request.tools] == ["f"]
    assert sorted(request.unmapped) == [
        "include",
        "text.verbosity",
        "tools[1] (web_search)",
    ]
    # the prompt-cache key is modelled: carried to any OpenAI upstream
    assert request.prompt_cache_key == "k" and "prompt_cache_key" not in request.extra


@pytest.mark.parametrize("name", ["conversation", "background"])
def test_stateful_fields_are_refused_by_name(name: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        parse(**{name: "resp_123"})
    assert caught.value.param == name
    assert "previous_response_id" in caught.value.message  # what works instead


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": 3}, "model"),
        ({"input": None}, "input"),
        ({"input": []}, "input"),
        ({"input": 5}, "input"),
        ({"input": ["x"]}, "input[0]"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}]},
            "input[0].content[0].text",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
        (
            {
                "input": [
                    {
                        "role": "system",
                        "content": [{"type": "input_image", "image_url": "https://x"}],
                    }
                ]
            },
            "input[0].content[0].type",
        ),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
        ),
        (
            {
                "input": [
                    {"role": "user", "content": "a"},
                    {"type": "function_call", "call_id": "c", "name": "f", "arguments": 5},
                ]
            },
            "input[1].arguments",
        ),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"type": "web_search_call"}]}, "input[0].id"),  # read back: needs its id
        ({"input": [{"type": "computer_call"}]}, "input[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_wrong_shapes_name_the_field(body: dict[str, Any], param: str) -> None:
    assert param_of(**body) == param


# --- the response object ---------------------------------------------------------------


def test_render_response_orders_items_and_parses_as_the_sdk_response() -> None:
    request = parse(tools=[{"type": "function", "name": "wx"}], instructions="sys")
    response = ChatResponse(
        id="up-1",
        model="upstream-model",
        parts=[
            Thinking("Think.", signature="sig"),
            Text("Let me "),
            Text("check."),
            ToolCall("call_1", "wx", {"city": "Paris"}),
            ToolCall("call_2", "wx", raw_arguments='{"city": "Rome"}'),
        ],
        finish_reason="tool_calls",
        usage=Usage(input_tokens=10, output_tokens=5, cache_read_tokens=4, reasoning_tokens=2),
        created=1700000000,
    )
    body = render_response(response, request)
    parsed = Response.model_validate(body)
    assert parsed.id.startswith("resp_") and parsed.object == "response"
    assert (parsed.model, parsed.status, parsed.created_at) == ("gpt-4.1", "completed", 1700000000)
    assert [item.type for item in parsed.output] == [
        "reasoning",
        "message",
        "function_call",
        "function_call",
    ]
    reasoning, message, first, second = parsed.output
    assert reasoning.summary[0].text == "Think." and reasoning.encrypted_content == "sig"
    assert message.id.startswith("msg_") and message.status == "completed"
    assert parsed.output_text == "Let me check."
    assert (first.call_id, first.name, orjson.loads(first.arguments)) == (
        "call_1",
        "wx",
        {"city": "Paris"},
    )
    assert first.id.startswith("fc_") and first.status == "completed"
    assert (second.call_id, second.arguments) == ("call_2", '{"city": "Rome"}')
    usage = parsed.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (14, 5, 19)
    assert usage.input_tokens_details.cached_tokens == 4
    assert usage.output_tokens_details.reasoning_tokens == 2
    assert parsed.instructions == "sys" and [t.name for t in parsed.tools] == ["wx"]


def test_length_finish_is_an_incomplete_response() -> None:
    response = ChatResponse(id="x", model="m", parts=[Text("cut")], finish_reason="length")
    parsed = Response.model_validate(render_response(response, parse()))
    assert parsed.status == "incomplete"
    assert parsed.incomplete_details.reason == "max_output_tokens"
    assert parsed.output_text == "cut"


def test_errors_use_the_openai_shape() -> None:
    body = render_error(
        errors.InvalidRequest("input[2].call_id must be ...", param="input[2].call_id")
    )
    assert body == {
        "error": {
            "message": "input[2].call_id must be ...",
            "type": "invalid_request_error",
            "param": "input[2].call_id",
            "code": None,
        }
    }
    event = EVENTS.validate_python(_decode(render_stream_error(errors.RateLimited("slow down")))[0])
    assert (event.type, event.code, event.message) == ("error", "rate_limit_exceeded", "slow down")


# --- streaming -------------------------------------------------------------------------


def _decode(raw: bytes) -> list[dict[str, Any]]:
    """SSE bytes -> payloads, checking each ``event:`` name matches its ``type``."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        payload = orjson.loads(fields["data"])
        assert fields["event"] == payload["type"]
        out.append(payload)
    return out


async def _stream(events: list[Any], request: ChatRequest | None = None) -> list[dict[str, Any]]:
    async def source():
        for event in events:
            yield event

    chunks = [chunk async for chunk in render_stream(source(), request or parse(stream=True))]
    assert chunks[-1] == b"data: [DONE]\n\n"  # the stream's terminal event (Open Responses)
    chunks = chunks[:-1]
    payloads = []
    for chunk in chunks:  # one complete event per chunk
        decoded = _decode(chunk)
        assert len(decoded) == 1
        payloads += decoded
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    return payloads


def _accumulate(payloads: list[dict[str, Any]]) -> ResponseStreamState:
    """Run the events through the SDK's own stream accumulator (it raises on any
    ordering or identity mistake)."""
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for payload in payloads:
        state.handle_event(EVENTS.validate_python(payload))
    return state


def _types(payloads: list[dict[str, Any]]) -> list[str]:
    return [p["type"] for p in payloads]


async def test_text_stream_event_sequence() -> None:
    payloads = await _stream(
        [
            Start("up-1", "m", 1700000000, Usage(input_tokens=9)),
            PartStart(0, "text"),
            TextDelta(0, ""),
            TextDelta(0, "Hel"),
            TextDelta(0, "lo"),
            PartStop(0),
            Finish("stop"),
            UsageEvent(Usage(output_tokens=2)),
        ]
    )
    assert _types(payloads) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert payloads[0]["response"]["status"] == "in_progress"
    assert [p["delta"] for p in payloads if "delta" in p] == ["Hel", "lo"]
    item_id = payloads[2]["item"]["id"]
    assert all(p["item_id"] == item_id for p in payloads[3:8])
    assert payloads[6]["text"] == "Hello"
    completed = payloads[-1]["response"]
    assert completed["status"] == "completed"
    assert completed["usage"]["input_tokens"] == 9 and completed["usage"]["output_tokens"] == 2
    state = _accumulate(payloads)
    assert state._completed_response.output_text == "Hello"


async def test_function_call_arguments_in_pieces() -> None:
    payloads = await _stream(
        [
            Start("up", "m"),
            PartStart(0, "tool_call", tool_id="call_9", tool_name="wx"),
            ToolArgsDelta(0, '{"ci'),
            ToolArgsDelta(0, ""),
            ToolArgsDelta(0, 'ty": "Paris"}'),
            PartStop(0),
            Finish("tool_calls"),
        ]
    )
    assert _types(payloads) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = payloads[2]["item"]
    assert (added["type"], added["call_id"], added["name"], added["arguments"]) == (
        "function_call",
        "call_9",
        "wx",
        "",
    )
    assert payloads[5]["arguments"] == '{"city": "Paris"}'
    # OpenAI's done event names the function (required in its schema since 2025)
    assert payloads[5]["name"] == "wx" and payloads[5]["item_id"] == added["id"]
    final = _accumulate(payloads)._completed_response
    (call,) = final.output
    assert (call.call_id, call.name, call.arguments, call.status) == (
        "call_9",
        "wx",
        '{"city": "Paris"}',
        "completed",
    )


async def test_text_then_two_parallel_calls_count_output_indexes_in_order() -> None:
    payloads = await _stream(
        [
            Start("up", "m"),
            PartStart(0, "text"),
            TextDelta(0, "Checking both."),
            PartStop(0),
            PartStart(1, "tool_call", tool_id="call_a", tool_name="wx"),
            PartStart(2, "tool_call", tool_id="call_b", tool_name="wx"),
            ToolArgsDelta(1, '{"city": '),
            ToolArgsDelta(2, '{"city": "Rome"}'),
            ToolArgsDelta(1, '"Oslo"}'),
            PartStop(1),
            PartStop(2),
            UsageEvent(Usage(input_tokens=3, output_tokens=4)),
            Finish("tool_calls"),
        ]
    )
    added = [p for p in payloads if p["type"] == "response.output_item.added"]
    assert [(p["output_index"], p["item"]["type"]) for p in added] == [
        (0, "message"),
        (1, "function_call"),
        (2, "function_call"),
    ]
    deltas = [
        (p["output_index"], p["delta"]) for p in payloads if p["type"].endswith("arguments.delta")
    ]
    assert deltas == [(1, '{"city": '), (2, '{"city": "Rome"}'), (1, '"Oslo"}')]
    final = _accumulate(payloads)._completed_response
    assert [item.type for item in final.output] == ["message", "function_call", "function_call"]
    assert [(c.call_id, orjson.loads(c.arguments)) for c in final.output[1:]] == [
        ("call_a", {"city": "Oslo"}),
        ("call_b", {"city": "Rome"}),
    ]
    assert final.usage.total_tokens == 7


async def test_thinking_streams_as_a_reasoning_summary_with_its_signature() -> None:
    payloads = await _stream(
        [
            Start("up", "m"),
            PartStart(0, "thinking"),
            ThinkingDelta(0, "Hmm"),
            ThinkingDelta(0, signature="sig-1"),
            PartStop(0),
            PartStart(1, "text"),
            TextDelta(1, "Yes."),
            PartStop(1),
            Finish("stop"),
        ]
    )
    assert _types(payloads)[2:8] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    reasoning = payloads[7]["item"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Hmm"}]
    assert reasoning["encrypted_content"] == "sig-1"
    final = _accumulate(payloads)._completed_response
    assert [item.type for item in final.output] == ["reasoning", "message"]


async def test_length_finish_ends_with_response_incomplete() -> None:
    payloads = await _stream(
        [Start("up", "m"), PartStart(0, "text"), TextDelta(0, "cut"), Finish("length")]
    )
    assert _types(payloads)[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    final = payloads[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_error_mid_stream_sends_error_then_response_failed_and_ends() -> None:
    payloads = await _stream(
        [
            Start("up", "m"),
            PartStart(0, "text"),
            TextDelta(0, "partial"),
            ErrorEvent(errors.UpstreamError("upstream went away", status=502)),
            TextDelta(0, "never sent"),
        ]
    )
    assert _types(payloads) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "error",
        "response.failed",
    ]
    assert payloads[5]["message"] == "upstream went away"
    failed = payloads[6]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "upstream went away"}
    for payload in payloads:
        EVENTS.validate_python(payload)


async def test_stream_without_finish_is_a_failure_not_a_silent_cut() -> None:
    payloads = await _stream([Start("up", "m"), PartStart(0, "text"), TextDelta(0, "hal")])
    assert _types(payloads)[-2:] == ["error", "response.failed"]
    assert "ended unexpectedly" in payloads[-2]["message"]


def test_function_tools_keep_strict_and_default_to_strict_as_the_api_does() -> None:
    schema = {"type": "object", "properties": {}}
    request = parse(
        tools=[
            {"type": "function", "name": "given", "parameters": schema, "strict": False},
            {"type": "function", "name": "absent", "parameters": schema},
        ]
    )
    assert [(t.name, t.strict) for t in request.tools] == [("given", False), ("absent", True)]
    body = render_response(ChatResponse(id="r", model="m", parts=[Text("ok")]), request)
    assert [t["strict"] for t in body["tools"]] == [False, True]
    assert Response.model_validate(body).tools[1].strict is True
    assert param_of(tools=[{"type": "function", "name": "f", "strict": 1}]) == "tools[0].strict"


def test_text_format_strict_is_kept_and_absent_stays_unset() -> None:
    fmt = {"type": "json_schema", "name": "out", "schema": {"type": "object"}}
    assert parse(text={"format": {**fmt, "strict": False}}).response_format.strict is False
    assert parse(text={"format": fmt}).response_format.strict is None


# --- state echo and redacted reasoning (issue #20 part 2) --------------------------------


def test_store_and_previous_response_id_are_echoed_never_forwarded() -> None:
    request = parse(previous_response_id="resp_abc")
    assert request.echo == {"store": True, "previous_response_id": "resp_abc"}
    assert "previous_response_id" not in request.extra and "store" not in request.extra
    body = render_response(ChatResponse("up", "m", parts=[Text("ok")]), request)
    assert body["previous_response_id"] == "resp_abc" and body["store"] is True
    assert parse(store=False).echo["store"] is False
    assert param_of(store="yes") == "store"
    assert param_of(previous_response_id=5) == "previous_response_id"


def test_reasoning_with_only_encrypted_content_is_redacted_thinking() -> None:
    request = parse(
        input=[
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-opaque"},
            {"type": "message", "role": "assistant", "content": "hello"},
        ]
    )
    assistant = request.messages[1]
    assert assistant.parts[0] == Thinking("", redacted="gAAAA-opaque")
    assert assistant.parts[1] == Text("hello")
    # no summary and no encrypted content: nothing to carry
    bare = parse(input=[{"role": "user", "content": "q"}, {"type": "reasoning", "summary": []}])
    assert len(bare.messages) == 1


def test_redacted_thinking_renders_as_a_reasoning_item_with_encrypted_content() -> None:
    response = ChatResponse("up", "m", parts=[Thinking("", redacted="opaque-data"), Text("answer")])
    body = render_response(response, parse())
    reasoning = body["output"][0]
    assert reasoning["type"] == "reasoning" and reasoning["summary"] == []
    assert reasoning["encrypted_content"] == "opaque-data"
    assert Response.model_validate(body).output[0].encrypted_content == "opaque-data"
    # and back in: the same Thinking
    again = parse(input=[{"role": "user", "content": "q"}, reasoning])
    assert again.messages[1].parts == [Thinking("", redacted="opaque-data")]


async def test_streamed_redacted_thinking_is_one_whole_reasoning_item() -> None:
    payloads = await _stream(
        [
            Start("up", "m"),
            PartStart(0, "thinking"),
            ThinkingDelta(0, redacted="opaque-data"),
            PartStop(0),
            PartStart(1, "text"),
            TextDelta(1, "answer"),
            PartStop(1),
            Finish("stop"),
        ]
    )
    kinds = [p["type"] for p in payloads]
    assert kinds[2:4] == ["response.output_item.added", "response.output_item.done"]
    assert payloads[3]["item"]["encrypted_content"] == "opaque-data"
    final = payloads[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["encrypted_content"] == "opaque-data"
    _accumulate(payloads)  # the SDK's accumulator takes every event (it raises otherwise)


@pytest.mark.parametrize(
    "header",
    [
        {"Host": "internal.example"},
        {"Transfer-Encoding": "chunked"},
        {"content-length": "0"},
        {"Connection": "close"},
        {"X-Ok": "a\r\nHost: internal.example"},
        {"bad name": "x"},
    ],
)
def test_an_mcp_tools_headers_may_not_set_the_connections_own(header: dict) -> None:
    """A caller's headers for its MCP server are sent on the gateway's connection: the
    host, framing and hop-by-hop headers are the gateway's, so they are a 400 (L20)."""
    tool = {
        "type": "mcp",
        "server_label": "s",
        "server_url": "https://mcp.example/",
        "headers": header,
    }
    with pytest.raises(errors.InvalidRequest) as caught:
        parse(tools=[tool])
    assert caught.value.param == "tools[0].headers"
    fine = {**tool, "headers": {"X-Api-Key": "k"}}
    assert parse(tools=[fine]).mcp_servers[0].headers == {"X-Api-Key": "k"}


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "127.0.0.1"},
        {"x-forwarded-host": "admin.internal"},
        {"X-Forwarded-Proto": "https"},
        {"Forwarded": "for=127.0.0.1;host=admin.internal"},
        {"X-Real-IP": "10.0.0.1"},
        {"X-Original-URL": "/admin"},
        {"X-Rewrite-URL": "/admin"},
    ],
)
def test_an_mcp_tools_headers_may_not_speak_as_the_gateways_proxy(header: dict) -> None:
    """The proxy-identity headers (the client's address, the original host or path)
    are what an upstream behind a proxy trusts the gateway for: a caller may not set
    them on its MCP server's connection (L24). Control: a header of the caller's own
    on the same tool is sent."""
    tool = {
        "type": "mcp",
        "server_label": "s",
        "server_url": "https://mcp.example/",
        "headers": {"X-Api-Key": "k", **header},
    }
    with pytest.raises(errors.InvalidRequest) as caught:
        parse(tools=[tool])
    assert caught.value.param == "tools[0].headers"
    assert next(iter(header)) in caught.value.message
    fine = {**tool, "headers": {"X-Api-Key": "k", "X-Forwarded-Nothing-Like": "x"}}
    with pytest.raises(errors.InvalidRequest):  # any X-Forwarded-* is the proxy's
        parse(tools=[fine])
    fine["headers"] = {"X-Api-Key": "k", "X-Tenant": "t"}
    assert parse(tools=[fine]).mcp_servers[0].headers == {"X-Api-Key": "k", "X-Tenant": "t"}
