"""post_call on a streamed answer, with a bounded hold-back window.

Text goes on as it comes, except the last ``window`` characters of each text part,
held until the next delta shows they start no match (a match longer than the window
is caught only when it ends in what is held: the window is the longest match a
guardrail promises to stop). So the first token waits for at most a window's worth of
text, and a clean stream is never buffered whole. Local checks that know their matches
(``Checker.holds``: the content filter's words and patterns) hold back only what may
begin one: the last word, a blocked phrase's start; the first token waits for the
second delta, not for a window, and later text goes on a few words at a time. Each check reads what is held plus
the window already sent before it, so a match across deltas is seen.

Guardrails that call a service (not ``local``) are asked a segment at a time (at least
``stream_check_chars`` new characters, 200 unless set), not at every delta. A tool
call's arguments are checked whole, when the call's part ends. Reasoning passes as it
comes (signed reasoning cannot be rewritten).

When a guardrail blocks, nothing of the offending text has gone out: the open parts are
closed and the answer ends with the finish reason ``content_filter``, which each client
codec renders the caller's way (OpenAI ``finish_reason: content_filter``, Anthropic
``stop_reason: refusal``, Gemini ``finishReason: SAFETY``, Responses ``incomplete``)."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import orjson

from gateway.base.entries import GuardrailEntry
from gateway.base.errors import GuardrailBlocked
from gateway.base.streaming import EventBatches
from gateway.base.types import (
    CONTENT_DELTAS,
    ErrorEvent,
    Finish,
    PartStart,
    PartStop,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    Usage,
    UsageEvent,
)
from gateway.codecs.base import Piece
from gateway.features.guardrails import engine, kinds
from gateway.features.guardrails.kinds import Context


class Run(Protocol):
    """What the filter reads of a request's guardrails (``plane.Run``; a protocol, so
    this module does not import the plane that imports it)."""

    @property
    def post(self) -> Sequence[GuardrailEntry]: ...

    notes: engine.Notes
    withhold_response: bool
    job: Any

    def context(self, input_type: str, mode: str) -> Context: ...


DEFAULT_SEGMENT = 200  # characters a service-backed guardrail is asked about at once
# with checks that know their matches: new characters gathered after the first release
# before the next (a check at every delta cost three times the CPU of the filter itself)
STEP_AFTER_FIRST = 12
NEVER_KNOWS = kinds.Checker.finds_nothing  # a kind that does not say when it finds nothing


class _Held:
    __slots__ = ("pending", "sent_tail", "sent", "segments")

    def __init__(self, segments: Segments | None = None) -> None:
        self.pending = ""  # not yet released
        self.sent_tail = ""  # the last window of what went out (read, never changed)
        self.sent = 0  # characters released
        # a passed-through stream's: which piece each held character came in
        self.segments = segments


class Segments:
    """The held text of a passed-through stream's part by the piece it came in
    (``gateway.features.guardrails.passed``): a rewrite gives a piece other text, a release
    approves each piece's share of what went out, and a piece whose text is all
    approved waits for one thing fewer."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: deque[list[Any]] = deque()  # [piece, its text still held]

    def replace(self, old: str, new: str) -> None:
        """The held text's first ``len(old)`` characters, ``old``, were rewritten as
        ``new``: what changed goes into the piece the change begins in, the other
        pieces' share of the changed stretch is gone, and the pieces around it keep
        their own text."""
        start = _common_prefix(old, new)
        tail = _common_prefix(old[start:][::-1], new[start:][::-1])
        end, middle = len(old) - tail, new[start : len(new) - tail]
        position = 0
        for item in self.items:
            text = item[1]
            size = len(text)
            if position + size < start or (position + size == start and start < end):
                position += size
                continue
            low, high = max(start - position, 0), min(end - position, size)
            item[1] = text[:low] + middle + text[max(high, low) :]
            item[0].edited = True
            middle = ""
            position += size
            if position >= end:
                return

    def add(self, piece: Piece, text: str) -> None:
        self.items.append([piece, text])
        piece.wait += 1

    def take(self, count: int) -> None:
        """The first ``count`` held characters went out. A piece whose text goes whole
        and unchanged records no share (``approved`` stays empty: its text as it came);
        a piece a check changed, or whose text goes in parts, records each share."""
        items = self.items
        while items:
            item = items[0]
            piece, text = item
            size = len(text)
            if count < size:
                if count > 0:
                    piece.approved.append(text[:count])
                    item[1] = text[count:]
                return
            if piece.edited or piece.approved:
                piece.approved.append(text)
            count -= size
            items.popleft()
            piece.wait -= 1


