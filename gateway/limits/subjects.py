"""Whose limits a request counts against and how a refusal names them: the subjects
(a key, its team, its owner, each of its tags with limits; an end user's entry under a
key with ``max_budget_per_user``), what an admission reserved (``Admission``, ``Joint``),
and the answers of the counters read into a reservation or a RateLimited refusal."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from gateway.base.entries import KeyEntry, TagEntry
from gateway.base.errors import RateLimited
from gateway.limits.spend import MICRO, tag_counter, to_units, user_counter

REDIS_PREFIX = "switchyard:limits"


def _budget_only(key: KeyEntry, counter_id: str, budget_usd: Any, **more: Any) -> KeyEntry:
    """A sub-entry of ``key`` counting spend only, against ``budget_usd``: no rpm, tpm or
    route limits of its own, and no team or owner (the key's request counts them once,
    not again for its sub-entry)."""
    return dataclasses.replace(
        key,
        id=counter_id,  # type: ignore[arg-type]
        routes=None,
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=budget_usd,
        max_budget_per_user=None,
        team=None,
        owner=None,
        parent_id=key.id,
        **more,
    )


END_USERS_KEPT = 4096  # end users' entries kept (all of them forgotten once more are made)
_end_users: dict[tuple[int, str], tuple[KeyEntry, KeyEntry]] = {}


def end_user_entry(key: KeyEntry, end_user: str) -> KeyEntry:
    """The entry counting ``end_user``'s spend on ``key`` against its
    ``max_budget_per_user`` (no rpm, tpm or route limits of its own). Made once per key
    entry and end user, not on each of their requests: it depends on nothing else, and
    a registry change makes new key entries (and drops the kept ones, ``forget_plans``),
    so a kept one is never stale; its plan and its lease lines are kept with it."""
    kept = _end_users.get((id(key), end_user))
    if kept is not None and kept[0] is key:
        return kept[1]
    digest = hashlib.sha256(end_user.encode()).hexdigest()[:24]
    counter_id = f"{key.id}:user:{digest}"
    # run=None: the key's request counts its run once, not again for its end user
    entry = _budget_only(key, counter_id, key.max_budget_per_user, end_user=end_user, run=None)
    if len(_end_users) >= END_USERS_KEPT:
        _end_users.clear()
    _end_users[(id(key), end_user)] = (key, entry)
    return entry


def run_entry(key: KeyEntry) -> KeyEntry:
    """The entry counting an agent run's spend (``key.run``: the run a request of an
    agent's token is made in, ``gateway.access.delegation``) against the agent's budget
    per run: no rpm, tpm or route limits of its own, in total (a run has no period)."""
    assert key.run is not None
    counter_id = f"{key.id}:run:{key.run.id}"
    return _budget_only(key, counter_id, key.run.budget_usd, budget_period="total", end_user=None)


def session_entry(key: KeyEntry) -> KeyEntry:
    """The entry counting an A2A session's spend (``key.run.context``: every run of the
    key in that context, and every call those runs make) against the agent's budget per
    session: like ``run_entry``, in total, one counter per key and session."""
    assert key.run is not None
    return dataclasses.replace(
        run_entry(key),
        id=f"{key.id}:session:{key.run.context}",  # type: ignore[arg-type]
        budget_usd=key.run.session_budget_usd,
        session=key.run.context,
    )


def whose(key: KeyEntry) -> str:
    if key.session is not None and key.run is not None and key.parent_id is not None:
        return f"agent {key.run.agent}'s budget per session"
    if key.run is not None and key.parent_id is not None:
        return f"agent {key.run.agent}'s budget per run"
    return "this end user's budget on this API key" if key.end_user else "this API key's budget"


def budget_error(
    key: Any, spent: Decimal, end: datetime | None, at: float, who: str | None = None
) -> RateLimited:
    period = {"day": "today", "month": "this month"}.get(key.budget_period, "in total")
    retry_after = max(1.0, end.timestamp() - at) if end is not None else None
    return RateLimited(
        f"{f'{who} budget' if who else whose(key)} of ${key.budget_usd} {period} is exhausted "
        f"(${spent.quantize(Decimal('0.0001'))} spent)",
        code="budget_exceeded",
        retry_after=retry_after,
    )


def held_error(
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
            f"{f'{who} budget' if who else whose(key)} of ${key.budget_usd} {period} has "
            f"${left} left, less than this request may cost (its output ceiling at the "
            "route's prices): ask for fewer max_tokens",
            code="budget_exceeded",
            # as a spent budget: the next period (a smaller request may pass before)
            retry_after=max(1.0, end.timestamp() - at) if end is not None else None,
        )
    return RateLimited(
        f"{f'{who} budget' if who else whose(key)} of ${key.budget_usd} {period} is taken "
        "by the requests "
        f"in flight (${spent.quantize(Decimal('0.0001'))} spent, "
        f"${held.quantize(Decimal('0.0001'))} held); retry when they finish",
        code="budget_exceeded",
        retry_after=1.0,
    )


def rate_error(
    what: str, limit: int, retry_after: float, who: str = "this API key's"
) -> RateLimited:
    return RateLimited(
        f"{who} limit of {limit} {what} per minute is reached; retry in "
        f"{max(1, round(retry_after))}s",
        code="rate_limit_exceeded",
        retry_after=max(0.0, retry_after),
    )


class Admission(NamedTuple):
    """What one admission reserved: its tokens' second (None: no rpm/tpm) and its
    budget hold (None: no hold) in the budget ``period`` it was taken in."""

    second: int | None
    hold: int | str | None = None
    period: str = ""


def verdict(
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
        raise budget_error(key, Decimal(int(reply[1])) * MICRO, end, at)
    if reason == "held":
        spent, held = Decimal(int(reply[1])) * MICRO, Decimal(int(reply[2])) * MICRO
        raise held_error(key, spent, held, end=end, at=at)
    if reason == "rpm":
        raise rate_error("requests", key.rpm_limit or 0, float(reply[1]))
    if reason == "tpm":
        raise rate_error("tokens", key.tpm_limit or 0, float(reply[1]))
    raise RuntimeError(f"unexpected answer from the limits counters: {reason!r}")


@dataclass(slots=True, frozen=True)
class Subject:
    """One set of limits a request counts against: a key's (counter = key id), its
    team's (counter = -team id), its owner's (counter = "user:<id>") or one of its tags'
    (counter = "tag:<name>"), so all live side by side in one store."""

    counter: int | str
    limits: Any  # KeyEntry, TeamEntry, UserEntry or TagEntry: rpm/tpm, budget, period
    who: str  # how refusals name it
    # a worker's lease lines of an admission it heads, for a day (``SharedCounters._lines``)
    leasing: Any = field(default=None, init=False, compare=False, repr=False)

    def budget_units(self) -> int:
        return to_units(self.limits.budget_usd) if self.limits.budget_usd is not None else -1

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
    subjects.extend(tag_subjects(tags))
    return subjects


def tag_subjects(tags: tuple[TagEntry, ...]) -> tuple[Subject, ...]:
    """The subjects of a request's ``tags`` (those with limits)."""
    return tuple(Subject(tag_counter(t.name), t, f"tag {t.name}'s") for t in tags)


