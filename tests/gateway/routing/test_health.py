"""Each deployment's health and the pick among a route's deployments: weights (zero
never while others weigh), cooldowns after failures within the window and recovery, in-flight
counts for least-busy, measured latency for lowest-latency, and health forgotten when a
deployment changes."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.access import registry
from gateway.base.entries import RouteEntry
from gateway.base.errors import UpstreamError
from gateway.routing import routing
from gateway.routing.health import choose
from tests.gateway.entries import deployment, route, snapshot
from tests.gateway.routing.test_routing import Upstream, server_error


async def test_weighted_picks_follow_the_weights(fake_time):
    r = route("w", "a", "b", "c", weights=[6.0, 3.0, 1.0])
    picks = Counter(
        choose(routing.health, routing.rng, r, set(), fake_time.now).model for _ in range(10_000)
    )
    assert abs(picks["a"] / 10_000 - 0.6) < 0.03
    assert abs(picks["b"] / 10_000 - 0.3) < 0.03
    assert abs(picks["c"] / 10_000 - 0.1) < 0.03


async def test_zero_weight_deployment_is_never_picked_while_others_have_weight(fake_time):
    r = route("w", "a", "b", weights=[1.0, 0.0])
    assert {
        choose(routing.health, routing.rng, r, set(), fake_time.now).model for _ in range(500)
    } == {"a"}


async def test_failing_deployment_cools_down_and_recovers(fake_time):
    r = route("r", "flaky", "steady", weights=[1000.0, 0.001], max_attempts=2)
    upstream = Upstream(flaky=[server_error(500)] * 2 + ["ok"])
    await routing.run(snapshot(r), r, upstream, [])  # flaky fails once, steady answers
    await routing.run(snapshot(r), r, upstream, [])  # flaky fails again: cooldown
    assert upstream.calls == ["flaky", "steady", "flaky", "steady"]

    upstream.calls.clear()
    for _ in range(5):  # during the cooldown flaky is skipped though it weighs 1000x
        assert await routing.run(snapshot(r), r, upstream, []) == "ok from steady"
    assert upstream.calls == ["steady"] * 5

    fake_time.now += 31  # cooldown over: flaky is back
    upstream.calls.clear()
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from flaky"


async def test_failures_outside_the_window_do_not_add_up(fake_time):
    r = route("r", "flaky", "steady", weights=[1000.0, 0.001])
    upstream = Upstream(flaky=[server_error(500), server_error(500), "ok"])
    await routing.run(snapshot(r), r, upstream, [])
    fake_time.now += 61
    await routing.run(snapshot(r), r, upstream, [])
    upstream.calls.clear()
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from flaky"


async def test_least_busy_picks_the_deployment_with_fewest_in_flight(fake_time):
    r = route("r", "a", "b", "c", strategy="least_busy")
    a, b, c = r.deployments
    routing.health.in_flight.update({a.id: 3, b.id: 1, c.id: 2})
    assert {
        choose(routing.health, routing.rng, r, set(), fake_time.now).model for _ in range(50)
    } == {"b"}


async def test_in_flight_counts_rise_during_a_call_and_fall_after(fake_time):
    r = route("r", "a", strategy="least_busy")
    seen = []

    async def call(route, deployment):
        seen.append(routing.health.in_flight[deployment.id])
        raise server_error(400)

    with pytest.raises(UpstreamError):
        await routing.run(snapshot(r), r, call, [])
    assert seen == [1] and routing.health.in_flight[r.deployments[0].id] == 0


async def test_lowest_latency_prefers_the_fastest_measured_deployment(fake_time):
    r = route("r", "slow", "fast", strategy="lowest_latency")
    slow, fast = r.deployments
    durations = {"slow": 2.0, "fast": 0.3}

    async def call(route, deployment):
        fake_time.now += durations[deployment.model]
        return deployment.model

    picked = [await routing.run(snapshot(r), r, call, []) for _ in range(6)]
    assert set(picked[:2]) == {"slow", "fast"}  # each unmeasured one gets measured first
    assert picked[2:] == ["fast"] * 4
    assert routing.health.latency[slow.id] == pytest.approx(2.0)

    routing.observe_latency(fast.id, 10.0)  # the service reports it got slow
    assert choose(routing.health, routing.rng, r, set(), fake_time.now).model == "slow"


async def test_snapshot_change_forgets_health_of_changed_deployments(fake_time, snapshot_reset):
    r = route("r", "a", "b")
    a, b = r.deployments
    registry.install(snapshot(r))
    routing.health.cool_until.update({a.id: fake_time.now + 30, b.id: fake_time.now + 30})
    changed_a = deployment("r", "a-v2", id=a.id)
    r2 = RouteEntry(
        **{**{f: getattr(r, f) for f in RouteEntry.__slots__}, "deployments": (changed_a, b)}
    )
    registry.install(snapshot(r2))
    assert a.id not in routing.health.cool_until
    assert b.id in routing.health.cool_until
