"""Upstream answers -> canonical: response objects, typed SSE streams (folded, each
equals ``parse_response`` of the same answer), in-stream failures and error envelopes.
Fixtures under ``tests/fixtures/openai_responses`` are hand-written from the Responses
API reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.base import errors
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ErrorEvent,
    Finish,
    PartStart,
    PartStop,
    Start,
    StreamEvent,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
    UsageEvent,
)
from gateway.codecs.base import WireEvent
from gateway.codecs.openai_responses import codec as CODEC
from gateway.codecs.openai_responses import maps

FIXTURES = Path(__file__).parents[3] / "fixtures" / "openai_responses"
ENCRYPTED = "gAAAAABor-EnCRyPtEdReAsOnInGbLoB_0123456789abcdefABCDEF-_=="
REASONING_ID = "rs_68af1c0f11c881939e0d7c2a3b4c5d6e0c1b2d3e4f5a6b7c"  # kept: OpenAI wants it back


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def wire_events(name: str) -> list[WireEvent]:
    """The fixture's SSE messages as the transport de-frames them."""
    events = []
    for block in (FIXTURES / name).read_text().split("\n\n"):
        lines = [line for line in block.splitlines() if line]
        if not lines:
            continue
        event = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append(WireEvent(event, json.loads(data)))
    return events


def parse_stream(name: str) -> list[StreamEvent]:
    parser = CODEC.stream_parser()
    out: list[StreamEvent] = []
    for event in wire_events(name):
        out += parser.feed(event)
    return out + parser.finish()


def test_text_response_usage_counts_cached_tokens_apart() -> None:
    response = CODEC.parse_response(load("text.json"))
    assert response.id == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
    assert response.model == "gpt-4.1-2025-04-14" and response.created == 1741476542
    assert response.parts == [Text("Hello! How can I help?")]
    assert response.finish_reason == "stop"
    assert response.usage == Usage(input_tokens=20, output_tokens=8, cache_read_tokens=16)
    assert response.usage.prompt_tokens == 36


def test_reasoning_text_and_parallel_calls_in_order() -> None:
    response = CODEC.parse_response(load("reasoning_tools.json"))
    summary = (
        "**Checking two cities**\n\nThe user wants weather for Paris and Tokyo.\n\n"
        "**Calling tools**\n\nI will call get_weather twice in parallel."
    )
    assert response.parts == [
        Thinking(summary, signature=maps.pack_reasoning(ENCRYPTED, REASONING_ID)),
        Text("Let me look both up."),
        ToolCall("call_P4r1sWe4th3r", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ToolCall("call_T0ky0We4th3r", "get_weather", {"city": "Tokyo"}),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage.output_tokens == 410 and response.usage.reasoning_tokens == 320


def test_incomplete_is_length_and_summaryless_reasoning_is_redacted() -> None:
    response = CODEC.parse_response(load("incomplete.json"))
    assert response.finish_reason == "length"
    thinking = response.parts[0]
    assert isinstance(thinking, Thinking) and thinking.text == ""
    assert maps.unpack_reasoning_item(thinking.redacted) == (
        "rs_68b0aa0211d08190b2c3d4e5f6a7b8c90d1e2f3a4b5c6d7e",
        "gAAAAABosKoCnOsUmMaRy_EnCrYpTeD-9876543210zyxw==",
    )
    assert response.text() == '{"name": "Ada", "born": 18'


def test_content_filter_and_refusal_stop_reasons() -> None:
    filtered = {
        "id": "r",
        "model": "m",
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "output": [],
    }
    assert CODEC.parse_response(filtered).finish_reason == "content_filter"
    refusal = {
        "id": "r",
        "model": "m",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "I can't help with that."}],
            }
        ],
    }
    response = CODEC.parse_response(refusal)
    assert response.finish_reason == "content_filter"
    assert response.text() == "I can't help with that."