class KeyPlan(NamedTuple):
    """What admission counts for one key entry (``plan_of``): its ``subjects_of``, whether
    it shares limits (``shares_limits``: admitted jointly), whether one of them has a
    budget (a request holds part of it), and the ``route.call`` decisions admission took
    for it, by route and the route's teams (``limits.may_call``)."""

    key: KeyEntry
    subjects: tuple[Subject, ...]
    joint: bool
    budgeted: bool
    calls: dict[tuple[str, frozenset[int] | None], Any]


PLANS_KEPT = 4096  # key entries whose plans are kept (all of them once more are seen)
_plans: dict[int, KeyPlan] = {}
_made_for_one: list[KeyPlan | None] = [None]  # the last entry made for one request's


def forget_plans(snapshot: object = None) -> None:
    """Drop the kept plans and end users' entries (a registry change: the new snapshot's
    entries are new; the old ones' would only be kept until ``PLANS_KEPT``)."""
    _plans.clear()
    _end_users.clear()
    _made_for_one[0] = None


def plan_of(key: KeyEntry) -> KeyPlan:
    """``key``'s plan, worked out once per key entry rather than on each of its
    requests. An entry never changes (a registry change makes new ones), so a plan kept
    for it is never stale: the one kept under its ``id`` is checked to be its own."""
    plan = _plans.get(id(key))
    if plan is not None and plan.key is key:
        return plan
    plan = _made_for_one[0]
    if plan is not None and plan.key is key:
        return plan
    subjects = tuple(subjects_of(key))
    budgeted = any(s.limits.budget_usd is not None for s in subjects)
    plan = KeyPlan(key, subjects, shares_limits(key), budgeted, {})
    if key.parent_id is not None and not key.end_user:  # an entry made for one request
        _made_for_one[0] = plan  # (``run_entry``): its admission and its store's read it
    else:
        if len(_plans) >= PLANS_KEPT:
            _plans.clear()
        _plans[id(key)] = plan
    return plan


def tag_limits(snapshot_tags: dict[str, TagEntry], tags: tuple[str, ...]) -> tuple[TagEntry, ...]:
    """The limits of a request's ``tags`` that have any (``Snapshot.tag_limits``): ()
    without a lookup when the request has no tags or no tag has limits."""
    if not tags or not snapshot_tags:
        return ()
    return tuple(entry for tag in tags if (entry := snapshot_tags.get(tag)) is not None)


def shares_limits(key: KeyEntry) -> bool:
    """Whether the key counts against more than its own limits (a team's, its owner's):
    then admission, spend and settling go through the joint path."""
    team = key.team is not None and key.team.limited
    return team or (key.owner is not None and key.owner.limited)


def joint_verdict(
    subjects: Sequence[Subject], reply: list[Any], bounds: list[Any], at: float
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
        raise budget_error(limits_, Decimal(int(detail[0])) * MICRO, bounds[index][2], at, who)
    if reason == "held":
        spent, held = Decimal(int(detail[0])) * MICRO, Decimal(int(detail[1])) * MICRO
        raise held_error(limits_, spent, held, who, bounds[index][2], at)
    if reason == "rpm":
        raise rate_error("requests", limits_.rpm_limit or 0, float(detail[0]), who)
    if reason == "tpm":
        raise rate_error("tokens", limits_.tpm_limit or 0, float(detail[0]), who)
    raise RuntimeError(f"unexpected answer from the limits counters: {reason!r}")
