"""The counter service's book of registry changes (``gateway.access.registry_book``) in
process, and a change made through one worker of ``serve --workers 2`` (no Redis, the
poll set to a minute) holding on every worker by the time its answer is sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from gateway.access.registry_book import RegistryBook
from tests.live import MASTER_KEY, Gateway, running_gateway


def test_a_watch_waits_for_a_change_and_says_its_number() -> None:
    book, now = RegistryBook(), time.time()
    assert book.watch("a", -1, now, 5) == ["ok", 0]  # a new watcher learns where it stands
    assert book.watch("a", 0, now, 5) is None  # held: nothing new
    assert book.changed() == ["ok", 1]
    assert book.watch("a", 0, now, 5) == ["ok", 1]
    assert book.watch("a", 1, now - 10, 5) == ["ok", 1]  # its wait is over: answered


def test_settled_once_every_watching_worker_built_the_change() -> None:
    book, now = RegistryBook(), time.time()
    for worker in ("a", "b"):
        book.watch(worker, 0, now, 5)
    (_, change) = book.changed()
    assert book.settled(change, now, 5) is None
    book.built_since("a", change)
    assert book.settled(change, now, 5) is None  # b has not
    assert book.settled(change, now - 10, 5) == ["ok", False]  # nor in time
    book.built_since("b", change)
    assert book.settled(change, now, 5) == ["ok", True]
    book.changed()
    book.gone("a")
    book.gone("b")  # workers gone: nobody left to wait for
    assert book.settled(2, now, 5) == ["ok", True]


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
