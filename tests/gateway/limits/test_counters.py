"""Admission through a counter store (``gateway.limits.counters``): a budget's spend is
read from the log only when the store asks for it, a refusal is raised as RateLimited,
settling skips what no limit reads and otherwise adds the cost and gives the hold back;
a key and its team are admitted and settled together, one subject at a time with a
service that cannot settle them all at once; a worker of a shared service leases the
lines a request needs. (The stores end to end: ``test_limits*.py``, ``test_leased_limits.py``.)"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.base.entries import KeyEntry, TagEntry, TeamEntry
from gateway.base.errors import RateLimited
from gateway.limits import counters
from gateway.limits.counters import MemoryCounters, SharedCounters, hold_ttl, settlement
from gateway.limits.leased_limits import BUDGET, REQUESTS, TOKENS
from gateway.limits.limit_leases import RPM, TPM
from gateway.limits.spend import DAY_SECONDS, period_bounds
from gateway.limits.subjects import Admission, Subject, subjects_of

AT = 1_767_225_600.0 + 3600  # 2026-01-01T01:00Z
UNITS = 100_000_000
TEAM = TeamEntry(4, "research", None, None, Decimal(10), "month")


def key(**fields: Any) -> KeyEntry:
    base: dict[str, Any] = dict(
        id=3, name="k", prefix="sy-k", routes=None, rpm_limit=None, tpm_limit=None,
        budget_usd=Decimal(1), budget_period="month", expires_at=None, revoked=False,
    )  # fmt: skip
    return KeyEntry(**{**base, **fields})


@pytest.fixture
def logged(monkeypatch) -> list[Any]:
    """The spend the request log holds: $0.40 for every counter; what was read."""
    reads: list[Any] = []

    async def key_spend(entry: KeyEntry, start: Any) -> Decimal:
        reads.append(entry.id)
        return Decimal("0.4")

    async def counter_spend(counter: Any, start: Any, period: str) -> Decimal:
        reads.append(counter)
        return Decimal("0.4")

    monkeypatch.setattr(counters, "key_spend", key_spend)
    monkeypatch.setattr(counters, "counter_spend", counter_spend)
    return reads


async def test_the_spend_is_read_from_the_log_once_and_a_spent_budget_refused(logged) -> None:
    store = MemoryCounters()
    admitted = await store.admit(key(), 10, AT)
    assert admitted == Admission(None, None, period_bounds("month", AT)[0])
    await store.admit(key(), 10, AT)
    assert logged == [3]  # loaded once
    await store.settle(key(), admitted, 0, Decimal("0.6"), AT)
    with pytest.raises(RateLimited, match=r"budget of \$1 this month is exhausted \(\$1.0000"):
        await store.admit(key(), 10, AT)


async def test_a_hold_is_taken_and_given_back_when_settled(settings, logged) -> None:
    settings.SWITCHYARD_BUDGET_HOLD_SECONDS = 45
    assert hold_ttl() == 45.0
    settings.SWITCHYARD_BUDGET_HOLD_SECONDS = 30  # read once, and again once changed
    assert hold_ttl() == 30.0
    store = MemoryCounters()
    held = await store.admit(key(), 0, AT, hold=UNITS // 2)
    assert held.hold is not None
    assert settlement(key(), held, 0, Decimal(0)) == (None, held.hold, held.period, 0)
    with pytest.raises(RateLimited, match="in flight"):
        await store.admit(key(), 0, AT, hold=UNITS // 2)
    await store.settle(key(), held, 0, Decimal(0), AT)
    assert (await store.admit(key(), 0, AT, hold=UNITS // 2)).hold is not None


async def test_settling_what_no_limit_reads_asks_nothing() -> None:
    asked: list[Any] = []

    class Counting(MemoryCounters):
        async def ask(self, *request: Any) -> list[Any]:
            asked.append(request[0])
            return await super().ask(*request)

    store = Counting()
    await store.settle(key(budget_usd=None), 17, 5, Decimal("1"), AT)  # no budget, no tpm
    await store.settle(key(), None, 0, Decimal(0), AT)
    assert asked == []
    assert settlement(key(budget_usd=None), 17, 5, Decimal("1")) is None
    assert settlement(key(), None, 0, Decimal(0)) is None
    assert settlement(key(tpm_limit=100), 17, 5, Decimal(0)) == (17, None, None, 0)
    assert settlement(key(), None, 0, Decimal("0.5")) == (None, None, None, 50_000_000)


async def test_a_key_and_its_team_are_admitted_and_settled_together(logged) -> None:
    store = MemoryCounters()
    both = subjects_of(key(team=TEAM))
    joint = await store.admit_joint(both, 10, AT, hold=UNITS // 10)
    assert [part[1] is not None for part in joint.parts] == [True, True]
    assert sorted(map(str, logged)) == ["-4", "3"]
    await store.settle_joint(joint, 0, Decimal("0.6"), AT)
    with pytest.raises(RateLimited, match="this API key's budget of"):
        await store.admit_joint(both, 10, AT)
    period = period_bounds("month", AT)[0]
    assert store.store.spend[(-4, period)] == UNITS  # 0.40 logged + 0.60 settled


async def test_a_service_without_settle_all_is_settled_one_subject_at_a_time(logged) -> None:
    class Older(MemoryCounters):
        async def ask(self, *request: Any) -> list[Any]:
            if request[0] == "settle_all":
                raise RuntimeError("unknown operation 'settle_all'")
            return await super().ask(*request)

    store = Older()
    both = subjects_of(key(team=TEAM))
    joint = await store.admit_joint(both, 10, AT)
    store.store.spend.clear()  # forgotten (a restarted service): each asks to load again
    await store.settle_joint(joint, 0, Decimal("0.1"), AT)
    assert not store.settles_all
    period = period_bounds("month", AT)[0]
    assert store.store.spend == {(3, period): 50_000_000, (-4, period): 50_000_000}


async def test_deployments_caps_are_claimed_per_minute() -> None:
    store = MemoryCounters()
    assert await store.claim_deployment(9, 1, 0, 100)
    assert not await store.claim_deployment(9, 1, 0, 100)
    await store.deployment_used(9, 100, 5)
    assert store.store.minutes[9] == [100, 1, 5]
    store.forget(3)


def test_a_shared_worker_leases_the_lines_a_request_needs(tmp_path) -> None:
    shared = SharedCounters(str(tmp_path / "none.sock"))
    one = (Subject(3, key(rpm_limit=5, tpm_limit=100), ""),)
    lines = shared._lines(one, UNITS, AT) or []
    assert [(line.name, line.limit, line.needs) for line in lines] == [
        ((3, period_bounds("month", AT)[0]), UNITS, BUDGET),
        ((3, RPM), 5, REQUESTS),
        ((3, TPM), 100, TOKENS),
    ]
    assert [line.owner for line in lines] == [0, 0, 0]
    assert shared._lines((Subject(3, key(), ""),), 0, AT) is None  # a budget without a hold
    nothing = (Subject(3, key(budget_usd=None), ""),)
    assert shared._lines(nothing, 0, AT) is None  # nothing to lease
    both = shared._lines(tuple(subjects_of(key(rpm_limit=5, team=TEAM))), UNITS, AT) or []
    assert [(line.name, line.owner) for line in both] == [
        ((3, period_bounds("month", AT)[0]), 0),
        ((3, RPM), 0),
        ((-4, period_bounds("month", AT)[0]), 1),
    ]
    shared.leasing = False
    assert shared._lines((Subject(3, key(rpm_limit=5), ""),), UNITS, AT) is None


def test_an_admissions_lines_are_kept_for_the_day_and_follow_its_budget_periods(
    tmp_path,
) -> None:
    """The lines of a tuple of subjects (a key's plan's) are kept on its first subject
    for the day; on another day they name the budgets' periods of that day (a day's
    budget: the new day; a month's: its month until it ends)."""
    shared = SharedCounters(str(tmp_path / "none.sock"))
    daily = Subject(3, key(budget_period="day"), "")
    monthly = Subject(-4, TEAM, "")
    both = (daily, monthly)
    first = shared._lines(both, UNITS, AT)
    kept = daily.leasing
    assert shared._lines(both, UNITS, AT + 3600) is first  # the same day: not redone
    assert daily.leasing is kept
    for at in (AT + DAY_SECONDS, AT + 30 * DAY_SECONDS, AT + 31 * DAY_SECONDS):
        lines = shared._lines(both, UNITS, at) or []
        assert [line.name[1] for line in lines] == [
            period_bounds("day", at)[0],
            period_bounds("month", at)[0],
        ]
    later = shared._lines(both, UNITS, AT + 31 * DAY_SECONDS) or []
    assert [line.name[1] for line in later] == ["d2026-02-01", "m2026-02"]
    # other subjects headed by the same one (a tagged request's): their own lines
    tag = Subject("tag:ci", TagEntry(1, "ci", 7, None, None, "day"), "")
    tagged = shared._lines((daily, monthly, tag), UNITS, AT) or []
    assert [(line.name, line.owner) for line in tagged][2:] == [(("tag:ci", RPM), 2)]
    assert [line.owner for line in shared._lines((monthly, daily), UNITS, AT) or []] == [0, 1]
    assert shared._lines(both, UNITS, AT) == first  # and its own again
