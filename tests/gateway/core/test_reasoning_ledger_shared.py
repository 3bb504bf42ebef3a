"""The reasoning ledger shared by the workers of one ``serve`` without Redis, through
the supervisor's counter service: another worker (an empty local ledger) restores what
one recorded, scoped to the key, within the same bounds in entries and time; an
unreachable service is a miss, never an error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.base import background
from gateway.base.counters import SOCKET_ENV
from gateway.base.types import ChatRequest, Message, Text, Thinking, ToolCall, ToolResult
from gateway.core import reasoning_ledger
from gateway.limits import limits
from gateway.server.counter_service import CounterService
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


def loop(turns: int) -> ChatRequest:
    """A tool loop of ``turns`` assistant calls without reasoning (a model that does not
    reason): the request an agent resends, one turn longer each time."""
    messages = [Message("user", [Text("fix the test")])]
    for n in range(turns):
        messages.append(Message("assistant", [ToolCall(f"toolu_{n}", "run", {"n": n})]))
        messages.append(Message("user", [ToolResult(f"toolu_{n}", [Text("done")])]))
    return ChatRequest("m", messages)


@pytest.fixture
def asked(service, monkeypatch) -> list[list[list[str]]]:
    """The turns (their call ids) each ``ledger_get`` asks the service for."""
    seen: list[list[list[str]]] = []
    answer = service.store.answer

    def noting(request: list[Any]) -> list[Any] | None:
        if request[0] == "ledger_get":
            seen.append(request[2])
        return answer(request)

    monkeypatch.setattr(service.store, "answer", noting)
    return seen


async def test_a_turn_the_service_had_nothing_for_is_not_asked_for_again(asked) -> None:
    """An agent's loop without reasoning: each turn is asked for once, then only the
    newest (its reasoning may still be on its way from the worker that answered it)."""
    for turns in (3, 4, 5):
        assert await reasoning_ledger.restore(KEY_A, loop(turns)) == 0
    assert asked == [
        [["toolu_2"], ["toolu_1"], ["toolu_0"]],
        [["toolu_3"], ["toolu_2"]],
        [["toolu_4"], ["toolu_3"]],
    ]
    assert await reasoning_ledger.restore(KEY_B, loop(2)) == 0  # another key: its own
    assert asked[-1] == [["toolu_1"], ["toolu_0"]]


async def test_the_newest_turn_is_asked_for_until_its_reasoning_arrives(service, asked) -> None:
    """The next request may reach a worker before the answering worker's record reached
    the service: the newest turn's miss is not remembered, so it is found a turn later."""
    assert await reasoning_ledger.restore(KEY_A, continuation("toolu_1")) == 0  # not yet
    # the answering worker's record lands in the service now
    blob = [["I should look it up.", "sig-1", None]]
    assert service.store.answer(["ledger_put", "501", ["toolu_1"], blob, 10, 10**6, 60])
    later = continuation("toolu_1")
    later.messages += [
        Message("assistant", [ToolCall("toolu_9", "lookup", {"q": "y"})]),
        Message("user", [ToolResult("toolu_9", [Text("found")])]),
    ]
    assert await reasoning_ledger.restore(KEY_A, later) == 1
    assert later.messages[1].parts[0] == Thinking("I should look it up.", signature="sig-1")


async def test_a_service_that_did_not_answer_teaches_nothing(asked, monkeypatch) -> None:
    restore_from_service = reasoning_ledger._restore_from_service
    silent = [True]

    async def sometimes(*args: Any) -> int | None:
        return None if silent[0] else await restore_from_service(*args)

    monkeypatch.setattr(reasoning_ledger, "_restore_from_service", sometimes)
    assert await reasoning_ledger.restore(KEY_A, loop(3)) == 0  # (timed out, say)
    silent[0] = False
    assert await reasoning_ledger.restore(KEY_A, loop(3)) == 0
    assert asked == [[["toolu_2"], ["toolu_1"], ["toolu_0"]]]  # all asked for again


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(reasoning_ledger, "clock", lambda: now[0])
    return now


def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The call ids this worker's ledger is asked for from now on."""
    seen: list[str] = []
    book = reasoning_ledger.ledger()
    get = book.get

    def noting(scope: str, call_id: str) -> Any:
        seen.append(call_id)
        return get(scope, call_id)

    monkeypatch.setattr(book, "get", noting)
    return seen