def test_a_failed_response_object_raises_its_error() -> None:
    failed = {
        "id": "r",
        "status": "failed",
        "error": {"code": "server_error", "message": "boom"},
        "output": [],
    }
    with pytest.raises(errors.UpstreamError) as caught:
        CODEC.parse_response(failed)
    assert caught.value.status == 500 and caught.value.retryable and "boom" in caught.value.message


def test_text_stream_events_and_fold() -> None:
    events = parse_stream("text.sse")
    rid = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
    assert events == [
        Start(id=rid, model="gpt-4.1-2025-04-14", created=1741476542),
        PartStart(0, "text"),
        TextDelta(0, "Hello!"),
        TextDelta(0, " How can"),
        TextDelta(0, " I help?"),
        PartStop(0),
        UsageEvent(Usage(input_tokens=20, output_tokens=8, cache_read_tokens=16)),
        Finish("stop"),
    ]


def test_reasoning_and_tool_stream_events() -> None:
    events = parse_stream("reasoning_tools.sse")
    packed = maps.pack_reasoning(ENCRYPTED, REASONING_ID)
    assert events[1:] == [
        PartStart(0, "thinking"),
        ThinkingDelta(0, "**Checking two cities**\n\n"),
        ThinkingDelta(0, "The user wants weather for Paris and Tokyo."),
        ThinkingDelta(0, "\n\n**Calling tools**\n\nI will call get_weather twice in parallel."),
        ThinkingDelta(0, signature=packed),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "Let me look"),
        TextDelta(1, " both up."),
        PartStop(1),
        PartStart(2, "tool_call", tool_id="call_P4r1sWe4th3r", tool_name="get_weather"),
        ToolArgsDelta(2, '{"city":'),
        ToolArgsDelta(2, '"Paris","unit"'),
        ToolArgsDelta(2, ':"celsius"}'),
        PartStop(2),
        PartStart(3, "tool_call", tool_id="call_T0ky0We4th3r", tool_name="get_weather"),
        ToolArgsDelta(3, '{"city":"Tokyo"}'),
        PartStop(3),
        UsageEvent(Usage(input_tokens=120, output_tokens=410, reasoning_tokens=320)),
        Finish("tool_calls"),
    ]


@pytest.mark.parametrize("name", ["text", "reasoning_tools", "incomplete"])
def test_the_folded_stream_equals_the_whole_response(name: str) -> None:
    folded = fold_events(parse_stream(f"{name}.sse"))
    whole = CODEC.parse_response(load(f"{name}.json"))
    assert folded == whole


def test_summaryless_reasoning_streams_as_redacted_thinking() -> None:
    events = parse_stream("incomplete.sse")
    assert events[1] == PartStart(0, "thinking")
    assert isinstance(events[2], ThinkingDelta) and events[2].redacted
    assert events[-1] == Finish("length")


def test_failure_before_any_output_is_an_error_with_no_start() -> None:
    """Nothing was said yet: the provider raises, routing may retry or fail over."""
    events = parse_stream("failed.sse")
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    error = events[0].error
    assert error.status == 429 and error.retryable and "Rate limit reached" in error.message


def test_error_event_mid_stream_follows_the_partial_text() -> None:
    events = parse_stream("error_midstream.sse")
    assert isinstance(events[0], Start) and events[2] == TextDelta(0, "Partial")
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].error.status == 500 and "server had an error" in events[-1].error.message


def test_a_stream_cut_short_ends_in_an_error() -> None:
    parser = CODEC.stream_parser()
    events: list[StreamEvent] = []
    for event in wire_events("text.sse")[:6]:
        events += parser.feed(event)
    tail = parser.finish()
    assert len(tail) == 1 and isinstance(tail[0], ErrorEvent) and tail[0].error.status == 502


