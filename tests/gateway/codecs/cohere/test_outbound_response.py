"""Cohere answers -> canonical: golden fixtures (written from the v2 chat reference)
parsed whole and streamed, the stream's fold equal to the whole answer, finish reasons,
usage, and failures (ERROR finish, a cut stream)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.base.errors import UpstreamError, UpstreamTimeout
from gateway.base.streaming import fold_events
from gateway.base.types import (
    ErrorEvent,
    Finish,
    PartStart,
    PartStop,
    Start,
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
from gateway.codecs.cohere import codec

FIXTURES = Path(__file__).parents[3] / "fixtures" / "cohere"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def wire_events(name: str) -> list[WireEvent]:
    """The fixture's SSE messages as the transport de-frames them."""
    events = []
    for block in (FIXTURES / name).read_text().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append(WireEvent(lines.get("event"), json.loads(lines["data"])))
    return events


def stream(name: str) -> list:
    parser = codec.stream_parser()
    out = []
    for event in wire_events(name):
        out += parser.feed(event)
    return out + parser.finish()


def test_text_answer() -> None:
    response = codec.parse_response(load("text.json"))
    assert response.id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert response.parts == [Text("Hello! How can I help you today?")]
    assert response.finish_reason == "stop"
    # billed units are what Cohere charges; the template tokens are not billed
    assert response.usage == Usage(input_tokens=5, output_tokens=9)


def test_text_stream_events_in_order() -> None:
    assert stream("text.sse") == [
        Start(id="c14c80c3-18eb-4519-9460-6c92edd8cfb4", model=""),
        PartStart(0, "text"),
        TextDelta(0, "Hello!"),
        TextDelta(0, " How can I"),
        TextDelta(0, " help you today?"),
        PartStop(0),
        UsageEvent(Usage(input_tokens=5, output_tokens=9)),
        Finish("stop"),
    ]


def test_tool_calls_answer_with_plan_as_thinking() -> None:
    response = codec.parse_response(load("tool_calls.json"))
    assert response.parts == [
        Thinking("I will look up the weather in Paris and the time in Tokyo."),
        ToolCall("get_weather_k9x2m1", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ToolCall("get_time_p3q8z7", "get_time", {"zone": "Asia/Tokyo"}),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(input_tokens=37, output_tokens=41)


def test_tool_call_stream_plan_then_calls_with_first_fragment_kept() -> None:
    events = stream("tool_calls.sse")
    assert events[1:4] == [
        PartStart(0, "thinking"),
        ThinkingDelta(0, "I will look up"),
        ThinkingDelta(0, " the weather in Paris and the time in Tokyo."),
    ]
    assert (
        PartStart(1, "tool_call", tool_id="get_weather_k9x2m1", tool_name="get_weather") in events
    )
    # the second call's first argument fragment arrives on tool-call-start: not lost
    start = events.index(PartStart(2, "tool_call", tool_id="get_time_p3q8z7", tool_name="get_time"))
    assert events[start + 1] == ToolArgsDelta(2, '{"zone":')
    assert events[-1] == Finish("tool_calls")


def test_thinking_answer_with_cached_tokens_and_max_tokens() -> None:
    response = codec.parse_response(load("thinking.json"))
    assert response.parts == [
        Thinking("The user wants 17 * 23. 17 * 20 = 340, 17 * 3 = 51, total 391."),
        Text("17 × 23 = 391"),
    ]
    assert response.finish_reason == "length"
    assert response.usage == Usage(input_tokens=12, output_tokens=64, cache_read_tokens=8)


@pytest.mark.parametrize("name", ["text", "tool_calls", "thinking"])
def test_stream_folds_to_the_whole_answer(name: str) -> None:
    folded = fold_events(stream(f"{name}.sse"))
    whole = codec.parse_response(load(f"{name}.json"))
    assert folded.parts == whole.parts
    assert folded.finish_reason == whole.finish_reason
    assert folded.usage == whole.usage
    assert folded.id == whole.id


@pytest.mark.parametrize(
    ("raw", "calls", "expected"),
    [
        ("COMPLETE", False, "stop"),
        ("STOP_SEQUENCE", False, "stop_sequence"),
        ("MAX_TOKENS", False, "length"),
        ("TOOL_CALL", True, "tool_calls"),
        ("COMPLETE", True, "tool_calls"),
        ("SOMETHING_NEW", False, "stop"),
    ],
)
def test_finish_reasons(raw: str, calls: bool, expected: str) -> None:
    message: dict = {"role": "assistant", "content": [{"type": "text", "text": "x"}]}
    if calls:
        message["tool_calls"] = [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]
    data = {"id": "i", "finish_reason": raw, "message": message}
    assert codec.parse_response(data).finish_reason == expected


def test_error_finish_is_an_upstream_failure_whole_and_streamed() -> None:
    with pytest.raises(UpstreamError) as caught:
        codec.parse_response({"id": "i", "finish_reason": "ERROR", "message": {}})
    assert caught.value.status == 502 and caught.value.retryable
    with pytest.raises(UpstreamTimeout):
        codec.parse_response({"id": "i", "finish_reason": "TIMEOUT", "message": {}})

    events = stream("error_finish.sse")
    assert events[-1].__class__ is ErrorEvent
    assert "internal model error" in events[-1].error.message
    assert PartStop(0) in events  # the open text part is closed before the error
    assert not any(isinstance(e, Finish) for e in events)


def test_stream_cut_before_message_end_is_an_error_not_a_silent_finish() -> None:
    parser = codec.stream_parser()
    for event in wire_events("text.sse")[:3]:
        parser.feed(event)
    tail = parser.finish()
    assert tail[0] == PartStop(0)
    assert isinstance(tail[-1], ErrorEvent) and "message-end" in tail[-1].error.message
    assert parser.finish() == []


def test_unknown_and_citation_events_are_ignored_and_nothing_follows_message_end() -> None:
    parser = codec.stream_parser()
    events = wire_events("text.sse")
    out = parser.feed(events[0])
    out += parser.feed(WireEvent("citation-start", {"type": "citation-start", "index": 0}))
    out += parser.feed(WireEvent("debug", {"type": "debug"}))
    for event in events[1:]:
        out += parser.feed(event)
    assert parser.feed(events[2]) == [] and parser.finish() == []
    assert fold_events(out).parts == [Text("Hello! How can I help you today?")]


def test_content_delta_without_content_start_still_opens_a_part() -> None:
    parser = codec.stream_parser()
    out = parser.feed(WireEvent(None, {"type": "message-start", "id": "x"}))
    out += parser.feed(
        WireEvent(
            None,
            {
                "type": "content-delta",
                "index": 0,
                "delta": {"message": {"content": {"text": "hi"}}},
            },
        )
    )
    out += parser.feed(
        WireEvent(None, {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}})
    )
    assert out == [
        Start("x", ""),
        PartStart(0, "text"),
        TextDelta(0, "hi"),
        PartStop(0),
        Finish("stop"),
    ]


def test_unparseable_tool_arguments_are_kept_raw() -> None:
    data = {
        "id": "i",
        "finish_reason": "TOOL_CALL",
        "message": {
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
            ]
        },
    }
    call = codec.parse_response(data).tool_calls()[0]
    assert call.arguments == {} and call.raw_arguments == "{oops"


