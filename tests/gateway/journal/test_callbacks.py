"""Request callbacks (gateway.journal.callbacks): each journaled request reaches every
callback as a read-only outcome, in a thread of their own. A slow callback holds up no
request and a raising one reaches none; with no callback registered the journal does
not even call the dispatcher."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import hooks
from gateway.base.entries import MASTER, ProviderEntry
from gateway.base.plugins import RequestOutcome
from gateway.core import service
from gateway.journal import Record, Writer, callbacks
from tests.gateway.entries import route, snapshot

ECHO = ProviderEntry(2, "echo", "echo", "", "", {}, "", None)


@pytest.fixture(autouse=True)
def dispatcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[callbacks.Dispatcher]:
    """A dispatcher of the test's own, a writer that stores nothing, and no callback
    left registered after the test."""
    monkeypatch.setattr(journal, "_writer", Writer(lambda batch: [], capacity=100, notify=False))
    fresh = callbacks.Dispatcher()
    monkeypatch.setattr(callbacks, "DISPATCHER", fresh)
    yield fresh
    for callback in list(hooks.request_callbacks):
        callbacks.unregister(callback)
    assert fresh.observe not in journal._subscribers


def test_with_no_callback_the_journal_never_calls_the_dispatcher(
    dispatcher: callbacks.Dispatcher,
) -> None:
    assert dispatcher.observe not in journal._subscribers
    journal.record(Record(request_id="r0", status=200))
    assert dispatcher.stats() == {"queued": 0, "delivered": 0, "dropped": 0, "failures": 0}
    got: list[RequestOutcome] = []
    callbacks.register(got.append)  # the control: one callback, and it is called
    journal.record(Record(request_id="r1", status=200))
    assert dispatcher.flush(5) and [o.request_id for o in got] == ["r1"]
    callbacks.unregister(got.append)
    assert dispatcher.observe not in journal._subscribers


def test_the_outcome_says_what_a_logger_needs_and_is_read_only() -> None:
    ok = Record(
        request_id="a", key_id=7, key_name="ci", endpoint="chat", route="fast",
        provider="oa", upstream_model="gpt-x", status=200, input_tokens=11,
        output_tokens=5, cache_read_tokens=2, cost_usd=Decimal("0.0012"),
        latency_ms=81.5, ttft_ms=20.0, stream=True, tags=("team:a",),
    )  # fmt: skip
    outcome = callbacks.outcome(ok)
    assert outcome.success and (outcome.status, outcome.error) == (200, "")
    assert (outcome.model, outcome.route, outcome.key_id, outcome.provider) == (
        "gpt-x", "fast", 7, "oa",
    )  # fmt: skip
    assert (outcome.input_tokens, outcome.output_tokens, outcome.cache_read_tokens) == (11, 5, 2)
    assert outcome.cost_usd == Decimal("0.0012") and outcome.latency_ms == 81.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.status = 500  # type: ignore[misc]
    failed = callbacks.outcome(
        Record(request_id="b", status=429, error_kind="rate_limit", error_message="too many")
    )
    assert not failed.success and (failed.error_kind, failed.error) == ("rate_limit", "too many")
    assert not callbacks.outcome(Record(request_id="c", status=200, error_kind="upstream")).success


@pytest.fixture
def echo_route(snapshot_reset: None) -> None:
    registry.install(snapshot(route("m", "echo-1", max_attempts=1, provider=ECHO)))


async def ask(text: str) -> Any:
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
    return await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))


async def test_a_slow_callback_holds_up_no_request(
    dispatcher: callbacks.Dispatcher, echo_route: None
) -> None:
    release = threading.Event()
    got: list[RequestOutcome] = []

    def slow(outcome: RequestOutcome) -> None:
        release.wait(10)  # stuck until the requests are answered
        got.append(outcome)

    callbacks.register(slow)
    try:
        started = time.perf_counter()
        replies = [await ask(f"hello {n}") for n in range(3)]
        took = time.perf_counter() - started
        assert [r.status for r in replies] == [200, 200, 200]
        assert b"Echo: hello 2" in bytes(replies[2].body)
        assert took < 5 and got == []  # answered while the callback is still stuck
    finally:
        release.set()
    assert dispatcher.flush(5)
    assert [o.success for o in got] == [True] * 3 and {o.route for o in got} == {"m"}
    assert got[0].model == "echo-1" and got[0].key_id == MASTER.id and got[0].output_tokens > 0


async def test_a_raising_callback_reaches_no_request_nor_the_next_callback(
    dispatcher: callbacks.Dispatcher, echo_route: None, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(outcome: RequestOutcome) -> None:
        raise RuntimeError("logger down")

    got: list[RequestOutcome] = []
    callbacks.register(broken)
    callbacks.register(got.append)
    first, second = await ask("one"), await ask("two")
    assert (first.status, second.status) == (200, 200)
    assert dispatcher.flush(5)
    assert len(got) == 2 and dispatcher.stats()["failures"] == 2
    assert "logger down" in caplog.text


def test_a_full_queue_drops_the_outcome_and_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    small = callbacks.Dispatcher(size=1)
    monkeypatch.setattr(callbacks, "DISPATCHER", small)
    release = threading.Event()
    callbacks.register(lambda outcome: release.wait(10))
    try:
        for n in range(5):  # one being called back, one queued, three dropped
            journal.record(Record(request_id=f"q{n}", status=200))
        assert small.dropped >= 3
    finally:
        release.set()
    assert small.flush(5)
    assert small.delivered + small.dropped == 5
