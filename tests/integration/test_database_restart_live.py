"""Two ``serve --workers 2`` instances on a PostgreSQL server of the test's own and the
local Redis (issue #25, faults at scale):

- after PostgreSQL stops and comes back, a route edit through one instance reaches every
  worker of the other within 2 s and a new key works there; each worker logged the
  outage once and its end once (it used to fail forever: "the connection is closed");
- a key or route created on one instance works at once on the other (no 401, no 404),
  and a key revoked through one is refused by every worker of both by the time it answers;
- each worker holds at most SWITCHYARD_DB_POOL_SIZE connections under concurrent load.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.live import Gateway, running_gateway
from tests.own_postgres import OwnPostgres, own_postgres
from tests.own_redis import own_redis_database

pytestmark = pytest.mark.services

WORKERS = 2
POOL_SIZE = 2
OUTAGE_SECONDS = 4.5  # longer than the pool's wait (3 s) plus a poll: every watcher fails
WATCHER_DOWN = "registry watcher: database unavailable"
WATCHER_BACK = "registry watcher: database reachable again"


@dataclass
class Cluster:
    postgres: OwnPostgres
    database: str
    a: Gateway
    b: Gateway


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with own_redis_database() as url:
        yield url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_url) -> Iterator[Cluster]:
    with own_postgres() as postgres:
        database = "switchyard"
        url = postgres.create_database(database)
        env = {"REDIS_URL": redis_url, "SWITCHYARD_DB_POOL_SIZE": str(POOL_SIZE)}
        # each instance names its connections, so pg_stat_activity tells them apart
        env_a = {**env, "DATABASE_URL": f"{url}?application_name=switchyard-a"}
        env_b = {**env, "DATABASE_URL": f"{url}?application_name=switchyard-b"}
        with (
            running_gateway(tmp_path_factory.mktemp("a"), env=env_a, workers=WORKERS) as a,
            running_gateway(
                tmp_path_factory.mktemp("b"), env=env_b, seed=False, workers=WORKERS
            ) as b,
        ):
            for gateway in (a, b):
                assert chat(gateway, gateway.master_key).status_code == 200, gateway.log()
            yield Cluster(postgres, database, a, b)


def api(gateway: Gateway) -> httpx.Client:
    return httpx.Client(
        base_url=gateway.url + "/api",
        headers={"Authorization": f"Bearer {gateway.master_key}"},
        timeout=15,
    )


def chat(gateway: Gateway, key: str, model: str = "echo") -> httpx.Response:
    """One request on a new connection (so requests spread over the workers)."""
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "Connection": "close"},
        json={"model": model, "messages": [{"role": "user", "content": "hello"}]},
        timeout=15,
    )


def made_key(client: httpx.Client) -> dict:
    """A new key made through ``client`` (an ``api``): its row as /api answers it."""
    reply = client.post("/keys/", json={"name": f"k-{uuid.uuid4().hex[:8]}"})
    assert reply.status_code == 201, reply.text
    return reply.json()


def create_key(gateway: Gateway) -> str:
    with api(gateway) as client:
        return made_key(client)["key"]


def at_once(calls: int, fn) -> list:  # type: ignore[no-untyped-def]
    with concurrent.futures.ThreadPoolExecutor(calls) as pool:
        return list(pool.map(lambda _: fn(), range(calls)))


def edit_reply(gateway: Gateway, route_name: str) -> str:
    """Give the echo deployment of ``route_name`` a new fixed reply; returns it."""
    text = f"edited-{uuid.uuid4().hex[:8]}"
    with api(gateway) as client:
        route = next(r for r in client.get("/routes/").json() if r["name"] == route_name)
        deployment = route["deployments"][0]
        patched = client.patch(
            f"/routes/{route['id']}/deployments/{deployment['id']}",
            json={"params": {"reply": text}},
        )
    assert patched.status_code == 200, patched.text
    return text


def seconds_until_every_worker_replies(gateway: Gateway, route: str, text: str) -> float:
    """Seconds until the first of 10 requests in a row (each on its own connection, so
    both workers answer some) that all reply ``text``: from then on no worker served
    the old route. Fails after 5 s."""
    started = time.monotonic()
    streak, streak_began = 0, 0.0
    while streak < 10:
        if time.monotonic() - started > 5:
            pytest.fail(f"{gateway.url} still served the old route after 5 s:\n{gateway.log()}")
        sent = time.monotonic()
        answer = chat(gateway, gateway.master_key, model=route)
        ok = answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == text
        if ok and streak == 0:
            streak_began = sent
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.02)
    return streak_began - started


class WarmClients:
    """``count`` open connections to ``gateway`` (so a request goes out the moment it
    is asked for, with no connect in between), spread over its workers."""

    def __init__(self, gateway: Gateway, count: int) -> None:
        self.clients = [httpx.Client(base_url=gateway.url, timeout=15) for _ in range(count)]
        for client in self.clients:
            assert client.get("/health/liveliness").status_code == 200
        self.pool = concurrent.futures.ThreadPoolExecutor(count)

    def chat(self, key: str, model: str = "echo") -> list[int]:
        """One chat per connection, all at once; their statuses."""

        def one(client: httpx.Client) -> int:
            reply = client.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            )
            return reply.status_code

        return list(self.pool.map(one, self.clients))

    def close(self) -> None:
        self.pool.shutdown()
        for client in self.clients:
            client.close()


def bad_key_flood(gateway: Gateway, stop: threading.Event) -> None:
    """Unknown keys at ``gateway`` until ``stop``: each makes its workers check the
    registry, the traffic a key created elsewhere has to get through."""
    with httpx.Client(base_url=gateway.url, timeout=15) as client:
        while not stop.is_set():
            client.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer sy-wrong-{uuid.uuid4().hex}"},
                json={"model": "echo", "messages": [{"role": "user", "content": "x"}]},
            )


def test_a_new_key_works_at_once_on_the_other_instance(cluster) -> None:
    """A key created through A, used on B's warm connections the moment A answered,
    while unknown keys keep B's workers checking: never a 401 (it was, 6 of 240)."""
    a, b = cluster.a, cluster.b
    warm = WarmClients(b, 5)
    stop = threading.Event()
    flood = threading.Thread(target=bad_key_flood, args=(b, stop))
    flood.start()
    statuses: list[int] = []
    try:
        with api(a) as client:
            for _ in range(10):
                statuses += warm.chat(made_key(client)["key"])
    finally:
        stop.set()
        flood.join()
        warm.close()
    assert len(statuses) == 50
    assert statuses.count(401) == 0, statuses
    assert set(statuses) == {200}, statuses


