"""Per-key limits: allowed routes, requests and tokens per minute, USD budgets.

``admit`` runs before routing: it refuses a revoked or expired key (401), a route the
key may not use (403), and a key over its requests-per-minute, tokens-per-minute or
budget (429 with ``retry_after``). It reserves one request and the estimated tokens;
``Reservation.settle`` later replaces the estimate with the tokens really used and
adds the request's cost to the budget. The master key is never limited.

A key with a budget also holds, from admission until the request ends, what the request
may cost (``gateway.limits.budget_estimate``): a request is admitted while the spend plus the
holds of the requests in flight plus its own stays within the budget, alone too (a
request that may cost more than is left is refused: ask for fewer ``max_tokens``), so
neither one request nor a burst of concurrent ones can spend past the budget. Settling replaces the hold by the real cost (0
for a request that failed before costing anything). A hold whose request never
settles (its worker was killed) expires after ``SWITCHYARD_BUDGET_HOLD_SECONDS``.

A key whose owner has limits of their own (``Profile``: rpm, tpm, budget) counts against
them too, like a team: every key of that user shares one counter (``user:<id>``, beside
the key's id and the team's negative id), restored from the request log of all their
keys after a restart.

A request carrying tags with limits of their own (``TagBudget``: a budget per period,
rpm, tpm; the snapshot's ``tag_limits``) counts against each of them too, like a team:
one more subject per such tag (``tag:<name>``) in the same joint admission, store and
round trip, its spend restored from the request log of the tag's requests. A request
without tags, or whose tags have no limits, takes the path it took before.

A key with ``max_budget_per_user`` also gives each end user of it (the request's
``end_user``, gateway/telemetry/attribution.py) that budget per budget period, counted
exactly like the key's (same store, holds and period) under an entry derived from the
key (``end_user_entry``): one more round trip, only for such keys and requests that
name an end user. An agent's token acting in an agent run whose agent has a budget per
run (``KeyEntry.run``, gateway/access/delegation.py) counts the same way against that
budget, in total, under ``run_entry`` (its spend restored from the rows of the run), and
against the agent's budget per session when the run names its context (an A2A
``contextId``), under ``session_entry`` (restored from the key's rows of that session).

Windows are sliding over the last 60 seconds, counted in one-second buckets. Budgets
run per UTC day, per UTC month or in total; the spend of the current period is read
once from RequestLog (sum of cost_usd) when a key is first seen, then kept counting.

Where the counters live:
- ``REDIS_URL`` set: in Redis (one atomic Lua script per admission), so every process
  of every instance enforces one limit;
- a worker of ``manage.py serve --workers N`` without Redis: in the counter service the
  serve process runs for its workers (gateway/server/counter_service.py; one local socket
  round trip per admission), so the workers of one server enforce one limit;
- otherwise (one process): in this process's memory.
If Redis or the counter service cannot be reached, admission falls back to this
process's own counters rather than failing requests (with N processes a key may then
get up to N times its limits), warns once per outage, and uses the shared store again
when it is back.

This module is a key's admission, start to end (``admit``: the key's state, the one
decision for the route, then its counters through ``_reserve``'s one fallback), the
reservation it returns and the spend counted outside a request. What it stands on:
``spend`` (budget periods, spend loaded from the request log, counter ids, the region,
the clock ``now``), ``subjects`` (whose limits count, what was reserved, the refusals),
``counters`` (the store of this process or of the counter service, with the worker's
leases) and ``redis_counters`` (the Lua scripts).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.access import registry
from gateway.access.authorization import Decision, decide
from gateway.access.rules.routes import RouteName
from gateway.base.counters import SOCKET_ENV, Unavailable
from gateway.base.entries import KeyEntry, TagEntry
from gateway.base.errors import AuthenticationFailed, PermissionDenied, RateLimited
from gateway.base.hot_settings import hot
from gateway.limits import spend
from gateway.limits.counters import MemoryCounters, SharedCounters, settle_leased
from gateway.limits.leased_limits import Leased
from gateway.limits.redis_counters import RedisCounters
from gateway.limits.spend import current_region, to_units
from gateway.limits.subjects import (
    Joint,
    KeyPlan,
    end_user_entry,
    forget_plans,
    plan_of,
    run_entry,
    session_entry,
    shares_limits,
    subjects_of,
    tag_subjects,
)

log = logging.getLogger(__name__)

registry.on_change(forget_plans)  # the old snapshot's keys' plans go with it


# --- the backend in force -------------------------------------------------------------------

memory = MemoryCounters()
_redis: RedisCounters | None = None
_redis_down = False
_shared: SharedCounters | None = None

Backend = MemoryCounters | SharedCounters | RedisCounters


def _backend() -> Backend:
    """Redis when ``REDIS_URL`` is set, else the server's counter service when this
    process is one of its workers (``SWITCHYARD_LIMITS_SOCKET``), else this process."""
    global _redis, _shared
    url = hot.REDIS_URL  # (a read of ``settings`` costs a Python call on every admission)
    if url:
        if _redis is None or _redis.url != url:
            _redis = RedisCounters(url)
        return _redis
    path = os.environ.get(SOCKET_ENV)
    if path:
        if _shared is None or _shared.path != path:
            _shared = SharedCounters(path)
        return _shared
    return memory


def _budget_backend() -> Any:
    """Where a budget is counted: the region (its store, against its slices) or the
    backend in force."""
    return current_region() or _backend()


def shared_backend() -> SharedCounters | RedisCounters | None:
    """The counters every process of this server (or every instance, with Redis) shares,
    or None when this process counts alone."""
    backend = _backend()
    return None if isinstance(backend, MemoryCounters) else backend


def reachable_shared_backend() -> SharedCounters | RedisCounters | None:
    """``shared_backend`` when there is also a running loop to talk to it through; None
    without one (a management command: nothing is shared)."""
    backend = shared_backend()
    if backend is None:
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    return backend


def note_failure(backend: Backend, exc: Exception) -> None:
    """A shared backend failed: warn once per outage (the counter service's client
    reports its own outages; an error it answered is a bug, logged every time)."""
    global _redis_down
    if isinstance(backend, RedisCounters):
        if not _redis_down:
            _redis_down = True
            log.warning("limits: Redis unavailable (%s); counting in this process only", exc)
    elif not isinstance(exc, Unavailable):
        log.error("limits: the counter service failed (%s); counted in this process", exc)


def note_success(backend: Backend) -> None:
    global _redis_down
    if _redis_down and isinstance(backend, RedisCounters):
        _redis_down = False
        log.info("limits: Redis is reachable again; limits are shared again")


async def return_leases() -> None:
    """At shutdown, after the requests in flight: report this worker's budget leases
    to the counter service, giving back what they do not hold."""
    if _shared is not None:
        await _shared.leases.return_all()


def reset() -> None:
    """Forget every in-memory counter and shared connection (tests)."""
    global memory, _redis, _redis_down, _shared
    memory = MemoryCounters()
    _redis = None
    _redis_down = False
    _shared = None


@dataclass(slots=True)
class Reservation:
    key: KeyEntry
    route: str
    estimated_tokens: int
    backend: Any = None
    handle: Any = None
    settled: bool = field(default=False)
    end_user: Reservation | None = None  # the end user's budget, when the key sets one
    run: Reservation | None = None  # an agent run's budget (``subjects.run_entry``)
    session: Reservation | None = None  # its session's (``subjects.session_entry``)
    charged: Decimal = field(default=Decimal(0))  # cost already counted by ``charge``

    async def charge(self, cost: Decimal) -> RateLimited | None:
        """Count ``cost`` of a request still running (a realtime session's response)
        against its budgets now, keeping its hold (``settle`` later counts only the rest
        of its cost). Answer the refusal admission would give when the spend has now
        reached the key's, its team's or its end user's budget, else None. Two round
        trips to the counters: the spend added, then admission's budget check with
        nothing reserved."""
        cost = Decimal(cost or 0)
        refusal = await self.end_user.charge(cost) if self.end_user is not None else None
        if self.run is not None:
            refusal = await self.run.charge(cost) or refusal
        if self.session is not None:
            refusal = await self.session.charge(cost) or refusal
        if self.settled or self.backend is None or cost <= 0:
            return refusal
        if self.key.budget_usd is None and not _joint(self.handle):
            return refusal  # no budget of this key's counts money
        self.charged += cost
        try:
            await _charge(self.backend, self.key, self.handle, cost)
        except RateLimited as exc:
            return refusal or exc
        except Exception as exc:
            if self.backend is memory:
                raise
            note_failure(self.backend, exc)
            try:
                await _charge(memory, self.key, self.handle, cost)
            except RateLimited as exc:
                return refusal or exc
        return refusal

    def settlement(self, tokens: int, cost: Decimal) -> Coroutine[Any, Any, None] | None:
        """``settle(tokens, cost)`` when it has anything to settle that may wait, else
        None: the end of a request whose reservation counts nothing (the master key's, a
        key without limits) starts no task, and one admitted against this worker's
        leased allowance (``Leased``) is bookkeeping in memory, settled by a callback
        of the loop instead of a task (about 2 us less a request); so is one whose end
        user's, run's and session's reservations are all of that kind too."""
        if self.end_user is None and self.run is None and self.session is None:
            if self.settled or self.backend is None:
                return None
            if isinstance(self.handle, Leased):
                self._settle_leased(tokens, cost)
                return None
            return self.settle(tokens, cost)
        parts = (self.end_user, self.run, self.session, self)  # in ``settle``'s order
        waiting = []  # those with anything to settle: each this worker's bookkeeping?
        for part in parts:
            if part is not None and not part.settled and part.backend is not None:
                if not isinstance(part.handle, Leased):
                    return self.settle(tokens, cost)  # a round trip to wait for
                waiting.append(part)
        for part in waiting:
            part._settle_leased(tokens, cost)
        return None

    def _settle_leased(self, tokens: int, cost: Decimal) -> None:
        """``settle`` of a reservation admitted from this worker's leases, with no others
        of its own: after the reply's bytes are written (at c=1 what runs before them is
        the client's wait), as the task did, but as a callback of the loop."""
        handle = self.handle
        self.settled = True
        delta, owed = self._owed(tokens, cost)
        try:
            asyncio.get_running_loop().call_soon(settle_leased, handle, delta, owed)
        except RuntimeError:  # no loop running here (a thread): now
            settle_leased(handle, delta, owed)

    def _owed(self, tokens: int, cost: Decimal) -> tuple[int, Decimal]:
        """(tokens over the estimate, cost not yet counted by ``charge``)."""
        owed = Decimal(cost or 0) - self.charged
        return int(tokens) - self.estimated_tokens, owed if owed > 0 else Decimal(0)

    async def settle(self, tokens: int, cost: Decimal) -> None:
        """Record what the request really used (tokens, cost); once. What ``charge``
        counted already is not counted again."""
        if self.end_user is not None:
            await self.end_user.settle(tokens, cost)
        if self.run is not None:
            await self.run.settle(tokens, cost)
        if self.session is not None:
            await self.session.settle(tokens, cost)
        if self.settled or self.backend is None:
            return
        self.settled = True
        delta, cost = self._owed(tokens, cost)
        try:
            if _joint(self.handle):
                await self.backend.settle_joint(self.handle, delta, cost, spend.now())
            else:
                await self.backend.settle(self.key, self.handle, delta, cost, spend.now())
        except Exception as exc:
            if self.backend is memory:
                raise
            note_failure(self.backend, exc)
            if _joint(self.handle):
                bare = Joint(
                    self.handle.subjects, tuple((None, None, None) for _ in self.handle.subjects)
                )
                await memory.settle_joint(bare, 0, cost, spend.now())
            else:
                await memory.settle(self.key, None, 0, cost, spend.now())


def _joint(handle: Any) -> bool:
    """Whether an admission's handle counts a key's team or owner too."""
    return isinstance(handle, Joint) or (isinstance(handle, Leased) and bool(handle.subjects))


async def _charge(backend: Any, key: KeyEntry, handle: Any, cost: Decimal) -> None:
    """Add ``cost`` to the spend of a reservation's key (and team), then check their
    budgets as admission does, with no request, tokens or hold taken: RateLimited when
    a budget is spent."""
    at = spend.now()
    if _joint(handle):
        bare = Joint(handle.subjects, tuple((None, None, None) for _ in handle.subjects))
        await backend.settle_joint(bare, 0, cost, at)
        probe = [
            dataclasses.replace(
                s, limits=dataclasses.replace(s.limits, rpm_limit=None, tpm_limit=None)
            )
            for s in handle.subjects
        ]
        await backend.admit_joint(probe, 0, at, 0)
    else:
        await backend.settle(key, None, 0, cost, at)
        await backend.admit(dataclasses.replace(key, rpm_limit=None, tpm_limit=None), 0, at, 0)


async def add_spend(key: KeyEntry, cost: Decimal) -> None:
    """Count ``cost`` spent outside a request against the key's and its team's budgets
    (a batch the upstream ran, priced when its results arrive): the spend is added as a
    request's settle adds it, with no request, tokens or hold."""
    cost = Decimal(cost or 0)
    if cost > 0 and _budgeted(key)[0]:
        await _add_spend(key, cost)


def _budgeted(key: KeyEntry) -> tuple[bool, bool]:
    """(whether any budget counts the key's spend, whether its team's or its owner's
    counters do)."""
    joint = shares_limits(key)
    return (not key.is_master and (key.budget_usd is not None or joint)), joint


async def _add_spend(key: KeyEntry, cost: Decimal) -> None:
    """``cost`` (negative: given back) onto the key's and its team's spend counters."""
    _, team = _budgeted(key)
    subjects = tuple(subjects_of(key))
    bare = Joint(subjects, tuple((None, None, None) for _ in subjects))
    backend = _budget_backend()
    for attempt in (backend, memory):
        try:
            if team:
                await attempt.settle_joint(bare, 0, cost, spend.now())
            else:
                await attempt.settle(key, None, 0, cost, spend.now())
            return
        except Exception as exc:
            if attempt is memory:
                raise
            note_failure(attempt, exc)


async def _check_budgets(key: KeyEntry) -> None:
    """Admission's budget check of the key and its team, reserving nothing: RateLimited
    when a spend has reached its budget. Loads a spend the counters do not know yet."""
    _, team = _budgeted(key)
    bare = dataclasses.replace(key, rpm_limit=None, tpm_limit=None)
    backend = _budget_backend()
    for attempt in (backend, memory):
        try:
            if team:
                probe = [
                    dataclasses.replace(
                        s, limits=dataclasses.replace(s.limits, rpm_limit=None, tpm_limit=None)
                    )
                    for s in subjects_of(bare)
                ]
                await attempt.admit_joint(probe, 0, spend.now(), 0)
            else:
                await attempt.admit(bare, 0, spend.now(), 0)
            return
        except RateLimited:
            raise
        except Exception as exc:
            if attempt is memory:
                raise
            note_failure(attempt, exc)


async def take_spend(key: KeyEntry, cost: Decimal) -> None:
    """Count ``cost`` against the key's and its team's budgets now, as spend, or raise
    RateLimited (budget_exceeded) when it does not fit in what is left of one of them:
    what a native batch may cost, held until its results are priced (then
    ``give_back_spend`` takes it off and ``add_spend`` adds the real cost). Three round
    trips: the spends checked (and loaded when unknown, so the amount lands on a loaded
    counter), the amount added, the spends checked again; a refusal takes it off again.
    Two takes at once may both be refused; never both admitted past the budget."""
    cost = Decimal(cost or 0)
    if cost <= 0 or not _budgeted(key)[0]:
        return
    await _check_budgets(key)
    await _add_spend(key, cost)
    try:
        await _check_budgets(key)
    except RateLimited:
        await _add_spend(key, -cost)
        raise


async def give_back_spend(key: KeyEntry, cost: Decimal) -> None:
    """Take ``cost`` (an amount ``take_spend`` counted) off the key's and its team's
    spend. A counter not loaded is left alone: loading reads the request log and the
    batches' holds, which no longer include it."""
    cost = Decimal(cost or 0)
    if cost > 0 and _budgeted(key)[0]:
        await _add_spend(key, -cost)


async def admit(
    key: KeyEntry,
    route: str,
    estimated_tokens: int,
    hold_usd: Decimal | None = None,
    end_user: str = "",
    route_teams: frozenset[int] | None = None,
    tags: tuple[TagEntry, ...] = (),
) -> Reservation:
    """Check and reserve ``key``'s allowance for one request to ``route``: a request,
    ``estimated_tokens`` and, when the key has a budget, ``hold_usd`` of it (what the
    request may cost, ``gateway.limits.budget_estimate``) until it settles; the same of
    ``end_user``'s budget when the key sets ``max_budget_per_user`` and of each of
    ``tags`` (the request's tags with limits, ``tag_limits``). Raise
    AuthenticationFailed (revoked, expired), PermissionDenied (route not allowed) or
    RateLimited (rpm, tpm or budget)."""
    reservation = await _admit(key, route, estimated_tokens, hold_usd, route_teams, tags)
    if end_user and key.max_budget_per_user is not None and not key.is_master:
        entry = end_user_entry(key, end_user)
        try:
            reservation.end_user = await _admit(entry, route, estimated_tokens, hold_usd)
        except RateLimited:
            await reservation.settle(0, Decimal(0))  # give back the key's tokens and hold
            raise
    if key.run is not None and key.run.budget_usd is not None and not key.is_master:
        try:  # an agent run's budget (an agent's token, gateway/access/delegation.py)
            reservation.run = await _admit(run_entry(key), route, estimated_tokens, hold_usd)
        except RateLimited:
            await reservation.settle(0, Decimal(0))
            raise
    if key.run is not None and key.run.context and key.run.session_budget_usd is not None:
        try:  # its session's (the run's A2A context, across every run and agent in it)
            entry = session_entry(key)
            reservation.session = await _admit(entry, route, estimated_tokens, hold_usd)
        except RateLimited:
            await reservation.settle(0, Decimal(0))
            raise
    return reservation


async def _admit(
    key: KeyEntry,
    route: str,
    estimated_tokens: int,
    hold_usd: Decimal | None,
    route_teams: frozenset[int] | None = None,
    tags: tuple[TagEntry, ...] = (),
) -> Reservation:
    if key.is_master:
        return Reservation(key=key, route=route, estimated_tokens=estimated_tokens)
    if key.revoked:
        raise AuthenticationFailed("this API key has been revoked")
    at = spend.now()
    if key.expires_at is not None and key.expires_at.timestamp() <= at:
        raise AuthenticationFailed("this API key has expired")
    plan = plan_of(key)
    allowed = plan.calls.get((route, route_teams))
    if allowed is None:
        allowed = may_call(plan, route, route_teams)
    if not allowed.allowed:
        raise PermissionDenied(allowed.reason)
    tokens = max(0, int(estimated_tokens))
    reservation = Reservation(key=key, route=route, estimated_tokens=tokens)
    if tags or plan.joint:
        return await _admit_joint(reservation, plan, tokens, at, hold_usd, tags)
    if key.rpm_limit is None and key.tpm_limit is None and key.budget_usd is None:
        return reservation
    if key.budget_usd is None:
        return await _reserve(reservation, lambda backend: backend.admit(key, tokens, at, 0))
    hold = to_units(hold_usd) if hold_usd else 0
    return await _reserve(
        reservation, lambda backend: backend.admit(key, tokens, at, hold), current_region()
    )


CALLS_KEPT = 256  # route decisions kept per key entry (all forgotten once more are taken)


def may_call(plan: KeyPlan, route: str, route_teams: frozenset[int] | None) -> Decision:
    """``route.call`` for the plan's key and ``route`` (limited to ``route_teams``), kept
    on the plan: the rule reads only the key entry (is it the master key, its routes,
    its team) and the route's name and teams, none of which changes, so each key entry
    asks it once per route rather than on each request."""
    decided = decide(plan.key, "route.call", RouteName(route, route_teams))
    if len(plan.calls) >= CALLS_KEPT:
        plan.calls.clear()
    plan.calls[(route, route_teams)] = decided
    return decided


async def _admit_joint(
    reservation: Reservation,
    plan: KeyPlan,
    tokens: int,
    at: float,
    hold_usd: Decimal | None,
    tags: tuple[TagEntry, ...] = (),
) -> Reservation:
    """A key of a team with limits (or of a user with limits, or a request carrying tags
    with limits): the key's, the team's, the owner's and the tags' counters are checked
    and reserved together, in the same store and the same single round trip."""
    subjects = plan.subjects
    budgeted = plan.budgeted
    if tags:
        subjects += tag_subjects(tags)
        budgeted = budgeted or any(t.budget_usd is not None for t in tags)
    hold = to_units(hold_usd) if hold_usd and budgeted else 0
    region = current_region() if budgeted else None
    if region is None:
        backend = _backend()
        if type(backend) is SharedCounters:  # this worker's leases first, without awaiting
            taken = backend.take_joint(subjects, tokens, at, hold)
            if taken is not None:
                reservation.handle, reservation.backend = taken, backend
                return reservation
    return await _reserve(
        reservation, lambda backend: backend.admit_joint(subjects, tokens, at, hold), region
    )


async def _reserve(
    reservation: Reservation, ask: Callable[[Backend], Awaitable[Any]], region: Any = None
) -> Reservation:
    """Admission's one fallback: ``ask(backend)`` admits through the backend in force
    and returns the reservation's handle. A refusal (RateLimited) is the answer; a
    shared backend (Redis, the counter service) that fails is noted and this process's
    own counters answer instead, limits holding per process until it is back. A budget
    in a region (``region``) is admitted by the region, which falls back itself."""
    if region is not None:
        reservation.handle = await ask(region)
        reservation.backend = region
        return reservation
    backend = _backend()
    try:
        reservation.handle = await ask(backend)
    except RateLimited:
        raise
    except Exception as exc:
        if backend is memory:
            raise
        note_failure(backend, exc)
        backend = memory
        reservation.handle = await ask(memory)
    else:
        if _redis_down:
            note_success(backend)
    reservation.backend = backend
    return reservation
