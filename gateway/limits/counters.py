"""Admission through a ``CounterStore`` (gateway/limits/limits_book.py): this process's
own (``MemoryCounters``), or the one the counter service keeps for every worker of a
server (``SharedCounters``, admitting against the worker's leases of each limit). One
request of the store checks and reserves a request, its tokens and its budget hold;
settling corrects the tokens and adds the cost. The spend of a budget period the store
does not know yet is read from the request log here (``gateway.limits.spend``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from gateway.base.counters import CounterClient
from gateway.base.entries import KeyEntry
from gateway.base.errors import RateLimited
from gateway.base.hot_settings import hot
from gateway.limits import spend
from gateway.limits.leased_limits import (
    BUDGET,
    REQUESTS,
    TOKENS,
    Leased,
    LeasedLimits,
    Line,
)
from gateway.limits.limit_leases import RPM, TPM
from gateway.limits.limits_book import CounterStore
from gateway.limits.spend import (
    DAY_SECONDS,
    counter_spend,
    key_spend,
    period_bounds,
    to_units,
)
from gateway.limits.subjects import (
    Admission,
    Joint,
    Subject,
    joint_verdict,
    plan_of,
    verdict,
)

log = logging.getLogger(__name__)
# What a settle changes (``settlement``): second, hold, hold's period, budget units.
Settled = tuple[int | None, Any, str | None, int]


class StoreCounters:
    """Admission through a ``CounterStore`` (see gateway/limits/limits_book.py); the spend of
    a budget period the store does not know yet is read from the request log here."""

    async def ask(self, *request: Any) -> list[Any]:
        raise NotImplementedError

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Admission:
        """Check and reserve: one request, ``tokens`` tokens, ``hold`` units of budget."""
        period_id, start, end = period_bounds(key.budget_period, at)
        budget = to_units(key.budget_usd) if key.budget_usd is not None else -1
        args = ("admit", key.id, key.rpm_limit or 0, key.tpm_limit or 0, tokens, budget)
        extra = (hold, hold_ttl()) if hold > 0 and budget >= 0 else ()
        reply = await self.ask(*args, period_id, at, None, *extra)
        if reply[0] == "load":
            spent = to_units(await key_spend(key, start))
            reply = await self.ask(*args, period_id, at, spent, *extra)
        return verdict(key, reply, period_id, end, at)

    async def settle(
        self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float
    ) -> None:
        """Correct the tokens by ``delta``, add ``cost`` to the spend, give back the hold."""
        if (settled := settlement(key, handle, delta, cost)) is None:
            return  # nothing that a limit of this key reads (one round trip saved)
        second, hold, hold_period, units = settled
        period_id, start, _ = period_bounds(key.budget_period, at)
        args = ("settle", key.id, second, delta, period_id, units)
        if (await self.ask(*args, None, hold_period, hold))[0] == "load":
            await self.ask(*args, to_units(await key_spend(key, start)), hold_period, hold)

    async def admit_joint(
        self, subjects: Sequence[Subject], tokens: int, at: float, hold: int = 0
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
            rows[index][5] = to_units(
                await counter_spend(
                    subjects[index].counter, start, subjects[index].limits.budget_period
                )
            )
        return joint_verdict(subjects, reply, bounds, at)

    settles_all = True  # False once a service without "settle_all" answered (a rolling
    # reload's new workers beside an older supervisor): one "settle" per subject then

    async def settle_joint(self, joint: Joint, delta: int, cost: Decimal, at: float) -> None:
        """Settle every subject of a joint admission in one request ("settle_all")."""
        rows: list[list[Any]] = []
        subjects: list[Subject] = []
        for subject, (second, hold, hold_period) in zip(joint.subjects, joint.parts, strict=True):
            units = settled_units(subject.limits, second, hold, delta, cost)
            if units is None:
                continue
            period_id = period_bounds(subject.limits.budget_period, at)[0]
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
            rows[index][5] = to_units(
                await counter_spend(
                    subjects[index].counter, start, subjects[index].limits.budget_period
                )
            )

    async def _settle_row(self, subject: Subject, row: list[Any], at: float) -> None:
        """One subject's ``settle`` (a service that cannot settle them all at once)."""
        if (await self.ask("settle", *row))[0] == "load":
            start = period_bounds(subject.limits.budget_period, at)[1]
            row[5] = to_units(
                await counter_spend(subject.counter, start, subject.limits.budget_period)
            )
            await self.ask("settle", *row)

    async def claim_deployment(self, deployment_id: int, rpm: int, tpm: int, minute: int) -> bool:
        """Count a request against a deployment's caps for ``minute``; False when full."""
        answer: str = (await self.ask("claim", deployment_id, rpm, tpm, minute))[0]
        return answer == "ok"

    async def deployment_used(self, deployment_id: int, minute: int, tokens: int) -> None:
        await self.ask("used", deployment_id, minute, tokens)


