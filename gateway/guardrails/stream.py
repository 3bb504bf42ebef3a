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
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

from gateway.base.entries import GuardrailEntry
from gateway.errors import GuardrailBlocked
from gateway.guardrails import engine, kinds
from gateway.guardrails.kinds import Context
from gateway.types import (
    Finish,
    PartStart,
    PartStop,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    Usage,
    UsageEvent,
)


class Run(Protocol):
    """What the filter reads of a request's guardrails (``plane.Run``; a protocol, so
    this module does not import the plane that imports it)."""

    post: list[GuardrailEntry]
    notes: engine.Notes
    withhold_response: bool
    job: Any

    def context(self, input_type: str, mode: str) -> Context: ...


DEFAULT_SEGMENT = 200  # characters a service-backed guardrail is asked about at once
# with checks that know their matches: new characters gathered after the first release
# before the next (a check at every delta cost three times the CPU of the filter itself)
STEP_AFTER_FIRST = 12


class _Held:
    __slots__ = ("pending", "sent_tail", "sent")

    def __init__(self) -> None:
        self.pending = ""  # not yet released
        self.sent_tail = ""  # the last window of what went out (read, never changed)
        self.sent = 0  # characters released


def _settings(run: Run) -> tuple[int, int]:
    """(window, step): held characters, and new ones needed before a check."""
    window, step = 0, 0
    for entry in run.post:
        checker = kinds.checker(entry)
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


async def guarded(run: Run, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    window, step = _settings(run)
    checkers = [kinds.checker(entry) for entry in run.post]
    # local checks at every delta: each says what of the text may begin a match still
    # to come (``Checker.holds``), and only that is held back, not a whole window
    ask = step == 0 and all(checker.local for checker in checkers)

    def hold(part: _Held) -> int:
        if not ask:
            return window
        region = part.sent_tail + part.pending
        return min(window, max(checker.holds(region) for checker in checkers))

    context = run.context("response", "post_call")
    held: dict[int, _Held] = {}
    arguments: dict[int, list[str]] = {}
    open_parts: set[int] = set()
    usage_seen = False

    async def release(part: _Held, final: bool, keep: int) -> str:
        """Check and let out what may go of ``part``'s held text (all of it when
        ``final``). A check that knows its matches reads the text up to what it holds
        back (that may begin a match, or end one that what follows could undo); a
        window's check reads all it holds and lets out all but the window."""
        upto = len(part.pending) - keep if ask and not final else len(part.pending)
        region = part.sent_tail + part.pending[:upto]
        checked = await engine.run(run.post, [region], context, run.notes)
        if checked[0] != region:
            run.withhold_response = True
            new = checked[0]
            if not new.startswith(part.sent_tail):  # a match reached into what went out
                raise GuardrailBlocked(
                    "a guardrail rewrote text already sent; the answer was stopped",
                    guardrail=run.post[0].name,
                )
            rest = part.pending[upto:]
            part.pending = new[len(part.sent_tail) :] + rest
            upto = len(part.pending) - len(rest)
        cut = upto if ask or final else max(0, len(part.pending) - window)
        out, part.pending = part.pending[:cut], part.pending[cut:]
        if out:
            part.sent += len(out)
            part.sent_tail = (part.sent_tail + out)[-window:] if window else ""
        return out

    async def flush(index: int) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        part = held.pop(index, None)
        if part is not None and part.pending:
            text = await release(part, True, 0)
            if text:
                out.append(TextDelta(index, text))
        pieces = arguments.pop(index, None)
        if pieces is not None:
            joined = "".join(pieces)
            checked = await engine.run(run.post, [joined], context, run.notes)
            if checked[0] != joined:
                run.withhold_response = True
                with contextlib.suppress(orjson.JSONDecodeError):
                    orjson.loads(checked[0])
                    joined = checked[0]
                if joined != checked[0]:
                    raise GuardrailBlocked(
                        "a guardrail rewrote a tool call's arguments into invalid JSON",
                        guardrail=run.post[0].name,
                    )
            if joined:
                out.append(ToolArgsDelta(index, joined))
        return out

    try:
        async for event in events:
            if isinstance(event, TextDelta):
                part = held.get(event.index)
                if part is None:
                    part = held[event.index] = _Held()
                part.pending += event.text
                if ask:
                    # the first text as soon as some may go; later text a few words at a time
                    if part.sent and len(part.pending) <= STEP_AFTER_FIRST:
                        continue
                    keep = hold(part)
                    due = keep + (STEP_AFTER_FIRST if part.sent else 0)
                else:
                    keep, due = window, window + step
                if len(part.pending) > due:
                    text = await release(part, False, keep)
                    if text:
                        yield TextDelta(event.index, text)
                continue
            if isinstance(event, ToolArgsDelta):
                arguments.setdefault(event.index, []).append(event.fragment)
                continue
            if isinstance(event, PartStart):
                open_parts.add(event.index)
            elif isinstance(event, PartStop):
                for flushed in await flush(event.index):
                    yield flushed
                open_parts.discard(event.index)
            elif isinstance(event, Finish):
                for index in sorted({*held, *arguments}):
                    for flushed in await flush(index):
                        yield flushed
            elif isinstance(event, UsageEvent):
                usage_seen = True
            yield event
    except GuardrailBlocked:
        # nothing offending went out: close what is open and end the caller's way
        for index in sorted(open_parts):
            yield PartStop(index)
        yield Finish("content_filter")
        if not usage_seen:
            sent = sum(part.sent for part in held.values())
            yield UsageEvent(
                Usage(input_tokens=_prompt_tokens(run), output_tokens=max(1, sent // 4))
            )
    finally:
        closer: Any = getattr(events, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


def _prompt_tokens(run: Run) -> int:
    request = getattr(run.job, "request", None)
    counted = getattr(request, "prompt_tokens", None)
    return int(counted) if isinstance(counted, int) else int(getattr(run.job, "estimate", 0))
