"""A cached answer as the canonical stream a live upstream would have sent: each part
opened, its text in pieces, closed, then usage and the finish; the stream folds back
into the same answer."""

from __future__ import annotations

from gateway.base.streaming import fold_events
from gateway.base.types import (
    ChatResponse,
    Finish,
    Image,
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
from gateway.core.cache import replay


def test_every_part_in_order_with_usage_and_the_finish():
    usage = Usage(input_tokens=9, output_tokens=4)
    answer = ChatResponse(
        "msg_1",
        "m",
        parts=[
            Thinking("hm", signature="sig"),
            Text(""),  # nothing to say: no part
            Text("hello"),
            Image(url="https://x.test/a.png"),  # never in an answer: left out
            ToolCall("c1", "get", {"q": 1}),
            ToolCall("c2", "put", raw_arguments='{"cut'),
            Thinking(redacted="opaque"),
        ],
        finish_reason="tool_calls",
        usage=usage,
        created=5,
    )
    assert replay.events(answer) == [
        Start("msg_1", "m", 5, usage=usage),
        PartStart(0, "thinking"),
        ThinkingDelta(0, "hm"),
        ThinkingDelta(0, signature="sig"),
        PartStop(0),
        PartStart(1, "text"),
        TextDelta(1, "hello"),
        PartStop(1),
        PartStart(2, "tool_call", tool_id="c1", tool_name="get"),
        ToolArgsDelta(2, '{"q":1}'),
        PartStop(2),
        PartStart(3, "tool_call", tool_id="c2", tool_name="put"),
        ToolArgsDelta(3, '{"cut'),
        PartStop(3),
        PartStart(4, "thinking"),
        ThinkingDelta(4, redacted="opaque"),
        PartStop(4),
        UsageEvent(usage),
        Finish("tool_calls", None),
    ]


def test_long_text_is_replayed_in_pieces_and_folds_back():
    text = "x" * (replay.CHUNK_CHARS * 2 + 10)
    answer = ChatResponse(
        "id", "m", parts=[Text(text)], finish_reason="stop_sequence", stop_sequence="##"
    )
    events = replay.events(answer)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert [len(d) for d in deltas] == [replay.CHUNK_CHARS, replay.CHUNK_CHARS, 10]
    assert "".join(deltas) == text
    assert events[-1] == Finish("stop_sequence", "##")
    assert fold_events(events) == answer


async def test_the_events_are_served_as_a_stream():
    items = replay.events(ChatResponse("id", "m", parts=[Text("hi")]))
    assert [e async for e in replay.aiter_events(items)] == items
