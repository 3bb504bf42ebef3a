"""The server-wide MCP mailbox: messages for an MCP client session that reached one
worker while the worker that needs them is another (``gateway/features/mcp/mailbox.py`` explains
who puts and who takes; Redis keeps the same lists with ``RPUSH``/``BLPOP``).

A box is a string key; ``mcp_put`` appends a JSON text to it (a box no one takes from
is dropped ``ttl`` seconds after its last put), ``mcp_take`` answers the oldest one, or
None (a long poll: the counter service asks again after each later ``mcp_*`` operation
and every ``WAKE_SECONDS``) until one is there or ``wait`` seconds after ``at`` have
passed (then ``["ok", None]``). ``mcp_end`` leaves an ended session's tombstone for
``ttl`` seconds and ``mcp_ended`` answers which of the ids it is given have one
(``sessions``: Redis keeps them as keys with an expiry). Imports no Django: the counter service runs in the
supervisor."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks

MAX_BOXES = 10_000  # past this, the oldest boxes go first (a client that never answers)
MAX_ENDED = 100_000  # tombstones kept; past this the oldest go (the database still has them)


class McpMailbox:
    """Box -> (messages, when it expires)."""

    def __init__(self) -> None:
        self.boxes: dict[str, tuple[deque[str], float]] = {}
        self.ended: dict[str, float] = {}  # session id -> when its tombstone goes

    def end(self, session: str, ttl: float) -> list[Any]:
        now = time.time()
        if len(self.ended) >= MAX_ENDED:
            for sid, until in list(self.ended.items()):
                if until <= now:
                    del self.ended[sid]
            while len(self.ended) >= MAX_ENDED:
                del self.ended[next(iter(self.ended))]
        self.ended[session] = now + float(ttl)
        return ["ok"]

    def ended_among(self, *sessions: str) -> list[Any]:
        now = time.time()
        return ["ok", *(sid for sid in sessions if self.ended.get(sid, 0.0) > now)]

    def _expire(self, now: float) -> None:
        for box, (_, expires) in list(self.boxes.items()):
            if expires <= now:
                del self.boxes[box]
        while len(self.boxes) > MAX_BOXES:
            del self.boxes[next(iter(self.boxes))]

    def put(self, box: str, message: str, ttl: float) -> list[Any]:
        now = time.time()
        if len(self.boxes) >= MAX_BOXES // 2:
            self._expire(now)
        held = self.boxes.get(box)
        messages = held[0] if held is not None else deque()
        messages.append(message)
        self.boxes[box] = (messages, now + ttl)
        return ["ok"]

    def take(self, box: str, at: float, wait: float) -> list[Any] | None:
        held = self.boxes.get(box)
        if held is not None and held[0]:
            message = held[0].popleft()
            if not held[0]:
                del self.boxes[box]
            return ["ok", message]
        if time.time() < at + wait:
            return None
        return ["ok", None]


def _answering(op: str) -> Callable[..., list[Any] | None]:
    def handler(books: CounterBooks, *args: Any) -> list[Any] | None:
        book: McpMailbox = books.mcp
        if op == "mcp_put":
            return book.put(*args)
        if op == "mcp_end":
            return book.end(*args)
        if op == "mcp_ended":
            return book.ended_among(*args)
        return book.take(*args)

    return handler


# The shared counter service keeps one McpMailbox as its book "mcp".
hooks.counter_books.register("mcp", McpMailbox)
for _op in ("mcp_put", "mcp_take", "mcp_end", "mcp_ended"):
    hooks.counter_ops.register(_op, _answering(_op))