def test_a_key_revoked_through_one_instance_is_refused_everywhere_at_once(cluster) -> None:
    """A's answer to the revocation waits until every worker of both instances has
    rebuilt (``gateway.access.registry_settle``): B's warm connections, asked the moment
    it came, never serve the revoked key."""
    a, b = cluster.a, cluster.b
    warm = [WarmClients(b, 4), WarmClients(a, 4)]
    statuses: list[int] = []
    try:
        with api(a) as client:
            for _ in range(5):
                made = made_key(client)
                key = made["key"]
                assert [s for w in warm for s in w.chat(key)] == [200] * 8
                revoked = client.post(f"/keys/{made['id']}/revoke")
                assert revoked.status_code == 200, revoked.text
                statuses += [s for w in warm for s in w.chat(key)]
    finally:
        for clients in warm:
            clients.close()
    assert statuses == [401] * 40, statuses


def test_a_new_route_works_at_once_on_the_other_instance(cluster) -> None:
    """A route created through A, asked for on B's warm connections the moment A
    answered: never a 404 (it was, for about 0.2 s)."""
    a, b = cluster.a, cluster.b
    warm = WarmClients(b, 5)
    statuses: list[int] = []
    try:
        with api(a) as client:
            echo = next(r for r in client.get("/routes/").json() if r["name"] == "echo")
            provider = echo["deployments"][0]["provider"]
            for _ in range(6):
                name = f"fresh-{uuid.uuid4().hex[:8]}"
                created = client.post(
                    "/routes/",
                    json={"name": name, "deployments": [{"provider": provider, "model": "m"}]},
                )
                assert created.status_code == 201, created.text
                statuses += warm.chat(b.master_key, model=name)
    finally:
        warm.close()
    assert statuses.count(404) == 0, statuses
    assert set(statuses) == {200}, statuses


def test_connections_per_worker_stay_within_the_pool(cluster) -> None:
    """Console API reads, new keys and chats (journal writes) on both workers of A at
    once: the server never sees more than workers x pool size connections from it."""
    a = cluster.a
    before = cluster.postgres.connections("switchyard-a")
    most = {"seen": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            most["seen"] = max(most["seen"], cluster.postgres.connections("switchyard-a"))
            time.sleep(0.02)

    def load() -> None:
        with api(a) as client:
            for _ in range(2):
                assert client.get("/routes/").status_code == 200
                assert client.get("/logs/").status_code == 200
                assert client.get("/keys/").status_code == 200
                assert chat(a, a.master_key).status_code == 200
                assert chat(a, "sy-not-a-key").status_code == 401

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        at_once(12, load)
        create_key(a)
    finally:
        done.set()
        sampler.join()
    bound = WORKERS * POOL_SIZE  # the supervisor holds none
    print(f"connections before {before}, most under load {most['seen']} (bound {bound})")
    assert 0 < most["seen"] <= bound


def test_after_a_database_restart_edits_and_new_keys_reach_every_worker(cluster) -> None:
    """Last in the module: the tests above see no outage."""
    a, b = cluster.a, cluster.b
    cluster.postgres.stop()
    time.sleep(OUTAGE_SECONDS)
    cluster.postgres.start()

    text = edit_reply(a, "echo-slow")
    elapsed = seconds_until_every_worker_replies(b, "echo-slow", text)
    print(f"route edit through A after the restart served by every worker of B in {elapsed:.2f}s")
    assert elapsed <= 2.0, b.log()

    key = create_key(a)
    statuses = at_once(10, lambda: chat(b, key).status_code) + [chat(a, key).status_code]
    assert set(statuses) == {200}, statuses

    for gateway in (a, b):  # each worker: one line when it went, one when it came back
        deadline = time.monotonic() + 5
        while gateway.log().count(WATCHER_BACK) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)
        log = gateway.log()
        assert log.count(WATCHER_DOWN) == WORKERS, log
        assert log.count(WATCHER_BACK) == WORKERS, log
        assert "the connection is closed" not in log.split(WATCHER_BACK)[-1], log
