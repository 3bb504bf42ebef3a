"""Deployments' rpm / tpm caps counted for every worker of a server (the counter
service) or every instance (Redis), not per process: ``gateway.limits.deployment_caps`` and
how routing uses it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.base import background
from gateway.base.counters import SOCKET_ENV
from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.errors import NoHealthyDeployment
from gateway.limits import counters, deployment_caps, limits, redis_counters
from gateway.limits.limits_book import CounterStore
from gateway.routing import routing
from gateway.server.counter_service import CounterService
from tests.gateway.entries import deployment, route, snapshot
from tests.gateway.routing.test_routing import Upstream

MINUTE = 29_000_000  # an epoch minute (2025)


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    """The counter service of ``serve --workers N``, named in this process's
    environment as in a worker."""
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    monkeypatch.setattr(deployment_caps, "wall", lambda: MINUTE * 60 + 15.0)
    limits.reset()
    routing.reset()
    yield running
    limits.reset()
    routing.reset()
    running.stop()


def with_deployments(name: str, *deployments) -> RouteEntry:
    base = route(name)
    fields = {f: getattr(base, f) for f in RouteEntry.__slots__}
    return RouteEntry(**{**fields, "deployments": tuple(deployments)})


def capped_and_spare(**caps) -> tuple[DeploymentEntry, RouteEntry]:
    """Route ``r``: a deployment with ``caps`` that is always picked while available,
    and a spare that takes the requests it cannot."""
    capped = deployment("r", "capped", 1000.0, **caps)
    return capped, with_deployments("r", capped, deployment("r", "spare", 0.001))


# --- the store ------------------------------------------------------------------------------


def test_store_counts_a_deployments_requests_per_minute_up_to_its_rpm() -> None:
    store = CounterStore()
    assert [store.claim(7, 2, 0, MINUTE)[0] for _ in range(3)] == ["ok", "ok", "full"]
    assert store.claim(8, 2, 0, MINUTE) == ["ok"]  # another deployment, its own count
    assert store.claim(7, 2, 0, MINUTE + 1) == ["ok"]  # a new minute starts from zero
    # a worker whose clock still reads the minute before counts in the newer minute
    assert store.claim(7, 2, 0, MINUTE) == ["ok"]
    assert store.claim(7, 2, 0, MINUTE + 1) == ["full"]


def test_store_refuses_once_the_minutes_tokens_reach_the_tpm() -> None:
    store = CounterStore()
    assert store.claim(7, 0, 100, MINUTE) == ["ok"]
    store.used(7, MINUTE, 60)
    assert store.claim(7, 0, 100, MINUTE) == ["ok"]
    store.used(7, MINUTE, 40)
    assert store.claim(7, 0, 100, MINUTE) == ["full"]
    store.used(7, MINUTE - 1, 500)  # tokens of a minute that is over count for nothing
    assert store.claim(7, 0, 100, MINUTE + 1) == ["ok"]
    assert store.answer(["used", 7, MINUTE + 1, 100]) == ["ok"]
    assert store.answer(["claim", 7, 0, 100, MINUTE + 1]) == ["full"]


# --- shared by the workers --------------------------------------------------------------------


async def test_two_workers_claiming_at_once_get_exactly_the_rpm(service, socket_path) -> None:
    capped = deployment("r", "capped", rpm=3)
    workers = [counters.SharedCounters(socket_path), counters.SharedCounters(socket_path)]
    claims = [workers[n % 2].claim_deployment(capped.id, 3, 0, MINUTE) for n in range(10)]
    assert sorted(await asyncio.gather(*claims)) == [False] * 7 + [True] * 3


async def test_routing_skips_a_deployment_the_other_worker_used_up(service, socket_path) -> None:
    capped, r = capped_and_spare(rpm=2)
    other_worker = counters.SharedCounters(socket_path)
    assert await other_worker.claim_deployment(capped.id, 2, 0, MINUTE)
    upstream = Upstream()
    for _ in range(3):
        await routing.run(snapshot(r), r, upstream, [])
    # this worker's own count allowed two more; the server's allowed one
    assert upstream.calls == ["capped", "spare", "spare"]
    assert not await other_worker.claim_deployment(capped.id, 2, 0, MINUTE)


async def test_every_deployment_full_on_the_server_is_a_503_with_retry_after(
    service, socket_path, monkeypatch
) -> None:
    capped = deployment("r", "capped", rpm=1)
    r = with_deployments("r", capped)
    assert await counters.SharedCounters(socket_path).claim_deployment(capped.id, 1, 0, MINUTE)
    upstream = Upstream()
    with pytest.raises(NoHealthyDeployment) as raised:
        await routing.run(snapshot(r), r, upstream, [])
    assert raised.value.status == 503 and "cap" in raised.value.message
    assert 40 <= raised.value.retry_after <= 46  # the minute has 45 s left (wall = :15)
    assert upstream.calls == []

    # the next request of this worker does not ask the service again until the minute
    # ends (were it to ask, the failing claim would leave the cap to this worker's own
    # count, which is 0, and the request would go through)
    async def broken(*args):
        raise ConnectionError("the service is not asked")

    monkeypatch.setattr(counters.SharedCounters, "claim_deployment", broken)
    with pytest.raises(NoHealthyDeployment):
        await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls == []


async def test_a_deployment_found_full_is_not_claimed_again_in_the_same_request(
    service, monkeypatch
) -> None:
    """Even when the minute seems over at once (clocks a hair apart at a minute's
    end), a request does not go back to a deployment its claim found full."""
    claims = []

    async def always_full(deployment):
        claims.append(deployment.model)
        return 0.0  # full, and free again right now

    monkeypatch.setattr(deployment_caps, "claim", always_full)
    capped, r = capped_and_spare(rpm=5)
    upstream = Upstream()
    assert await asyncio.wait_for(routing.run(snapshot(r), r, upstream, []), 2) == ("ok from spare")
    assert claims == ["capped"] and upstream.calls == ["spare"]


async def test_tokens_served_count_against_the_tpm_of_every_worker(service, socket_path) -> None:
    capped, r = capped_and_spare(tpm=1000)
    other_worker = counters.SharedCounters(socket_path)
    assert await other_worker.claim_deployment(capped.id, 0, 1000, MINUTE)
    routing.observe_tokens(capped, 1200)  # the answer's usage, reported by the service
    await background.done()  # sent in the background
    assert not await other_worker.claim_deployment(capped.id, 0, 1000, MINUTE)
    upstream = Upstream()
    await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls == ["spare"]


async def test_an_uncapped_deployment_never_asks_the_service(service, monkeypatch) -> None:
    asked = []
    monkeypatch.setattr(
        counters.SharedCounters, "claim_deployment", lambda *a: asked.append(a) or True
    )
    r = route("r", "free")
    await routing.run(snapshot(r), r, Upstream(), [])
    routing.observe_tokens(r.deployments[0], 500)
    assert asked == [] and not background._tasks


async def test_an_unreachable_service_leaves_the_cap_to_this_process(
    socket_path, settings, monkeypatch, caplog
) -> None:
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)  # nobody listens there
    limits.reset()
    routing.reset()
    capped, r = capped_and_spare(rpm=2)
    upstream = Upstream()
    with caplog.at_level(logging.WARNING, logger="gateway.limits"):
        for _ in range(3):
            await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls == ["capped", "capped", "spare"]  # this process's count
    assert "counting in this worker only" in caplog.text
    limits.reset()
    routing.reset()


# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture
async def redis_caps(redis_limits, monkeypatch):
    """The limits' Redis database, seen from a process that is no server's worker."""
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    monkeypatch.setattr(deployment_caps, "wall", lambda: MINUTE * 60 + 15.0)
    routing.reset()
    yield redis_limits
    routing.reset()


@pytest.mark.services
async def test_redis_counts_a_deployments_requests_for_every_instance(redis_caps) -> None:
    capped, r = capped_and_spare(rpm=2)
    upstream = Upstream()
    await routing.run(snapshot(r), r, upstream, [])
    limits.reset()  # another instance: no local state, same Redis
    routing.reset()
    for _ in range(2):
        await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls == ["capped", "capped", "spare"]
    name = redis_counters.RedisCounters.deployment_name(capped.id, MINUTE)
    assert int(await redis_caps.hget(name, "requests")) == 2
    assert 0 < await redis_caps.ttl(name) <= 120


@pytest.mark.services
async def test_redis_counts_a_deployments_tokens_for_every_instance(redis_caps) -> None:
    capped, r = capped_and_spare(tpm=1000)
    upstream = Upstream()
    await routing.run(snapshot(r), r, upstream, [])
    routing.observe_tokens(capped, 1500)
    await background.done()
    limits.reset()  # another instance
    routing.reset()
    await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls == ["capped", "spare"]
