"""A registry change holds everywhere by the time its writer answers
(``gateway.access.registry_settle``): with Redis, the writer waits for every other
process's mark of the version it built (a real Redis database of the test's own); without,
the workers of one ``serve --workers 2`` (the poll set to a minute, so nothing else could
do it) refuse a key revoked through either the moment the revocation is answered. Two
instances on PostgreSQL and Redis: ``tests/integration/test_database_restart_live.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from gateway.access import registry_settle
from tests.live import MASTER_KEY, Gateway, running_gateway
from tests.own_redis import own_redis_database


@pytest.fixture
def marks(settings) -> Iterator[redis.Redis]:
    with own_redis_database() as url:
        settings.REDIS_URL = url
        client = redis.Redis.from_url(url)
        yield client
        client.close()


def test_the_writer_waits_for_the_other_processes_marks(marks: redis.Redis) -> None:
    elsewhere = registry_settle.MARKS + "elsewhere:1"
    marks.set(elsewhere, 4, ex=5)
    marks.set(registry_settle.OWN, 1, ex=5)  # its own: it rebuilt already, never waited for
    threading.Timer(0.3, lambda: marks.set(elsewhere, 5, ex=5)).start()
    started = time.monotonic()
    registry_settle.settle(5)
    assert 0.25 < time.monotonic() - started < registry_settle.SETTLE_SECONDS


def test_a_process_that_does_not_catch_up_costs_the_writer_a_second_at_most(
    marks: redis.Redis,
) -> None:
    marks.set(registry_settle.MARKS + "stuck:1", 4, ex=5)
    started = time.monotonic()
    registry_settle.settle(5)
    waited = time.monotonic() - started
    assert registry_settle.SETTLE_SECONDS <= waited < registry_settle.SETTLE_SECONDS + 0.5
    marks.delete(registry_settle.MARKS + "stuck:1")  # gone (its mark expired): no wait
    started = time.monotonic()
    registry_settle.settle(5)
    assert time.monotonic() - started < 0.2


async def test_a_watcher_marks_what_it_built_for_a_while(marks: redis.Redis) -> None:
    built = registry_settle.BuiltMarks.for_this_process()
    assert built is not None
    await built.mark(7)
    assert marks.get(registry_settle.OWN) == b"7"
    assert 0 < marks.ttl(registry_settle.OWN) <= built.ttl


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {
        "SWITCHYARD_REGISTRY_POLL_SECONDS": "60",
        "SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS": "60",
    }
    folder: Path = tmp_path_factory.mktemp("registry-workers")
    with running_gateway(folder, env=env, workers=2) as gateway:
        yield gateway


def _asked_at_once(client: httpx.Client, key: str, times: int = 8) -> list[int]:
    """``times`` requests in parallel: as many connections, spread over the workers."""
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}

    def ask(_: int) -> int:
        headers = {"authorization": f"Bearer {key}"}
        return client.post("/v1/chat/completions", json=body, headers=headers).status_code

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(ask, range(times)))


def test_a_key_revoked_through_one_worker_is_refused_by_every_worker_at_once(gw: Gateway) -> None:
    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    with httpx.Client(base_url=gw.url, limits=limits, timeout=20) as client:
        made = client.post("/api/keys/", json={"name": "soon revoked"}, headers=admin)
        assert made.status_code == 201, made.text
        key, key_id = made.json()["key"], made.json()["id"]
        assert _asked_at_once(client, key) == [200] * 8
        revoked = client.post(f"/api/keys/{key_id}/revoke", headers=admin)
        assert revoked.status_code == 200, revoked.text
        for _ in range(3):
            assert _asked_at_once(client, key) == [401] * 8
