"""Request bodies made readable: JSON indented, SSE transcripts split into events."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from gateway.base.streaming import SSEDecoder

LARGE_BYTES = 16 * 1024
LARGE_EVENTS = 30
TITLES = {
    "inbound_request": "Inbound request (from the client)",
    "upstream_request": "Upstream request (to the provider)",
    "upstream_response": "Upstream response (from the provider)",
    "outbound_response": "Outbound response (to the client)",
}


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str


@dataclass(slots=True)
class Body:
    name: str
    title: str
    kind: str  # json | sse | text | empty
    text: str = ""
    events: list[SSEEvent] = field(default_factory=list)
    size: int = 0

    @property
    def large(self) -> bool:
        """Too long to show open: a Claude Code request (tens of KB of system prompt
        and tool schemas) or a stream of many events starts collapsed."""
        return self.size > LARGE_BYTES or len(self.events) > LARGE_EVENTS


def _pretty_json(text: str) -> str | None:
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return None


def _sse_events(text: str) -> list[SSEEvent]:
    """The events of a logged stream, read by the gateway's own SSE reader."""
    decoder = SSEDecoder()
    messages = decoder.feed(text.encode()) + decoder.end()
    return [SSEEvent(m.event or "message", _pretty_json(m.data) or m.data) for m in messages]


def _looks_like_sse(text: str) -> bool:
    head = text.lstrip()[:200]
    return head.startswith(("data:", "event:", ":"))


def present(name: str, raw: str) -> Body:
    title = TITLES.get(name, name)
    if not raw:
        return Body(name, title, "empty")
    size = len(raw.encode())
    if _looks_like_sse(raw):
        events = _sse_events(raw)
        if events:
            return Body(name, title, "sse", events=events, size=size)
    pretty = _pretty_json(raw)
    if pretty is not None:
        return Body(name, title, "json", text=pretty, size=size)
    return Body(name, title, "text", text=raw, size=size)
