"""A streamed post_call check lets out the same events, in the same order, whether the
stream comes an upstream read at a time (``EventBatches``, checked a batch at once) or
one event at a time; and with a check that calls out, what was let out before it goes
on before the check is waited for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base.streaming import EventBatches
from gateway.base.types import (
    Finish,
    PartStart,
    PartStop,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    Usage,
    UsageEvent,
)
from gateway.features.guardrails import engine, kinds, stream
from gateway.features.guardrails.kinds import Context, content_filter
from tests.gateway.features.guardrails.kinds.test_content_filter import (
    EVERY_PATTERN,
    PIECES,
    STREAMED,
    checker,
)


class Run:
    def __init__(self, filter_: Any) -> None:
        self.post = [filter_.entry]
        self.notes = engine.Notes()
        self.withhold_response = False
        self.job = None

    def context(self, input_type: str, mode: str) -> Context:
        return Context(input_type=input_type, mode=mode)  # type: ignore[arg-type]


def answer(texts: list[str], tool_args: list[str], usage: bool) -> list[StreamEvent]:
    events: list[StreamEvent] = [PartStart(0, "text")]
    events += [TextDelta(0, text) for text in texts]
    events.append(PartStop(0))
    if tool_args:
        events.append(PartStart(1, "tool_call", tool_id="call_1", tool_name="f"))
        events += [ToolArgsDelta(1, fragment) for fragment in tool_args]
        events.append(PartStop(1))
    events.append(Finish("stop"))
    if usage:
        events.append(UsageEvent(Usage(input_tokens=3, output_tokens=5)))
    return events


async def one_at_a_time(events: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for event in events:
        yield event


async def in_batches(
    events: list[StreamEvent], cuts: list[int]
) -> AsyncIterator[list[StreamEvent]]:
    start = 0
    for end in [*sorted({c % (len(events) + 1) for c in cuts}), len(events)]:
        if end > start:
            yield events[start:end]
            start = end


async def let_out(run: Run, events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream.guarded(run, events)]


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(st.lists(PIECES, max_size=4).map("".join), max_size=10),
    tool_args=st.lists(
        st.sampled_from(['{"a":', ' "sk-', "ant-", '123"}', "codename"]), max_size=4
    ),
    usage=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=5),
    calls_out=st.booleans(),
)
def test_a_batched_stream_lets_out_what_one_event_at_a_time_does(
    texts: list[str], tool_args: list[str], usage: bool, cuts: list[int], calls_out: bool
) -> None:
    events = answer(texts, tool_args, usage)
    filter_ = checker(EVERY_PATTERN)
    with mock.patch.object(content_filter.Checker, "local", not calls_out):
        by_event = asyncio.run(let_out(Run(filter_), one_at_a_time(events)))
        batched = asyncio.run(
            let_out(Run(filter_), EventBatches(in_batches(events, cuts)))  # type: ignore[arg-type]
        )
    assert batched == by_event


async def test_with_a_check_that_calls_out_what_went_before_it_is_handed_on_first() -> None:
    """The check of the second release waits (a service): the first release's text is
    handed on before it, not held behind it."""
    filter_ = checker({"blocked_words": [{"keyword": "secret", "action": "BLOCK"}]})
    waiting = asyncio.Event()
    calls = 0
    original = engine.run

    async def slow_second(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            await waiting.wait()
        return await original(*args, **kwargs)

    words = ["word " * 50] * 4  # each delta past a segment: a release each
    batch = [PartStart(0, "text"), *[TextDelta(0, w) for w in words], PartStop(0), Finish("stop")]

    async def one_read() -> AsyncIterator[list[StreamEvent]]:
        yield batch

    with (
        mock.patch.object(content_filter.Checker, "local", False),
        mock.patch.object(engine, "run", slow_second),
    ):
        checked = stream.guarded(Run(filter_), EventBatches(one_read()))  # type: ignore[arg-type]
        batches, first = checked.batches(), []
        while not any(isinstance(event, TextDelta) for event in first):  # before the wait ends
            first += await asyncio.wait_for(anext(batches), timeout=5)
        pending = asyncio.ensure_future(anext(batches))
        done, _ = await asyncio.wait({pending}, timeout=0.2)
        assert not done and calls == 2  # the second check is under way, and waits
        waiting.set()
        rest = [*await pending, *[event async for event in checked]]
    assert isinstance(rest[-1], Finish)
    text = "".join(e.text for e in [*first, *rest] if isinstance(e, TextDelta))
    assert text == "".join(words)


@pytest.mark.parametrize("batched", [True, False])
async def test_a_block_in_a_batch_keeps_what_went_before_and_ends_the_answer(batched: bool) -> None:
    filter_ = checker({"blocked_words": [{"keyword": "secret", "action": "BLOCK"}]})
    events = answer(["fine words here and more. ", "then the secret ", "and more"], [], False)

    async def one_read() -> AsyncIterator[list[StreamEvent]]:
        yield events

    source: Any = EventBatches(one_read()) if batched else one_at_a_time(events)  # type: ignore[arg-type]
    out = await let_out(Run(filter_), source)
    text = "".join(e.text for e in out if isinstance(e, TextDelta))
    assert "secret" not in text and text.startswith("fine")
    # the open part closed, the caller's way of ending, and the usage the upstream never sent
    assert out[-3:-1] == [PartStop(0), Finish("content_filter")]
    assert isinstance(out[-1], UsageEvent)


async def test_the_first_text_let_out_goes_on_at_once_not_behind_the_rest_of_its_read() -> None:
    """A local check never waits, yet the first text it lets out is handed on before the
    rest of its read is checked: a checked stream's first token does not wait for
    every delta that arrived with it."""
    filter_ = checker({"blocked_words": [{"keyword": "secret", "action": "BLOCK"}]})
    words = [f"word{n} " for n in range(40)]
    events = answer(words, [], True)

    async def one_read() -> AsyncIterator[list[StreamEvent]]:
        yield events

    checked = stream.guarded(Run(filter_), EventBatches(one_read()))  # type: ignore[arg-type]
    handed = [batch async for batch in checked.batches()]
    first = next(batch for batch in handed if any(isinstance(e, TextDelta) for e in batch))
    assert isinstance(first[-1], TextDelta)  # it ends with the first text let out
    assert sum(isinstance(e, TextDelta) for e in first) == 1
    text = "".join(e.text for batch in handed for e in batch if isinstance(e, TextDelta))
    assert text == "".join(words)


def text_of(out: list[StreamEvent], index: int = 0) -> str:
    return "".join(e.text for e in out if isinstance(e, TextDelta) and e.index == index)


def source_of(events: list[StreamEvent], batched: bool) -> Any:
    async def one_read() -> AsyncIterator[list[StreamEvent]]:
        yield events

    return EventBatches(one_read()) if batched else one_at_a_time(events)  # type: ignore[arg-type]


@pytest.mark.parametrize("batched", [True, False])
async def test_a_blocked_word_split_across_deltas_is_stopped_before_any_of_it_goes(
    batched: bool,
) -> None:
    filter_ = checker({"blocked_words": [{"keyword": "confidential", "action": "BLOCK"}]})
    pieces = ["Here is some ", "fine text, ", "and the ", "co", "nfi", "den", "tial", " plan."]
    out = await let_out(Run(filter_), source_of(answer(pieces, [], False), batched))
    text = text_of(out)
    assert text.startswith("Here is some fine text,") and "co" not in text[20:]
    assert out[-3:-1] == [PartStop(0), Finish("content_filter")]


@pytest.mark.parametrize("batched", [True, False])
async def test_an_email_split_across_deltas_is_masked_whole(batched: bool) -> None:
    filter_ = checker(
        {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]}
    )
    pieces = ["write to jo", "hn.d", "oe@exa", "mple.c", "om today, ", "or ", "later"]
    run = Run(filter_)
    out = await let_out(run, source_of(answer(pieces, [], True), batched))
    assert text_of(out) == "write to [EMAIL_REDACTED] today, or later"
    assert run.withhold_response and out[-2] == Finish("stop")


@pytest.mark.parametrize("batched", [True, False])
async def test_each_text_part_is_checked_whole_when_parts_interleave_or_begin_again(
    batched: bool,
) -> None:
    """The check follows each part's own text when deltas of two parts alternate, and
    a part begun again after it ended is checked from its new start."""
    filter_ = checker({"blocked_words": [{"keyword": "confidential", "action": "MASK"}]})
    events: list[StreamEvent] = [
        PartStart(0, "text"),
        TextDelta(0, "one conf"),
        PartStart(1, "text"),
        TextDelta(1, "two conf"),
        TextDelta(1, "idential y "),
        TextDelta(0, "idential x "),
        PartStop(1),
        PartStop(0),
        PartStart(0, "text"),
        TextDelta(0, "three conf"),
        TextDelta(0, "idential, con"),  # "con" held: a blocked word may begin
        PartStop(0),
        Finish("stop"),
    ]
    out = await let_out(Run(filter_), source_of(events, batched))
    masked = "[KEYWORD_REDACTED]"
    assert text_of(out, 0) == f"one {masked} x three {masked}, con"
    assert text_of(out, 1) == f"two {masked} y "


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("size", [3, 5, 7])
async def test_a_word_the_window_cuts_into_is_not_taken_for_a_blocked_word(
    batched: bool, size: int
) -> None:
    """The text already sent that a check reads again starts at a word's start, not where
    the window cuts: "nonconfidential" holds no "confidential" (a whole-word match)."""
    filter_ = checker({"blocked_words": [{"keyword": "confidential", "action": "BLOCK"}]})
    whole = "x " * 4 + "nonconfidential " + "abcdef " * 40
    pieces = [whole[i : i + size] for i in range(0, len(whole), size)]
    out = await let_out(Run(filter_), source_of(answer(pieces, [], False), batched))
    assert text_of(out) == whole and Finish("stop") in out, out[-3:]
    blocked = whole.replace("nonconfidential", "a confidential")
    pieces = [blocked[i : i + size] for i in range(0, len(blocked), size)]
    out = await let_out(Run(filter_), source_of(answer(pieces, [], False), batched))
    assert Finish("content_filter") in out and "confid" not in text_of(out)


def notes_without_time(run: Run) -> list[dict[str, Any]]:
    return [{k: v for k, v in note.items() if k != "latency_ms"} for note in run.notes.as_list()]


@pytest.mark.parametrize("batched", [True, False])
async def test_a_release_known_to_find_nothing_is_noted_and_not_checked(batched: bool) -> None:
    """A release whose text holds nothing any rule needs (no "@", no "-", no blocked
    word) is not checked: what goes out and the note (a check each release) are those
    of the checks run; a text holding a hint is checked as before."""
    filter_ = checker(STREAMED)
    clean = answer([f" tok{n}" for n in range(20)], [], True)
    with mock.patch.object(engine, "run", wraps=engine.run) as ran:
        run = Run(filter_)
        out = await let_out(run, source_of(clean, batched))
    assert ran.call_count == 0
    with mock.patch.object(content_filter.Checker, "finds_nothing", kinds.Checker.finds_nothing):
        checked = Run(filter_)
        assert await let_out(checked, source_of(clean, batched)) == out
    assert notes_without_time(run) == notes_without_time(checked)
    assert run.notes.as_list()[0]["checks"] > 5 and text_of(out) == "".join(
        f" tok{n}" for n in range(20)
    )
    hinted = answer(["a well-known ", "word, then ", "mail a@b.co ", "please"], [], True)
    with mock.patch.object(engine, "run", wraps=engine.run) as ran:
        run = Run(filter_)
        out = await let_out(run, source_of(hinted, batched))
    assert (
        ran.call_count > 0
        and text_of(out) == "a well-known word, then mail [EMAIL_REDACTED] please"
    )