def test_usage_falls_back_to_tokens_without_billed_units() -> None:
    data = {
        "id": "i",
        "finish_reason": "COMPLETE",
        "message": {"content": [{"type": "text", "text": "x"}]},
        "usage": {"tokens": {"input_tokens": 20, "output_tokens": 3}},
    }
    assert codec.parse_response(data).usage == Usage(input_tokens=20, output_tokens=3)


def test_a_failure_before_the_first_part_is_a_lone_error() -> None:
    # nothing reached the client yet: the provider raises it, so routing may retry
    start = WireEvent("message-start", {"type": "message-start", "id": "x"})
    failed = WireEvent(
        "message-end", {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "boom"}}
    )
    parser = codec.stream_parser()
    out = parser.feed(start) + parser.feed(failed)
    assert len(out) == 1 and isinstance(out[0], ErrorEvent) and "boom" in out[0].error.message

    parser = codec.stream_parser()
    out = parser.feed(start) + parser.finish()
    assert len(out) == 1 and isinstance(out[0], ErrorEvent)


def test_an_empty_answer_still_starts_and_finishes() -> None:
    parser = codec.stream_parser()
    out = parser.feed(WireEvent(None, {"type": "message-start", "id": "x"}))
    out += parser.feed(
        WireEvent(None, {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}})
    )
    assert out == [Start("x", ""), Finish("stop")]


def test_an_empty_content_block_opens_no_part() -> None:
    parser = codec.stream_parser()
    out = []
    for data in (
        {"type": "message-start", "id": "x"},
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        },
        {"type": "content-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}},
    ):
        out += parser.feed(WireEvent(data["type"], data))
    assert out == [Start("x", ""), Finish("stop")]
    whole = {
        "id": "x",
        "finish_reason": "COMPLETE",
        "message": {"content": [{"type": "text", "text": ""}]},
    }
    assert codec.parse_response(whole).parts == fold_events(out).parts == []


@pytest.mark.parametrize(
    "data",
    [
        {"type": "content-delta", "index": "zero", "delta": "oops"},
        {"type": "content-delta", "delta": {"message": {"content": "text"}}},
        {"type": "tool-call-start", "delta": {"message": {"tool_calls": None}}},
        {
            "type": "tool-call-delta",
            "index": 5,
            "delta": {"message": {"tool_calls": [{"function": 3}]}},
        },
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": 7}}},
        {"type": "message-end", "delta": None},
    ],
)
def test_malformed_events_do_not_crash(data: dict) -> None:
    parser = codec.stream_parser()
    parser.feed(WireEvent("message-start", {"type": "message-start", "id": "x"}))
    parser.feed(WireEvent(data["type"], data))
    parser.finish()


@pytest.mark.parametrize(
    "data",
    [
        {"id": "x", "message": "text"},
        {"id": "x", "message": {"content": 5, "tool_calls": {"a": 1}}},
        {
            "id": "x",
            "message": {"tool_calls": [5, {"function": "f"}, {"function": {"arguments": 3}}]},
        },
        {
            "id": "x",
            "usage": {
                "billed_units": "many",
                "tokens": {"input_tokens": "3"},
                "cached_tokens": None,
            },
        },
    ],
)
def test_malformed_answers_do_not_crash(data: dict) -> None:
    response = codec.parse_response(data)
    assert response.id == "x" and response.usage == Usage()
    with pytest.raises(UpstreamError):
        codec.parse_response(["not", "an", "object"])
