"""The quick start's SQLite never fails a write (#43): two workers changing routes and
teams through /api, their journal writers logging /v1 requests, and a third writer that
holds the database's write lock for a second at a time (as retention pruning or a
``manage.py`` command in another process does) all write at once. Each write waits its
turn (``settings._database``: ``timeout`` 20 s, ``BEGIN IMMEDIATE``): no answer is a
500, no "database is locked" reaches the log, every request is journaled."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest

from tests.live import SQLITE_NAME, Gateway, running_gateway

pytestmark = pytest.mark.timeout(300)
ROUNDS = 12  # per management thread
CHATS = 40


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"SWITCHYARD_JOURNAL_FLUSH_SECONDS": "0.1"}
    with running_gateway(tmp_path_factory.mktemp("sqlite"), env=env, workers=2) as gw:
        yield gw


def _lock_holder(gateway: Gateway, stop: threading.Event, held: list[float]) -> None:
    """Another connection (as another process would be) taking the write lock for a
    second, again and again, until ``stop``."""
    path = gateway.data_dir / SQLITE_NAME
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        while not stop.is_set():
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE gateway_route SET description = description WHERE 0")
            started = time.monotonic()
            time.sleep(1.0)
            db.execute("COMMIT")
            held.append(time.monotonic() - started)
            time.sleep(0.2)


def _management(gateway: Gateway, worker: int, route_id: int) -> list[tuple[str, int]]:
    answers = []
    with httpx.Client(
        base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.master_key}"}, timeout=60
    ) as api:
        for n in range(ROUNDS):
            patched = api.patch(f"/api/routes/{route_id}", json={"description": f"w{worker} {n}"})
            answers.append(("PATCH route", patched.status_code))
            team = api.post("/api/teams/", json={"name": f"contention-{worker}-{n}"})
            answers.append(("POST team", team.status_code))
            if team.status_code == 201:
                gone = api.delete(f"/api/teams/{team.json()['id']}")
                answers.append(("DELETE team", gone.status_code))
    return answers


def _chat(gateway: Gateway, n: int) -> int:
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway.master_key}"},
        json={"model": "echo", "messages": [{"role": "user", "content": f"hello {n}"}]},
        timeout=60,
    )
    return answer.status_code


def _journaled(gateway: Gateway) -> int:
    with closing(sqlite3.connect(gateway.data_dir / SQLITE_NAME, timeout=30)) as db:
        row = db.execute("SELECT COUNT(*) FROM gateway_requestlog WHERE route = 'echo'").fetchone()
    return int(row[0])


def test_writers_wait_for_the_lock_and_none_fails(gateway: Gateway) -> None:
    routes = httpx.get(
        f"{gateway.url}/api/routes/", headers={"Authorization": f"Bearer {gateway.master_key}"}
    ).json()
    route_id = next(r["id"] for r in routes if r["name"] == "echo")
    stop, held = threading.Event(), []
    holder = threading.Thread(target=_lock_holder, args=(gateway, stop, held), daemon=True)
    holder.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            managed = [pool.submit(_management, gateway, w, route_id) for w in range(3)]
            chats = [pool.submit(_chat, gateway, n) for n in range(CHATS)]
            answers = [a for f in managed for a in f.result()]
            statuses = [f.result() for f in chats]
    finally:
        stop.set()
        holder.join(timeout=10)
    assert len(held) >= 2, "the third writer never held the lock while the others wrote"
    refused = [(what, status) for what, status in answers if status >= 300]
    assert not refused, refused
    assert len(answers) == 3 * ROUNDS * 3
    assert statuses == [200] * CHATS, statuses
    deadline = time.monotonic() + 20
    while _journaled(gateway) < CHATS and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _journaled(gateway) == CHATS
    log = gateway.log()
    assert "database is locked" not in log and "OperationalError" not in log, log[-6000:]
