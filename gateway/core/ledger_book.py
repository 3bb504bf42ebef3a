"""The reasoning ledger's book: signed reasoning by (key scope, tool-call id), an LRU
bounded in entries, bytes and age. Plain Python and no Django: a worker keeps one
(``gateway.core.reasoning_ledger``) and the supervisor's counter service keeps one for every
worker of a ``serve`` without Redis (its book ``ledger``, a ``SharedLedger``, and the ops
``ledger_put`` and ``ledger_get``, both registered here in ``gateway.base.hooks``).

Wire format inside the counter service (``gateway.base.counters``):
``[id, "ledger_put", scope, call_ids, blob, max_entries, max_bytes, ttl]`` keeps
``blob`` under each id and answers ``["ok"]`` (the bounds are the worker's settings;
the book takes the latest); ``[id, "ledger_get", scope, turns]``, ``turns`` a list of
call-id lists, answers ``["ok", found]`` with, per turn, the blob of its first id the
book holds, or null. A blob is a list of ``[text, signature, redacted]``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks

ENTRY_OVERHEAD = 96  # bytes counted per entry beyond its strings (key, tuple, links)

# One recorded turn's reasoning: (text, signature, redacted) per Thinking part, in order.
Blob = tuple[tuple[str, str | None, str | None], ...]


def size_of(call_id: str, blob: Sequence[Sequence[Any]]) -> int:
    strings = sum(len(t) + len(s or "") + len(r or "") for t, s, r in blob)
    return ENTRY_OVERHEAD + len(call_id) + strings


class Ledger:
    """An LRU of reasoning blobs by (key scope, tool-call id), bounded in entries,
    bytes and age. Not thread-safe: one per event loop."""

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries, self.max_bytes, self.ttl, self.clock = max_entries, max_bytes, ttl, clock
        self.entries: OrderedDict[tuple[str, str], tuple[float, int, Any]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.entries)

    def bound(self, max_entries: int, max_bytes: int, ttl: float) -> None:
        """New bounds (the counter service takes its callers' settings); kept to at once."""
        self.max_entries, self.max_bytes, self.ttl = max_entries, max_bytes, ttl
        self._trim()

    def put(self, scope: str, call_id: str, blob: Any) -> None:
        size = size_of(call_id, blob)
        if self.max_entries <= 0 or size > self.max_bytes:
            return  # off, or one entry larger than the whole ledger: not kept
        key = (scope, call_id)
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self.entries[key] = (self.clock() + self.ttl, size, blob)
        self.bytes += size
        self._trim()

    def _trim(self) -> None:
        while self.entries and (
            len(self.entries) > self.max_entries or self.bytes > self.max_bytes
        ):
            _, (_, dropped, _) = self.entries.popitem(last=False)
            self.bytes -= dropped

    def get(self, scope: str, call_id: str) -> Any | None:
        key = (scope, call_id)
        entry = self.entries.get(key)
        if entry is None:
            return None
        expires, size, blob = entry
        if expires <= self.clock():
            del self.entries[key]
            self.bytes -= size
            return None
        self.entries.move_to_end(key)
        return blob


class SharedLedger:
    """The counter service's side: one ``Ledger`` for every worker, made on the first
    ``put`` with that worker's bounds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.book: Ledger | None = None

    def answer(self, op: str, args: list[Any]) -> list[Any]:
        if op == "ledger_put":
            scope, call_ids, blob, max_entries, max_bytes, ttl = args
            if self.book is None:
                self.book = Ledger(int(max_entries), int(max_bytes), float(ttl), self.clock)
            else:
                self.book.bound(int(max_entries), int(max_bytes), float(ttl))
            for call_id in call_ids:
                self.book.put(str(scope), str(call_id), blob)
            return ["ok"]
        if op == "ledger_get":
            scope, turns = args
            book = self.book
            found: list[Any] = []
            for calls in turns:
                blob = None
                if book is not None:
                    blob = next(
                        (b for c in calls if (b := book.get(str(scope), str(c))) is not None),
                        None,
                    )
                found.append(blob)
            return ["ok", found]
        raise ValueError(f"unknown operation {op!r}")


def _put(books: CounterBooks, *args: Any) -> list[Any]:
    book: SharedLedger = books.ledger
    return book.answer("ledger_put", list(args))


def _get(books: CounterBooks, *args: Any) -> list[Any]:
    book: SharedLedger = books.ledger
    return book.answer("ledger_get", list(args))


# The shared counter service keeps one SharedLedger as its book "ledger".
hooks.counter_books.register("ledger", SharedLedger)
hooks.counter_ops.register("ledger_put", _put)
hooks.counter_ops.register("ledger_get", _get)
