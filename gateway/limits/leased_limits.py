"""A worker's leases of keys' limits: the worker side of gateway/limits/limit_leases.py.

A worker of ``serve --workers N`` (``gateway.limits.limits.SharedCounters``) admits a
request (its limits the key's, its team's, its owner's) against the leases the counter
service gave it, in its own memory, when each has room: its hold in each budget's
lease, one request in each rpm lease of the current second, its token estimate in each
tpm lease of the current second. Otherwise it asks the service, in one round trip, to
take its reports (what it used since, the room it no longer needs) and to lease it at
least what the request needs and up to ``LEASE_REQUESTS`` requests' worth more (more
for a line that runs short again within a second: ``lease_sizes.scale``). A
settle puts the hold back into each budget's lease, its cost into the spend to report,
and the difference between its tokens and their estimate into the corrections to
report, by the second it was admitted in (or, when its second's tpm lease still has
the room, taken from that lease: the service counts it leased already).

What a lease used goes to the service with its next top-up (a per-second line tops up
in each second it is used), and at the latest ``IDLE_SECONDS`` after its last report;
what it leases goes back ``IDLE_SECONDS`` after its last admission; a tpm correction
goes within ``REPORT_SECONDS``. All from one background task that runs only while a
lease has anything to report, and wakes when the first of them is due: a key used now
and then costs no report of its own between its top-ups. When the service
says a line is contended (a request elsewhere did not fit), the lease covers its
requests in flight only: every admission asks the service and every settle is reported
at once, which is what a key without leases costs. The service may also ask for a
complete report at once (``recall``).

The leases are this process's; the drain at shutdown reports them all
(``gateway.limits.limits.return_leases``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gateway.limits.lease_sizes import IDLE_SECONDS, LEASE_REQUESTS, scale
from gateway.limits.limit_leases import PER_SECOND

log = logging.getLogger(__name__)

REPORT_SECONDS = 0.05  # a tpm correction the lease could not take is reported this soon

Ask = Callable[..., Awaitable[list[Any]]]


@dataclass(slots=True, eq=False)
class Lease:
    """What this worker leases of one line of one counter (a budget period, or an rpm
    limit's requests of one second): ``free`` (no request of it holds it), a budget's
    holds ``in_flight``, and what was used that the service was not told yet
    (``unreported``: spend, or requests admitted): together what the service leased it."""

    counter: Any
    line: str
    limit: int = -1  # the limit the lease was taken under
    free: int = 0
    in_flight: int = 0
    unreported: int = 0
    second: int = 0  # an rpm or tpm lease's second: its requests are admitted in it only
    fixes: dict[int, int] | None = None  # a tpm lease's corrections to report, by second
    contended: bool = False
    used_at: float = 0.0  # monotonic: its last admission
    told: float = 0.0  # monotonic: its last report (or top-up, which reports too)
    over: int = 0  # a tpm lease's last correction it took: asked for beside each estimate
    answered: int = 0  # the last of its operations whose answer it heard
    ttl: float = 0.0  # seconds the service keeps a budget's lease after a report
    pending: int = 0  # its top-ups not answered yet
    recalled: bool = False  # the service asked for a complete report
    scale: int = LEASE_REQUESTS  # requests' worth its last top-up asked for (``lease_sizes``)
    # a per-second lease's units used in ``second`` that its top-ups and reports told
    # already (with ``unreported``: what its second used in all, which sizes the next)
    second_used: int = 0
    # the least room a per-second lease had left in its second (what it did not need)
    low: int = 0
    topped: float = 0.0  # monotonic: its last top-up
    # the requests waiting for its top-up in flight (``after_top_up``), each woken by its
    # own future once the top-up is answered; None when none is in flight
    topping: list[asyncio.Future[None]] | None = None


BUDGET, REQUESTS, TOKENS = 0, 1, 2  # what a request needs of a line (``Line.needs``)


class Line(NamedTuple):
    """One line a subject's requests need room in: ``counter``'s ``name[1]`` (a budget
    period, "rpm" or "tpm") under ``limit``; of it each request ``needs`` its
    ``BUDGET`` hold, one of its ``REQUESTS`` or its ``TOKENS``; ``owner``: the index of
    its subject in a joint admission. ``name`` is the lease's, as ``LeasedLimits.leases``
    files it. A subject's lines depend only on its limits and the day (its budget
    period): ``counters.lines_of``, kept for the day by ``SharedCounters._lines``."""

    name: tuple[Any, str]
    limit: int
    needs: int
    owner: int = 0


NO_LEASE = Lease(None, "", contended=True)  # what ``take`` finds of a line not leased:
# never admitted from (contended), so never changed


class Leased(NamedTuple):
    """An admission's handle: whose leases hold it, the lease of each of its ``lines``
    (the budgets' keep its ``hold`` until it settles; the tpm ones it took tokens of in
    ``second``), and the subjects of a joint admission (a key's team or owner counted
    too; empty for a key alone)."""

    owner: LeasedLimits
    leases: Sequence[Lease]
    lines: Sequence[Line]
    hold: int
    second: int
    subjects: tuple[Any, ...] = ()

    @property
    def holds(self) -> list[tuple[Lease, int]]:
        """The budget leases and the hold each keeps until the request settles."""
        return [(lease, self.hold) for lease, line in self._taken() if line[2] == BUDGET]

    @property
    def tokens(self) -> list[tuple[Lease, int]]:
        """The tpm leases the request took tokens of, and the second it took them in."""
        return [(lease, self.second) for lease, line in self._taken() if line[2] == TOKENS]

    def _taken(self) -> zip[tuple[Lease, Line]]:
        return zip(self.leases, self.lines, strict=True)


class LeasedLimits:
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
        self._nap: asyncio.Future[None] | None = None  # the returner's wait for its round
        self._nap_until = 0.0  # monotonic: when that wait ends
        self._reports: set[asyncio.Task[None]] = set()
        # ``take``'s last lines, the leases it found of them and the per-second ones among
        # those: a key's lines are the same tuple on each of its requests (kept for the
        # day by ``SharedCounters._lines``), and the leases filed under them change only
        # when one is filed or forgotten (``_filed``), so a run of one key's requests
        # looks its leases up once (five lines: a list and five lookups a request)
        self._found: tuple[Any, Any, tuple[Lease, ...], tuple[Lease, ...]] = ((), None, (), ())
        self.newest = 0  # the newest second a per-second lease was topped up for

    def take(
        self,
        lines: Sequence[Line],
        hold: int,
        tokens: int,
        second: int,
        subjects: tuple[Any, ...] = (),
    ) -> Leased | None:
        """Admit a request of ``hold`` and ``tokens`` (its estimate) from the leases in
        memory; None when the service must be asked. A request whose clock read the
        second before the newest one leased (it waited, or others overtook it on a busy
        loop) is counted in the newest, as the counter service's window counts a late
        caller (``Window.add``): a later second keeps it in the window longer, never
        shorter, and its worker's leases do not go back a second (a top-up, at a
        ``LEASE_REQUESTS`` size) and forth again (another)."""
        if second < self.newest and second + 1 >= self.newest:
            second = self.newest
        needs = (hold, 1, tokens)  # by ``Line.needs``
        memo = self._found
        if memo[0] is not lines or memo[1] is not self.leases:
            memo = self._found = self._find(lines)
        found = memo[2]
        for lease, (_, limit, kind, _) in zip(found, lines, strict=True):
            if (
                lease.free < needs[kind]
                or lease.contended
                or lease.limit != limit
                or (kind != BUDGET and lease.second != second)
            ):
                return None
        return self._admitted(found, lines, needs, second, subjects, memo[3])

    def _find(self, lines: Sequence[Line]) -> tuple[Any, Any, tuple[Lease, ...], tuple[Lease, ...]]:
        """``take``'s memo of ``lines``: (them, the leases dict, the lease of each line or
        ``NO_LEASE``, the per-second ones of those)."""
        found = tuple(self.leases.get(line[0], NO_LEASE) for line in lines)
        per_second = tuple(
            lease for lease, line in zip(found, lines, strict=True) if line[2] != BUDGET
        )
        return (lines, self.leases, found, per_second)

    def _filed(self) -> None:
        """A lease was filed in ``leases`` or forgotten: ``take`` looks its lines up again."""
        self._found = ((), None, (), ())

    def _admitted(
        self,
        leases: Sequence[Lease],
        lines: Sequence[Line],
        needs: tuple[int, int, int],
        second: int,
        subjects: tuple[Any, ...],
        per_second: Sequence[Lease] | None = None,
    ) -> Leased:
        """Take what an admitted request needs of each lease's room: a budget's hold
        kept in flight, a per-second line's requests or tokens counted as used
        (``per_second``: those leases, when the caller has them)."""
        moment = time.monotonic()
        for lease, line in zip(leases, lines, strict=True):
            kind = line[2]
            need = needs[kind]
            free = lease.free = lease.free - need
            if free < lease.low:
                lease.low = free
            lease.used_at = moment
            if kind == BUDGET:
                lease.in_flight += need
            else:
                lease.unreported += need
        if per_second is None:
            per_second = [
                lease for lease, line in zip(leases, lines, strict=True) if line[2] != BUDGET
            ]
        self._mark(per_second)  # they counted what they used (one call for all of them)
        return Leased(self, leases, lines, needs[BUDGET], second, subjects)

    async def after_top_up(
        self, lines: Sequence[Line], hold: int, tokens: int, second: int, subjects: tuple[Any, ...]
    ) -> Leased | None:
        """``take``, once a top-up in flight of one of ``lines`` is answered: at a new
        second, the requests that arrive before the first top-up is answered (up to eight
        at c=8 asked each for one of its own) wait for it and are admitted from its grant
        when that has the room; None when the service must be asked (no top-up in
        flight, or its grant is short). Each waits on a future of its own, which the
        top-up sets as soon as its answer is in: one turn of the event loop, where a
        future shared by all (shielded, so that a waiter cancelled would not cancel it)
        took two, and on a worker whose loop turns every 30-40 ms under load each turn
        is that much more of a wait (issue #67)."""
        while (topping := _in_flight(self.leases, lines)) is not None:
            waiter = asyncio.get_running_loop().create_future()
            topping.append(waiter)
            await waiter
            taken = self.take(lines, hold, tokens, second, subjects)
            if taken is not None:
                return taken
        return None

    async def top_up(
        self,
        lines: Sequence[Line],
        hold: int,
        tokens: int,
        at: float,
        ttl: float,
        load: Callable[[int], Awaitable[int]],
        subjects: tuple[Any, ...] = (),
    ) -> Leased | list[Any]:
        """One round trip: report each line, then lease at least what the request (of
        ``hold`` and ``tokens``) needs of each and admit it. Returns the admission, or
        the service's refusal (``[reason, index of the line, *detail]``);
        ``load(index)``: the spend of a budget line the service does not know yet."""
        seq = next(self._seq)
        if at < self.newest and at + 1 >= self.newest:  # (a late request: ``take``)
            at = float(self.newest)
        needs = (hold, 1, tokens)  # by ``Line.needs``
        leases: list[Lease] = []
        asked: list[list[Any]] = []
        moment = time.monotonic()
        waiting: list[asyncio.Future[None]] = []  # ``topping``: what waits for it
        for line in lines:
            lease, told = self._asking(line, needs[line[2]], at, ttl, moment)
            asked.append(told)
            lease.pending += 1
            lease.topping = waiting
            leases.append(lease)
        request = ["lease", at, self.holder, seq, ttl, asked]
        try:
            reply = await self.ask(*request)
            for _ in lines:  # each budget line may need its spend read, once
                if reply[0] != "load":
                    break
                index = int(reply[1])
                asked[index][3] = await load(index)
                reply = await self.ask(*request)
        except BaseException:
            # Told again with the next report. The room returned is not taken back: if
            # the service did not get it, the lease lapses.
            for lease, told in zip(leases, asked, strict=True):
                self._keep(lease, told[4], told[10])
            raise
        finally:
            for waiter in waiting:
                if not waiter.done():  # (one cancelled meanwhile)
                    waiter.set_result(None)
            for lease in leases:
                lease.pending -= 1
                if lease.topping is waiting:
                    lease.topping = None
        admitted = reply[0] == "ok"
        for index, (lease, line) in enumerate(zip(leases, lines, strict=True)):
            lease.answered = max(lease.answered, seq)
            if admitted:
                units, contended = reply[1][index]
                lease.contended = bool(contended)
                lease.free += int(units)  # the request's need taken by ``_admitted``
                if line.needs != BUDGET:
                    lease.second = int(at)
                    self.newest = max(self.newest, lease.second)
        result = self._admitted(leases, lines, needs, int(at), subjects) if admitted else reply
        for lease in leases:
            if lease.recalled and not lease.pending:
                lease.recalled = False
                self._report_soon(lease, force=True)
            elif lease.free or lease.unreported or lease.fixes:
                self._report_soon(lease) if lease.contended else self._mark((lease,))
        return result

    def _asking(
        self, line: Line, need: int, at: float, ttl: float, moment: float
    ) -> tuple[Lease, list[Any]]:
        """A top-up's line of ``line`` (filed if new): its lease's report (what it used,
        all its room given back) and what it asks for (``lease_sizes.scale``)."""
        (counter, line_name), limit, kind, _ = line
        lease = self.leases.get((counter, line_name))
        if lease is None:
            lease = self.leases[(counter, line_name)] = Lease(counter, line_name)
            self._filed()
        size = scale(lease, need, kind != BUDGET, int(at), moment)
        used, returned, fixes = lease.unreported, lease.free, lease.fixes
        if kind != BUDGET:  # what its second used, a new second starting at nothing
            lease.second_used = lease.second_used + used if lease.second == int(at) else 0
        lease.unreported = lease.free = 0
        lease.fixes = None
        lease.told = moment
        lease.limit = limit
        if kind == BUDGET:
            lease.ttl = ttl
        wanted = (need + lease.over) * size + lease.in_flight
        told = [counter, line_name, limit, None, used, returned, lease.answered]
        return lease, told + [need, wanted, lease.second, list((fixes or {}).items())]

    def settle(self, leased: Leased, cost: int, delta: int = 0) -> None:
        """The request ended having cost ``cost`` units and used ``delta`` tokens more
        than its estimate: its hold back into each budget's lease, its cost and its
        tokens' correction to report (at once when the line is contended)."""
        changed = []
        hold = leased.hold
        pairs = tuple(zip(leased.leases, leased.lines, strict=True))
        for lease, line in pairs:
            if line[2] == BUDGET:
                lease.in_flight -= hold
                lease.free += hold - cost
                lease.unreported += cost
                changed.append(lease)
        if delta:
            second = leased.second
            for lease, line in pairs:
                if line[2] != TOKENS:
                    continue
                if (
                    lease.second == second
                    and not lease.contended
                    and lease.free >= delta
                    and lease.unreported + delta >= 0
                ):
                    # its second's lease has the room (or the tokens, when fewer): counted
                    # as used there, which the service counts as leased already
                    lease.free -= delta
                    lease.unreported += delta
                    lease.over = delta if delta > 0 else 0
                    changed.append(lease)
                    continue
                fixes = lease.fixes = lease.fixes or {}
                fixes[second] = fixes.get(second, 0) + delta
                changed.append(lease)
        contended = False
        for lease in changed:
            if lease.contended:
                contended = True
                self._report_soon(lease)
        self._mark([lease for lease in changed if not lease.contended] if contended else changed)

    def _keep(self, lease: Lease, used: int, fixes: list[list[int]]) -> None:
        """A report that failed: what it told is told again with the next one."""
        if used:
            lease.unreported += used
        for second, delta in fixes:
            lease.fixes = lease.fixes or {}
            lease.fixes[second] = lease.fixes.get(second, 0) + delta
        if used or fixes:
            self._mark((lease,))

    def recall(self, counter: Any, line: str) -> None:
        """The service asks for a complete report on a lease (its line is contended):
        made now, and again once the lease's top-ups in flight are answered (the report
        is complete only if the worker heard every grant; one of those top-ups may be
        the very request that waits for it)."""
        lease = self.leases.get((counter, line))
        if lease is None:
            return
        lease.contended = True
        self._report_soon(lease, force=True)
        lease.recalled = bool(lease.pending)  # and again once its top-ups are answered

    def spent(self, counter: Any) -> None:
        """A budget of ``counter`` was found spent: its leases here are recalled."""
        for name in [n for n in self.leases if n[0] == counter and n[1] not in PER_SECOND]:
            self.recall(*name)

    def lost(self) -> None:
        """The connection to the service was lost, and with it what this worker leased
        (the service let it go): no lease is admitted from again, not even the room its
        requests in flight give back when they settle. What they spend is still
        reported, from the leases' objects their handles hold, when the service is back."""
        self.leases = {}

    async def return_all(self) -> None:
        """Report every lease and give back all its room (the worker is stopping: the
        background report stops too, so the loop closes with nothing pending)."""
        returner, self._returner = self._returner, None
        if returner is not None:
            returner.cancel()
        leases = {*self.leases.values(), *self._dirty}  # a lost connection's ones too
        self._dirty.clear()
        for lease in leases:
            await self._report(lease, True)

    def _mark(self, leases: Collection[Lease]) -> None:
        """``leases`` have something to report: the background round sees to it (one
        call for all of an admission's or a settle's leases)."""
        if not leases:
            return
        self._dirty.update(leases)
        returner = self._returner
        if returner is None or returner.done():
            self._returner = asyncio.get_running_loop().create_task(self._return_idle())
            return
        nap = self._nap
        if nap is None:
            return
        for lease in leases:
            # a correction due sooner than the round it waits for (a lease whose
            # corrections wait already is due no sooner: each settle until its report
            # woke the round only to sleep again)
            if lease.fixes and lease.told + REPORT_SECONDS < self._nap_until:
                if not nap.done():
                    nap.set_result(None)
                return

    def _report_soon(self, lease: Lease, force: bool = False) -> None:
        """Report on ``lease`` and give back its room now (a contended line); ``force``:
        even with nothing to report (the service waits for it)."""
        task = asyncio.get_running_loop().create_task(self._report(lease, True, force))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    def _due(self, lease: Lease) -> float:
        """When ``lease``'s report is due (monotonic): its tpm corrections soon, else
        what it used ``IDLE_SECONDS`` after its last report, its room as long after its
        last admission."""
        if lease.fixes:
            return lease.told + REPORT_SECONDS
        return min(lease.used_at, lease.told) + IDLE_SECONDS

    async def _return_idle(self) -> None:
        """While a lease has anything to report, a round when the first is due
        (``_due``): what busy leases used, what idle ones used and their room (then
        forgotten when nothing of them is in flight). Every lease's report of a round
        goes in one request (one for each time to live): a governed key's five leases
        (its budget, its team's, their rpm, its tpm) cost the counter service one round
        trip, not five in a row, each of which woke both processes."""
        while self._dirty:
            await self._wait(min(self._due(lease) for lease in self._dirty))
            moment = time.monotonic()
            seen: list[tuple[Lease, bool]] = []
            due: dict[float, list[tuple[Lease, list[Any]]]] = {}
            untimed: list[tuple[Lease, list[Any]]] = []
            for lease in list(self._dirty):
                if self._due(lease) > moment:
                    continue  # told lately, used lately: its turn comes
                idle = moment - lease.used_at >= IDLE_SECONDS
                if idle:
                    self._dirty.discard(lease)
                seen.append((lease, idle))
                line = self._line(lease, idle)
                if line is None:
                    continue
                if lease.line in PER_SECOND:  # no time to live of its own: goes with any
                    untimed.append((lease, line))
                else:
                    due.setdefault(lease.ttl, []).append((lease, line))
            for ttl, lines in due.items():
                await self._send(ttl, lines + untimed)
                untimed = []
            if untimed:
                await self._send(0.0, untimed)
            for lease, idle in seen:
                name = (lease.counter, lease.line)
                busy = lease.in_flight or lease.free or lease.unreported or lease.fixes
                done = not (busy or lease.pending)
                if idle and done and self.leases.get(name) is lease:
                    del self.leases[name]
                    self._filed()

    async def _wait(self, until: float) -> None:
        """Sleep until ``until`` (monotonic), or until ``_mark`` has a correction due."""
        delay = until - time.monotonic()
        if delay <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        nap = self._nap = loop.create_future()
        self._nap_until = until
        timer = loop.call_later(delay, _wake, nap)
        try:
            await nap
        finally:
            timer.cancel()
            self._nap = None

    async def _report(self, lease: Lease, returning: bool, force: bool = False) -> None:
        line = self._line(lease, returning, force)
        if line is not None:
            await self._send(lease.ttl, [(lease, line)])

    def _line(self, lease: Lease, returning: bool, force: bool = False) -> list[Any] | None:
        """``lease``'s report (what it used, its room when ``returning``), taken off it;
        None when it has nothing to report and is not ``force``d to."""
        used, returned, fixes = lease.unreported, lease.free if returning else 0, lease.fixes
        lease.told = time.monotonic()
        if not force and not used and not returned and not fixes:
            return None
        lease.unreported = 0
        lease.second_used += used  # (a budget's is never read)
        lease.free -= returned
        lease.fixes = None
        answered = lease.answered if returning else -1
        line = [lease.counter, lease.line, lease.limit, None, used, returned, answered]
        return line + [0, 0, lease.second, list((fixes or {}).items())]

    async def _send(self, ttl: float, reports: list[tuple[Lease, list[Any]]]) -> None:
        """Send leases' reports (``_line``) in one request; a report that fails is told
        again with the next one."""
        lines = [line for _, line in reports]
        try:
            reply = await self.ask("lease", self.clock(), self.holder, next(self._seq), ttl, lines)
        except Exception as exc:  # told again with the next report
            for lease, line in reports:
                self._keep(lease, line[4], line[10])
            log.debug("limits: a lease report waits for the counter service (%s)", exc)
            return
        if reply[0] == "ok":
            for index, (lease, _) in enumerate(reports):
                lease.contended = bool(reply[1][index][1])


def _in_flight(
    leases: dict[tuple[Any, str], Lease], lines: Sequence[Line]
) -> list[asyncio.Future[None]] | None:
    """The waiters of a top-up in flight of one of ``lines``' leases (not contended: a
    contended lease covers only the request that asked), or None."""
    for line in lines:
        lease = leases.get(line[0])
        if lease is not None and lease.topping is not None and not lease.contended:
            return lease.topping
    return None


def _wake(nap: asyncio.Future[None]) -> None:
    if not nap.done():
        nap.set_result(None)
