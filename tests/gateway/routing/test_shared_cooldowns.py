"""Cooldowns shared by every worker of a server (the counter service) and every instance
(Redis): a dead deployment costs a handful of failed requests server-wide, not a few
per process; healthy deployments cost no round trip; an unreachable store leaves the
decision to each process (issue #25)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.base import background
from gateway.base.counters import SOCKET_ENV
from gateway.limits import counters, limits
from gateway.routing import routing, shared_cooldowns
from gateway.routing.health import Health, Policy
from gateway.server.counter_service import CounterService
from tests.gateway.entries import route, snapshot
from tests.gateway.routing.test_routing import Upstream, server_error

REDIS_URL = "redis://127.0.0.1:6379/12"  # keys under a prefix of each test's own


def policy(**changes) -> Policy:
    base = Policy.from_settings()
    return Policy(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})


# --- the book (what the counter service keeps) -------------------------------------------------


# --- two workers through the counter service -------------------------------------------------


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    settings.REDIS_URL = ""
    settings.SWITCHYARD_COOLDOWN_REFRESH_SECONDS = 0.05
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    limits.reset()
    routing.reset()
    yield running
    limits.reset()
    routing.reset()
    running.stop()


async def settle() -> None:
    """Let background pushes reach the store and their answers come back."""
    for _ in range(50):
        if not background._tasks:
            return
        await asyncio.sleep(0.01)


class Worker:
    """Another worker's routing state, swapped in around its requests; its background
    view is ``refresh`` (this process's refresher feeds ``routing.health`` only)."""

    def __init__(self) -> None:
        self.health = Health(lambda: routing.clock())

    async def run(self, r, upstream) -> str:
        mine = routing.health
        routing.health = self.health
        try:
            return await routing.run(snapshot(r), r, upstream, [])
        finally:
            await settle()  # its pushes' answers come back to it
            routing.health = mine

    async def refresh(self) -> None:
        states = await shared_cooldowns._view(limits.shared_backend(), 60)
        self.health.learned(states, True)


async def test_failures_on_two_workers_add_up_to_one_cooldown(service) -> None:
    r = route("r", "dead", "sound", weights=[1000.0, 0.001])
    dead = r.deployments[0]
    upstream = Upstream(dead=[server_error(503)])
    other = Worker()
    # alone, each worker would need 3 failed requests: here 2 + 1 cool it everywhere
    await routing.run(snapshot(r), r, upstream, [])
    await other.run(r, upstream)
    await settle()
    await routing.run(snapshot(r), r, upstream, [])
    await settle()
    assert routing.health.cooling(dead.id, routing.clock())
    assert upstream.calls.count("dead") == 3
    await other.refresh()  # the other worker's background view learns it
    assert other.health.cooling(dead.id, routing.clock())
    await other.run(r, upstream)
    assert upstream.calls.count("dead") == 3  # the other worker skips it too


async def test_a_healthy_deployment_costs_no_round_trip(service, monkeypatch) -> None:
    asked = []
    real = counters.SharedCounters.ask

    async def ask(self, *request):
        asked.append(request[0])
        return await real(self, *request)

    monkeypatch.setattr(counters.SharedCounters, "ask", ask)
    r = route("r", "a", "b")
    for _ in range(20):
        await routing.run(snapshot(r), r, Upstream(), [])
    await settle()
    assert [op for op in asked if op != "cooldown_view"] == []  # only the background view


async def test_a_success_anywhere_closes_the_breaker_for_everybody(service, settings) -> None:
    settings.SWITCHYARD_COOLDOWN_SECONDS = 0.3
    r = route("r", "flaky", "sound", weights=[1000.0, 0.001])
    flaky = r.deployments[0]
    upstream = Upstream(flaky=[server_error(503)] * 3 + ["ok"])
    for _ in range(3):
        await routing.run(snapshot(r), r, upstream, [])
        await settle()
    other = Worker()
    await other.refresh()
    assert other.health.cooling(flaky.id, routing.clock())
    await asyncio.sleep(0.3)  # the cooldown is over: one request probes it
    assert await other.run(r, upstream) == "ok from flaky"
    await settle()
    assert service.store.cooldowns.view(0, 60) == ["ok", []]  # closed in the store
    await asyncio.sleep(0.15)
    assert flaky.id not in routing.health.cool_until  # and this worker learned it


async def test_only_one_worker_probes_a_half_open_deployment(service, settings) -> None:
    settings.SWITCHYARD_COOLDOWN_SECONDS = 0.2
    r = route("r", "flaky", "sound", weights=[1000.0, 0.001])
    gate = asyncio.Event()
    calls = []

    async def slow(route_, deployment):
        calls.append(deployment.model)
        if deployment.model == "flaky" and calls.count("flaky") > 3:
            await gate.wait()  # the probe hangs until released
            return "ok"
        if deployment.model == "flaky":
            raise server_error(503)
        return "ok"

    for _ in range(3):
        await routing.run(snapshot(r), r, slow, [])
        await settle()
    await asyncio.sleep(0.3)
    other = Worker()
    await other.refresh()
    mine = routing.health
    routing.health = other.health
    probe = asyncio.ensure_future(routing.run(snapshot(r), r, slow, []))
    try:
        await asyncio.sleep(0.05)
        routing.health = mine
        assert calls[-1] == "flaky"
        # this worker's cooldown is over too, but the probe is the other worker's
        await routing.run(snapshot(r), r, slow, [])
        assert calls[-1] == "sound"
    finally:
        routing.health = mine
        gate.set()
        await probe


async def test_an_unreachable_store_leaves_cooldowns_to_each_process(
    socket_path, settings, monkeypatch, caplog
) -> None:
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)  # nobody listens there
    limits.reset()
    routing.reset()
    r = route("r", "dead", "sound", weights=[1000.0, 0.001])
    upstream = Upstream(dead=[server_error(503)])
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            await routing.run(snapshot(r), r, upstream, [])
            await settle()
    assert upstream.calls.count("dead") == 3  # cooled by this process's own count
    assert caplog.text.count("unreachable") == 1  # warned once for the outage
    limits.reset()
    routing.reset()


