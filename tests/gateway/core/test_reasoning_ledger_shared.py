"""The reasoning ledger shared by the workers of one ``serve`` without Redis, through
the supervisor's counter service: another worker (an empty local ledger) restores what
one recorded, scoped to the key, within the same bounds in entries and time; an
unreachable service is a miss, never an error."""

from __future__ import annotations

import asyncio

import pytest

from gateway.base import background
from gateway.base.counters import SOCKET_ENV
from gateway.core import reasoning_ledger
from gateway.core.ledger_book import SharedLedger
from gateway.policy import limits
from gateway.server.counter_service import CounterService
from gateway.types import Thinking
from tests.gateway.core.test_reasoning_ledger import KEY_A, KEY_B, answer, continuation


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    limits.reset()
    reasoning_ledger.reset()
    yield running
    reasoning_ledger.reset()
    limits.reset()
    running.stop()


async def test_another_worker_restores_it_from_the_counter_service(service) -> None:
    reasoning_ledger.record_response(KEY_A, answer(("toolu_1", "toolu_2")))
    await background.done()
    assert len(service.store.ledger.book) == 2  # one entry per call id
    reasoning_ledger.reset()  # another worker: an empty local ledger
    assert await reasoning_ledger.restore(KEY_B, continuation("toolu_2")) == 0  # scoped
    request = continuation("toolu_2", thinking=Thinking("I should look it up."))
    assert await reasoning_ledger.restore(KEY_A, request) == 1
    assert request.messages[1].parts[0] == Thinking("I should look it up.", signature="sig-1")
    assert reasoning_ledger.ledger().get("501", "toolu_2") is not None  # kept locally now


async def test_the_service_keeps_the_workers_bounds(service, settings) -> None:
    settings.SWITCHYARD_REASONING_LEDGER_ENTRIES = 2
    settings.SWITCHYARD_REASONING_LEDGER_TTL = 0.3
    for n in range(3):
        reasoning_ledger.record_response(KEY_A, answer((f"toolu_{n}",)))
    await background.done()
    book = service.store.ledger.book
    assert len(book) == 2 and book.get("501", "toolu_0") is None  # the oldest went
    reasoning_ledger.reset()
    assert await reasoning_ledger.restore(KEY_A, continuation("toolu_2")) == 1
    await asyncio.sleep(0.4)
    reasoning_ledger.reset()
    assert await reasoning_ledger.restore(KEY_A, continuation("toolu_1")) == 0  # expired


async def test_an_unreachable_service_is_a_miss(socket_path, settings, monkeypatch) -> None:
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)  # nobody listens there
    limits.reset()
    reasoning_ledger.reset()
    try:
        reasoning_ledger.record_response(KEY_A, answer())
        await background.done()
        assert await reasoning_ledger.restore(KEY_A, continuation()) == 1  # the local copy
        reasoning_ledger.reset()
        assert await reasoning_ledger.restore(KEY_A, continuation()) == 0
    finally:
        reasoning_ledger.reset()
        limits.reset()


def test_the_shared_book_answers_per_turn() -> None:
    shared = SharedLedger()
    blob = [["thought", "sig", None]]
    assert shared.answer("ledger_get", ["7", [["a"]]]) == ["ok", [None]]  # nothing yet
    assert shared.answer("ledger_put", ["7", ["a", "b"], blob, 10, 10_000, 60]) == ["ok"]
    got = shared.answer("ledger_get", ["7", [["x", "b"], ["y"], ["a"]]])
    assert got == ["ok", [blob, None, blob]]
    assert shared.answer("ledger_get", ["8", [["a"]]]) == ["ok", [None]]
    with pytest.raises(ValueError):
        shared.answer("ledger_drop", [])
