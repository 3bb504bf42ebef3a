"""One budget across regions (issue #65): two regions, each with a counter store of its
own, spend against one budget leased from one ledger. Together they never spend past
the budget; a region cut off from the ledger spends its slice and stops; an idle
region's slice goes to a busy one; with one region nothing of this runs."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal

import pytest
from django.db import OperationalError

from gateway.base import db_work, leases, lifecycle
from gateway.base.errors import RateLimited
from gateway.limits import budget_ledger, counters, limits, redis_counters
from gateway.limits import spend as spending
from gateway.limits.budget_ledger import REFERENCE, Region
from gateway.models import BudgetLedger, BudgetSlice, SingletonLease
from tests.gateway.conftest import REDIS_URL
from tests.gateway.limits.test_limits import key

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = Decimal("1.00")
COST = Decimal("0.01")  # what each request holds and costs
UNIT = 1_000_000  # COST in 1e-8 USD


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.REDIS_URL = ""
    settings.SWITCHYARD_LEDGER_SLICE_PERCENT = 25.0
    limits.reset()
    yield
    limits.reset()
    spending.install_region(None)


async def spend(region: Region | None, budgeted, requests: int, workers: int = 4) -> int:
    """``requests`` requests of ``budgeted`` in ``region``, ``workers`` at a time, each
    holding and costing COST: how many were admitted (the others refused for budget)."""
    admitted = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal admitted
        spending._region.set(region)  # this task's region (a process has one: install)
        for _ in queue:
            try:
                reservation = await limits.admit(budgeted, "echo", 0, hold_usd=COST)
            except RateLimited as exc:
                assert exc.code == "budget_exceeded" and exc.status == 429
                continue
            await asyncio.sleep(0)  # in flight while the others are admitted
            await reservation.settle(0, COST)
            admitted += 1

    await asyncio.gather(*(asyncio.create_task(worker()) for _ in range(workers)))
    return admitted


def allotted() -> dict[str, int]:
    return dict(BudgetSlice.objects.values_list("region", "allotted_units"))


async def room(region: Region, budgeted) -> int:
    value, held = await region.probe(budgeted.id, budgeted.budget_period, spending.now())
    return REFERENCE - value - held


async def test_two_regions_spending_at_once_never_pass_the_budget():
    budgeted = key(budget_usd=BUDGET)
    eu, us = Region("eu", counters.MemoryCounters()), Region("us", counters.MemoryCounters())
    first, second = await asyncio.gather(spend(eu, budgeted, 100), spend(us, budgeted, 100))
    # each took slices as it ran out; together exactly the budget, never more
    assert first + second == 100
    assert min(first, second) >= 25  # both got slices, neither all of it
    slices = await db_work.arun(allotted)
    assert sum(slices.values()) == 100 * UNIT
    # each region's store holds what it spent against what it was allotted: no room left
    assert await room(eu, budgeted) == slices["eu"] - first * UNIT
    assert await room(us, budgeted) == slices["us"] - second * UNIT
    # and no further request passes in either
    assert await spend(eu, budgeted, 3) + await spend(us, budgeted, 3) == 0


async def test_two_regions_counting_in_two_redis_databases(own_redis, redis_prefix):
    await own_redis(REDIS_URL)
    other = REDIS_URL.rsplit("/", 1)[0] + "/13"
    await own_redis(other)
    budgeted = key(budget_usd=BUDGET)
    eu = Region("eu", redis_counters.RedisCounters(REDIS_URL))
    us = Region("us", redis_counters.RedisCounters(other))
    first, second = await asyncio.gather(spend(eu, budgeted, 100), spend(us, budgeted, 100))
    assert first + second == 100 and min(first, second) >= 25
    assert sum((await db_work.arun(allotted)).values()) == 100 * UNIT


async def test_a_region_cut_off_from_the_ledger_spends_its_slice_then_refuses(monkeypatch):
    budgeted = key(budget_usd=BUDGET)
    eu, us = Region("eu", counters.MemoryCounters()), Region("us", counters.MemoryCounters())
    assert await spend(eu, budgeted, 1) == 1  # its first slice: 25 requests' worth

    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(budget_ledger, "grant_sync", unreachable)
    assert await spend(eu, budgeted, 40) == 24  # the rest of its slice, then no more
    spending._region.set(eu)
    with pytest.raises(RateLimited) as refused:
        await limits.admit(budgeted, "echo", 0, hold_usd=COST)
    assert refused.value.code == "budget_exceeded"
    assert "region eu" in refused.value.message and "$1.00" in refused.value.message
    monkeypatch.undo()
    # the other region, reaching the ledger, spends the rest of the budget
    assert await spend(us, budgeted, 100) == 75


async def test_rebalancing_hands_an_idle_regions_slice_to_a_busy_one(settings):
    settings.SWITCHYARD_LEDGER_SLICE_PERCENT = 50.0
    settings.SWITCHYARD_LEDGER_IDLE_SECONDS = 0.2
    budgeted = key(budget_usd=BUDGET)
    eu, us = Region("eu", counters.MemoryCounters()), Region("us", counters.MemoryCounters())
    assert await spend(eu, budgeted, 1) == 1  # eu holds half the budget, uses 1 of it
    assert await spend(us, budgeted, 80) == 50  # us: the other half, then refused
    ledger = await db_work.arun(BudgetLedger.objects.get)
    assert ledger.wanted_by == "us"

    spending._region.set(eu)
    await eu.sync_once()  # eu is not idle yet, but us wants: eu gives back half its room
    assert (await db_work.arun(allotted))["eu"] == 50 * UNIT - 24 * UNIT - UNIT // 2
    await asyncio.sleep(0.25)
    await eu.sync_once()  # idle now: the rest of its room goes back
    assert (await db_work.arun(allotted))["eu"] == UNIT  # what it spent
    assert await room(eu, budgeted) == 0
    assert await spend(us, budgeted, 80) == 49  # us takes it all
    slices = await db_work.arun(allotted)
    assert slices == {"eu": UNIT, "us": 99 * UNIT}
    spent = await db_work.arun(
        lambda: dict(BudgetSlice.objects.values_list("region", "spent_units"))
    )
    assert spent["eu"] == UNIT  # the sync reported eu's spend


async def test_a_busy_region_tops_its_slice_up_before_it_runs_out(settings):
    budgeted = key(budget_usd=BUDGET)
    eu = Region("eu", counters.MemoryCounters())
    assert await spend(eu, budgeted, 20) == 20  # 5 of its 25 left
    spending._region.set(eu)
    await eu.sync_once()
    assert (await db_work.arun(allotted))["eu"] == 50 * UNIT
    assert await room(eu, budgeted) == 30 * UNIT


async def test_a_lowered_budget_takes_back_the_unspent_slices(settings):
    budgeted = key(budget_usd=BUDGET)
    eu = Region("eu", counters.MemoryCounters())
    assert await spend(eu, budgeted, 2) == 2
    # lowered to $0.01 (the ledger learns a budget from the requests that ask it for room)
    lowered = dataclasses.replace(budgeted, budget_usd=COST)
    await db_work.arun(lambda: BudgetLedger.objects.update(budget_units=UNIT))
    spending._region.set(eu)
    await eu.sync_once()
    assert (await db_work.arun(allotted))["eu"] == 2 * UNIT  # what it spent, no more
    assert await spend(eu, lowered, 2) == 0


async def test_teams_and_tags_are_sliced_like_keys():
    from gateway.base.entries import TeamEntry

    team = TeamEntry(
        id=7,
        name="research",
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=BUDGET,
        budget_period="month",
    )
    member = key(team=team)
    eu, us = Region("eu", counters.MemoryCounters()), Region("us", counters.MemoryCounters())
    # each region asks for more than the budget: every slice allotted is spent (with less,
    # a region that ran out of requests could keep part of a slice the other wanted)
    first, second = await asyncio.gather(spend(eu, member, 100), spend(us, member, 100))
    assert first + second == 100
    recorded = await db_work.arun(
        lambda: set(BudgetLedger.objects.values_list("counter", flat=True))
    )
    assert recorded == {"-7"}


async def test_one_region_runs_no_ledger():
    budgeted = key(budget_usd=BUDGET)
    assert spending.current_region() is None
    assert await spend(None, budgeted, 120) == 100
    assert await db_work.arun(BudgetLedger.objects.count) == 0


async def test_the_regions_loop_runs_under_its_lease_and_outlives_a_database_outage(
    monkeypatch, caplog
):
    eu = Region("eu", counters.MemoryCounters())
    assert await budget_ledger.round_once(eu) is True
    monkeypatch.setattr(leases, "PROCESS_ID", "another-host:1:x")
    assert await budget_ledger.round_once(eu) is False  # the lease is someone else's
    assert (await db_work.arun(SingletonLease.objects.get)).name == "budget-ledger:eu"
    monkeypatch.undo()

    rounds = []

    async def flaky(region: Region) -> bool:
        rounds.append(region.name)
        if len(rounds) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return True

    monkeypatch.setattr(budget_ledger, "round_once", flaky)
    monkeypatch.setattr(budget_ledger, "sync_seconds", lambda: 0.01)
    monkeypatch.setattr(lifecycle, "closing", lambda: len(rounds) >= 3)
    spending.install_region(eu)
    with caplog.at_level(logging.INFO, logger="gateway.budget_ledger"):
        await budget_ledger.run_forever()
    assert rounds == ["eu", "eu", "eu"]  # the round after the outage ran, and the next
    assert "unavailable" in caplog.text
