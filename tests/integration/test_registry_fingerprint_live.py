"""Registry changes no signal announced, on a PostgreSQL server of the test's own: a
``serve --workers 2`` instance (no Redis) serves a route edited with plain SQL and
refuses a key revoked with a queryset ``.update()`` within a few of its fingerprint
checks (``SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS``, 0.5 s here), on every worker,
although neither bumped the registry version; and after PostgreSQL stops and comes
back the check keeps going (one line when the database went, one when it came back,
per worker) and still finds such an edit. Before the check, both edits waited for the
next change saved through the ORM, however long."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests.live import Gateway, running_gateway
from tests.own_postgres import OwnPostgres, own_postgres

pytestmark = pytest.mark.services

WORKERS = 2
CHECK_SECONDS = 0.5
OUTAGE_SECONDS = 4.5  # longer than the pool's wait (3 s): every check in it fails
WITHIN_SECONDS = 10.0  # a few checks, with room for a loaded machine
DOWN = "registry fingerprint check: database unavailable"
BACK = "registry fingerprint check: database reachable again"


@dataclass
class Instance:
    postgres: OwnPostgres
    url: str  # the gateway's database
    gateway: Gateway


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with own_postgres() as postgres:
        url = postgres.create_database("switchyard")
        env = {
            "DATABASE_URL": url,
            "SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS": str(CHECK_SECONDS),
        }
        with running_gateway(tmp_path_factory.mktemp("gw"), env=env, workers=WORKERS) as gw:
            assert chat(gw, gw.master_key).status_code == 200, gw.log()
            yield Instance(postgres, url, gw)


def chat(gateway: Gateway, key: str, model: str = "echo") -> httpx.Response:
    """One request on a new connection (so requests spread over the workers)."""
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "Connection": "close"},
        json={"model": model, "messages": [{"role": "user", "content": "hello"}]},
        timeout=15,
    )


def edit_reply_with_sql(url: str, route: str) -> str:
    """Give ``route``'s deployment a fixed reply with plain SQL (no signal, no version
    bump); returns the reply."""
    text = f"by-sql-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as db:
        updated = db.execute(
            "UPDATE gateway_deployment SET params = jsonb_set(params, '{reply}', to_jsonb(%s::text))"
            " WHERE route_id = (SELECT id FROM gateway_route WHERE name = %s)",
            (text, route),
        ).rowcount
    assert updated == 1
    return text


def seconds_until_every_worker(gateway: Gateway, served: Callable[[], bool], what: str) -> float:
    """Seconds until the first of 10 requests in a row (each on its own connection, so
    both workers answer some) for which ``served()`` holds; fails after
    WITHIN_SECONDS."""
    started = time.monotonic()
    streak, streak_began = 0, 0.0
    while streak < 10:
        if time.monotonic() - started > WITHIN_SECONDS:
            pytest.fail(f"{what}: not on every worker after {WITHIN_SECONDS} s\n{gateway.log()}")
        sent = time.monotonic()
        ok = served()
        if ok and streak == 0:
            streak_began = sent
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.05)
    return streak_began - started


def replies(gateway: Gateway, route: str, text: str) -> Callable[[], bool]:
    def served() -> bool:
        answer = chat(gateway, gateway.master_key, model=route)
        return bool(
            answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == text
        )

    return served


def test_a_route_edited_with_sql_is_served_by_every_worker(instance) -> None:  # type: ignore[no-untyped-def]
    text = edit_reply_with_sql(instance.url, "echo-slow")
    elapsed = seconds_until_every_worker(
        instance.gateway, replies(instance.gateway, "echo-slow", text), "the SQL edit"
    )
    print(f"a route edited with SQL served by every worker in {elapsed:.2f} s")


def test_a_key_revoked_with_update_is_refused_by_every_worker(instance) -> None:  # type: ignore[no-untyped-def]
    gw = instance.gateway
    with httpx.Client(base_url=gw.url + "/api", timeout=15) as client:
        made = client.post(
            "/keys/",
            json={"name": f"k-{uuid.uuid4().hex[:8]}"},
            headers={"Authorization": f"Bearer {gw.master_key}"},
        )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert chat(gw, key).status_code == 200
    gw.shell(
        "from django.utils import timezone\n"
        "from gateway.models import ApiKey\n"
        f"print(ApiKey.objects.filter(key_hash=ApiKey.hash_key({key!r}))"
        ".update(revoked_at=timezone.now()))"
    )

    def refused() -> bool:
        return chat(gw, key).status_code == 401

    elapsed = seconds_until_every_worker(gw, refused, "the revocation by .update()")
    print(f"a key revoked with .update() refused by every worker in {elapsed:.2f} s")


def test_after_a_database_restart_the_check_goes_on(instance) -> None:  # type: ignore[no-untyped-def]
    """Last in the module: the tests above see no outage."""
    gw = instance.gateway
    instance.postgres.stop()
    time.sleep(OUTAGE_SECONDS)
    instance.postgres.start()
    text = edit_reply_with_sql(instance.url, "echo")
    seconds_until_every_worker(gw, replies(gw, "echo", text), "the SQL edit after the restart")
    deadline = time.monotonic() + 5
    while gw.log().count(BACK) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.1)
    log = gw.log()
    assert log.count(DOWN) == WORKERS, log
    assert log.count(BACK) == WORKERS, log
