"""The counter service's book of registry changes, for the workers of one ``serve``
without Redis (where the channel layer is each process's own): a worker that committed a
change tells the book (``registry_changed``) and waits until every other worker has
rebuilt its snapshot (``registry_settled``), so that what the API or the console answered
(a key revoked, a route created) holds on every worker the moment the answer is sent;
each worker keeps one ``registry_watch`` waiting, woken by a change, and says which
change its snapshot holds (``registry_built``) once rebuilt. Imports no Django: the
counter service runs in the supervisor process.

Operations (``[id, op, *args]``; answers follow the ``"ok"``):
- ``registry_changed`` -> ``["ok", change]``: one more change, numbered;
- ``registry_built, change`` -> ``["ok"]``: the caller's worker has rebuilt since ``change``;
- ``registry_watch, seen, at, wait`` -> ``["ok", change]`` once the count is past ``seen``,
  or ``wait`` seconds after ``at`` (a long poll);
- ``registry_settled, change, at, wait`` -> ``["ok", settled]`` once every watching worker
  has built ``change``, or (``settled`` false) ``wait`` seconds after ``at``.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks


class RegistryBook:
    """The number of changes told, and the change each watching worker has built (by
    its watcher's connection, forgotten when that closes)."""

    def __init__(self) -> None:
        self.changes = 0
        self.built: dict[Any, int] = {}

    def changed(self) -> list[Any]:
        self.changes += 1
        return ["ok", self.changes]

    def built_since(self, caller: Any, change: int) -> list[Any]:
        self.built[caller] = max(int(change), self.built.get(caller, 0))
        return ["ok"]

    def watch(self, caller: Any, seen: int, at: float, wait: float) -> list[Any] | None:
        self.built.setdefault(caller, int(seen))
        if int(seen) == self.changes and time.time() < at + wait:
            return None
        return ["ok", self.changes]

    def settled(self, change: int, at: float, wait: float) -> list[Any] | None:
        if all(built >= int(change) for built in self.built.values()):
            return ["ok", True]
        return ["ok", False] if time.time() >= at + wait else None

    def gone(self, caller: Any) -> None:
        self.built.pop(caller, None)


def _book(books: CounterBooks) -> RegistryBook:
    book: RegistryBook = books.registry
    return book


def _changed(books: CounterBooks) -> list[Any]:
    return _book(books).changed()


def _built(books: CounterBooks, change: int) -> list[Any]:
    return _book(books).built_since(books.caller, change)


def _watch(books: CounterBooks, seen: int, at: float, wait: float) -> list[Any] | None:
    return _book(books).watch(books.caller, seen, at, wait)


def _settled(books: CounterBooks, change: int, at: float, wait: float) -> list[Any] | None:
    return _book(books).settled(change, at, wait)


hooks.counter_books.register("registry", RegistryBook)
hooks.counter_ops.register("registry_changed", _changed)
hooks.counter_ops.register("registry_built", _built)
hooks.counter_ops.register("registry_watch", _watch)
hooks.counter_ops.register("registry_settled", _settled)