def test_items_given_whole_without_deltas_still_stream() -> None:
    """Some Responses-compatible servers send only output_item.done."""
    parser = CODEC.stream_parser()
    items = load("reasoning_tools.json")["output"]
    created = {
        "type": "response.created",
        "response": {**load("reasoning_tools.json"), "output": []},
    }
    events: list[StreamEvent] = parser.feed(WireEvent("response.created", created))
    for index, item in enumerate(items):
        data = {"type": "response.output_item.done", "output_index": index, "item": item}
        events += parser.feed(WireEvent("response.output_item.done", data))
    completed = {"type": "response.completed", "response": load("reasoning_tools.json")}
    events += parser.feed(WireEvent("response.completed", completed))
    assert fold_events(events) == CODEC.parse_response(load("reasoning_tools.json"))


def test_http_error_envelopes_keep_status_code_and_message() -> None:
    body = (FIXTURES / "error_429.json").read_bytes()
    error = CODEC.parse_error(429, body)
    assert error.status == 429 and error.kind == "rate_limit_error" and error.retryable
    assert error.code == "rate_limit_exceeded" and "Rate limit reached" in error.message
    context = CODEC.parse_error(400, (FIXTURES / "error_400_context.json").read_bytes())
    assert context.status == 400 and not context.retryable
    assert context.context_window_exceeded and context.param == "input"
    overloaded = CODEC.parse_error(529, b'{"error": {"message": "Overloaded"}}')
    assert isinstance(overloaded, errors.UpstreamOverloaded)
    garbage = CODEC.parse_error(503, b"<html>Service Unavailable</html>")
    assert garbage.status == 503 and "Service Unavailable" in garbage.message


def test_parts_left_open_by_the_upstream_are_closed_at_the_end() -> None:
    """A server that skips output_item.done still yields balanced part events."""
    kept = [e for e in wire_events("text.sse") if e.event != "response.output_item.done"]
    parser = CODEC.stream_parser()
    events: list[StreamEvent] = []
    for event in kept:
        events += parser.feed(event)
    assert events[-3:] == [
        PartStop(0),
        UsageEvent(Usage(input_tokens=20, output_tokens=8, cache_read_tokens=16)),
        Finish("stop"),
    ]
    assert events.count(PartStop(0)) == 1


RAW_REASONING_ITEM = {
    "id": "rs_local1",
    "type": "reasoning",
    "summary": [],
    "content": [{"type": "reasoning_text", "text": "The user greets me. I greet back."}],
}


def test_raw_reasoning_text_of_compatible_servers_is_thinking() -> None:
    """vLLM or Ollama serving an open-weight model send reasoning as content
    (``reasoning_text``), streamed as ``response.reasoning_text.delta``."""
    whole = {
        "id": "resp_local",
        "model": "gpt-oss-20b",
        "status": "completed",
        "output": [
            RAW_REASONING_ITEM,
            {
                "id": "msg_local1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hi!"}],
            },
        ],
        "usage": {"input_tokens": 5, "output_tokens": 12},
    }
    response = CODEC.parse_response(whole)
    assert response.parts == [Thinking("The user greets me. I greet back."), Text("Hi!")]
    ref = {"item_id": "rs_local1", "output_index": 0, "content_index": 0}
    stream = [
        {"type": "response.created", "response": {**whole, "output": [], "status": "in_progress"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**RAW_REASONING_ITEM, "content": []},
        },
        {"type": "response.reasoning_text.delta", **ref, "delta": "The user greets me."},
        {"type": "response.reasoning_text.delta", **ref, "delta": " I greet back."},
        {"type": "response.output_item.done", "output_index": 0, "item": RAW_REASONING_ITEM},
        {"type": "response.output_item.done", "output_index": 1, "item": whole["output"][1]},
        {"type": "response.completed", "response": whole},
    ]
    parser = CODEC.stream_parser()
    events: list[StreamEvent] = []
    for data in stream:
        events += parser.feed(WireEvent(data["type"], data))
    assert ThinkingDelta(0, "The user greets me. I greet back.") in events
    assert fold_events(events) == response


def test_incomplete_event_without_a_status_is_still_length() -> None:
    parser = CODEC.stream_parser()
    events = parser.feed(
        WireEvent("response.incomplete", {"type": "response.incomplete", "response": {"id": "r"}})
    )
    assert events[-1] == Finish("length")
