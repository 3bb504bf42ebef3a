"""One budget across regions (issue #65): a global ledger leases each budget to regions
in slices; a region admits from its slice in its own counter store, with no round trip
to the ledger per request.

Regions are named by ``SWITCHYARD_REGION`` (unset: one region, and none of this runs:
admission is exactly what it was). Each region has its own counter store (its Redis) and
shares the primary database, where the ledger lives (``gateway.models.ledger``).

**The invariant.** For every budget (a key's, a team's, a user's, a tag's, an end
user's) and period, the ledger row holds the budget ``B`` and one slice per region: the
units it was allotted (``allotted``, what the region may spend in the period). A grant
is made under a lock of the ledger row and only while the slices add up to at most
``B``; a slice shrinks only after its region took the room out of its own store. In the
region's store the budget's counter reads ``R - allotted + spent`` against the budget
``R`` (``REFERENCE``, larger than any budget): the store's own atomic check (spend +
holds in flight + this request <= budget, gateway/limits/limits.py) is then exactly
"spent + held + this request <= allotted", for Redis, the counter service and memory
alike. So the regions together spend at most ``B``.

**Worst case** (stated in docs/production.md, held by tests/gateway/limits/
test_budget_ledger.py): spend <= B, plus (as in one region) what requests cost beyond
their holds; plus, when the budget is lowered below what is allotted, the slices'
unspent parts at that moment (regions keep what they hold, and give it back when idle);
plus, when a region's counter store loses its state, what that region spent since its
last sync (its counter is rebuilt from the ledger's record of its spend).

**A region cut off from the ledger** keeps admitting from the slice it holds, then
refuses with ``budget_exceeded``, as a budget that is spent.

**Rebalancing.** A request that does not fit its region's slice asks the ledger for a
slice more (``SWITCHYARD_LEDGER_SLICE_PERCENT`` of the budget, at least the request's
hold): one database transaction at a slice's end, never per request, one at a time per
budget in a process. Every ``SWITCHYARD_LEDGER_SYNC_SECONDS`` the holder of the region's
lease (``budget-ledger:<region>``, one process of the region) reports each slice's spend,
tops up a busy slice that is below half a slice of room, and gives back the room of a
slice idle for ``SWITCHYARD_LEDGER_IDLE_SECONDS`` (half of it when another region found
the budget empty): the idle region's room goes back to the ledger, where the busy one
takes it. Units are 1e-8 USD."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.base import db_work, leases, lifecycle
from gateway.base.entries import KeyEntry
from gateway.base.errors import RateLimited
from gateway.limits import counters, limits, redis_counters, spend, subjects
from gateway.limits.ledger_rows import (
    give_back_sync,
    grant_sync,
    idle_seconds,
    prune_sync,
    record_spent_sync,
    region_rows_sync,
    slice_of_sync,
    slice_percent,
    sync_seconds,
)
from gateway.limits.spend import MICRO, period_bounds
from gateway.limits.subjects import Joint, Subject
from gateway.models import SingletonLease

log = logging.getLogger("gateway.budget_ledger")

REFERENCE = 10**15  # units: the budget every regional counter is checked against ($10M)
REFERENCE_USD = Decimal(REFERENCE) * MICRO
LEASE_PREFIX = "budget-ledger:"


def _units(amount: Decimal) -> int:
    return int((Decimal(amount) / MICRO).to_integral_value())


def counter_name(counter: Any) -> str:
    return str(counter)


def counter_of(name: str) -> Any:
    """A ledger's counter as the limits count it (keys and teams: ints)."""
    try:
        return int(name)
    except ValueError:
        return name


@dataclass(frozen=True, slots=True)
class Line:
    """The limits a regional counter is probed and adjusted under."""

    budget_usd: Decimal | None
    budget_period: str
    rpm_limit: int | None = None
    tpm_limit: int | None = None


def regional(limits_: Any) -> Any:
    """``limits_`` (a key, team, owner or tag entry) checked against its region's slice:
    its budget replaced by ``REFERENCE``."""
    return dataclasses.replace(limits_, budget_usd=REFERENCE_USD)


@dataclass(slots=True)
class _Seen:
    spent: int = -1
    held: int = 0
    changed: float = 0.0  # monotonic
    pending: int = 0  # units the ledger and the store disagree by (ledger - store)


