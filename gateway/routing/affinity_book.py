"""The counter service's book of shared cache affinity (``shared_affinity`` talks to
it): (route, prefix) -> (deployment id, warm until), bounded, and its two operations,
registered here (``gateway.base.hooks``). Imports no Django: the counter service runs
in the supervisor process."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks

MAX_ENTRIES = 200_000


class AffinityBook:
    """The counter service's book: (route, prefix) -> (deployment id, warm until, epoch
    seconds), bounded, least recently told dropped first. Imports no Django."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[str, int], tuple[int, float]] = OrderedDict()

    def put(
        self, route: str, prefix: int, deployment_id: int, seconds: float, now: float
    ) -> list[Any]:
        key = (route, prefix)
        self.entries[key] = (deployment_id, now + seconds)
        self.entries.move_to_end(key)
        if len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return ["ok"]

    def get(self, route: str, prefix: int, now: float) -> list[Any]:
        """["ok", deployment id, seconds still warm] or ["ok", None, 0]."""
        found = self.entries.get((route, prefix))
        if found is None:
            return ["ok", None, 0]
        deployment_id, until = found
        if until <= now:
            del self.entries[(route, prefix)]
            return ["ok", None, 0]
        return ["ok", deployment_id, until - now]


def _on_put(books: CounterBooks, *args: Any) -> list[Any]:
    book: AffinityBook = books.affinity
    return book.put(*args)


def _on_get(books: CounterBooks, *args: Any) -> list[Any]:
    book: AffinityBook = books.affinity
    return book.get(*args)


hooks.counter_books.register("affinity", AffinityBook)
hooks.counter_ops.register("affinity_put", _on_put)
hooks.counter_ops.register("affinity_get", _on_get)
