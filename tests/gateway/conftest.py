"""Fixtures shared by the gateway tests."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gateway.base.counters import SOCKET_ENV
from gateway.limits import limits, spend, subjects
from gateway.routing import routing


@pytest.fixture
def socket_path():
    """Where a counter service may listen: a short path (Unix socket paths must fit in
    108 bytes; tmp_path may not)."""
    folder = tempfile.mkdtemp(prefix="sy-", dir="/tmp")
    yield os.path.join(folder, "limits.sock")
    shutil.rmtree(folder, ignore_errors=True)


REDIS_URL = "redis://127.0.0.1:6379/14"
START = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC).timestamp()  # the limits tests' now


@pytest.fixture
def redis_prefix(monkeypatch) -> str:
    """A key prefix of this test's own for what the limits, the shared cooldowns and the
    reasoning ledger keep in Redis (their ``REDIS_PREFIX`` patched for the test).

    Test files share the local Redis's 16 databases with each other and with other test
    runs at the same time, so none empties a database (FLUSHDB): each writes under a
    prefix no other run uses and deletes only its own keys (``own_redis``)."""
    from gateway.core import reasoning_ledger
    from gateway.routing import shared_cooldowns

    prefix = f"sy-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(subjects, "REDIS_PREFIX", f"{prefix}:limits")
    monkeypatch.setattr(shared_cooldowns, "REDIS_PREFIX", f"{prefix}:limits:cooldown")
    monkeypatch.setattr(reasoning_ledger, "REDIS_PREFIX", f"{prefix}:reason")
    return prefix


@pytest.fixture
async def own_redis(redis_prefix):
    """``await own_redis(url)``: a client of the Redis database at ``url`` (the test is
    skipped when Redis is not running); at the end the test's keys there are deleted."""
    import redis.asyncio as aioredis

    clients = []

    async def connect(url: str):
        client = aioredis.Redis.from_url(url)
        try:
            await client.ping()
        except Exception:
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        clients.append(client)
        return client

    yield connect
    for client in clients:
        names = [n async for n in client.scan_iter(match=f"{redis_prefix}:*", count=1000)]
        if names:
            await client.delete(*names)
        await client.aclose()


@pytest.fixture
async def redis_limits(settings, own_redis):
    """The limits counters in Redis (``settings.REDIS_URL`` points at a database of the
    limits tests), under the test's own key prefix; skipped when Redis is not running."""
    client = await own_redis(REDIS_URL)
    settings.REDIS_URL = REDIS_URL
    limits.reset()
    yield client
    limits.reset()


@pytest.fixture
def clean(settings, monkeypatch):
    """The limits backends fresh, their clock at ``START``, holds of 30 s, no spend in the
    request log (the limits and jobs tests)."""
    settings.REDIS_URL = ""
    settings.SWITCHYARD_BUDGET_HOLD_SECONDS = 30.0
    monkeypatch.setattr(spend, "now", lambda: START)
    monkeypatch.delenv(SOCKET_ENV, raising=False)

    async def no_spend(key_id, start):
        return Decimal(0)

    monkeypatch.setattr(spend, "load_spend", no_spend)
    limits.reset()
    yield
    limits.reset()


class FakeTime:
    """A clock routing reads and a sleep that only moves it (the sleeps kept)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch, settings) -> FakeTime:
    """Routing's clock and sleep faked (the routing tests, and the core tests that route)."""
    fake = FakeTime()
    monkeypatch.setattr(routing, "clock", fake.clock)
    monkeypatch.setattr(routing, "sleep", fake.sleep)
    routing.reset()
    routing.rng.seed(7)
    settings.SWITCHYARD_RETRY_BASE_SECONDS = 0.5
    settings.SWITCHYARD_COOLDOWN_FAILURES = 2
    settings.SWITCHYARD_COOLDOWN_WINDOW_SECONDS = 60
    settings.SWITCHYARD_COOLDOWN_SECONDS = 30
    yield fake
    routing.reset()


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal writer's retries after a database error in hundredths of a second
    (the journal's and the database work's tests)."""
    from gateway.journal import background

    monkeypatch.setattr(background, "MIN_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(background, "MAX_BACKOFF_SECONDS", 0.05)


@pytest.fixture
def gateway_journal(db: None) -> None:
    """The journal's rows the golden bills answer for (the bill reconciliation's tests,
    ``/api/bill-drift``'s and the command's)."""
    from tests.gateway.features.billing.bill_drift_rows import journal_rows

    journal_rows()


@pytest.fixture
def openai_bill(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """OpenAI's costs and usage API on 127.0.0.1 answering the golden pages, its admin
    key and address set."""
    from tests.gateway.features.billing.bill_drift_rows import admin_api

    with admin_api("openai", monkeypatch) as server:
        yield server