def settlement(key: KeyEntry, handle: Any, delta: int, cost: Decimal) -> Settled | None:
    """(second, hold, hold's period, budget units) of settling ``handle`` (an ``Admission``, a
    bare second, or None); None when it changes nothing ``key``'s limits read."""
    admitted = isinstance(handle, Admission)
    second, hold = (handle.second, handle.hold) if admitted else (handle, None)
    hold_period = handle.period if admitted and hold is not None else None
    units = settled_units(key, second, hold, delta, cost)
    return None if units is None else (second, hold, hold_period, units)


def settled_units(
    limits: Any, second: int | None, hold: Any, delta: int, cost: Decimal
) -> int | None:
    """The budget units a settle adds to ``limits`` (a key's, a team's ...: rpm/tpm,
    budget), or None when it changes nothing those limits read: no cost counted, no
    hold to give back and no token correction a tpm limit would see."""
    units = to_units(cost) if limits.budget_usd is not None and cost else 0
    if not units and hold is None and not (second is not None and delta and limits.tpm_limit):
        return None
    return units


def hold_ttl() -> float:
    """Seconds a budget hold outlives a request that never settles (its worker died)."""
    return float(hot.SWITCHYARD_BUDGET_HOLD_SECONDS)


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
        self.leases = LeasedLimits(self.ask, lambda: spend.now())
        self.leasing = True  # False once an older service did not know "lease"
        self.client = CounterClient(path, on_down=self._down, on_up=self._up, on_push=self._pushed)

    async def ask(self, *request: Any) -> list[Any]:
        return await self.client.call(*request)

    def _lines(self, subjects: Sequence[Subject], hold: int, at: float) -> Sequence[Line] | None:
        """The lines a request of ``hold`` for ``subjects`` needs room in (``lines_of``
        each), each naming its subject's index; None when it has none, or a budget is
        checked without a hold (charges and batches' checks ask the service). Kept on the
        first subject for the day: a key's subjects are the same tuple on each of its
        requests (``subjects.plan_of``), and its lines change only with the day."""
        if not self.leasing:
            return None
        day = int(at // DAY_SECONDS)
        memo = subjects[0].leasing
        if memo is None or memo[0] != day or memo[1] is not subjects:
            lines = tuple(
                line
                for owner, subject in enumerate(subjects)
                for line in lines_of(subject.counter, subject.limits, owner, day)
            )
            memo = (day, subjects, lines, any(line.needs == BUDGET for line in lines))
            object.__setattr__(subjects[0], "leasing", memo)  # a cache on a frozen subject
        if memo[3] and hold <= 0:
            return None
        return memo[2] or None

    async def _top_up(
        self,
        lines: Sequence[Line],
        hold: int,
        tokens: int,
        at: float,
        load: Callable[[int], Awaitable[int]],
        subjects: tuple[Any, ...] = (),
    ) -> Leased | list[Any] | None:
        """``LeasedLimits.top_up``; None when the service does not lease (an older
        supervisor beside a rolling reload's new workers): admit as before then. A top-up
        of one of ``lines`` in flight is waited for first (``after_top_up``)."""
        taken = await self.leases.after_top_up(lines, hold, tokens, int(at), subjects)
        if taken is not None:
            return taken
        try:
            return await self.leases.top_up(lines, hold, tokens, at, hold_ttl(), load, subjects)
        except RuntimeError as exc:
            if "unknown operation 'lease'" not in str(exc):
                raise
            self.leasing = False
            return None

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Any:
        lines = self._lines(plan_of(key).subjects[:1], hold, at)
        if lines is None:
            try:
                return await super().admit(key, tokens, at, hold)
            except RateLimited as refused:
                self._spent(refused, (key.id,))
                raise
        taken = self.leases.take(lines, hold, tokens, int(at))
        if taken is not None:
            return taken
        period_id, start, end = period_bounds(key.budget_period, at)

        async def load(index: int) -> int:
            return to_units(await key_spend(key, start))

        answer = await self._top_up(lines, hold, tokens, at, load)
        if answer is None:
            return await super().admit(key, tokens, at, hold)
        if isinstance(answer, Leased):
            return answer
        reason, _, *detail = answer
        return verdict(key, [reason, *detail], period_id, end, at)  # raises: a refusal

    def take_joint(
        self, subjects: Sequence[Subject], tokens: int, at: float, hold: int = 0
    ) -> Leased | None:
        """``admit_joint`` when this worker's leases have the room (no round trip, and
        called without a coroutine: most of a busy key's admissions); None when the
        service must be asked (``admit_joint`` then)."""
        lines = self._lines(subjects, hold, at)
        if lines is None:
            return None
        return self.leases.take(lines, hold, tokens, int(at), tuple(subjects))

    async def admit_joint(
        self, subjects: Sequence[Subject], tokens: int, at: float, hold: int = 0
    ) -> Any:
        lines = self._lines(subjects, hold, at)
        if lines is None:
            try:
                return await super().admit_joint(subjects, tokens, at, hold)
            except RateLimited as refused:
                self._spent(refused, tuple(s.counter for s in subjects))
                raise
        taken = self.leases.take(lines, hold, tokens, int(at), tuple(subjects))
        if taken is not None:
            return taken
        bounds = [period_bounds(s.limits.budget_period, at) for s in subjects]

        async def load(index: int) -> int:
            subject = lines[index].owner
            counted = subjects[subject]
            return to_units(
                await counter_spend(
                    counted.counter, bounds[subject][1], counted.limits.budget_period
                )
            )

        answer = await self._top_up(lines, hold, tokens, at, load, tuple(subjects))
        if answer is None:
            return await super().admit_joint(subjects, tokens, at, hold)
        if isinstance(answer, Leased):
            return answer
        reason, index, *detail = answer
        owner = lines[index].owner
        return joint_verdict(subjects, [reason, owner, *detail], bounds, at)  # raises

    async def settle(
        self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float
    ) -> None:
        if isinstance(handle, Leased):
            settle_leased(handle, delta, cost)
            return
        await super().settle(key, handle, delta, cost, at)

    async def settle_joint(self, joint: Any, delta: int, cost: Decimal, at: float) -> None:
        if isinstance(joint, Leased):
            settle_leased(joint, delta, cost)
            return
        await super().settle_joint(joint, delta, cost, at)

    def _spent(self, refused: RateLimited, counters: tuple[Any, ...]) -> None:
        """An admission asked of the service (a charge's probe) found a budget spent:
        this worker's budget leases of ``counters`` are reported and given back now,
        before the service's own ask for them arrives (it follows the answer)."""
        if refused.code == "budget_exceeded":
            for counter in counters:
                self.leases.spent(counter)

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


def lines_of(counter: Any, limits: Any, owner: int, day: int) -> tuple[Line, ...]:
    """The lines a request counted against ``counter``'s ``limits`` (a key's, a
    team's ...) needs room in on UTC ``day``: its budget's period, its rpm, its tpm."""
    lines = []
    if limits.budget_usd is not None:
        period_id = period_bounds(limits.budget_period, day * DAY_SECONDS)[0]
        lines.append(Line((counter, period_id), to_units(limits.budget_usd), BUDGET, owner))
    if limits.rpm_limit:
        lines.append(Line((counter, RPM), limits.rpm_limit, REQUESTS, owner))
    if limits.tpm_limit:
        lines.append(Line((counter, TPM), limits.tpm_limit, TOKENS, owner))
    return tuple(lines)


def settle_leased(leased: Leased, delta: int, cost: Decimal) -> None:
    """A request admitted from this worker's leases ended: its hold back into them, its
    cost and token correction to report (in memory: ``LeasedLimits.settle``)."""
    leased.owner.settle(leased, to_units(cost) if cost else 0, delta)
