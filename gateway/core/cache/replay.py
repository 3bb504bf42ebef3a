"""A cached answer as the canonical stream events a live upstream would have sent, so
the inbound dialect's own stream renderer replays it (OpenAI chunks, Anthropic events,
Responses events) exactly as it renders a live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.base import types as t
from gateway.base.types import PartStart, PartStop, Text, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.base import tool_call_text

CHUNK_CHARS = 256  # text is replayed in pieces of this size, as upstreams stream it


def _pieces(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def events(response: t.ChatResponse) -> list[t.StreamEvent]:
    """Start, each part (start, deltas, stop), usage, finish."""
    first = t.Start(response.id, response.model, response.created, usage=response.usage)
    out: list[t.StreamEvent] = [first]
    index = 0
    for part in response.parts:
        if isinstance(part, Text):
            if not part.text:
                continue
            out.append(PartStart(index, "text"))
            out.extend(TextDelta(index, piece) for piece in _pieces(part.text))
        elif isinstance(part, t.Thinking):
            out.append(PartStart(index, "thinking"))
            if part.redacted:
                out.append(ThinkingDelta(index, redacted=part.redacted))
            else:
                out.extend(ThinkingDelta(index, piece) for piece in _pieces(part.text) if piece)
                if part.signature:
                    out.append(ThinkingDelta(index, signature=part.signature))
        elif isinstance(part, t.ToolCall):
            out.append(PartStart(index, "tool_call", tool_id=part.id, tool_name=part.name))
            out.append(ToolArgsDelta(index, tool_call_text(part)))
        else:  # images and tool results never appear in an answer
            continue
        out.append(PartStop(index))
        index += 1
    out.append(t.UsageEvent(response.usage))
    out.append(t.Finish(response.finish_reason, response.stop_sequence))
    return out


async def aiter_events(items: list[t.StreamEvent]) -> AsyncIterator[t.StreamEvent]:
    for item in items:
        yield item
