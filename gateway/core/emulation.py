"""What an upstream lacks, done by the gateway instead of dropped: stop sequences on an
upstream without them, a ``max_tokens`` below the upstream's floor, and naming the stop
sequence that ended a turn when the upstream only says "a stop sequence".

A codec declares what its upstream cannot do on its ``Codec`` (``gateway.codecs.base``),
read here and nowhere else:

- ``takes_stop = False``: the wire format has no stop sequences (the Responses API).
  The request goes without them and the gateway cuts the text at the first match,
  streamed too: it holds back a tail as long as the longest stop minus one character, so
  a stop split across deltas is still caught. The turn ends ``stop_sequence`` with the
  sequence named (OpenAI clients read ``stop``).
- ``min_output_tokens = N``: the upstream refuses a smaller ``max_tokens`` (the
  Responses API's floor is 16). The request asks for the floor and the gateway cuts the
  text at the asked count, counted with the local tokenizer (``gateway.core.tokens``); the
  turn ends ``length``.

After a cut the rest of the upstream's answer is read but not shown: the upstream bills
every token it generated, so its usage (which arrives last) still reaches the journal
and the caller.

The one prepare of an upstream call (``gateway.core.upstream``) applies ``plan`` before
the provider builds the upstream body and ``response`` / ``stream`` to what comes back,
the same for every codec, so no codec or provider does this twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    PartStart,
    PartStop,
    StreamEvent,
    Text,
    TextDelta,
    UsageEvent,
)
from gateway.codecs.base import Codec
from gateway.core import tokens


@dataclass(slots=True, frozen=True)
class Emulation:
    """What the gateway does for one request. ``stops``: sequences it cuts at itself;
    ``max_tokens``: the asked output count it cuts at (below the upstream's floor);
    ``requested``: every stop the caller asked for (to name the one that ended a turn
    when the upstream does not say which)."""

    stops: tuple[str, ...] = ()
    max_tokens: int | None = None
    requested: tuple[str, ...] = ()

    @property
    def cuts(self) -> bool:
        return bool(self.stops) or self.max_tokens is not None


def plan(request: ChatRequest, codec: Codec) -> tuple[ChatRequest, Emulation | None]:
    """The request to send ``codec``'s upstream and what the gateway does around it
    (None: nothing, the request is sent as is)."""
    floor = codec.min_output_tokens
    asked = request.max_tokens
    cap = asked if asked is not None and 0 < asked < floor else None
    if cap is None and not request.stop:
        return request, None  # the usual request: nothing to emulate, nothing built
    requested = tuple(s for s in request.stop if s)
    takes_stop = codec.takes_stop
    stops = () if takes_stop else requested
    if not requested and cap is None:
        return request, None
    changes: dict[str, Any] = {}
    if not takes_stop and request.stop:
        changes["stop"] = []
    if cap is not None:
        changes["max_tokens"] = floor
    if changes:
        request = dataclasses.replace(request, **changes)
    return request, Emulation(stops=stops, max_tokens=cap, requested=requested)


def named_stop(requested: Sequence[str], text: str) -> str | None:
    """The stop sequence that ended a turn the upstream says ended at "a stop sequence"
    without saying which: the only one asked for, or the one the text still ends with
    (upstreams that keep it). None when it cannot be told: most upstreams remove the
    matched text, so with several stops asked nothing in the answer shows which."""
    if len(requested) == 1:
        return requested[0]
    matches = [s for s in requested if text.endswith(s)]
    return max(matches, key=len) if matches else None


class TextCutter:
    """Cuts a text fed piece by piece at the first stop sequence or at ``max_tokens``.
    ``feed`` answers the text that may be shown now; ``flush`` what was held back."""

    def __init__(self, emulation: Emulation, count: Callable[[str], int] | None = None) -> None:
        self.stops = emulation.stops
        self.max_tokens = emulation.max_tokens
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.count = count or tokens.count_text
        self.pending = ""  # fed, not yet shown (a possible stop's beginning)
        self.shown = ""  # shown so far, for the token count
        self.ended: FinishReason | None = None
        self.stop_sequence: str | None = None

    def feed(self, text: str) -> str:
        if self.ended:
            return ""
        self.pending += text
        first = self._first_stop()
        if first is not None:
            at, sequence = first
            out = self._limit(self.pending[:at])
            if not self.ended:
                self.ended, self.stop_sequence = "stop_sequence", sequence
            self.pending = ""
            return out
        cut = len(self.pending) - self.hold if self.hold else len(self.pending)
        ready, self.pending = self.pending[: max(cut, 0)], self.pending[max(cut, 0) :]
        return self._limit(ready)

    def flush(self) -> str:
        """The held-back tail, at the end of a text part (no stop can complete now)."""
        out, self.pending = self._limit(self.pending), ""
        return out

    def _first_stop(self) -> tuple[int, str] | None:
        """Where the first stop begins in the pending text (the longer at a tie)."""
        best: tuple[int, str] | None = None
        for sequence in self.stops:
            at = self.pending.find(sequence)
            if at >= 0 and (
                best is None or at < best[0] or (at == best[0] and len(sequence) > len(best[1]))
            ):
                best = (at, sequence)
        return best

    def _limit(self, text: str) -> str:
        """``text`` as far as the token budget reaches (it ends the turn when it runs
        out)."""
        if self.max_tokens is None or not text or self.ended:
            return "" if self.ended else text
        if self.count(self.shown + text) <= self.max_tokens:
            self.shown += text
            return text
        low, high = 0, len(text)  # the longest prefix within the budget
        while low < high:
            middle = (low + high + 1) // 2
            if self.count(self.shown + text[:middle]) <= self.max_tokens:
                low = middle
            else:
                high = middle - 1
        self.shown += text[:low]
        self.ended = "length"
        self.pending = ""
        return text[:low]


def response(answer: ChatResponse, emulation: Emulation) -> ChatResponse:
    """``answer`` with the emulated cuts applied and the stop sequence named."""
    if emulation.cuts:
        cutter = TextCutter(emulation)
        parts: list[Any] = []
        for part in answer.parts:
            if cutter.ended:
                break
            if isinstance(part, Text):
                text = cutter.feed(part.text) + cutter.flush()
                if text:
                    parts.append(Text(text))
            else:
                parts.append(part)
        if cutter.ended:
            return dataclasses.replace(
                answer,
                parts=parts,
                finish_reason=cutter.ended,
                stop_sequence=cutter.stop_sequence,
            )
    if answer.finish_reason == "stop_sequence" and answer.stop_sequence is None:
        text = "".join(p.text for p in answer.parts if isinstance(p, Text))
        return dataclasses.replace(answer, stop_sequence=named_stop(emulation.requested, text))
    return answer


@dataclass(slots=True)
class _StreamState:
    open_parts: list[int] = field(default_factory=list)
    last_text: int = 0  # the index of the text part fed last
    text: list[str] = field(default_factory=list)


async def stream(
    events: AsyncIterator[StreamEvent], emulation: Emulation
) -> AsyncIterator[StreamEvent]:
    """``events`` with the emulated cuts applied and the stop sequence named. At a cut
    the open parts close and a ``Finish`` follows at once; the upstream's later content
    and finish are dropped, its usage still passes."""
    cutter = TextCutter(emulation) if emulation.cuts else None
    state = _StreamState()
    async for event in events:
        if cutter is not None and cutter.ended:
            if isinstance(event, UsageEvent):
                yield event
            continue
        if isinstance(event, PartStart):
            state.open_parts.append(event.index)
        elif isinstance(event, TextDelta):
            state.last_text = event.index
            shown = cutter.feed(event.text) if cutter is not None else event.text
            if shown:
                state.text.append(shown)
                yield TextDelta(event.index, shown) if cutter is not None else event
            if cutter is not None and cutter.ended:
                for ending in _cut(state, cutter):
                    yield ending
            continue
        elif isinstance(event, PartStop | Finish) and cutter is not None and cutter.pending:
            index = event.index if isinstance(event, PartStop) else state.last_text
            tail = cutter.flush()
            if tail:
                state.text.append(tail)
                yield TextDelta(index, tail)
            if cutter.ended:  # the tail ran out of tokens
                for ending in _cut(state, cutter):
                    yield ending
                continue
        if isinstance(event, PartStop) and event.index in state.open_parts:
            state.open_parts.remove(event.index)
        elif (
            isinstance(event, Finish)
            and event.reason == "stop_sequence"
            and event.stop_sequence is None
        ):
            event = Finish(event.reason, named_stop(emulation.requested, "".join(state.text)))
        yield event


def _cut(state: _StreamState, cutter: TextCutter) -> list[StreamEvent]:
    """The events that end a stream the gateway cut: its open parts close, then the
    turn's finish."""
    out: list[StreamEvent] = [PartStop(index) for index in state.open_parts]
    state.open_parts.clear()
    out.append(Finish(cutter.ended or "stop", cutter.stop_sequence))
    return out
