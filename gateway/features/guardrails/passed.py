"""post_call on a passed-through stream, checked in the upstream's own bytes.

The checks are those of ``gateway.features.guardrails.stream`` (the same hold-back, the same
regions read, the same verdicts), but what goes out is the upstream's events as
received, each whole, in order: an event goes once everything it carries is checked
(its text, the tool call it carries arguments of), and everything before it went. So a
stream no check changes costs no translation, and its text-only events are not even
parsed (``PassthroughCodec.skims``; the codec's ``StreamEditor`` reads their text).

What a check changes is written into the events it came in (``StreamEditor``): a
rewritten text in the first event of the rewritten stretch, the others' share of it
gone; rewritten arguments in place of the fragment they replace, the other fragments
emptied (arguments the codec cannot place that way stop the answer). A block ends the
answer after the last event that went, in the format's own words
(``StreamEditor.stopped``: OpenAI ``finish_reason: content_filter``, Anthropic
``stop_reason: refusal``), as a translated stream ends."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.base.errors import GuardrailBlocked
from gateway.base.streaming import SSEDecoder, sse_bytes
from gateway.base.types import (
    ErrorEvent,
    Finish,
    PartStart,
    PartStop,
    Start,
    StreamEvent,
    ToolArgsDelta,
    Usage,
    UsageEvent,
)
from gateway.codecs.base import Piece, StreamEditor
from gateway.features.guardrails.stream import Gate, Run, Segments, _Held, stopped_usage


async def guarded(
    run: Run, batches: AsyncIterator[list[Piece]], editor: StreamEditor
) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
    """The pieces of each upstream read, checked: the bytes that may go and their
    canonical events (for the journal), a read at a time.

    Once a tool call begins, everything after it waits for the answer's end, when
    every call's arguments are checked: a call's fragments may come in events that
    mean nothing yet to the parser (servers that interleave parallel calls)."""
    gate = Gate(run)
    held: dict[int, _Held] = {}
    fragments: dict[int, list[tuple[Piece, str]]] = {}  # tool part -> its pieces
    queue: deque[Piece] = deque()
    behind_calls: list[Piece] | None = None  # pieces since a tool call began
    usage = Usage()  # what the upstream reported so far
    usage_seen = False
    open_parts: set[int] = set()  # as sent
    sent_chars = 0

    # taken from the queue, not yet yielded (a block still sends them, then the end)
    out: list[bytes] = []
    out_events: list[StreamEvent] = []
    index, part = -1, None  # the part the last text came in (forgotten when flushed)
    items: deque[list[Any]] = deque()
    try:
        async for batch in batches:
            for piece in batch:
                queue.append(piece)
                if behind_calls is not None:
                    piece.wait += 1
                    behind_calls.append(piece)
                if text := piece.text:
                    if part is None or piece.part != index:
                        index, part = piece.part, held.get(piece.part)
                        if part is None:
                            part = held[index] = _Held(Segments())
                        assert part.segments is not None  # a passed-through part's
                        items = part.segments.items
                    part.pending += text
                    items.append([piece, text])  # Segments.add, inline: a call a piece less
                    piece.wait += 1
                for event in piece.events:
                    if isinstance(event, ToolArgsDelta):
                        fragments.setdefault(event.index, []).append((piece, event.fragment))
                    elif isinstance(event, PartStart):
                        if event.kind == "tool_call" and behind_calls is None:
                            piece.wait += 1
                            behind_calls = [piece]
                    elif isinstance(event, PartStop):
                        await _flush(gate, editor, run, held, fragments, event.index)
                        part = None
                    elif isinstance(event, Finish | ErrorEvent):
                        await _flush_all(gate, editor, run, held, fragments, behind_calls)
                        behind_calls, part = None, None
                    elif isinstance(event, UsageEvent | Start) and event.usage:
                        usage.merge(event.usage)
                        usage_seen = usage_seen or isinstance(event, UsageEvent)
            pending = await _settle_read(gate, held)
            sent_chars += _take(queue, editor, open_parts, out, out_events)
            # until the first text goes, what may go before it (a role chunk, a start
            # event) waits to leave with it in one write, as in a bare passthrough: for
            # checks that know their matches, which let it out at the next delta (a
            # window's check holds the first text for a window, the head not that long)
            if (out or out_events) and (sent_chars or not pending or not gate.ask):
                yield b"".join(out), out_events
                out, out_events = [], []
        await _flush_all(gate, editor, run, held, fragments, behind_calls)  # no Finish came
        sent_chars += _take(queue, editor, open_parts, out, out_events)
        if out or out_events:
            yield b"".join(out), out_events
    except GuardrailBlocked:
        # nothing offending went out: what was checked before it goes, then the end
        sent_chars += _take(queue, editor, open_parts, out, out_events)
        closing = _closing(run, open_parts, usage, usage_seen, sent_chars)
        out.append(editor.stopped(usage))
        yield b"".join(out), out_events + closing
    finally:
        with contextlib.suppress(Exception):
            await batches.aclose()  # type: ignore[attr-defined]


async def _settle_read(gate: Gate, held: dict[int, _Held]) -> bool:
    """What arrived together, checked together (one check a read, not a delta):
    whether some text is still held."""
    pending = False
    for part in held.values():
        if part.pending:
            keep = gate.due(part)  # (most reads: none due, and no coroutine made)
            if keep is not None:
                await _settle(gate, part, False, keep)
            pending = pending or bool(part.pending)
    return pending


async def _settle(gate: Gate, part: _Held, final: bool, keep: int) -> None:
    """Let out what may go of a part (all of it when ``final``), keeping back
    ``keep`` characters (``Gate.due``), all that arrived together checked at once;
    when that check blocks, again a piece at a time as the deltas came, so that the
    clean text before the match still goes, as in a translated stream (the last of
    those checks raises)."""
    try:
        await gate.release(part, final, keep)
    except GuardrailBlocked:
        segments = part.segments
        assert segments is not None  # a passed-through part's
        items = list(segments.items)
        segments.items.clear()
        part.pending = ""
        for piece, text in items:
            piece.wait -= 1
            part.pending += text
            segments.add(piece, text)
            again = gate.due(part)
            if again is not None:
                await gate.release(part, False, again)
        raise


async def _flush(
    gate: Gate,
    editor: StreamEditor,
    run: Run,
    held: dict[int, _Held],
    fragments: dict[int, list[tuple[Piece, str]]],
    index: int,
) -> None:
    """Part ``index`` ended: the rest of its text checked, and its tool call's
    arguments, whole; rewritten arguments placed in the pieces that carried them."""
    part = held.pop(index, None)
    if part is not None and part.pending:
        await _settle(gate, part, True, 0)
    pieces = fragments.pop(index, None)
    if pieces is None:
        return
    joined = "".join(fragment for _, fragment in pieces)
    checked = await gate.arguments(joined)
    if checked == joined:
        return
    for position, (piece, fragment) in enumerate(pieces):
        placed = isinstance(piece.data, dict) and editor.set_arguments(
            piece.data, fragment, checked if position == 0 else ""
        )
        if not placed:
            raise GuardrailBlocked(
                "a guardrail rewrote a tool call's arguments this stream cannot carry "
                "rewritten; the answer was stopped",
                guardrail=run.post[0].name,
            )
        piece.edited = True


async def _flush_all(
    gate: Gate,
    editor: StreamEditor,
    run: Run,
    held: dict[int, _Held],
    fragments: dict[int, list[tuple[Piece, str]]],
    behind_calls: list[Piece] | None,
) -> None:
    """The answer ended: every part flushed, and what waited behind the tool calls
    freed (the caller forgets ``behind_calls`` then)."""
    for index in sorted({*held, *fragments}):
        await _flush(gate, editor, run, held, fragments, index)
    for piece in behind_calls or ():
        piece.wait -= 1


def _take(
    queue: deque[Piece],
    editor: StreamEditor,
    open_parts: set[int],
    out: list[bytes],
    events: list[StreamEvent],
) -> int:
    """The pieces at the head that may go, into ``out`` and ``events``; the characters
    of text they carried."""
    sent_chars = 0
    while queue and queue[0].wait == 0:
        piece = queue.popleft()
        raw = _rendered(piece, editor) if piece.edited else piece.raw
        if raw:
            out.append(raw)
        if piece.data is not None:
            editor.sent(piece.data)
        if piece.events:  # parsed, or the parser's own at the end
            for event in piece.events:
                if isinstance(event, PartStart):
                    open_parts.add(event.index)
                elif isinstance(event, PartStop):
                    open_parts.discard(event.index)
            events += piece.events
        sent_chars += len(piece.text)
    return sent_chars


def _closing(
    run: Run, open_parts: set[int], usage: Usage, usage_seen: bool, sent_chars: int
) -> list[StreamEvent]:
    """The events that end a blocked answer: its open parts stopped, the finish, and
    (when the upstream reported none) the usage estimated, merged into ``usage``."""
    closing: list[StreamEvent] = [PartStop(index) for index in sorted(open_parts)]
    closing.append(Finish("content_filter"))
    if not usage_seen:
        estimate = stopped_usage(run, sent_chars)
        closing.append(UsageEvent(estimate))
        usage.merge(estimate)
    return closing


def _rendered(piece: Piece, editor: StreamEditor) -> bytes:
    """A piece a check changed, written again (its text as approved, the arguments
    ``flush`` placed in its data)."""
    if not piece.raw:  # withheld from the caller
        return b""
    text = "".join(piece.approved) if piece.approved else piece.text  # empty: gone whole
    data, message = piece.data, piece.message
    if data is None:  # skimmed: nothing but text
        if not text:
            return b""  # its text went into another piece's rewrite
        if message is None:  # read off its bytes (``PieceDecoder``): the one event they are
            message = SSEDecoder().feed(piece.raw)[0]
        data = orjson.loads(message.data)
    if text != piece.text:
        editor.set_text(data, text)
    return sse_bytes(orjson.dumps(data), message.event if message is not None else None)