@dataclass
class Region:
    """A region's view of the ledger and its counter store (``backend``; None: the store
    in force, gateway/limits/limits.py ``_backend``). It stands where the limits' backend
    stands for every budget (``spend.current_region``)."""

    name: str
    backend: Any = None
    clock: Callable[[], float] = field(default=lambda: spend.now())
    fallback: Any = field(default_factory=counters.MemoryCounters)
    _flights: dict[tuple[str, str], asyncio.Future[None]] = field(default_factory=dict)
    _seen: dict[tuple[str, str], _Seen] = field(default_factory=dict)
    _ledger_down: bool = False

    # -- the store --------------------------------------------------------------------------

    def store(self) -> Any:
        return self.backend if self.backend is not None else limits._backend()

    async def _call(self, ask: Callable[[Any], Awaitable[Any]]) -> Any:
        """``ask`` the store; a shared store that fails is noted and this process's own
        counters answer instead (its slices as the ledger last recorded them)."""
        store = self.store()
        try:
            return await ask(store)
        except RateLimited:
            raise
        except Exception as exc:
            if isinstance(store, counters.MemoryCounters):
                raise
            limits.note_failure(store, exc)
            return await ask(self.fallback)

    async def initial(self, counter: Any, kind: str, at: float) -> Decimal:
        """The spend a counter of this region's store starts from (gateway/limits/
        limits.py loads it when the store does not know it): ``R - allotted + spent``
        with the slice as the ledger last recorded it; no slice, no room."""
        period = period_bounds(kind, at)[0]
        allotted, spent = await db_work.arun(
            slice_of_sync, self.name, counter_name(counter), period
        )
        return Decimal(REFERENCE - allotted + spent) * MICRO

    # -- admission (what limits calls in place of the backend, for budgets) -----------------

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Any:
        mine = regional(key)
        try:
            return await self._call(lambda b: b.admit(mine, tokens, at, hold))
        except RateLimited as exc:
            if exc.code != "budget_exceeded":
                raise
            refused = exc
        if not await self.top_up([(key.id, key)], hold, at):
            raise self._refusal(key, None, refused)
        try:
            return await self._call(lambda b: b.admit(mine, tokens, at, hold))
        except RateLimited as exc:
            raise self._refusal(key, None, exc) from None

    async def admit_joint(
        self, subjects: Sequence[Subject], tokens: int, at: float, hold: int = 0
    ) -> Any:
        mine = [_regional_subject(s) for s in subjects]
        try:
            return await self._call(lambda b: b.admit_joint(mine, tokens, at, hold))
        except RateLimited as exc:
            if exc.code != "budget_exceeded":
                raise
            refused = exc
        budgeted = [(s.counter, s.limits) for s in subjects if s.limits.budget_usd is not None]
        short = await self._short(budgeted, hold, at)
        if short is None or not await self.top_up(short, hold, at):
            who = next((s for s in subjects if short and s.counter == short[0][0]), None)
            raise self._refusal(who.limits if who else None, who.who if who else None, refused)
        try:
            return await self._call(lambda b: b.admit_joint(mine, tokens, at, hold))
        except RateLimited as exc:
            raise self._refusal(None, None, exc) from None

    async def settle(
        self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float
    ) -> None:
        mine = regional(key) if key.budget_usd is not None else key
        await self._call(lambda b: b.settle(mine, handle, delta, cost, at))

    async def settle_joint(self, joint: Any, delta: int, cost: Decimal, at: float) -> None:
        await self._call(lambda b: b.settle_joint(_regional_handle(joint), delta, cost, at))

    def _refusal(self, limits_: Any, who: str | None, refused: RateLimited) -> RateLimited:
        if limits_ is None or limits_.budget_usd is None:
            whose = who or "a budget of this request's"
            budget = ""
        else:
            whose = who or subjects.whose(limits_)
            budget = f" of ${limits_.budget_usd}"
        return RateLimited(
            f"{whose} budget{budget} has no room left in region {self.name}: its share of "
            "the budget is spent or held by requests in flight, and the budget's ledger "
            "has none left to give (or cannot be reached)",
            code="budget_exceeded",
            retry_after=refused.retry_after,
        )

    # -- the store's figures of one budget line ---------------------------------------------

    async def probe(self, counter: Any, kind: str, at: float) -> tuple[int, int]:
        """(counter in the store, units held) of ``counter``'s budget line (loaded from
        the ledger when the store does not know it)."""
        found: tuple[int, int] = await self._call(lambda b: _probe(b, counter, kind, at))
        return found

    async def _short(
        self, budgeted: list[tuple[Any, Any]], need: int, at: float
    ) -> list[tuple[Any, Any]] | None:
        """The budgets among ``budgeted`` whose room in this region is under ``need``."""
        short = []
        for counter, limits_ in budgeted:
            value, held = await self.probe(counter, limits_.budget_period, at)
            if REFERENCE - value - held < max(need, 1):
                short.append((counter, limits_))
        return short

    async def _adjust(self, counter: Any, kind: str, units: int, at: float) -> None:
        """Add ``units`` (negative: room granted) to the counter in the store."""
        subject = Subject(counter, Line(REFERENCE_USD, kind), "")
        bare = Joint((subject,), ((None, None, None),))
        await self._call(lambda b: b.settle_joint(bare, 0, Decimal(units) * MICRO, at))

    async def _take_room(self, counter: Any, kind: str, units: int, at: float) -> bool:
        """Take ``units`` of room out of the store (a hold turned spend): False when they
        are not there (requests took them meanwhile)."""
        subject = Subject(counter, Line(REFERENCE_USD, kind), "")
        try:
            handle = await self._call(lambda b: b.admit_joint([subject], 0, at, units))
        except RateLimited:
            return False
        await self._call(lambda b: b.settle_joint(handle, 0, Decimal(units) * MICRO, at))
        return True

    # -- the ledger ---------------------------------------------------------------------------

    async def top_up(self, budgeted: list[tuple[Any, Any]], need: int, at: float) -> bool:
        """Ask the ledger for a slice more of each of ``budgeted`` ((counter, limits)) with
        less than ``need`` room here: True when each has room for ``need`` now. One ask at
        a time per budget in this process; the others wait for it and look again."""
        for counter, limits_ in budgeted:
            kind = limits_.budget_period
            line = (counter_name(counter), period_bounds(kind, at)[0])
            while (flight := self._flights.get(line)) is not None:
                await asyncio.shield(flight)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._flights[line] = future
            try:
                value, held = await self.probe(counter, kind, at)
                if REFERENCE - value - held >= max(need, 1):
                    continue
                budget = _units(limits_.budget_usd)
                want = max(need, int(budget * slice_percent() / 100))
                if not await self._grant(counter, kind, at, budget, want, need):
                    return False
                value, held = await self.probe(counter, kind, at)
                if REFERENCE - value - held < max(need, 1):
                    return False
            finally:
                del self._flights[line]
                future.set_result(None)
        return True

    async def _grant(
        self, counter: Any, kind: str, at: float, budget: int | None, want: int, need: int
    ) -> int:
        """One grant from the ledger, applied to the store; 0 when none (or the ledger is
        out of reach: the region keeps admitting from what it holds)."""
        period = period_bounds(kind, at)[0]
        name = counter_name(counter)
        try:
            granted = await db_work.arun(
                grant_sync, self.name, name, period, kind, at, budget, want, need
            )
        except Exception as exc:
            if not self._ledger_down:
                self._ledger_down = True
                log.warning(
                    "budget ledger: out of reach from region %s (%s); admitting from the "
                    "slices held",
                    self.name,
                    type(exc).__name__,
                )
            return 0
        if self._ledger_down:
            self._ledger_down = False
            log.info("budget ledger: reachable again from region %s", self.name)
        if granted:
            seen = self._seen.setdefault((name, period), _Seen())
            seen.pending += granted
            await self._adjust(counter, kind, -granted, at)
            seen.pending -= granted
        return int(granted)

    async def sync_once(self) -> None:
        """One round of the region's lease holder: report each slice's spend, top up the
        busy ones, give back the room of the idle ones (see the module)."""
        at = self.clock()
        moment = time.monotonic()
        rows = await db_work.arun(region_rows_sync, self.name)
        spent: dict[tuple[str, str], int] = {}
        for row in rows:
            line = (row.counter, row.period)
            counter = counter_of(row.counter)
            seen = self._seen.setdefault(line, _Seen(changed=moment))
            if seen.pending > 0:  # a give-back the ledger missed, or a grant never applied
                await db_work.arun(give_back_sync, self.name, row.counter, row.period, seen.pending)
                row = dataclasses.replace(row, allotted=row.allotted - seen.pending)
                seen.pending = 0
            value, held = await self.probe(counter, row.kind, at)
            allotted = row.allotted - seen.pending
            used = max(0, value - (REFERENCE - allotted))
            room = REFERENCE - value - held
            if used != seen.spent or held != seen.held:
                seen.changed = moment
            busy = moment - seen.changed < idle_seconds()
            seen.spent, seen.held = used, held
            spent[line] = used
            slice_units = max(1, int(row.budget * slice_percent() / 100))
            over = row.total > row.budget  # the budget was lowered below what is allotted
            if busy and room < slice_units // 2 and not row.wanted_by:
                await self._grant(counter, row.kind, at, None, slice_units, 1)
            elif room > 0 and (not busy or over or (row.wanted_by and row.wanted_by != self.name)):
                back = room if not busy or over else room // 2
                if back > 0 and await self._take_room(counter, row.kind, back, at):
                    seen.pending += back  # out of the store, not yet off the ledger
                    await db_work.arun(give_back_sync, self.name, row.counter, row.period, back)
                    seen.pending -= back
        if spent:
            await db_work.arun(record_spent_sync, self.name, spent)
        for gone in [line for line, seen in self._seen.items() if line not in spent]:
            if not self._seen[gone].pending:  # a period over: forget its figures
                del self._seen[gone]