def _common_prefix(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` begin with in common."""
    size = min(len(a), len(b))
    low, high = 0, size  # a binary search of slices: C compares, not a Python loop
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _settings(run: Run, checkers: list[kinds.Checker]) -> tuple[int, int]:
    """(window, step): held characters, and new ones needed before a check."""
    window, step = 0, 0
    for entry, checker in zip(run.post, checkers, strict=True):
        own = entry.params.get("stream_window")
        window = max(window, int(own) if isinstance(own, int) and own > 0 else checker.window)
        if checker.local:
            step = max(step, checker.stream_step)
        else:
            segment = entry.params.get("stream_check_chars")
            step = max(
                step, int(segment) if isinstance(segment, int) and segment > 0 else DEFAULT_SEGMENT
            )
    return window, step


class Gate:
    """The post_call checks of one streamed answer: what of a part's text is held
    back, when a check is due, what may go out, and a tool call's arguments."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.checkers = [kinds.checker(entry) for entry in run.post]
        self.window, self.step = _settings(run, self.checkers)
        # local checks at every delta: each says what of the text may begin a match
        # still to come (``Checker.holds``), and only that is held back, not a window
        self.ask = self.step == 0 and all(checker.local for checker in self.checkers)
        self._context: Context | None = None  # made for the first check run
        # what of a text may begin a match: the one check's answer, or the most of any
        self.holds = self.checkers[0].holds if len(self.checkers) == 1 else self._held_most
        # whether every check of a region would find nothing, known without running it
        # (``Checker.finds_nothing``; None: some kind never knows). Local checks only: a
        # service's check may fail, and its failure policy refuse the answer
        knowing = [c for c in self.checkers if c.local and type(c).finds_nothing is not NEVER_KNOWS]
        self.knows: Callable[[str], bool] | None = None
        if len(knowing) == len(self.checkers):
            self.knows = knowing[0].finds_nothing if len(knowing) == 1 else self._all_know

    @property
    def context(self) -> Context:
        """The checks' context (made once, when a check first runs: a stream whose
        every release is known clean makes none)."""
        if self._context is None:
            self._context = self.run.context("response", "post_call")
        return self._context

    def _held_most(self, region: str) -> int:
        return max(checker.holds(region) for checker in self.checkers)

    def _all_know(self, region: str) -> bool:
        return all(checker.finds_nothing(region) for checker in self.checkers)

    def known_clean(self, region: str) -> bool:
        """Whether every checker knows a check of ``region`` would find nothing (an
        ASCII text holding none of what any content-filter rule needs): then the check
        is noted as one that found nothing, and not run."""
        knows = self.knows
        if knows is None:
            return False
        started = time.perf_counter()
        if not knows(region):
            return False
        run = self.run
        engine.found_nothing(
            run.post, "post_call", run.notes, (time.perf_counter() - started) * 1000
        )
        return True

    def due(self, part: _Held) -> int | None:
        """How much of ``part``'s held text to keep back in a release now, or None when
        no release is due: the first text as soon as some may go, later text a few
        words at a time (or a window and a step's worth, for checks that call out)."""
        size = len(part.pending)
        if self.ask:
            if part.sent and size <= STEP_AFTER_FIRST:
                return None
            keep = min(self.window, self.holds(part.sent_tail + part.pending))
            due = keep + (STEP_AFTER_FIRST if part.sent else 0)
        else:
            keep, due = self.window, self.window + self.step
        return keep if size > due else None

    async def release(self, part: _Held, final: bool, keep: int) -> str:
        """Check and let out what may go of ``part``'s held text (all of it when
        ``final``). A check that knows its matches reads the text up to what it holds
        back (that may begin a match, or end one that what follows could undo); a
        window's check reads all it holds and lets out all but the window."""
        run, ask, window = self.run, self.ask, self.window
        upto = len(part.pending) - keep if ask and not final else len(part.pending)
        region = part.sent_tail + part.pending[:upto]
        if self.known_clean(region):
            new = region
        else:
            new = (await engine.run(run.post, [region], self.context, run.notes))[0]
        if new != region:
            run.withhold_response = True
            if not new.startswith(part.sent_tail):  # a match reached into what went out
                raise GuardrailBlocked(
                    "a guardrail rewrote text already sent; the answer was stopped",
                    guardrail=run.post[0].name,
                )
            rest = part.pending[upto:]
            fresh = new[len(part.sent_tail) :]
            if part.segments is not None:
                part.segments.replace(part.pending[:upto], fresh)
            part.pending = fresh + rest
            upto = len(fresh)
        cut = upto if ask or final else max(0, len(part.pending) - window)
        out, part.pending = part.pending[:cut], part.pending[cut:]
        if part.segments is not None:
            part.segments.take(cut)
        if out:
            part.sent += len(out)
            part.sent_tail = _tail(part.sent_tail + out, window) if window else ""
        return out

    async def arguments(self, joined: str) -> str:
        """A tool call's whole arguments, checked: as they were, or as a check rewrote
        them (still JSON, else the answer is stopped)."""
        run = self.run
        checked = await engine.run(run.post, [joined], self.context, run.notes)
        if checked[0] == joined:
            return joined
        run.withhold_response = True
        try:
            orjson.loads(checked[0])
        except orjson.JSONDecodeError:
            raise GuardrailBlocked(
                "a guardrail rewrote a tool call's arguments into invalid JSON",
                guardrail=run.post[0].name,
            ) from None
        return checked[0]


# How far before the window the text a check reads again may reach to start at a word's
# start (a longer word is cut where the window falls)
WORD_REACH = 64


def _tail(sent: str, window: int) -> str:
    """The last ``window`` characters of ``sent``, reaching back to the start of the
    word the window would cut into: a check reading them again must not take the cut
    for a word's start ("nonconfidential" holds no whole word "confidential")."""
    start = len(sent) - window
    if start <= 0:
        return sent
    floor = max(0, start - WORD_REACH)
    while start > floor and _wordy(sent[start - 1]) and _wordy(sent[start]):
        start -= 1
    return sent[start:]


def _wordy(char: str) -> bool:
    return char.isalnum() or char == "_"  # what ``\w`` matches


def guarded(run: Run, events: AsyncIterator[StreamEvent]) -> EventBatches:
    """``events`` with ``run``'s post_call checks applied (see the module docstring): an
    upstream read's events checked at once when they come so (``EventBatches``, which
    the translated pump renders a read at a time), else one at a time."""
    return EventBatches(_guarded(run, _batches_of(events), events))


def _batches_of(events: AsyncIterator[StreamEvent]) -> AsyncIterator[list[StreamEvent]]:
    """``events`` a read at a time: an ``EventBatches``'s own batches when nothing of
    the current one was left unread (no generator between them and the check), else
    what was left first."""
    if isinstance(events, EventBatches):
        ready = events.take_ready()
        return _after(ready, events.batches()) if ready else events.batches()
    return _one_each(events)


async def _after(
    ready: list[StreamEvent], batches: AsyncIterator[list[StreamEvent]]
) -> AsyncIterator[list[StreamEvent]]:
    yield ready
    async for batch in batches:
        yield batch


async def _one_each(events: AsyncIterator[StreamEvent]) -> AsyncIterator[list[StreamEvent]]:
    async for event in events:
        yield [event]


async def _guarded(
    run: Run, batches: AsyncIterator[list[StreamEvent]], events: AsyncIterator[StreamEvent]
) -> AsyncGenerator[list[StreamEvent], None]:
    gate = Gate(run)
    # a check that calls a service may wait: what it let out so far goes on first
    calls_out = not all(checker.local for checker in gate.checkers)
    held: dict[int, _Held] = {}
    arguments: dict[int, list[str]] = {}
    open_parts: set[int] = set()
    usage_seen = False
    started = False  # the first content event was handed on
    out: list[StreamEvent] = []
    index, part = -1, None  # the part the last text came in (forgotten when flushed)
    try:
        async for batch in batches:
            for event in batch:
                if isinstance(event, TextDelta):
                    if part is None or event.index != index:
                        index, part = event.index, held.get(event.index)
                        if part is None:
                            part = held[index] = _Held()
                    part.pending += event.text
                    keep = gate.due(part)
                    if keep is not None:
                        if out and calls_out:
                            yield out
                            out = []
                        text = await gate.release(part, False, keep)
                        if text:
                            out.append(TextDelta(event.index, text))
                elif isinstance(event, ToolArgsDelta):
                    arguments.setdefault(event.index, []).append(event.fragment)
                else:
                    if isinstance(event, PartStart):
                        open_parts.add(event.index)
                    elif isinstance(event, PartStop):
                        if out and calls_out:
                            yield out
                            out = []
                        out += await _flush(gate, held, arguments, event.index)
                        open_parts.discard(event.index)
                        part = None
                    elif isinstance(event, Finish | ErrorEvent):  # what was held goes, checked
                        part = None
                        for flushed in sorted({*held, *arguments}):
                            if out and calls_out:
                                yield out
                                out = []
                            out += await _flush(gate, held, arguments, flushed)
                    elif isinstance(event, UsageEvent):
                        usage_seen = True
                    out.append(event)
                if not started and out and _has_content(out):
                    started = True  # the first token goes on at once, not behind its read
                    yield out
                    out = []
            if out:
                yield out
                out = []
    except GuardrailBlocked:
        # nothing offending went out: close what is open and end the caller's way
        out += [PartStop(open_index) for open_index in sorted(open_parts)]
        out.append(Finish("content_filter"))
        if not usage_seen:
            sent = sum(held_part.sent for held_part in held.values())
            out.append(UsageEvent(stopped_usage(run, sent)))
        yield out
    finally:
        for iterator in (batches, events):
            closer: Any = getattr(iterator, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()


def _has_content(events: list[StreamEvent]) -> bool:
    """Whether ``events`` hold a content delta (a loop: ``any()`` over a generator, at
    every event until the first token went, cost a generator and its frames)."""
    for event in events:  # noqa: SIM110
        if isinstance(event, CONTENT_DELTAS):
            return True
    return False


async def _flush(
    gate: Gate, held: dict[int, _Held], arguments: dict[int, list[str]], index: int
) -> list[StreamEvent]:
    """Part ``index`` ended: the rest of its text and its tool call's arguments (whole),
    checked, as the events that carry them on."""
    flushed: list[StreamEvent] = []
    part = held.pop(index, None)
    if part is not None and part.pending:
        text = await gate.release(part, True, 0)
        if text:
            flushed.append(TextDelta(index, text))
    pieces = arguments.pop(index, None)
    if pieces is not None:
        joined = await gate.arguments("".join(pieces))
        if joined:
            flushed.append(ToolArgsDelta(index, joined))
    return flushed


def stopped_usage(run: Run, sent: int) -> Usage:
    """The usage of an answer stopped before the upstream said it: the prompt as
    counted, and the characters sent at four to a token."""
    return Usage(input_tokens=_prompt_tokens(run), output_tokens=max(1, sent // 4))


def _prompt_tokens(run: Run) -> int:
    request = getattr(run.job, "request", None)
    counted = getattr(request, "prompt_tokens", None)
    return int(counted) if isinstance(counted, int) else int(getattr(run.job, "estimate", 0))
