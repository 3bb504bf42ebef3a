"""``gateway.core.emulation``: stop sequences cut by the gateway (streamed, split across
deltas), max_tokens below an upstream's floor, and the stop sequence named when the
upstream only says "a stop sequence"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.base.streaming import afold_events
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    Message,
    PartStart,
    PartStop,
    Start,
    StreamEvent,
    Text,
    TextDelta,
    ToolCall,
    Usage,
    UsageEvent,
)
from gateway.codecs.base import Codec
from gateway.core import emulation, tokens
from gateway.core.emulation import Emulation, TextCutter

# What a codec declares about its upstream (``gateway.codecs.base.Codec``).
NO_STOPS = Codec("no-stops", "No stops", takes_stop=False, min_output_tokens=16)
PLAIN = Codec("plain", "Plain")


def request(**fields) -> ChatRequest:  # type: ignore[no-untyped-def]
    return ChatRequest(model="m", messages=[Message("user", [Text("x")])], **fields)


def words(text: str) -> int:
    """A tokenizer for tests: one token per word."""
    return len(text.split())


def test_plan_strips_what_the_upstream_lacks_and_keeps_the_rest() -> None:
    sent, plan = emulation.plan(request(stop=["END", ""], max_tokens=2), NO_STOPS)
    assert sent.stop == [] and sent.max_tokens == 16
    assert plan == Emulation(stops=("END",), max_tokens=2, requested=("END",))
    sent, plan = emulation.plan(request(stop=["END"], max_tokens=100), PLAIN)
    assert sent.stop == ["END"] and sent.max_tokens == 100
    assert plan == Emulation(requested=("END",)) and not plan.cuts
    original = request(max_tokens=100)
    assert emulation.plan(original, NO_STOPS) == (original, None)


@pytest.mark.parametrize(
    "pieces",
    [["Hello! How can I help?"], ["Hello! How c", "an I help?"], list("Hello! How can I help?")],
)
def test_the_text_is_cut_at_the_first_stop_whatever_the_deltas(pieces: list[str]) -> None:
    cutter = TextCutter(Emulation(stops=("I help", "can"), requested=("I help", "can")), words)
    shown = "".join(cutter.feed(p) for p in pieces) + cutter.flush()
    assert shown == "Hello! How "
    assert (cutter.ended, cutter.stop_sequence) == ("stop_sequence", "can")


def test_the_held_tail_is_shown_when_no_stop_completes() -> None:
    cutter = TextCutter(Emulation(stops=("STOP",)), words)
    assert cutter.feed("abc ST") == "abc"  # "ST" might begin STOP: held (3 chars)
    assert cutter.feed("O") == " "
    assert cutter.flush() == "STO" and cutter.ended is None


def test_output_is_cut_at_the_asked_token_count() -> None:
    cutter = TextCutter(Emulation(max_tokens=3), words)
    assert cutter.feed("one two") == "one two"
    assert cutter.feed(" three four five") == " three "
    assert cutter.ended == "length" and cutter.feed(" six") == ""


def test_the_local_tokenizer_counts_by_default() -> None:
    tokens.encoder()  # loaded (a request never waits for the load: characters/4 till then)
    cutter = TextCutter(Emulation(max_tokens=2))
    assert cutter.feed("Hello! How can I help?") == "Hello!"


@pytest.mark.parametrize(
    ("requested", "text", "named"),
    [
        (("END",), "done", "END"),  # the only one asked: it is the one
        (("END", "STOP"), "doneSTOP", "STOP"),  # kept in the text by the upstream
        (("END", "STOP"), "done", None),  # removed: cannot be told
        ((), "done", None),
    ],
)
def test_the_stop_sequence_is_named_only_when_it_can_be_told(
    requested: tuple[str, ...], text: str, named: str | None
) -> None:
    answer = ChatResponse(id="r", model="m", parts=[Text(text)], finish_reason="stop_sequence")
    out = emulation.response(answer, Emulation(requested=requested))
    assert out.stop_sequence == named and out.finish_reason == "stop_sequence"
    assert out.parts == [Text(text)]


def test_a_whole_answer_is_cut_and_later_parts_dropped() -> None:
    answer = ChatResponse(
        id="r",
        model="m",
        parts=[Text("Sure. END and more"), ToolCall(id="c", name="f", arguments={})],
        usage=Usage(input_tokens=3, output_tokens=9),
    )
    out = emulation.response(answer, Emulation(stops=("END",), requested=("END",)))
    assert out.parts == [Text("Sure. ")]
    assert (out.finish_reason, out.stop_sequence) == ("stop_sequence", "END")
    assert out.usage == Usage(input_tokens=3, output_tokens=9)


async def events(*items: StreamEvent) -> AsyncIterator[StreamEvent]:
    for item in items:
        yield item


async def test_a_stream_is_cut_its_parts_closed_and_its_usage_kept() -> None:
    upstream = events(
        Start("r", "m"),
        PartStart(0, "text"),
        TextDelta(0, "Sure. E"),
        TextDelta(0, "ND more text"),
        PartStop(0),
        PartStart(1, "tool_call", tool_id="c", tool_name="f"),
        PartStop(1),
        Finish("tool_calls"),
        UsageEvent(Usage(input_tokens=3, output_tokens=9)),
    )
    out = [e async for e in emulation.stream(upstream, Emulation(stops=("END",)))]
    assert out == [
        Start("r", "m"),
        PartStart(0, "text"),
        TextDelta(0, "Sure."),
        TextDelta(0, " "),
        PartStop(0),
        Finish("stop_sequence", "END"),
        UsageEvent(Usage(input_tokens=3, output_tokens=9)),
    ]


async def test_a_stream_names_the_stop_the_upstream_did_not() -> None:
    upstream = events(
        Start("r", "m"), PartStart(0, "text"), TextDelta(0, "ok"), PartStop(0),
        Finish("stop_sequence"),
    )  # fmt: skip
    folded = await afold_events(emulation.stream(upstream, Emulation(requested=("###",))))
    assert folded.stop_sequence == "###" and folded.parts == [Text("ok")]


async def test_a_stream_whose_held_tail_runs_out_of_tokens_ends_length(monkeypatch) -> None:
    monkeypatch.setattr(emulation.tokens, "count_text", words)
    cutter_plan = Emulation(stops=("ZZZZ",), max_tokens=2)
    upstream = events(
        Start("r", "m"), PartStart(0, "text"), TextDelta(0, "one two thr"), PartStop(0),
        Finish("stop"),
    )  # fmt: skip
    folded = await afold_events(emulation.stream(upstream, cutter_plan))
    assert folded.finish_reason == "length"
    assert folded.parts == [Text("one two ")]
