"""``journal.held_until_written``: the HTTP edge's records go on after its reply is
written, never lost, and a record made once the reply is out goes on at once."""

from __future__ import annotations

import asyncio
import weakref

import pytest

from gateway import journal
from gateway.journal import Record
from tests.gateway.journal.records import told_of


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return told_of(monkeypatch)


def test_records_made_inside_go_on_when_the_block_ends_in_order(seen: list[str]) -> None:
    with journal.held_until_written():
        journal.record(Record(request_id="a"))
        journal.record(Record(request_id="b"))
        assert seen == [] and journal.writer().stats()["queued"] == 0
    assert seen == ["a", "b"]
    assert journal.writer().stats()["queued"] == 2
    journal.record(Record(request_id="c"))  # outside: at once
    assert seen == ["a", "b", "c"]


def test_a_failing_request_still_hands_its_records_on(seen: list[str]) -> None:
    with pytest.raises(asyncio.CancelledError), journal.held_until_written():
        journal.record(Record(request_id="cut"))
        raise asyncio.CancelledError
    assert seen == ["cut"]


async def test_a_task_the_request_started_records_at_once_after_the_reply(
    seen: list[str],
) -> None:
    """A task copies the request's context: what it records while the reply is being
    written waits with the request's records; what it records later is not lost."""
    go_on = asyncio.Event()

    async def mirror(name: str, wait: bool) -> None:
        if wait:
            await go_on.wait()
        journal.record(Record(request_id=name))

    with journal.held_until_written():
        early = asyncio.ensure_future(mirror("early", False))
        late = asyncio.ensure_future(mirror("late", True))
        await early
        journal.record(Record(request_id="own"))
    assert seen == ["early", "own"]
    go_on.set()
    await late
    assert seen == ["early", "own", "late"]


def test_completing_a_record_waits_for_the_reply_and_runs_at_once_elsewhere(
    seen: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    done: list[str] = []

    def complete(name: str) -> None:
        done.append(name)
        journal.record(Record(request_id=name))

    with journal.held_until_written():
        journal.record(Record(request_id="sub"))
        journal.when_written(lambda: complete("main"))
        journal.when_written(lambda: 1 / 0)  # logged; the others still go
        journal.when_written(lambda: complete("other"))
        assert done == [] and seen == []
    assert done == ["main", "other"]
    assert seen == ["sub", "main", "other"]  # in the order they were made
    assert "completing a request's record failed" in caplog.text
    journal.when_written(lambda: complete("outside"))
    assert done[-1] == "outside" and seen[-1] == "outside"


async def test_a_task_the_request_started_keeps_none_of_its_work_alive(seen: list[str]) -> None:
    """A task or timer started inside the block (a pooled connection's reader, a
    counter's flush) keeps a copy of the request's context for as long as it lives;
    what the block held (the call a completion closes over, with its 150 KB bodies)
    is let go once it was handed on, not kept with that copy."""

    class Call:
        pass

    call = Call()
    gone = weakref.ref(call)
    stay = asyncio.Event()
    with journal.held_until_written():
        lingering = asyncio.ensure_future(stay.wait())
        journal.when_written(lambda held=call: journal.record(Record(request_id="done")))
    del call
    assert seen == ["done"]
    assert gone() is None  # (refcounting alone: nothing cyclic holds it)
    stay.set()
    await lingering
