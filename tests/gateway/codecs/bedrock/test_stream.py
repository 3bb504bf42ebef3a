"""ConverseStream events as canonical events: parts opened on their first delta (text,
reasoning) or their ``contentBlockStart`` (tools; the JSON-output tool as text), the stop
reason and usage, an exception frame as an error, and a stream cut before
``messageStop`` an error, never a silent end."""

from __future__ import annotations

from gateway.base.types import (
    ErrorEvent,
    Finish,
    PartStart,
    PartStop,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    Usage,
    UsageEvent,
)
from gateway.codecs.base import WireEvent
from gateway.codecs.bedrock.outbound import JSON_TOOL
from gateway.codecs.bedrock.stream import ConverseStreamParser


def run(*events: tuple[str, dict]) -> tuple[list, ConverseStreamParser]:
    parser = ConverseStreamParser()
    out = []
    for name, data in events:
        out += parser.feed(WireEvent(name, data))
    return out + parser.finish(), parser


def test_reasoning_text_and_a_tool_call_in_order():
    out, parser = run(
        ("messageStart", {"role": "assistant"}),
        (
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}},
        ),
        (
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}},
        ),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {}}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": ""}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hi"}}),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        (
            "contentBlockStart",
            {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1", "name": "get"}}},
        ),
        ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a":1}'}}}),
        ("contentBlockStop", {"contentBlockIndex": 2}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 7}}),
    )
    assert out == [
        Start(id="", model=""),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "hm"),
        ThinkingDelta(0, "", "sig"),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "Hi"),
        PartStop(1),
        PartStart(2, "tool_call", "t1", "get"),
        ToolArgsDelta(2, '{"a":1}'),
        PartStop(2),
        Finish("tool_calls"),
        UsageEvent(Usage(input_tokens=5, output_tokens=7)),
    ]
    assert parser.stopped


def test_the_json_output_tool_is_text_and_its_stop_an_ordinary_one():
    out, _ = run(
        ("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"name": JSON_TOOL}}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"x"'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 5, "delta": {"toolUse": {"input": "lost"}}}),
        (
            "messageStop",
            {"stopReason": "tool_use", "additionalModelResponseFields": {"stop_sequence": None}},
        ),
    )
    assert out == [
        Start(id="", model=""),
        PartStart(0, "text"),
        TextDelta(0, '{"x"'),
        Finish("stop"),
    ]


def test_a_stop_sequence_is_passed_on():
    out, _ = run(
        (
            "messageStop",
            {
                "stopReason": "stop_sequence",
                "additionalModelResponseFields": {"stop_sequence": "##"},
            },
        ),
    )
    assert out[-1] == Finish("stop_sequence", "##")


def test_an_exception_frame_is_an_error_and_nothing_more_is_owed():
    out, parser = run(("exception", {"type": "throttlingException", "message": "slow down"}))
    (error,) = out  # no Start: nothing began
    assert isinstance(error, ErrorEvent) and error.error.status == 429
    assert parser.failed and parser.finish() == []


def test_a_stream_cut_before_message_stop_is_an_error():
    out, _ = run(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}))
    assert isinstance(out[-1], ErrorEvent)
    assert "ended before messageStop" in out[-1].error.message
