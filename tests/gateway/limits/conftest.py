"""Fixtures the limits tests share: this process's counters on a clock of their own, the
request log without spend, the counter service, every backend (``workers``) and a
gateway whose one paid route answers from a mock upstream."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import httpx
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.counters import SOCKET_ENV
from gateway.limits import counters, limits, redis_counters, spend
from gateway.server.counter_service import CounterService
from tests.gateway.entries import deployment, route, snapshot
from tests.gateway.limits.test_budget_holds import REDIS_URL
from tests.gateway.limits.test_limits import START, Clock


@pytest.fixture
def clock(monkeypatch, settings) -> Clock:
    """This process's counters (no counter service named), on a clock of our own."""
    settings.REDIS_URL = ""
    fake = Clock()
    monkeypatch.setattr(spend, "now", fake)
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    limits.reset()
    yield fake
    limits.reset()


@pytest.fixture
def no_spend_yet(monkeypatch):
    """The request log holds no spend for anyone (no database needed)."""

    async def nothing(counter_id, start):  # type: ignore[no-untyped-def]
        return Decimal("0")

    monkeypatch.setattr(spend, "load_counter_spend", nothing)


@pytest.fixture
def service(socket_path):
    """The counter service of ``serve --workers N`` (named by the test)."""
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def redis_db(own_redis):
    """Redis, with this test's keys under a prefix of its own (skipped without Redis)."""
    return await own_redis(REDIS_URL)


@pytest.fixture(params=["memory", "counter service", "redis"])
def workers(request, clean, socket_path):
    """Two workers' backends sharing one store (one backend for this process alone)."""
    if request.param == "memory":
        yield [limits.memory]
    elif request.param == "counter service":
        running = CounterService(socket_path)
        running.start()
        yield [counters.SharedCounters(socket_path), counters.SharedCounters(socket_path)]
        running.stop()
    else:
        request.getfixturevalue("redis_db")
        yield [redis_counters.RedisCounters(REDIS_URL), redis_counters.RedisCounters(REDIS_URL)]


@pytest.fixture
def gateway(clean, monkeypatch, snapshot_reset):
    """Route "paid" (one deployment, $10/M tokens) answering from a mock upstream that
    notes the key's hold as each request reaches it: (state, journal records); set
    ``state["key"]`` before asking, ``state["status"]`` to make the upstream fail."""
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    paid = dataclasses.replace(
        route("paid", "up-1", max_attempts=1),
        deployments=(
            deployment("paid", "up-1", input_price=Decimal("10"), output_price=Decimal("10")),
        ),
    )
    registry.install(snapshot(paid))
    state = {"status": 200, "holds_seen": []}

    def upstream(request: httpx.Request) -> httpx.Response:
        k = state["key"]
        state["holds_seen"].append(limits.memory.store.holds.held(k.id, "total", START))
        if state["status"] != 200:
            return httpx.Response(state["status"], json={"error": {"message": "broke"}})
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "up-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "hi"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            },
        )

    http.use_transport(httpx.MockTransport(upstream))
    yield state, recorded
    http.use_transport(None)