async def test_a_settled_loop_is_walked_only_down_to_its_settled_turn(asked, monkeypatch) -> None:
    """Once every turn but the newest had nothing anywhere, the next request's walk
    stops at the newest of them: the older ones are neither looked up nor asked for."""
    assert await reasoning_ledger.restore(KEY_A, loop(30)) == 0
    seen = looked_up(monkeypatch)
    assert await reasoning_ledger.restore(KEY_A, loop(31)) == 0
    assert seen == ["toolu_30", "toolu_29"]  # down to toolu_28, settled
    assert asked[-1] == [["toolu_30"], ["toolu_29"]]
    assert await reasoning_ledger.restore(KEY_A, loop(32)) == 0
    assert seen[2:] == ["toolu_31", "toolu_30"]
    assert await reasoning_ledger.restore(KEY_B, loop(3)) == 0  # another key: its own
    assert asked[-1] == [["toolu_2"], ["toolu_1"], ["toolu_0"]]


async def test_a_settled_turn_lapses_when_this_worker_gains_reasoning_for_the_key(
    asked, monkeypatch
) -> None:
    for turns in (5, 6):
        assert await reasoning_ledger.restore(KEY_A, loop(turns)) == 0
    reasoning_ledger.record_response(KEY_A, answer(("toolu_1",)))  # below the settled turn
    request = loop(6)
    assert await reasoning_ledger.restore(KEY_A, request) == 1
    assert request.messages[3].parts[0] == Thinking("I should look it up.", signature="sig-1")


async def test_the_newest_turns_miss_is_final_after_the_grace(asked, clock, monkeypatch) -> None:
    """An agent's side requests, a retry, resend the same newest turn: asked for until
    ``NEWEST_GRACE`` seconds after its first miss, then no more, nor looked up."""
    assert await reasoning_ledger.restore(KEY_A, loop(3)) == 0
    clock[0] += reasoning_ledger.NEWEST_GRACE - 0.5
    assert await reasoning_ledger.restore(KEY_A, loop(3)) == 0
    assert asked == [[["toolu_2"], ["toolu_1"], ["toolu_0"]], [["toolu_2"]]]
    clock[0] += 0.5
    assert await reasoning_ledger.restore(KEY_A, loop(3)) == 0  # a miss: final now
    seen = looked_up(monkeypatch)
    assert await reasoning_ledger.restore(KEY_A, loop(3)) == 0
    assert asked == [[["toolu_2"], ["toolu_1"], ["toolu_0"]], [["toolu_2"]], [["toolu_2"]]]
    assert seen == []
    assert await reasoning_ledger.restore(KEY_A, loop(4)) == 0  # the next turn: asked
    assert asked[-1] == [["toolu_3"]]


async def test_the_same_newest_turn_finds_reasoning_that_lands_within_the_grace(
    service, asked, clock
) -> None:
    """Another worker's record that reaches the service after the newest turn's first
    miss is found by the next request that ends with that turn."""
    assert await reasoning_ledger.restore(KEY_A, continuation("toolu_1")) == 0
    clock[0] += reasoning_ledger.NEWEST_GRACE - 0.5
    blob = [["I should look it up.", "sig-1", None]]
    assert service.store.answer(["ledger_put", "501", ["toolu_1"], blob, 10, 10**6, 60])
    request = continuation("toolu_1")
    assert await reasoning_ledger.restore(KEY_A, request) == 1
    assert request.messages[1].parts[0] == Thinking("I should look it up.", signature="sig-1")


async def test_a_slow_service_is_a_miss_without_an_error(service, monkeypatch, caplog) -> None:
    """A ``ledger_get`` past its time (a loaded machine) is a miss: the service did not
    fail, and nothing is counted in this process instead, so nothing is logged."""
    reasoning_ledger.record_response(KEY_A, answer())
    await background.done()
    reasoning_ledger.reset()
    monkeypatch.setattr(reasoning_ledger, "REDIS_TIMEOUT", 0.01)
    shared = limits.shared_backend()
    real_ask = shared.ask

    async def slow(*request: Any) -> Any:
        if request[0] == "ledger_get":
            await asyncio.sleep(0.2)
        return await real_ask(*request)

    monkeypatch.setattr(shared, "ask", slow)
    with caplog.at_level("WARNING"):
        assert await reasoning_ledger.restore(KEY_A, continuation()) == 0
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
