"""A worker's leases of keys' budgets: the worker side of gateway/policy/budget_leases.py.

A worker of ``serve --workers N`` (``gateway.policy.limits.SharedCounters``) admits a
request of a key whose only limit is its budget against the part of that budget the
counter service leased to it, in its own memory, when the lease has room for the
request's hold; otherwise it asks the service, in one round trip, to take its report
(the spend settled since, the room it no longer needs) and to lease it at least that
hold and up to ``LEASE_REQUESTS`` holds more. A settle puts the hold back into the
lease and its cost into the spend to report.

What it leases goes back to the service ``IDLE_SECONDS`` after its last admission, and
the spend it settled is reported every ``IDLE_SECONDS`` while it is busy, both from one
background task that runs only while a lease has anything to report. When the service
says a budget is contended (a request elsewhere did not fit), the lease covers its
requests in flight only: every admission asks the service and every settle is
reported at once, which is what a key without a lease costs.

The leases are this process's; the drain at shutdown reports them all
(``gateway.policy.limits.return_leases``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

LEASE_REQUESTS = 16  # a top-up asks for this many holds like the request's, beyond it
IDLE_SECONDS = 0.05  # a lease unused this long goes back; spend is reported this often

Ask = Callable[..., Awaitable[list[Any]]]


@dataclass(slots=True, eq=False)
class Lease:
    """The part of one key's budget period this worker leases: ``free`` (no request of
    it holds it), its requests' holds ``in_flight`` and the spend they settled that the
    service was not told yet (``unreported``): together what the service leased it."""

    key_id: Any
    period: str
    budget: int = -1  # the budget (units) the lease was taken under
    free: int = 0
    in_flight: int = 0
    unreported: int = 0
    contended: bool = False
    used_at: float = 0.0  # monotonic: its last admission
    answered: int = 0  # the last of its operations whose answer it heard
    ttl: float = 0.0  # seconds the service keeps it after a report (the holds' time to live)
    pending: int = 0  # its top-ups not answered yet
    recalled: bool = False  # the service asked for a complete report


class Leased(NamedTuple):
    """An admission's handle: whose lease holds it, and how much."""

    owner: LeasedBudgets
    lease: Lease
    hold: int


