"""Budget held by requests in flight, for a ``CounterStore`` (gateway/limits/limits_book.py).

A key's budget is checked against what it spent plus what the requests it has in flight
may still spend: each admitted request holds its estimated cost until it settles (its
real cost is then added to the spend) or is released (it failed before costing
anything). A hold that is never settled, because the worker that took it died, expires
after its time to live, so a dead worker cannot keep a budget locked.

Holds are counted per (key, budget period) in integer units of 1e-8 USD. Every hold of
one store has the same time to live, so insertion order is expiry order and pruning
only looks at the oldest holds.

This module imports no Django: the counter service runs in the supervisor process.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict


class Holds:
    """The holds of every key's current budget period."""

    def __init__(self) -> None:
        # (key id, period id) -> hold id -> (units, expires at); plus their total
        self._holds: dict[tuple[int, str], OrderedDict[int, tuple[int, float]]] = {}
        self._totals: dict[tuple[int, str], int] = {}
        self._ids = itertools.count(1)

    def held(self, key_id: int, period: str, at: float) -> int:
        """Units ``key_id`` holds in ``period`` at epoch ``at`` (expired holds dropped)."""
        budget = (key_id, period)
        holds = self._holds.get(budget)
        if holds is None:
            return 0
        while holds:
            hold_id, (units, expires) = next(iter(holds.items()))
            if expires > at:
                break
            del holds[hold_id]
            self._totals[budget] -= units
        if not holds:
            self._drop(budget)
            return 0
        return self._totals[budget]

    def take(self, key_id: int, period: str, units: int, expires: float) -> int:
        """Hold ``units`` until released or ``expires``; return the hold's id."""
        budget = (key_id, period)
        hold_id = next(self._ids)
        self._holds.setdefault(budget, OrderedDict())[hold_id] = (units, expires)
        self._totals[budget] = self._totals.get(budget, 0) + units
        return hold_id

    def release(self, key_id: int, period: str, hold_id: int) -> None:
        """Give back a hold (nothing if it expired or was released already)."""
        budget = (key_id, period)
        holds = self._holds.get(budget)
        if holds is None:
            return
        entry = holds.pop(hold_id, None)
        if entry is not None:
            self._totals[budget] -= entry[0]
        if not holds:
            self._drop(budget)

    def forget(self, key_id: int) -> None:
        for budget in [b for b in self._holds if b[0] == key_id]:
            self._drop(budget)

    def _drop(self, budget: tuple[int, str]) -> None:
        self._holds.pop(budget, None)
        self._totals.pop(budget, None)