def _regional_subject(subject: Subject) -> Subject:
    if subject.limits.budget_usd is None:
        return subject
    return Subject(subject.counter, regional(subject.limits), subject.who)


def _regional_handle(joint: Any) -> Any:
    if isinstance(joint, Joint):
        return Joint(tuple(_regional_subject(s) for s in joint.subjects), joint.parts)
    return joint  # a worker's leased admission: its leases carry the regional limits


async def _probe(store: Any, counter: Any, kind: str, at: float) -> tuple[int, int]:
    """What ``store`` counts for ``counter``'s budget line: (spend, held), by asking it
    to hold more than there can be room for (refused with its figures, never taken)."""
    period = period_bounds(kind, at)[0]
    ttl = counters.hold_ttl()
    if isinstance(store, redis_counters.RedisCounters):
        store.client()
        base = Subject(counter, Line(REFERENCE_USD, kind), "").redis_base()
        names = [f"{base}:{part}" for part in ("requests", "tokens")]
        names += [
            f"{base}:spend:{period}",
            f"{base}:holds:{period}",
            f"{base}:hold-expiries:{period}",
        ]
        for _ in range(2):
            reply = [
                v.decode() if isinstance(v, bytes) else v
                for v in await store._admit_all(
                    keys=names, args=[0, REFERENCE, ttl, 0, 0, REFERENCE]
                )
            ]
            if reply[0] != "load":
                break
            initial = await _initial(counter, kind, at)
            end = period_bounds(kind, at)[2]
            expiry = {"ex": int(end.timestamp() - at) + 86400} if end is not None else {}
            await store._client.set(names[2], initial, nx=True, **expiry)
    else:
        row = [counter, 0, 0, REFERENCE, period, None]
        reply = await store.ask("admit_all", 0, at, REFERENCE, ttl, [row])
        if reply[0] == "load":
            row[5] = await _initial(counter, kind, at)
            reply = await store.ask("admit_all", 0, at, REFERENCE, ttl, [row])
    if reply[0] == "held":
        return int(reply[2]), int(reply[3])
    if reply[0] == "budget":
        return int(reply[2]), 0
    raise RuntimeError(f"unexpected answer probing a budget line: {reply!r}")