class LeasedBudgets:
    """This worker's leases, talking to the counter service through ``ask``; ``clock``:
    epoch seconds, the clock admissions read."""

    def __init__(self, ask: Ask, clock: Callable[[], float] = time.time) -> None:
        self.ask = ask
        self.clock = clock
        self.holder = f"{os.getpid()}.{secrets.token_hex(4)}"
        self.leases: dict[tuple[Any, str], Lease] = {}
        self._seq = itertools.count(1)
        self._dirty: set[Lease] = set()  # leases with anything to report
        self._returner: asyncio.Task[None] | None = None
        self._reports: set[asyncio.Task[None]] = set()

    def take(self, key_id: Any, period: str, budget: int, hold: int) -> Leased | None:
        """Admit ``hold`` from the lease in memory; None when the service must be asked."""
        lease = self.leases.get((key_id, period))
        if lease is None or lease.free < hold or lease.contended or lease.budget != budget:
            return None
        lease.free -= hold
        lease.in_flight += hold
        lease.used_at = time.monotonic()
        return Leased(self, lease, hold)

    async def top_up(
        self,
        key_id: Any,
        period: str,
        budget: int,
        hold: int,
        at: float,
        ttl: float,
        load: Callable[[], Awaitable[int]],
    ) -> Leased | list[Any]:
        """One round trip: report, then lease at least ``hold`` more and admit it.
        Returns the admission, or the service's refusal (as ``admit`` answers it)."""
        lease = self.leases.get((key_id, period))
        if lease is None:
            lease = self.leases[(key_id, period)] = Lease(key_id, period)
        spent, returned = lease.unreported, lease.free
        lease.unreported = lease.free = 0
        lease.budget = budget
        lease.ttl = ttl
        want = hold * LEASE_REQUESTS + lease.in_flight
        seq = next(self._seq)
        request: list[Any] = ["lease", key_id, budget, period, at, None, self.holder, seq]
        request += [spent, returned, lease.answered, hold, want, ttl]
        lease.pending += 1
        try:
            reply = await self.ask(*request)
            if reply[0] == "load":
                request[5] = await load()
                reply = await self.ask(*request)
        except BaseException:
            # Told again with the next report. The room it returned is not taken back:
            # if the service did not get it, the lease expires with its time to live.
            lease.unreported += spent
            self._mark(lease)
            raise
        finally:
            lease.pending -= 1
        lease.answered = max(lease.answered, seq)
        admitted = reply[0] == "ok"
        if admitted:
            lease.contended = bool(reply[2])
            lease.free += int(reply[1]) - hold
            lease.in_flight += hold
            lease.used_at = time.monotonic()
        if lease.recalled and not lease.pending:
            self._report_soon(lease, force=True)
        elif lease.free:
            self._report_soon(lease) if lease.contended else self._mark(lease)
        return Leased(self, lease, hold) if admitted else reply

    def recall(self, key_id: Any, period: str) -> None:
        """The service asks for a complete report on a lease (its budget is contended):
        made now, or once the lease's top-ups in flight are answered."""
        lease = self.leases.get((key_id, period))
        if lease is None:
            return
        lease.contended = True
        lease.recalled = True
        if not lease.pending:
            self._report_soon(lease, force=True)

    def settle(self, leased: Leased, cost: int) -> None:
        """The request ended having cost ``cost`` units: its hold back into the lease,
        its cost to report (at once when the budget is contended)."""
        lease, hold = leased.lease, leased.hold
        lease.in_flight -= hold
        lease.free += hold - cost
        lease.unreported += cost
        if lease.contended:
            self._report_soon(lease)
        else:
            self._mark(lease)

    def _report_soon(self, lease: Lease, force: bool = False) -> None:
        """Report on ``lease`` and give back its room now (a contended budget);
        ``force``: even with nothing to report (the service waits for it)."""
        task = asyncio.get_running_loop().create_task(self._report(lease, True, force))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    def lost(self) -> None:
        """The connection to the service was lost, and with it what this worker leased:
        no room is left to admit from (what its requests in flight spend is still
        reported when it is back)."""
        for lease in self.leases.values():
            lease.free = 0

    async def return_all(self) -> None:
        """Report every lease and give back all its room (the worker is stopping)."""
        for lease in list(self.leases.values()):
            await self._report(lease, True)

    def _mark(self, lease: Lease) -> None:
        self._dirty.add(lease)
        returner = self._returner
        if returner is None or returner.done():
            self._returner = asyncio.get_running_loop().create_task(self._return_idle())

    async def _return_idle(self) -> None:
        """Every IDLE_SECONDS while a lease has anything to report: the spend of busy
        leases, the spend and room of idle ones (then forgotten when nothing of them is
        in flight)."""
        while self._dirty:
            await asyncio.sleep(IDLE_SECONDS)
            moment = time.monotonic()
            for lease in list(self._dirty):
                idle = moment - lease.used_at >= IDLE_SECONDS
                if idle:
                    self._dirty.discard(lease)
                if lease.unreported or (idle and lease.free):
                    await self._report(lease, idle)
                name = (lease.key_id, lease.period)
                spent = not (lease.in_flight or lease.free or lease.unreported)
                if idle and spent and self.leases.get(name) is lease:
                    del self.leases[name]

    async def _report(self, lease: Lease, returning: bool, force: bool = False) -> None:
        spent, returned = lease.unreported, lease.free if returning else 0
        if force:
            lease.recalled = False
        elif not spent and not returned:
            return
        lease.unreported = 0
        lease.free -= returned
        answered = lease.answered if returning else -1
        request: list[Any] = ["lease", lease.key_id, lease.budget, lease.period, self.clock()]
        request += [None, self.holder, next(self._seq), spent, returned, answered, 0, 0]
        request.append(lease.ttl)  # the service keeps the lease that much longer
        try:
            reply = await self.ask(*request)
        except Exception as exc:  # told again with the next report
            lease.unreported += spent
            self._mark(lease)
            log.debug("limits: a lease report waits for the counter service (%s)", exc)
            return
        lease.contended = bool(reply[2]) if len(reply) > 2 else lease.contended
