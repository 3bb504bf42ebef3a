"""Cooldowns reached by every worker at once (issue #40): the store announces each change
(the counter service answers the watch each worker keeps waiting there, Redis publishes),
and a deployment known to fail is checked in the store before an attempt, so that a
deployment is cooled everywhere within the threshold's 3 failed requests, not 5."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.base.counters import SOCKET_ENV, CounterClient
from gateway.limits import limits
from gateway.routing import routing, shared_cooldowns
from gateway.routing.cooldown_book import CooldownBook
from gateway.server.counter_service import CounterService
from tests.gateway.entries import route, snapshot
from tests.gateway.routing.test_routing import Upstream, server_error
from tests.gateway.routing.test_shared_cooldowns import Worker, policy, settle

REDIS_URL = "redis://127.0.0.1:6379/12"  # keys under a prefix of each test's own


# --- the book's watch --------------------------------------------------------------------------


def test_the_watch_waits_until_the_book_changes_or_its_time_is_up() -> None:
    book = CooldownBook()
    now = time.time()
    first = book.watch(-1, now, 60, 5)  # a new watcher is answered at once
    assert first == ["ok", 0, []]
    assert book.watch(0, now, 60, 5) is None  # nothing new: it waits
    book.failed(7, now, 3, 60, 30, False, False)
    assert book.watch(0, now, 60, 5) == ["ok", 1, [[7, None, 1]]]
    assert book.watch(1, now - 10, 60, 5) == ["ok", 1, [[7, None, 1]]]  # time is up
    book.succeeded(8)  # nothing known of it: no news
    assert book.watch(1, now, 60, 5) is None
    book.succeeded(7)
    assert book.watch(1, now, 60, 5) == ["ok", 2, []]


def test_the_state_of_one_deployment() -> None:
    book = CooldownBook()
    assert book.state(7, 100.0, 60) == ["ok", None, 0]
    book.failed(7, 100.0, 3, 60, 30, False, False)
    assert book.state(7, 101.0, 60) == ["ok", None, 1]
    book.failed(7, 101.0, 3, 60, 30, False, False)
    book.failed(7, 102.0, 3, 60, 30, False, False)
    assert book.state(7, 110.0, 60) == ["ok", 22.0, 0]


# --- the counter service holds a watch until a change --------------------------------------------


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    settings.REDIS_URL = ""
    settings.SWITCHYARD_COOLDOWN_REFRESH_SECONDS = 5  # only news can explain a quick view
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    limits.reset()
    routing.reset()
    yield running
    limits.reset()
    routing.reset()
    running.stop()


async def test_a_held_watch_is_answered_by_another_workers_failure(service, socket_path) -> None:
    watcher = CounterClient(socket_path, timeout=10)
    reporter = CounterClient(socket_path)
    version = (await watcher.call("cooldown_watch", -1, time.time(), 60, 5))[1]
    held = asyncio.ensure_future(watcher.call("cooldown_watch", version, time.time(), 60, 5))
    await asyncio.sleep(0.1)
    assert not held.done()
    assert await watcher.call("ping") == ["pong"]  # the connection still serves the others
    started = time.monotonic()
    await reporter.call("cooldown_failed", 9, time.time(), 3, 60, 30, False, False)
    assert (await asyncio.wait_for(held, 1))[2] == [[9, None, 1]]
    assert time.monotonic() - started < 0.1
    # a watch whose time is up answers even when nothing happens
    started = time.monotonic()
    await watcher.call("cooldown_watch", version + 1, time.time(), 60, 0.2)
    assert 0.15 < time.monotonic() - started < 0.5


async def test_every_worker_skips_a_deployment_after_three_failures_in_all(
    service, socket_path
) -> None:
    r = route("r", "dead", "sound", weights=[1000.0, 0.001])
    dead = r.deployments[0]
    upstream = Upstream(dead=[server_error(503)])
    await routing.run(snapshot(r), r, upstream, [])  # one failed request here
    await settle()
    other = CounterClient(socket_path)  # another worker's connection: two more
    for _ in range(2):
        await other.call("cooldown_failed", dead.id, time.time(), 3, 60, 30, False, False)
    await asyncio.sleep(0.05)
    # this worker never refreshed (every 5 s): the news reached it
    assert routing.health.cooling(dead.id, routing.clock())
    for _ in range(5):
        await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls.count("dead") == 1


async def test_a_deployment_known_to_fail_is_checked_before_an_attempt(service) -> None:
    r = route("r", "dead", "sound", weights=[1000.0, 0.001])
    dead = r.deployments[0]
    upstream = Upstream(dead=[server_error(503)])
    late = Worker()  # knows of a failure, but its news of the cooldown is late
    late.health.shared.add(dead.id)
    for _ in range(3):
        await routing.run(snapshot(r), r, upstream, [])
        await settle()
    assert upstream.calls.count("dead") == 3
    assert await late.run(r, upstream) == "ok from sound"
    assert upstream.calls.count("dead") == 3  # asked the store first: it cools
    assert late.health.cooling(dead.id, routing.clock())


async def test_a_cooldown_still_never_refuses_a_request(service) -> None:
    r = route("r", "dead", "sound", weights=[1000.0, 0.001])
    dead, sound = r.deployments
    upstream = Upstream(dead=[server_error(503)], sound=[server_error(503)])
    for _ in range(3):
        service.store.cooldowns.failed(dead.id, time.time(), 3, 60, 30, False, False)
    late = Worker()
    late.health.shared.add(dead.id)
    late.health.cool_until[sound.id] = routing.clock() + 30  # the other one cools here
    with pytest.raises(Exception):  # noqa: B017  (both fail: the upstream's error)
        await late.run(r, upstream)
    assert "dead" in upstream.calls  # cooled, but the last one left: tried anyway


# --- Redis announces each change ---------------------------------------------------------------


@pytest.fixture
async def redis_store(settings, monkeypatch, own_redis):
    client = await own_redis(REDIS_URL)
    settings.REDIS_URL = REDIS_URL
    settings.SWITCHYARD_COOLDOWN_REFRESH_SECONDS = 5
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    limits.reset()
    routing.reset()
    yield client
    routing.reset()
    limits.reset()


@pytest.mark.services
async def test_redis_announces_failures_and_successes(redis_store) -> None:
    news = redis_store.pubsub()
    await news.subscribe(shared_cooldowns.news_channel())
    await news.get_message(timeout=1)  # the subscription's confirmation
    backend = limits.shared_backend()
    await shared_cooldowns._failed(backend, 42, policy(), False, False)
    message = await news.get_message(ignore_subscribe_messages=True, timeout=1)
    assert message is not None and message["data"] == b"42"
    await shared_cooldowns._succeeded(backend, 42)
    message = await news.get_message(ignore_subscribe_messages=True, timeout=1)
    assert message is not None and message["data"] == b"42"
    assert await shared_cooldowns._state(backend, 42, 60) == (None, 0)
    await news.aclose()


@pytest.mark.services
async def test_redis_news_reaches_every_instance_before_its_next_request(redis_store) -> None:
    r = route("r", "dead", "sound", weights=[1000.0, 0.001])
    dead = r.deployments[0]
    upstream = Upstream(dead=[server_error(503)])
    await routing.run(snapshot(r), r, upstream, [])  # one failed request; subscribes
    await settle()
    await asyncio.sleep(0.1)
    p = policy()
    for _ in range(2):  # another instance's two failed requests
        await shared_cooldowns._failed(limits.shared_backend(), dead.id, p, False, False)
    await asyncio.sleep(0.05)
    assert routing.health.cooling(dead.id, routing.clock())  # no refresh for 5 s: the news
    for _ in range(5):
        await routing.run(snapshot(r), r, upstream, [])
    assert upstream.calls.count("dead") == 1