async def _initial(counter: Any, kind: str, at: float) -> int:
    region = spend.current_region()
    assert region is not None
    return _units(await region.initial(counter, kind, at))


# --- the process's region and its background loop -------------------------------------------


def install(name: str) -> Region:
    """Make this process a member of region ``name`` (``SWITCHYARD_REGION``)."""
    region = Region(name)
    spend.install_region(region)
    return region


def _hold(name: str) -> bool:

    seconds = max(sync_seconds() * 5, 30.0)
    return leases.hold(SingletonLease, LEASE_PREFIX + name, seconds, leases.PROCESS_ID)


async def round_once(region: Region) -> bool:
    """One round if this process holds the region's lease: whether it did."""
    if not await db_work.arun(_hold, region.name):
        return False
    await region.sync_once()
    return True


async def run_forever() -> None:
    """The region's rebalancing loop (every process tries the lease; one runs the round).
    A database that is away (a restart) costs the rounds until it is back, never the
    loop: each round borrows a checked connection."""
    region = spend.current_region()
    if region is None:
        return
    outage = db_work.Outage(f"budget ledger ({region.name})", log)
    pruned = 0.0
    while not lifecycle.closing():
        try:
            await round_once(region)
            if time.monotonic() - pruned > 3600:
                await db_work.arun(prune_sync)
                pruned = time.monotonic()
        except Exception as exc:
            outage.failed(exc)
        else:
            outage.recovered()
        await asyncio.sleep(sync_seconds())
