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
name an end user.

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
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings

from gateway.access.authorization import decide
from gateway.access.rules.routes import RouteName
from gateway.base.counters import SOCKET_ENV, CounterClient, Unavailable
from gateway.base.entries import KeyEntry, TagEntry
from gateway.errors import AuthenticationFailed, PermissionDenied, RateLimited
from gateway.limits.leased_limits import Leased, LeasedLimits, Want
from gateway.limits.limit_leases import RPM, TPM
from gateway.limits.limits_book import CounterStore

log = logging.getLogger(__name__)

MICRO = Decimal("0.00000001")  # spend is counted in units of 1e-8 USD
REDIS_PREFIX = "switchyard:limits"

now: Any = time.time  # seam for tests: epoch seconds


# --- periods --------------------------------------------------------------------------------


def period_bounds(period: str, at: float) -> tuple[str, datetime | None, datetime | None]:
    """(period id, start, end) of the budget period containing epoch ``at`` (UTC)."""
    return _bounds_on_day(period, int(at // DAY_SECONDS))


DAY_SECONDS = 86400


@functools.lru_cache(maxsize=16)
def _bounds_on_day(period: str, day: int) -> tuple[str, datetime | None, datetime | None]:
    """A day's budget periods do not change within it: worked out once a UTC day per
    period, not on each of a request's admissions (four calendar computations each)."""
    moment = datetime.fromtimestamp(day * DAY_SECONDS, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("d%Y-%m-%d"), start, start + timedelta(days=1)
    if period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        return start.strftime("m%Y-%m"), start, end
    return "total", None, None


def _load_spend_sync(key_id: int, start: datetime | None, end_user: str | None = None) -> Decimal:
    from django.db.models import Sum

    from gateway.models import RequestLog

    rows = RequestLog.objects.filter(key_id=key_id)
    if end_user is not None:
        rows = rows.filter(end_user=end_user)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    spent = rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
    return spent if end_user is not None else spent + _batch_holds_sync([key_id])


def _batch_holds_sync(key_ids: Any) -> Decimal:
    """What the keys' native batches hold until their results are priced (the holds
    count as spend in the counters: gateway.features.batches.holds)."""
    from django.db.models import Sum

    from gateway.models.batches import Batch

    rows = Batch.objects.filter(key_id__in=key_ids, held_usd__gt=0)
    return rows.aggregate(total=Sum("held_usd"))["total"] or Decimal("0")


async def load_spend(key_id: int, start: datetime | None, end_user: str | None = None) -> Decimal:
    """What ``key_id`` (or only its ``end_user``) spent since ``start``, from the
    request log, plus what its native batches hold (two queries, once per counter
    load, in the database thread: never per request)."""
    from gateway.base import db_work

    return await db_work.arun(_load_spend_sync, key_id, start, end_user)


def _load_team_spend_sync(team_id: int, start: datetime | None) -> Decimal:
    from django.db.models import Sum

    from gateway.models import ApiKey, RequestLog

    keys = ApiKey.objects.filter(team_id=team_id).values("id")
    rows = RequestLog.objects.filter(key_id__in=keys)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    spent = rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
    return spent + _batch_holds_sync(keys)


def _load_user_spend_sync(user_id: int, start: datetime | None) -> Decimal:
    from django.db.models import Sum

    from gateway.models import ApiKey, RequestLog

    keys = ApiKey.objects.filter(user_id=user_id).values("id")
    rows = RequestLog.objects.filter(key_id__in=keys)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    spent = rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
    return spent + _batch_holds_sync(keys)


def load_tag_spend_sync(tag: str, start: datetime | None) -> Decimal:
    """What the requests of keys carrying ``tag`` spent since ``start`` (through the
    (tag, time) index of ``RequestTag``; the master key's requests, never limited, are
    not counted, as they are not counted live)."""
    from django.db.models import Sum

    from gateway.models import RequestTag

    rows = RequestTag.objects.filter(tag=tag, log__key_id__isnull=False)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    spent = rows.aggregate(total=Sum("log__cost_usd"))["total"]
    return spent or Decimal("0")


USER_COUNTER = "user:"  # a user's counter id: "user:<id>" (keys: ids; teams: -ids)
TAG_COUNTER = "tag:"  # a tag's: "tag:<name>"


def user_counter(user_id: int) -> str:
    return f"{USER_COUNTER}{user_id}"


def tag_counter(name: str) -> str:
    return f"{TAG_COUNTER}{name}"


async def _counter_spend(counter_id: int | str, start: datetime | None, period: str) -> Decimal:
    """What a counter's spend starts from when a store does not know it:
    ``load_counter_spend``, or in a region (``current_region``) its slice's figure
    (``period``: the budget's, day, month or total)."""
    region = current_region()
    if region is not None:
        initial: Decimal = await region.initial(
            counter_id, period, start.timestamp() if start else 0.0
        )
        return initial
    return await load_counter_spend(counter_id, start)


async def load_counter_spend(counter_id: int | str, start: datetime | None) -> Decimal:
    """The spend of a key (a positive counter id), a team (negative: its keys'), a
    user (``user:<id>``: every key they own) or a tag (``tag:<name>``: its requests)."""
    from gateway.base import db_work

    if isinstance(counter_id, str) and counter_id.startswith(TAG_COUNTER):
        return await db_work.arun(load_tag_spend_sync, counter_id.removeprefix(TAG_COUNTER), start)
    if isinstance(counter_id, str):
        user_id = int(counter_id.removeprefix(USER_COUNTER))
        return await db_work.arun(_load_user_spend_sync, user_id, start)
    if counter_id < 0:
        return await db_work.arun(_load_team_spend_sync, -counter_id, start)
    return await load_spend(counter_id, start)


async def _spent(key: KeyEntry, start: datetime | None) -> Decimal:
    """``load_spend`` of a key, or of the end user an ``end_user_entry`` counts (in a
    region: what its counter starts from, ``current_region``)."""
    region = current_region()
    if region is not None:
        initial: Decimal = await region.initial(
            key.id, key.budget_period, start.timestamp() if start else 0.0
        )
        return initial
    if key.end_user is not None and key.parent_id is not None:
        return await load_spend(key.parent_id, start, key.end_user)
    return await load_spend(key.id, start)  # type: ignore[arg-type]


def end_user_entry(key: KeyEntry, end_user: str) -> KeyEntry:
    """The entry counting ``end_user``'s spend on ``key`` against its
    ``max_budget_per_user`` (no rpm, tpm or route limits of its own)."""
    digest = hashlib.sha256(end_user.encode()).hexdigest()[:24]
    return dataclasses.replace(
        key,
        id=f"{key.id}:user:{digest}",  # type: ignore[arg-type]
        routes=None,
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=key.max_budget_per_user,
        max_budget_per_user=None,
        team=None,  # the team counts the key's request once, not again for its end user
        owner=None,  # so does the key's owner
        end_user=end_user,
        parent_id=key.id,
    )


def _whose(key: KeyEntry) -> str:
    return "this end user's budget on this API key" if key.end_user else "this API key's budget"


def _budget_error(
    key: Any, spent: Decimal, end: datetime | None, at: float, who: str | None = None
) -> RateLimited:
    period = {"day": "today", "month": "this month"}.get(key.budget_period, "in total")
    retry_after = max(1.0, end.timestamp() - at) if end is not None else None
    return RateLimited(
        f"{f'{who} budget' if who else _whose(key)} of ${key.budget_usd} {period} is exhausted "
        f"(${spent.quantize(Decimal('0.0001'))} spent)",
        code="budget_exceeded",
        retry_after=retry_after,
    )


def _held_error(
    key: Any,
    spent: Decimal,
    held: Decimal,
    who: str | None = None,
    end: datetime | None = None,
    at: float = 0.0,
) -> RateLimited:
    period = {"day": "today", "month": "this month"}.get(key.budget_period, "in total")
    if not held:  # alone: what this request may cost is more than what is left
        left = max(Decimal(0), Decimal(key.budget_usd) - spent).quantize(Decimal("0.0001"))
        return RateLimited(
            f"{f'{who} budget' if who else _whose(key)} of ${key.budget_usd} {period} has "
            f"${left} left, less than this request may cost (its output ceiling at the "
            "route's prices): ask for fewer max_tokens",
            code="budget_exceeded",
            # as a spent budget: the next period (a smaller request may pass before)
            retry_after=max(1.0, end.timestamp() - at) if end is not None else None,
        )
    return RateLimited(
        f"{f'{who} budget' if who else _whose(key)} of ${key.budget_usd} {period} is taken "
        "by the requests "
        f"in flight (${spent.quantize(Decimal('0.0001'))} spent, "
        f"${held.quantize(Decimal('0.0001'))} held); retry when they finish",
        code="budget_exceeded",
        retry_after=1.0,
    )


def _rate_error(
    what: str, limit: int, retry_after: float, who: str = "this API key's"
) -> RateLimited:
    return RateLimited(
        f"{who} limit of {limit} {what} per minute is reached; retry in "
        f"{max(1, round(retry_after))}s",
        code="rate_limit_exceeded",
        retry_after=max(0.0, retry_after),
    )


# --- counters in a CounterStore: this process's, or the server's shared one ---------------


def _units(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


class Admission(NamedTuple):
    """What one admission reserved: its tokens' second (None: no rpm/tpm) and its
    budget hold (None: no hold) in the budget ``period`` it was taken in."""

    second: int | None
    hold: int | str | None = None
    period: str = ""


def _verdict(
    key: KeyEntry, reply: list[Any], period: str, end: datetime | None, at: float
) -> Admission:
    """The reservation of an ``ok`` answer; raise RateLimited for a refusal."""
    reason = reply[0]
    if reason == "ok":
        second = None if reply[1] is None else int(reply[1])
        hold = reply[2] if len(reply) > 2 else None
        if isinstance(hold, bytes):
            hold = hold.decode()
        return Admission(second, hold or None, period)
    if reason == "budget":
        raise _budget_error(key, Decimal(int(reply[1])) * MICRO, end, at)
    if reason == "held":
        spent, held = Decimal(int(reply[1])) * MICRO, Decimal(int(reply[2])) * MICRO
        raise _held_error(key, spent, held, end=end, at=at)
    if reason == "rpm":
        raise _rate_error("requests", key.rpm_limit or 0, float(reply[1]))
    if reason == "tpm":
        raise _rate_error("tokens", key.tpm_limit or 0, float(reply[1]))
    raise RuntimeError(f"unexpected answer from the limits counters: {reason!r}")


@dataclass(slots=True, frozen=True)
class Subject:
    """One set of limits a request counts against: a key's (counter = key id), its
    team's (counter = -team id), its owner's (counter = "user:<id>") or one of its tags'
    (counter = "tag:<name>"), so all live side by side in one store."""

    counter: int | str
    limits: Any  # KeyEntry, TeamEntry, UserEntry or TagEntry: rpm/tpm, budget, period
    who: str  # how refusals name it

    def budget_units(self) -> int:
        return _units(self.limits.budget_usd) if self.limits.budget_usd is not None else -1

    def redis_base(self) -> str:
        if isinstance(self.counter, str):
            return f"{REDIS_PREFIX}:{self.counter}"  # switchyard:limits:user:<id>
        if self.counter < 0:
            return f"{REDIS_PREFIX}:team:{-self.counter}"
        return f"{REDIS_PREFIX}:{self.counter}"


class Joint(NamedTuple):
    """What a joint admission reserved: per subject (second, hold id, hold's period)."""

    subjects: tuple[Subject, ...]
    parts: tuple[tuple[Any, Any, str | None], ...]


def subjects_of(key: KeyEntry, tags: tuple[TagEntry, ...] = ()) -> list[Subject]:
    """The limits a request of ``key`` carrying ``tags`` (those with limits) counts
    against: the key's, its team's and its owner's when limited, and each tag's."""
    subjects = [Subject(key.id or 0, key, "this API key's")]
    if key.team is not None and key.team.limited:
        subjects.append(Subject(-key.team.id, key.team, f"team {key.team.name}'s"))
    if key.owner is not None and key.owner.limited:
        subjects.append(Subject(user_counter(key.owner.id), key.owner, f"user {key.owner.name}'s"))
    subjects.extend(Subject(tag_counter(t.name), t, f"tag {t.name}'s") for t in tags)
    return subjects


def tag_limits(snapshot_tags: dict[str, TagEntry], tags: tuple[str, ...]) -> tuple[TagEntry, ...]:
    """The limits of a request's ``tags`` that have any (``Snapshot.tag_limits``): ()
    without a lookup when the request has no tags or no tag has limits."""
    if not tags or not snapshot_tags:
        return ()
    return tuple(entry for tag in tags if (entry := snapshot_tags.get(tag)) is not None)


def _shares_limits(key: KeyEntry) -> bool:
    """Whether the key counts against more than its own limits (a team's, its owner's):
    then admission, spend and settling go through the joint path."""
    team = key.team is not None and key.team.limited
    return team or (key.owner is not None and key.owner.limited)


def _joint_verdict(
    subjects: list[Subject], reply: list[Any], bounds: list[Any], at: float
) -> Joint:
    reason = reply[0]
    if reason == "ok":
        parts = []
        for (second, hold), (period_id, _, _) in zip(reply[1], bounds, strict=True):
            if isinstance(hold, bytes):
                hold = hold.decode()
            hold = hold or None
            parts.append(
                (
                    None if second is None else int(second),
                    hold,
                    period_id if hold is not None else None,
                )
            )
        return Joint(tuple(subjects), tuple(parts))
    index = int(reply[1])
    subject, detail = subjects[index], reply[2:]
    limits_, who = subject.limits, subject.who
    if reason == "budget":
        raise _budget_error(limits_, Decimal(int(detail[0])) * MICRO, bounds[index][2], at, who)
    if reason == "held":
        spent, held = Decimal(int(detail[0])) * MICRO, Decimal(int(detail[1])) * MICRO
        raise _held_error(limits_, spent, held, who, bounds[index][2], at)
    if reason == "rpm":
        raise _rate_error("requests", limits_.rpm_limit or 0, float(detail[0]), who)
    if reason == "tpm":
        raise _rate_error("tokens", limits_.tpm_limit or 0, float(detail[0]), who)
    raise RuntimeError(f"unexpected answer from the limits counters: {reason!r}")


class StoreCounters:
    """Admission through a ``CounterStore`` (see gateway/limits/limits_book.py); the spend of
    a budget period the store does not know yet is read from the request log here."""

    async def ask(self, *request: Any) -> list[Any]:
        raise NotImplementedError

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Admission:
        """Check and reserve: one request, ``tokens`` tokens, ``hold`` units of budget."""
        period_id, start, end = period_bounds(key.budget_period, at)
        budget = _units(key.budget_usd) if key.budget_usd is not None else -1
        args = ("admit", key.id, key.rpm_limit or 0, key.tpm_limit or 0, tokens, budget)
        extra = (hold, hold_ttl()) if hold > 0 and budget >= 0 else ()
        reply = await self.ask(*args, period_id, at, None, *extra)
        if reply[0] == "load":
            spent = _units(await _spent(key, start))
            reply = await self.ask(*args, period_id, at, spent, *extra)
        return _verdict(key, reply, period_id, end, at)

    async def settle(
        self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float
    ) -> None:
        """Correct the tokens by ``delta``, add ``cost`` to the spend, give back the hold."""
        second, hold, hold_period = _parts(handle)
        units = _units(cost) if key.budget_usd is not None and cost else 0
        if not units and hold is None and not (second is not None and delta and key.tpm_limit):
            return  # nothing that a limit of this key reads (one round trip saved)
        period_id, start, _ = period_bounds(key.budget_period, at)
        args = ("settle", key.id, second, delta, period_id, units)
        if (await self.ask(*args, None, hold_period, hold))[0] == "load":
            await self.ask(*args, _units(await _spent(key, start)), hold_period, hold)

    async def admit_joint(
        self, subjects: list[Subject], tokens: int, at: float, hold: int = 0
    ) -> Joint:
        """Check and reserve against a key and its team at once (one round trip)."""
        bounds = [period_bounds(s.limits.budget_period, at) for s in subjects]
        rows: list[list[Any]] = [
            [
                s.counter,
                s.limits.rpm_limit or 0,
                s.limits.tpm_limit or 0,
                s.budget_units(),
                b[0],
                None,
            ]
            for s, b in zip(subjects, bounds, strict=True)
        ]
        for _ in range(len(subjects) + 1):
            reply = await self.ask("admit_all", tokens, at, hold, hold_ttl(), rows)
            if reply[0] != "load":
                break
            index = int(reply[1])
            start = bounds[index][1]
            rows[index][5] = _units(
                await _counter_spend(
                    subjects[index].counter, start, subjects[index].limits.budget_period
                )
            )
        return _joint_verdict(subjects, reply, bounds, at)

    settles_all = True  # False once a service without "settle_all" answered (a rolling
    # reload's new workers beside an older supervisor): one "settle" per subject then

    async def settle_joint(self, joint: Joint, delta: int, cost: Decimal, at: float) -> None:
        """Settle every subject of a joint admission in one request ("settle_all")."""
        rows: list[list[Any]] = []
        subjects: list[Subject] = []
        for subject, (second, hold, hold_period) in zip(joint.subjects, joint.parts, strict=True):
            limits_ = subject.limits
            units = _units(cost) if limits_.budget_usd is not None and cost else 0
            if (
                not units
                and hold is None
                and not (second is not None and delta and limits_.tpm_limit)
            ):
                continue
            period_id = period_bounds(limits_.budget_period, at)[0]
            rows.append([subject.counter, second, delta, period_id, units, None, hold_period, hold])
            subjects.append(subject)
        if not rows:
            return
        if not self.settles_all:
            pairs = zip(subjects, rows, strict=True)
            await asyncio.gather(*(self._settle_row(s, row, at) for s, row in pairs))
            return
        for _ in range(len(rows) + 1):
            try:
                reply = await self.ask("settle_all", rows)
            except RuntimeError as exc:  # an older counter service
                if "settle_all" not in str(exc):
                    raise
                self.settles_all = False
                await self.settle_joint(joint, delta, cost, at)
                return
            if reply[0] != "load":
                return
            index = int(reply[1])
            start = period_bounds(subjects[index].limits.budget_period, at)[1]
            rows[index][5] = _units(
                await _counter_spend(
                    subjects[index].counter, start, subjects[index].limits.budget_period
                )
            )

    async def _settle_row(self, subject: Subject, row: list[Any], at: float) -> None:
        """One subject's ``settle`` (a service that cannot settle them all at once)."""
        if (await self.ask("settle", *row))[0] == "load":
            start = period_bounds(subject.limits.budget_period, at)[1]
            row[5] = _units(
                await _counter_spend(subject.counter, start, subject.limits.budget_period)
            )
            await self.ask("settle", *row)

    async def claim_deployment(self, deployment_id: int, rpm: int, tpm: int, minute: int) -> bool:
        """Count a request against a deployment's caps for ``minute``; False when full."""
        answer: str = (await self.ask("claim", deployment_id, rpm, tpm, minute))[0]
        return answer == "ok"

    async def deployment_used(self, deployment_id: int, minute: int, tokens: int) -> None:
        await self.ask("used", deployment_id, minute, tokens)


def _parts(handle: Any) -> tuple[int | None, Any, str | None]:
    """(second, hold, hold's period) of an admission's handle (a bare second, or None)."""
    if isinstance(handle, Admission):
        return handle.second, handle.hold, handle.period if handle.hold is not None else None
    return handle, None, None


def hold_ttl() -> float:
    """Seconds a budget hold outlives a request that never settles (its worker died)."""
    return float(settings.SWITCHYARD_BUDGET_HOLD_SECONDS)


class MemoryCounters(StoreCounters):
    """This process's own counters."""

    def __init__(self) -> None:
        self.store = CounterStore()

    async def ask(self, *request: Any) -> list[Any]:
        return self.store.answer(list(request))

    def forget(self, key_id: int) -> None:
        self.store.forget(key_id)


class SharedCounters(StoreCounters):
    """The counters of every worker of this server, kept by the counter service that
    ``manage.py serve --workers N`` runs on a Unix socket (one connection per worker).

    A request is admitted against what the service leased to this worker of each of its
    limits (the key's, its team's, its owner's: ``gateway.limits.leased_limits``),
    without a round trip while the leases have room."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.leases = LeasedLimits(self.ask, lambda: now())
        self.leasing = True  # False once an older service did not know "lease"
        self.client = CounterClient(path, on_down=self._down, on_up=self._up, on_push=self._pushed)

    async def ask(self, *request: Any) -> list[Any]:
        return await self.client.call(*request)

    def _wants(
        self, subjects: tuple[tuple[Any, Any], ...], tokens: int, hold: int, at: float
    ) -> tuple[list[Want], list[int]] | None:
        """The lines a request of ``tokens`` (estimated) and ``hold`` for ``subjects``
        ((counter, limits) each) needs room in, and each line's subject; None when it has
        none, or a budget is checked without a hold (charges and batches' checks ask the
        service)."""
        if not self.leasing:
            return None
        wants: list[Want] = []
        owners: list[int] = []
        for index, (counter, limits_) in enumerate(subjects):
            if limits_.budget_usd is not None:
                if hold <= 0:
                    return None
                period_id = period_bounds(limits_.budget_period, at)[0]
                wants.append(Want(counter, period_id, _units(limits_.budget_usd), hold))
                owners.append(index)
            if limits_.rpm_limit:
                wants.append(Want(counter, RPM, limits_.rpm_limit, 1))
                owners.append(index)
            if limits_.tpm_limit:
                wants.append(Want(counter, TPM, limits_.tpm_limit, tokens))
                owners.append(index)
        return (wants, owners) if wants else None

    async def _top_up(
        self,
        wants: list[Want],
        at: float,
        load: Callable[[int], Awaitable[int]],
        subjects: tuple[Any, ...] = (),
    ) -> Leased | list[Any] | None:
        """``LeasedLimits.top_up``; None when the service does not lease (an older
        supervisor beside a rolling reload's new workers): admit as before then."""
        try:
            return await self.leases.top_up(wants, at, hold_ttl(), load, subjects)
        except RuntimeError as exc:
            if "unknown operation 'lease'" not in str(exc):
                raise
            self.leasing = False
            return None

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Any:
        lines = self._wants(((key.id, key),), tokens, hold, at)
        if lines is None:
            return await super().admit(key, tokens, at, hold)
        taken = self.leases.take(lines[0], int(at))
        if taken is not None:
            return taken
        period_id, start, end = period_bounds(key.budget_period, at)

        async def load(index: int) -> int:
            return _units(await _spent(key, start))

        answer = await self._top_up(lines[0], at, load)
        if answer is None:
            return await super().admit(key, tokens, at, hold)
        if isinstance(answer, Leased):
            return answer
        reason, _, *detail = answer
        return _verdict(key, [reason, *detail], period_id, end, at)  # raises: a refusal

    async def admit_joint(
        self, subjects: list[Subject], tokens: int, at: float, hold: int = 0
    ) -> Any:
        pairs = tuple((s.counter, s.limits) for s in subjects)
        lines = self._wants(pairs, tokens, hold, at)
        if lines is None:
            return await super().admit_joint(subjects, tokens, at, hold)
        wants, owners = lines
        taken = self.leases.take(wants, int(at), tuple(subjects))
        if taken is not None:
            return taken
        bounds = [period_bounds(s.limits.budget_period, at) for s in subjects]

        async def load(index: int) -> int:
            subject = owners[index]
            counted = subjects[subject]
            return _units(
                await _counter_spend(
                    counted.counter, bounds[subject][1], counted.limits.budget_period
                )
            )

        answer = await self._top_up(wants, at, load, tuple(subjects))
        if answer is None:
            return await super().admit_joint(subjects, tokens, at, hold)
        if isinstance(answer, Leased):
            return answer
        reason, index, *detail = answer
        return _joint_verdict(subjects, [reason, owners[index], *detail], bounds, at)  # raises

    async def settle(
        self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float
    ) -> None:
        if isinstance(handle, Leased):
            _settle_leased(handle, delta, cost)
            return
        await super().settle(key, handle, delta, cost, at)

    async def settle_joint(self, joint: Any, delta: int, cost: Decimal, at: float) -> None:
        if isinstance(joint, Leased):
            _settle_leased(joint, delta, cost)
            return
        await super().settle_joint(joint, delta, cost, at)

    def _pushed(self, message: list[Any]) -> None:
        """What the service sends unasked: ``["lease_back", counter_id, line]``."""
        if message[:1] == ["lease_back"]:
            self.leases.recall(message[1], message[2])

    def _down(self, reason: str) -> None:
        self.leases.lost()
        log.warning(
            "limits: the shared counter service at %s is unreachable (%s); counting in "
            "this worker only (a key may get up to N times its limits) until it is back",
            self.path,
            reason,
        )

    def _up(self) -> None:
        log.info("limits: the shared counter service is back; counting for every worker")


# --- Redis counters -------------------------------------------------------------------------

# What both admission scripts share: the server's clock, and per subject (a key or a
# team) its budget holds, its one-minute request and token windows, and the reservation of
# both. A subject's keys: requests hash (second -> count), tokens hash (second -> tokens),
# spend counter, holds hash (hold id -> units, and 'total'), holds' expiries (sorted set).
ADMIT_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local sec = tonumber(t[1])
-- Drop the expired holds; the units still held.
local function held(holds, expiries)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiries, '-inf', now)) do
    local units = redis.call('HGET', holds, id)
    if units then
      redis.call('HDEL', holds, id)
      redis.call('HINCRBY', holds, 'total', -tonumber(units))
    end
    redis.call('ZREM', expiries, id)
  end
  return tonumber(redis.call('HGET', holds, 'total') or '0')
end
local function window(key)
  local flat = redis.call('HGETALL', key)
  local secs, values, total = {}, {}, 0
  for i = 1, #flat, 2 do
    local s = tonumber(flat[i])
    if s <= sec - 60 then
      redis.call('HDEL', key, flat[i])
    else
      table.insert(secs, s)
      values[s] = tonumber(flat[i + 1])
      total = total + values[s]
    end
  end
  table.sort(secs)
  return total, secs, values
end
local function wait(total, secs, values, need, limit)
  local freed = 0
  for _, s in ipairs(secs) do
    freed = freed + values[s]
    if total - freed + need <= limit then return s + 60 - now end
  end
  return 60
end
-- nil if one more request of est tokens fits both windows, else the limit and the wait.
local function over(requests, tokens, rpm, tpm, est)
  if rpm > 0 then
    local total, secs, values = window(requests)
    if total + 1 > rpm then return 'rpm', tostring(wait(total, secs, values, 1, rpm)) end
  end
  if tpm > 0 then
    local total, secs, values = window(tokens)
    if total > 0 and total + est > tpm then
      return 'tpm', tostring(wait(total, secs, values, est, tpm))
    end
  end
  return nil
end
local function count(requests, tokens, rpm, tpm, est)
  if rpm > 0 then
    redis.call('HINCRBY', requests, sec, 1)
    redis.call('EXPIRE', requests, 120)
  end
  if tpm > 0 then
    redis.call('HINCRBY', tokens, sec, est)
    redis.call('EXPIRE', tokens, 120)
  end
end
-- A new hold of units for ttl seconds; its id.
local function hold_units(holds, expiries, units, ttl)
  local id = sec .. '-' .. redis.call('HINCRBY', holds, 'next', 1)
  redis.call('HSET', holds, id, units)
  redis.call('HINCRBY', holds, 'total', units)
  redis.call('ZADD', expiries, now + ttl, id)
  redis.call('EXPIRE', holds, math.ceil(ttl) + 60)
  redis.call('EXPIRE', expiries, math.ceil(ttl) + 60)
  return id
end
"""

# KEYS: one subject's (see ADMIT_PRELUDE). ARGV: rpm, tpm, estimated tokens, budget in
# 1e-8 USD (-1: none), units to hold (0: none), the hold's time to live in seconds.
# Returns {"ok", second, hold id or ""} or {reason, detail...}.
ADMIT_SCRIPT = (
    ADMIT_PRELUDE
    + """
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local est, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
local hold, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
if budget < 0 then hold = 0 end
if budget >= 0 then
  local spent = redis.call('GET', KEYS[3])
  if not spent then return {'load', '0'} end
  if tonumber(spent) >= budget then return {'budget', spent} end
  if hold > 0 then
    local units = held(KEYS[4], KEYS[5])
    if tonumber(spent) + units + hold > budget then
      return {'held', spent, tostring(units)}
    end
  end
end
local reason, detail = over(KEYS[1], KEYS[2], rpm, tpm, est)
if reason then return {reason, detail} end
count(KEYS[1], KEYS[2], rpm, tpm, est)
local id = ''
if hold > 0 then id = hold_units(KEYS[4], KEYS[5], hold, ttl) end
return {'ok', tostring(sec), id}
"""
)

# KEYS: tokens hash, spend counter, the hold's holds hash and expiries. ARGV: second,
# token delta, cost in 1e-8 USD (negative: given back, gateway.features.batches.holds), hold
# id ("": none). A spend counter Redis does not have is left to be loaded.
SETTLE_SCRIPT = """
if ARGV[4] ~= '' then
  local units = redis.call('HGET', KEYS[3], ARGV[4])
  if units then
    redis.call('HDEL', KEYS[3], ARGV[4])
    redis.call('HINCRBY', KEYS[3], 'total', -tonumber(units))
  end
  redis.call('ZREM', KEYS[4], ARGV[4])
end
if tonumber(ARGV[2]) ~= 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
end
if tonumber(ARGV[3]) ~= 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  local spent = redis.call('INCRBY', KEYS[2], ARGV[3])
  if spent < 0 then redis.call('INCRBY', KEYS[2], -spent) end
end
return 1
"""


# A key and its team in one step: 5 KEYS per subject (see ADMIT_PRELUDE); ARGV:
# estimated tokens, units to hold, the hold's ttl, then per subject rpm, tpm, budget (-1:
# none). Every subject is checked before any is reserved.
# Returns {'ok', second, hold id per subject...} or {reason, subject index, detail...}.
ADMIT_ALL_SCRIPT = (
    ADMIT_PRELUDE
    + """
local est, hold0, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / 3
for i = 1, n do
  local k, a = (i - 1) * 5, 3 + (i - 1) * 3
  local rpm, tpm, budget = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local idx = tostring(i - 1)
  if budget >= 0 then
    local spent = redis.call('GET', KEYS[k + 3])
    if not spent then return {'load', idx} end
    if tonumber(spent) >= budget then return {'budget', idx, spent} end
    if hold0 > 0 then
      local units = held(KEYS[k + 4], KEYS[k + 5])
      if tonumber(spent) + units + hold0 > budget then
        return {'held', idx, spent, tostring(units)}
      end
    end
  end
  local reason, detail = over(KEYS[k + 1], KEYS[k + 2], rpm, tpm, est)
  if reason then return {reason, idx, detail} end
end
local out = {'ok', tostring(sec)}
for i = 1, n do
  local k, a = (i - 1) * 5, 3 + (i - 1) * 3
  local rpm, tpm, budget = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  count(KEYS[k + 1], KEYS[k + 2], rpm, tpm, est)
  local id = ''
  if hold0 > 0 and budget >= 0 then id = hold_units(KEYS[k + 4], KEYS[k + 5], hold0, ttl) end
  table.insert(out, id)
end
return out
"""
)


# KEYS: the deployment's hash of one minute. ARGV: rpm, tpm. Returns 1 (counted) or 0.
CLAIM_SCRIPT = """
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts = redis.call('HMGET', KEYS[1], 'requests', 'tokens')
local requests, tokens = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
if (rpm > 0 and requests >= rpm) or (tpm > 0 and tokens >= tpm) then return 0 end
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('EXPIRE', KEYS[1], 120)
return 1
"""


REDIS_CONNECTIONS = 16  # per worker process: Redis answers a script in ~0.1 ms
REDIS_POOL_WAIT_SECONDS = 2.0  # a call waits this long for a free one, then fails


class RedisCounters:
    """Counters shared by every process through Redis (one client per event loop)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._admit: Any = None
        self._settle: Any = None
        self._claim: Any = None
        self._admit_all: Any = None

    def client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            import redis.asyncio as aioredis

            # A bounded pool: a burst waits for a connection instead of opening one per
            # request in flight. Unbounded, 200 requests at once opened ~70 connections
            # a worker; on a loaded machine some timed out connecting, and those
            # requests were admitted on this process's own counts (a budget for 10
            # served 20 of a burst across two instances).
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=REDIS_CONNECTIONS,
                timeout=REDIS_POOL_WAIT_SECONDS,
                socket_connect_timeout=2,
                socket_timeout=2,
            )
            self._client = aioredis.Redis(connection_pool=pool)
            self._admit = self._client.register_script(ADMIT_SCRIPT)
            self._settle = self._client.register_script(SETTLE_SCRIPT)
            self._claim = self._client.register_script(CLAIM_SCRIPT)
            self._admit_all = self._client.register_script(ADMIT_ALL_SCRIPT)
            self._loop = loop
        return self._client

    @staticmethod
    def names(key: KeyEntry, period_id: str) -> list[str]:
        base = f"{REDIS_PREFIX}:{key.id}"
        return [f"{base}:requests", f"{base}:tokens", f"{base}:spend:{period_id}"]

    @staticmethod
    def hold_names(key: KeyEntry, period_id: str) -> list[str]:
        base = f"{REDIS_PREFIX}:{key.id}"
        return [f"{base}:holds:{period_id}", f"{base}:hold-expiries:{period_id}"]

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Admission:
        self.client()
        period_id, start, end = period_bounds(key.budget_period, at)
        names = self.names(key, period_id) + self.hold_names(key, period_id)
        budget = _units(key.budget_usd) if key.budget_usd is not None else -1
        args = [key.rpm_limit or 0, key.tpm_limit or 0, tokens, budget, hold, hold_ttl()]
        reply: list[Any] = []
        for _ in range(2):
            reply = await self._admit(keys=names, args=args)
            reply[0] = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
            if reply[0] != "load":
                break
            spent = await _spent(key, start)
            ttl = {"ex": int(end.timestamp() - at) + 86400} if end is not None else {}
            await self._client.set(names[2], _units(spent), nx=True, **ttl)
        return _verdict(key, reply, period_id, end, at)

    async def settle(
        self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float
    ) -> None:
        second, hold, hold_period = _parts(handle)
        units = _units(cost) if key.budget_usd is not None and cost else 0
        if not units and hold is None and not (second is not None and delta and key.tpm_limit):
            return  # nothing that a limit of this key reads
        self.client()
        period_id, _, _ = period_bounds(key.budget_period, at)
        names = self.names(key, period_id) + self.hold_names(key, hold_period or period_id)
        await self._settle(
            keys=[names[1], names[2], names[3], names[4]],
            args=[second or 0, delta, units, hold or ""],
        )

    async def admit_joint(
        self, subjects: list[Subject], tokens: int, at: float, hold: int = 0
    ) -> Joint:
        """A key and its team checked and reserved in one script (one round trip)."""
        self.client()
        bounds = [period_bounds(s.limits.budget_period, at) for s in subjects]
        names: list[str] = []
        args: list[Any] = [tokens, hold, hold_ttl()]
        for subject, (period_id, _, _) in zip(subjects, bounds, strict=True):
            base = subject.redis_base()
            names += [
                f"{base}:requests",
                f"{base}:tokens",
                f"{base}:spend:{period_id}",
                f"{base}:holds:{period_id}",
                f"{base}:hold-expiries:{period_id}",
            ]
            args += [subject.limits.rpm_limit or 0, subject.limits.tpm_limit or 0]
            args.append(subject.budget_units())
        reply: list[Any] = []
        for _ in range(len(subjects) + 1):
            reply = [
                v.decode() if isinstance(v, bytes) else v
                for v in await self._admit_all(keys=names, args=args)
            ]
            if reply[0] != "load":
                break
            index = int(reply[1])
            _, start, end = bounds[index]
            spent = await _counter_spend(
                subjects[index].counter, start, subjects[index].limits.budget_period
            )
            ttl = {"ex": int(end.timestamp() - at) + 86400} if end is not None else {}
            await self._client.set(names[index * 5 + 2], _units(spent), nx=True, **ttl)
        if reply[0] == "ok":
            second, holds = reply[1], reply[2:]
            reply = ["ok", [[second, hold] for hold in holds]]
        return _joint_verdict(subjects, reply, bounds, at)

    async def settle_joint(self, joint: Joint, delta: int, cost: Decimal, at: float) -> None:
        """Every subject's settle script in one pipeline (one round trip)."""
        client = self.client()
        calls = []
        for subject, (second, hold, hold_period) in zip(joint.subjects, joint.parts, strict=True):
            limits_ = subject.limits
            units = _units(cost) if limits_.budget_usd is not None and cost else 0
            if (
                not units
                and hold is None
                and not (second is not None and delta and limits_.tpm_limit)
            ):
                continue
            period_id, _, _ = period_bounds(limits_.budget_period, at)
            base = subject.redis_base()
            held = hold_period or period_id
            keys = [
                f"{base}:tokens",
                f"{base}:spend:{period_id}",
                f"{base}:holds:{held}",
                f"{base}:hold-expiries:{held}",
            ]
            calls.append((keys, [second or 0, delta, units, hold or ""]))
        if not calls:
            return
        async with client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await self._settle(keys=keys, args=args, client=pipe)
            await pipe.execute()

    @staticmethod
    def deployment_name(deployment_id: int, minute: int) -> str:
        return f"{REDIS_PREFIX}:deployment:{deployment_id}:{minute}"

    async def claim_deployment(self, deployment_id: int, rpm: int, tpm: int, minute: int) -> bool:
        self.client()
        name = self.deployment_name(deployment_id, minute)
        return bool(await self._claim(keys=[name], args=[rpm, tpm]))

    async def deployment_used(self, deployment_id: int, minute: int, tokens: int) -> None:
        name = self.deployment_name(deployment_id, minute)
        async with self.client().pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "tokens", tokens)
            pipe.expire(name, 120)
            await pipe.execute()


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
    url = getattr(settings, "REDIS_URL", "")
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


_region: contextvars.ContextVar[Any] = contextvars.ContextVar("switchyard_region", default=None)
_installed_region: Any = None  # this process's region (gateway.limits.budget_ledger.install)


def current_region() -> Any:
    """The region whose slices of the global budgets this admission counts against
    (``gateway.limits.budget_ledger.Region``), or None: one region, budgets counted
    whole as they always were (``SWITCHYARD_REGION`` unset)."""
    return _region.get() or _installed_region


def install_region(region: Any) -> None:
    global _installed_region
    _installed_region = region


def _budget_backend() -> Any:
    """Where a budget is counted: the region (its store, against its slices) or the
    backend in force."""
    return current_region() or _backend()


def shared_backend() -> SharedCounters | RedisCounters | None:
    """The counters every process of this server (or every instance, with Redis) shares,
    or None when this process counts alone."""
    backend = _backend()
    return None if isinstance(backend, MemoryCounters) else backend


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
        of the loop instead of a task (about 2 us less a request)."""
        if self.end_user is None:
            if self.settled or self.backend is None:
                return None
            handle = self.handle
            if isinstance(handle, Leased):
                self.settled = True
                delta, owed = self._owed(tokens, cost)
                # after the reply's bytes are written (at c=1 what runs before them is the
                # client's wait), as the task did, but as a callback of the loop
                try:
                    asyncio.get_running_loop().call_soon(_settle_leased, handle, delta, owed)
                except RuntimeError:  # no loop running here (a thread): now
                    _settle_leased(handle, delta, owed)
                return None
        return self.settle(tokens, cost)

    def _owed(self, tokens: int, cost: Decimal) -> tuple[int, Decimal]:
        """(tokens over the estimate, cost not yet counted by ``charge``)."""
        return int(tokens) - self.estimated_tokens, max(
            Decimal(0), Decimal(cost or 0) - self.charged
        )

    async def settle(self, tokens: int, cost: Decimal) -> None:
        """Record what the request really used (tokens, cost); once. What ``charge``
        counted already is not counted again."""
        if self.end_user is not None:
            await self.end_user.settle(tokens, cost)
        if self.settled or self.backend is None:
            return
        self.settled = True
        delta, cost = self._owed(tokens, cost)
        try:
            if _joint(self.handle):
                await self.backend.settle_joint(self.handle, delta, cost, now())
            else:
                await self.backend.settle(self.key, self.handle, delta, cost, now())
        except Exception as exc:
            if self.backend is memory:
                raise
            note_failure(self.backend, exc)
            if _joint(self.handle):
                bare = Joint(
                    self.handle.subjects, tuple((None, None, None) for _ in self.handle.subjects)
                )
                await memory.settle_joint(bare, 0, cost, now())
            else:
                await memory.settle(self.key, None, 0, cost, now())


def _settle_leased(leased: Leased, delta: int, cost: Decimal) -> None:
    """A request admitted from this worker's leases ended: its hold back into them, its
    cost and token correction to report (in memory: ``LeasedLimits.settle``)."""
    leased.owner.settle(leased, _units(cost) if cost else 0, delta)


def _joint(handle: Any) -> bool:
    """Whether an admission's handle counts a key's team or owner too."""
    return isinstance(handle, Joint) or (isinstance(handle, Leased) and bool(handle.subjects))


async def _charge(backend: Any, key: KeyEntry, handle: Any, cost: Decimal) -> None:
    """Add ``cost`` to the spend of a reservation's key (and team), then check their
    budgets as admission does, with no request, tokens or hold taken: RateLimited when
    a budget is spent."""
    at = now()
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
    joint = _shares_limits(key)
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
                await attempt.settle_joint(bare, 0, cost, now())
            else:
                await attempt.settle(key, None, 0, cost, now())
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
                await attempt.admit_joint(probe, 0, now(), 0)
            else:
                await attempt.admit(bare, 0, now(), 0)
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
    at = now()
    if key.expires_at is not None and key.expires_at.timestamp() <= at:
        raise AuthenticationFailed("this API key has expired")
    may_call = decide(key, "route.call", RouteName(route, route_teams))
    if not may_call:
        raise PermissionDenied(may_call.reason)
    tokens = max(0, int(estimated_tokens))
    reservation = Reservation(key=key, route=route, estimated_tokens=tokens)
    if tags or _shares_limits(key):
        return await _admit_joint(reservation, key, tokens, at, hold_usd, tags)
    if key.rpm_limit is None and key.tpm_limit is None and key.budget_usd is None:
        return reservation
    if key.budget_usd is None:
        return await _reserve(reservation, lambda backend: backend.admit(key, tokens, at, 0))
    hold = _units(hold_usd) if hold_usd else 0
    return await _reserve(
        reservation, lambda backend: backend.admit(key, tokens, at, hold), current_region()
    )


async def _admit_joint(
    reservation: Reservation,
    key: KeyEntry,
    tokens: int,
    at: float,
    hold_usd: Decimal | None,
    tags: tuple[TagEntry, ...] = (),
) -> Reservation:
    """A key of a team with limits (or of a user with limits, or a request carrying tags
    with limits): the key's, the team's, the owner's and the tags' counters are checked
    and reserved together, in the same store and the same single round trip."""
    subjects = subjects_of(key, tags)
    budgeted = any(s.limits.budget_usd is not None for s in subjects)
    hold = _units(hold_usd) if hold_usd and budgeted else 0
    return await _reserve(
        reservation,
        lambda backend: backend.admit_joint(subjects, tokens, at, hold),
        current_region() if budgeted else None,
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
