"""Cooldowns: failed requests (not attempts) count, the last deployment a request can use
is never cooled, and a cooled deployment reopens through exactly one probe request."""

from __future__ import annotations

import asyncio

import pytest

from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.routing import routing
from tests.gateway.conftest import FakeTime
from tests.gateway.entries import route, snapshot
from tests.gateway.routing.test_routing import Upstream, server_error


@pytest.fixture
def fake(fake_time: FakeTime, settings) -> FakeTime:
    """The shared fake clock (``fake_time``) with the default cooldown: 3 failed requests
    within 60 s cool a deployment for 30 s."""
    settings.SWITCHYARD_COOLDOWN_FAILURES = 3
    return fake_time


def cooling(deployment, fake: FakeTime) -> bool:
    return routing.health.cooling(deployment.id, fake.now)


async def test_a_lone_deployment_answers_the_request_after_a_500_burst(fake):
    lone = route("claude", "only")  # one deployment, no fallback: max_attempts 3
    upstream = Upstream(only=[server_error(500)] * 3 + ["ok"])
    with pytest.raises(UpstreamError) as raised:
        await routing.run(snapshot(lone), lone, upstream, [])
    assert raised.value.status == 500  # the upstream's own error, not 503
    assert upstream.calls == ["only"] * 3
    assert await routing.run(snapshot(lone), lone, upstream, []) == "ok from only"


async def test_a_lone_deployment_is_never_cooled_however_often_it_fails(fake, settings):
    settings.SWITCHYARD_COOLDOWN_FAILURES = 1
    lone = route("claude", "only", max_attempts=1)
    upstream = Upstream(only=[server_error(503)] * 10 + ["ok"])
    for _ in range(10):
        with pytest.raises(UpstreamError):
            await routing.run(snapshot(lone), lone, upstream, [])
        assert not cooling(lone.deployments[0], fake)
    assert await routing.run(snapshot(lone), lone, upstream, []) == "ok from only"
    assert len(upstream.calls) == 11


async def test_retries_of_one_request_count_as_one_failure(fake):
    # "main" has a fallback, so its deployment may cool: after 3 failed requests, not
    # after the 3 failed attempts of the first one.
    main = route("main", "flaky", max_attempts=3, fallbacks=["spare"])
    spare = route("spare", "s")
    snap = snapshot(main, spare)
    upstream = Upstream(flaky=[server_error(500)])
    flaky = main.deployments[0]
    for request in (1, 2):
        assert await routing.run(snap, main, upstream, []) == "ok from s"
        assert upstream.calls.count("flaky") == 3 * request  # three failed attempts each
        assert not cooling(flaky, fake)
    assert await routing.run(snap, main, upstream, []) == "ok from s"
    # the third failed request cools it at its first failed attempt: no more tries on it
    assert upstream.calls.count("flaky") == 7
    assert cooling(flaky, fake)
    upstream.calls.clear()
    assert await routing.run(snap, main, upstream, []) == "ok from s"
    assert upstream.calls == ["s"]  # cooling: skipped


async def test_a_success_in_between_resets_the_count(fake):
    main = route("main", "flaky", max_attempts=1, fallbacks=["spare"])
    spare = route("spare", "s")
    snap = snapshot(main, spare)
    e = server_error(502)
    upstream = Upstream(flaky=[e, e, "ok", e, e, "ok"])
    for _ in range(6):
        await routing.run(snap, main, upstream, [])
    assert not cooling(main.deployments[0], fake)


async def test_failures_older_than_the_window_do_not_add_up(fake):
    main = route("main", "flaky", max_attempts=1, fallbacks=["spare"])
    spare = route("spare", "s")
    snap = snapshot(main, spare)
    upstream = Upstream(flaky=[server_error(500)])
    await routing.run(snap, main, upstream, [])
    await routing.run(snap, main, upstream, [])
    fake.now += 61
    await routing.run(snap, main, upstream, [])
    assert not cooling(main.deployments[0], fake)
    await routing.run(snap, main, upstream, [])
    await routing.run(snap, main, upstream, [])
    assert cooling(main.deployments[0], fake)


async def test_the_last_available_deployment_of_a_chain_is_not_cooled(fake):
    # a cools (b is there to take its traffic); then b fails as often, but with a
    # cooling it is all that is left: it stays open.
    r = route("r", "a", "b", weights=[1000.0, 0.001], max_attempts=2)  # a is tried first
    a, b = r.deployments
    upstream = Upstream(a=[server_error(500)], b=[server_error(500)])
    for _ in range(3):
        with pytest.raises(UpstreamError):
            await routing.run(snapshot(r), r, upstream, [])
    assert cooling(a, fake)
    assert not cooling(b, fake)
    upstream.plans["b"] = ["ok"]
    upstream.calls.clear()
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from b"
    assert upstream.calls == ["b"]


async def _probe_scenario(fake):
    """A route of two deployments where ``a`` cooled down and its cooldown is over."""
    r = route("r", "a", "b", weights=[1000.0, 0.001], max_attempts=2)
    a, b = r.deployments
    routing.health.cool_until[a.id] = fake.now + 30
    fake.now += 31
    return r, a, b


async def test_after_the_cooldown_exactly_one_probe_goes_through(fake):
    r, a, b = await _probe_scenario(fake)
    release = asyncio.Event()
    calls: list[str] = []

    async def call(route, deployment):
        calls.append(deployment.model)
        if deployment.model == "a":
            await release.wait()  # the probe is in flight
        return deployment.model

    probe = asyncio.create_task(routing.run(snapshot(r), r, call, []))
    await asyncio.sleep(0)
    assert calls == ["a"]
    # while the probe is out, a weighs 1000x but every other request goes to b
    others = [await routing.run(snapshot(r), r, call, []) for _ in range(5)]
    assert others == ["b"] * 5
    release.set()
    assert await probe == "a"
    # the probe succeeded: closed, a takes its traffic again
    assert not cooling(a, fake) and a.id not in routing.health.cool_until
    assert await routing.run(snapshot(r), r, call, []) == "a"


async def test_a_failed_probe_cools_the_deployment_again_at_once(fake):
    r, a, b = await _probe_scenario(fake)
    upstream = Upstream(a=[server_error(500), "ok"])
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from b"  # a: 500, then b
    assert upstream.calls == ["a", "b"]
    assert cooling(a, fake)  # one failed probe is enough, not 3 failures
    assert routing.health.cool_until[a.id] > fake.now + 29
    upstream.calls.clear()
    for _ in range(3):
        await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls == ["b"] * 3


async def test_a_probe_without_verdict_frees_the_next_probe(fake):
    # the probe request fails on the caller's own bad input: that says nothing about a
    r, a, b = await _probe_scenario(fake)
    upstream = Upstream(a=[InvalidRequest("bad parameter"), "ok"])
    with pytest.raises(InvalidRequest):
        await routing.run(snapshot(r), r, upstream, [])
    assert a.id not in routing.health.probing
    assert await routing.run(snapshot(r), r, upstream, []) == "ok from a"
    assert a.id not in routing.health.cool_until


async def test_a_cancelled_probe_frees_the_next_probe(fake):
    r, a, b = await _probe_scenario(fake)

    async def hang(route, deployment):
        await asyncio.Event().wait()

    task = asyncio.create_task(routing.run(snapshot(r), r, hang, []))
    await asyncio.sleep(0)
    assert a.id in routing.health.probing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.id not in routing.health.probing
    assert await routing.run(snapshot(r), r, Upstream(), []) == "ok from a"
