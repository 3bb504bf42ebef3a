"""Budget leased to workers, for a ``CounterStore`` (gateway/policy/limits_book.py).

A worker of ``serve --workers N`` takes a slice of a key's budget at once, a lease
(``gateway.policy.leased_budgets``), and admits that key's requests against it in its own
memory: a request of a key with a budget then costs no round trip to the counter service.
The service counts a lease as it counts the holds of requests in flight: an admission
fits while spend + holds + leases stays within the budget, so what workers leased can
never be spent twice.

A worker reports to the service in the same operation that asks for more: the spend of
the requests it settled since, and the room of its lease no request holds (returned).
A report is **complete** when the worker had by then heard every grant of room beyond a
request that the service made it: after a complete report its lease is exactly its
requests in flight.

Where a request does not fit and workers lease part of the budget, the budget turns
**contended**: from then on a grant covers the asking request only and workers report
each settle at once, as a key without a lease does. The request itself waits until
every worker that leased some of the budget when it came (itself too, if its own report
was not complete) has made a complete report since; the service asks each of them to
(``["lease_back", key_id, period]``, sent unasked: ``asks``), which costs a round trip
between the service and a worker. After ``WAIT_SECONDS`` (a worker that does not
answer) it stops waiting. The request is then admitted or refused on those figures.

A lease goes when the connection its worker last asked on closes (the worker died, or
it counts alone until it reconnects and gave up its room: ``gone``), and otherwise
outlives its last report by the holds' time to live. Everything is counted per (counter id, budget period), in
integer units of 1e-8 USD. This module imports no Django: the counter service runs in
the supervisor process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

WAIT_SECONDS = 0.2  # the longest a request waits for other workers' reports
STALE_SECONDS = 5.0  # a wait this long past its deadline was never asked again: dropped


@dataclass(slots=True)
class _Lease:
    """One worker's lease of one budget period."""

    units: int = 0
    expires: float = 0.0  # epoch: it lapses unless reported on before
    extra_seq: int = 0  # the last operation that leased it room beyond its request
    reports: int = 0  # its complete reports so far


@dataclass(slots=True)
class _Budget:
    """The leases of one budget period of one counter, and the requests waiting on them."""

    leases: dict[str, _Lease] = field(default_factory=dict)  # by holder
    contended: int | None = None  # the budget (units) under which it turned contended
    # (holder, seq) of a waiting request -> (holder -> its reports when it came; deadline)
    waits: dict[tuple[str, int], tuple[dict[str, int], float]] = field(default_factory=dict)


class Leases:
    """Every worker's leases, and which of a holder's reports were applied already."""

    def __init__(self) -> None:
        self._budgets: dict[tuple[int, str], _Budget] = {}
        self._seen: dict[str, int] = {}  # holder -> sequence number of its last report
        self.asks: list[tuple[str, list[Any]]] = []  # (holder, message) to send it unasked
        self.callers: dict[str, Any] = {}  # holder -> the connection it last asked on

    def held(self, counter: int, period: str, at: float) -> int:
        """Units leased of ``counter``'s ``period`` at epoch ``at`` (lapsed leases dropped)."""
        budget = self._budgets.get((counter, period))
        if budget is None:
            return 0
        total = 0
        for holder, lease in list(budget.leases.items()):
            if lease.expires <= at:
                del budget.leases[holder]
            else:
                total += lease.units
        if not budget.leases and not budget.waits and budget.contended is None:
            del self._budgets[(counter, period)]
        return total

    def report(
        self,
        counter: int,
        period: str,
        holder: str,
        seq: int,
        units: int,
        answered: int,
        expires: float,
    ) -> bool:
        """Take ``units`` (spent and returned) off ``holder``'s lease, once per ``seq``:
        False when this report was applied already (a waiting request asked again).
        ``answered``: the last operation whose grant the worker had heard of when it
        gave back all its room (-1: it gave back none)."""
        if self._seen.get(holder, -1) >= seq:
            return False
        self._seen[holder] = seq
        budget = self._budgets.get((counter, period))
        lease = budget.leases.get(holder) if budget is not None else None
        if budget is None or lease is None:
            return True
        lease.units -= units
        lease.expires = max(lease.expires, expires)
        if answered >= lease.extra_seq:
            lease.reports += 1
        if lease.units <= 0:
            del budget.leases[holder]
        return True

    def grant(
        self,
        counter: int,
        period: str,
        holder: str,
        seq: int,
        units: int,
        extra: bool,
        expires: float,
    ) -> None:
        """Lease ``units`` more to ``holder`` (``extra``: beyond its request)."""
        budget = self._budgets.setdefault((counter, period), _Budget())
        budget.waits.pop((holder, seq), None)
        lease = budget.leases.get(holder)
        if lease is None:
            lease = budget.leases[holder] = _Lease()
        lease.units += units
        lease.expires = max(lease.expires, expires)
        if extra:
            lease.extra_seq = seq

    def contended(self, counter: int, period: str, limit: int) -> bool:
        """Whether grants of this budget cover the asking request only."""
        budget = self._budgets.get((counter, period))
        return budget is not None and budget.contended == limit

    def wait(
        self, counter: int, period: str, holder: str, seq: int, answered: int, limit: int
    ) -> bool:
        """Request ``seq`` of ``holder`` does not fit: turn the budget contended and say
        whether the request should wait for leases to be reported on (see the module)."""
        budget = self._budgets.get((counter, period))
        if budget is None:
            return False
        budget.contended = limit
        moment = time.monotonic()
        for stale in [w for w, (_, end) in budget.waits.items() if end + STALE_SECONDS <= moment]:
            del budget.waits[stale]  # requests whose connection went while they waited
        entry = budget.waits.get((holder, seq))
        if entry is None:
            awaited = {
                other: lease.reports
                for other, lease in budget.leases.items()
                if lease.units > 0 and (other != holder or answered < lease.extra_seq)
            }
            if not awaited:
                return False
            entry = budget.waits[(holder, seq)] = (awaited, moment + WAIT_SECONDS)
            self.asks += [(other, ["lease_back", counter, period]) for other in awaited]
        awaited, deadline = entry
        leases = budget.leases
        if moment < deadline and any(
            other in leases and leases[other].reports <= reports
            for other, reports in awaited.items()
        ):
            return True
        del budget.waits[(holder, seq)]
        return False

    def gone(self, caller: Any) -> None:
        """The leases of the workers that last asked on ``caller`` (a closed connection)."""
        holders = {holder for holder, last in self.callers.items() if last is caller}
        for holder in holders:
            del self.callers[holder]
        for budget in self._budgets.values():
            for holder in holders & budget.leases.keys():
                del budget.leases[holder]

    def forget(self, counter: int) -> None:
        for stale in [b for b in self._budgets if b[0] == counter]:
            del self._budgets[stale]