# --- Redis: every instance -------------------------------------------------------------------


@pytest.fixture
async def redis_store(settings, monkeypatch, own_redis):
    client = await own_redis(REDIS_URL)
    settings.REDIS_URL = REDIS_URL
    settings.SWITCHYARD_COOLDOWN_REFRESH_SECONDS = 0.05
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    limits.reset()
    routing.reset()
    yield client
    routing.reset()
    limits.reset()


@pytest.mark.services
async def test_redis_shares_a_cooldown_between_instances(redis_store) -> None:
    r = route("r", "dead", "sound", weights=[1000.0, 0.001])
    dead = r.deployments[0]
    upstream = Upstream(dead=[server_error(503)])
    other = Worker()
    await routing.run(snapshot(r), r, upstream, [])
    await settle()
    await other.run(r, upstream)
    await settle()
    await routing.run(snapshot(r), r, upstream, [])
    await settle()
    assert routing.health.cooling(dead.id, routing.clock())
    await other.refresh()
    assert other.health.cooling(dead.id, routing.clock())
    for _ in range(5):
        await other.run(r, upstream)
    assert upstream.calls.count("dead") == 3


@pytest.mark.services
async def test_redis_probe_and_success_close_the_breaker(redis_store) -> None:
    p = policy(cooldown=0.2)
    for _ in range(3):
        await shared_cooldowns._failed(limits.shared_backend(), 42, p, False, False)
    backend = limits.shared_backend()
    states = await shared_cooldowns._view(backend, 60)
    assert 0 < states[42][0] <= 0.21  # Redis TIME and the float sum may round a hair over
    assert await shared_cooldowns.claim_probe(42, 5) > 0  # still cooling
    await asyncio.sleep(0.25)
    assert await shared_cooldowns.claim_probe(42, 5) is None  # this one probes
    assert await shared_cooldowns.claim_probe(42, 5) > 4  # nobody else
    await shared_cooldowns._succeeded(backend, 42)
    assert await shared_cooldowns._view(backend, 60) == {}


async def test_the_background_view_survives_a_restart_of_the_counter_service(
    socket_path, settings, monkeypatch
) -> None:
    import time

    settings.REDIS_URL = ""
    settings.SWITCHYARD_COOLDOWN_REFRESH_SECONDS = 0.05
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    limits.reset()
    routing.reset()
    first = CounterService(socket_path)
    first.start()
    r = route("r", "a", "b")
    await routing.run(snapshot(r), r, Upstream(), [])  # starts this worker's refresher
    first.stop()
    await asyncio.sleep(0.3)  # refreshes fail meanwhile
    second = CounterService(socket_path)
    second.start()
    try:
        await asyncio.sleep(1.3)  # the client reconnects (once a second)
        for _ in range(3):  # another worker's failures, in the new service
            second.store.cooldowns.failed(r.deployments[0].id, time.time(), 3, 60, 30, False, False)
        for _ in range(40):
            if routing.health.cooling(r.deployments[0].id, routing.clock()):
                break
            await asyncio.sleep(0.05)
        assert routing.health.cooling(r.deployments[0].id, routing.clock())
    finally:
        limits.reset()
        routing.reset()
        second.stop()
