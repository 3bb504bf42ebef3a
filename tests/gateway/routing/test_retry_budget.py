"""Retry budgets: a route retries at most a share of its requests a minute (default 20 %,
plus a small allowance), so a failing upstream under load is not hit three times per
request; failover to a sibling is a retry; a spent budget fails fast (issue #25)."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.base.errors import UpstreamError
from gateway.routing import routing
from gateway.routing.retry_budget import RetryBudget
from tests.gateway.conftest import FakeTime
from tests.gateway.entries import route, snapshot
from tests.gateway.routing.test_routing import Upstream, server_error


@pytest.fixture
def fake(monkeypatch, settings) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(routing, "clock", fake.clock)
    monkeypatch.setattr(routing, "sleep", fake.sleep)
    routing.reset()
    routing.rng.seed(5)
    settings.SWITCHYARD_RETRY_BUDGET_MIN_PER_MINUTE = 0  # the share alone, unless set
    yield fake
    routing.reset()


# --- the budget -------------------------------------------------------------------------------


def test_retries_stay_under_the_share_of_the_minutes_requests() -> None:
    budget = RetryBudget()
    now = 60_000.0  # the start of a minute
    for _ in range(50):
        budget.requested("r", now)
    granted = sum(budget.allows("r", 0.2, 0, now) for _ in range(30))
    assert granted == 10  # 20 % of 50


def test_the_allowance_lets_a_quiet_route_retry() -> None:
    budget = RetryBudget()
    budget.requested("r", 60_000.0)
    assert [budget.allows("r", 0.2, 2, 60_000.0) for _ in range(3)] == [True, True, False]


def test_the_previous_minute_counts_as_it_slides_out() -> None:
    budget = RetryBudget()
    for _ in range(100):
        budget.requested("r", 60_000.0)
    for _ in range(20):
        assert budget.allows("r", 0.2, 0, 60_000.0)
    # half-way through the next minute: half of the last minute still counts (50
    # requests, 10 retries): no room
    assert not budget.allows("r", 0.2, 0, 60_090.0)
    for _ in range(50):  # 50 more requests: 100 in the window, room for 10 more retries
        budget.requested("r", 60_090.0)
    assert sum(budget.allows("r", 0.2, 0, 60_090.0) for _ in range(20)) == 10
    # two minutes later the old counts are gone
    for _ in range(10):
        budget.requested("r", 60_300.0)
    assert sum(budget.allows("r", 0.2, 0, 60_300.0) for _ in range(5)) == 2


def test_routes_have_budgets_of_their_own() -> None:
    budget = RetryBudget()
    for _ in range(10):
        budget.requested("busy", 60_000.0)
    assert budget.allows("busy", 0.2, 0, 60_000.0)
    assert not budget.allows("quiet", 0.2, 0, 60_000.0)


# --- in routing -------------------------------------------------------------------------------


async def failing_requests(r, count: int) -> tuple[Upstream, list[UpstreamError]]:
    upstream = Upstream(**{d.model: [server_error(503)] for d in r.deployments})
    errors = []
    for _ in range(count):
        with pytest.raises(UpstreamError) as raised:
            await routing.run(snapshot(r), r, upstream, [])
        errors.append(raised.value)
    return upstream, errors


async def test_a_failing_upstream_under_load_gets_a_fifth_more_not_three_times(fake):
    r = route("r", "down", max_attempts=3)
    upstream, errors = await failing_requests(r, 100)
    # without a budget: 300 attempts; with the default 20 %: 100 + 20
    assert len(upstream.calls) == 120
    assert all(e.status == 503 for e in errors)  # the upstream's own error, at once


async def test_failover_to_a_sibling_spends_the_budget_too(fake, settings):
    settings.SWITCHYARD_COOLDOWN_FAILURES = 1000  # no cooldown steering here
    r = route("r", "a", "b", max_attempts=2)
    upstream, _ = await failing_requests(r, 50)
    assert len(upstream.calls) == 60  # 50 first attempts, 10 failovers


async def test_the_route_setting_overrides_the_default(fake):
    r = dataclasses.replace(route("r", "down", max_attempts=3), retry_budget=0.5)
    upstream, _ = await failing_requests(r, 20)
    assert len(upstream.calls) == 30
    none = dataclasses.replace(route("n", "down", max_attempts=3), retry_budget=0.0)
    upstream, _ = await failing_requests(none, 20)
    assert len(upstream.calls) == 20


async def test_the_global_setting_is_the_default_share(fake, settings):
    settings.SWITCHYARD_RETRY_BUDGET = 1.0
    r = route("r", "down", max_attempts=3)
    upstream, _ = await failing_requests(r, 10)
    assert len(upstream.calls) == 20  # 10 retries for 10 requests: one per request


async def test_the_default_allowance_keeps_a_quiet_routes_retries(fake, settings):
    del settings.SWITCHYARD_RETRY_BUDGET_MIN_PER_MINUTE  # the default: 10 a minute
    r = route("r", "flaky", max_attempts=3)
    upstream = Upstream(flaky=[server_error(500), server_error(500), "ok"])
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from flaky"
    assert len(upstream.calls) == 3


async def test_a_spent_budget_fails_fast_without_backing_off(fake, caplog):
    r = route("r", "down", max_attempts=3)
    await failing_requests(r, 10)  # 2 retries granted (20 % of 10)
    sleeps = len(fake.sleeps)
    upstream, errors = await failing_requests(r, 1)
    assert upstream.calls == ["down"] and len(fake.sleeps) == sleeps
    assert "retry budget" in caplog.text
