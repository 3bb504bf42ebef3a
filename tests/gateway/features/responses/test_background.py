"""Background Responses (gateway/features/responses/background) below the server: the
run's events taken from stream bytes however they are cut, renumbered after
``response.queued`` with the response's own id, a stream's end read as the final
status; cancelling (queued, again, finished, not background, another key's); a claim
taken by one runner only, and a lost run's events removed when it runs again."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import orjson
import pytest
from asgiref.sync import sync_to_async

from gateway.base import errors
from gateway.base.entries import MASTER
from gateway.features.responses import background as bg
from gateway.models import BackgroundEvent, BackgroundResponse, StoredResponse

ALICE = replace(MASTER, id=1, name="alice", prefix="sy-a")
BOB = replace(MASTER, id=2, name="bob", prefix="sy-b")


def test_events_are_taken_whole_from_chunks_cut_anywhere() -> None:
    stream = (
        b'event: response.created\ndata: {"type":"response.created","response":{"id":"x"}}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"delta":"hi"}\n\ndata: [DONE]\n\n'
    )
    buffer = bytearray()
    found = []
    for i in range(0, len(stream), 7):
        buffer += stream[i : i + 7]
        found += bg._events(buffer)
    assert [e["type"] for e in found] == ["response.created", "response.output_text.delta"]
    assert buffer == b""


def test_a_run_numbers_events_after_the_queued_one_under_its_own_id() -> None:
    run = bg._Run(SimpleNamespace(id="resp_bg", response={"id": "resp_bg", "status": "queued"}))
    run.add({"type": "response.created", "response": {"id": "resp_up", "status": "in_progress"}})
    run.add({"type": "response.output_text.delta", "delta": "a", "sequence_number": 7})
    run.add({"type": "response.completed", "response": {"id": "resp_up", "status": "completed"}})
    assert [e["sequence_number"] for e in run.pending] == [1, 2, 3]
    assert run.final == ("completed", {"id": "resp_bg", "status": "completed", "background": True})
    failing = bg._Run(SimpleNamespace(id="resp_2", response={"id": "resp_2"}))
    failing.add({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"})
    status, response = failing.final  # type: ignore[misc]
    assert status == "failed" and response["error"]["code"] == "rate_limit_exceeded"


def queued(rid: str, key_id: int | None = 1, status: str = "queued") -> BackgroundResponse:
    row = BackgroundResponse.objects.create(
        id=rid, key_id=key_id, body={}, status=status, response={"id": rid, "status": status}
    )
    BackgroundEvent.objects.create(response=row, sequence=0, data=orjson.dumps({"type": "q"}))
    return row


@pytest.mark.django_db(transaction=True)
async def test_cancel() -> None:
    await sync_to_async(queued)("resp_q")
    await sync_to_async(queued)("resp_done", status="completed")
    await sync_to_async(StoredResponse.objects.create)(id="resp_plain", key_id=1, response={})
    with pytest.raises(errors.ModelNotFound):
        await bg.cancel("resp_q", BOB)
    assert (await bg.cancel("resp_q", ALICE))["status"] == "cancelled"
    assert (await bg.cancel("resp_q", ALICE))["status"] == "cancelled"  # again: the same
    for refused in ("resp_done", "resp_plain"):
        with pytest.raises(errors.InvalidRequest):
            await bg.cancel(refused, ALICE)
    assert await bg.retrieve("resp_q", BOB) is None
    assert (await bg.retrieve("resp_q", ALICE))["status"] == "cancelled"  # type: ignore[index]


@pytest.mark.django_db(transaction=True)
def test_one_runner_claims_and_a_lost_run_starts_over() -> None:
    queued("resp_r")
    assert bg.RUNNER.claim("runner-a") == "resp_r"
    assert bg.RUNNER.claim("runner-b") is None  # held
    BackgroundResponse.objects.filter(id="resp_r").update(
        runner=bg.RUNNER.runner_id, attempt=1, status="in_progress", events=3
    )
    for n in (1, 2):
        BackgroundEvent.objects.create(response_id="resp_r", sequence=n, data="{}")
    row = bg._start("resp_r")
    assert row.attempt == 2 and row.events == 1 and row.status == "in_progress"
    kept = BackgroundEvent.objects.filter(response_id="resp_r").values_list("sequence", flat=True)
    assert list(kept) == [0]
    assert bg._flush("resp_r", 1, [{"type": "x"}], None)
    BackgroundResponse.objects.filter(id="resp_r").update(status="cancelled")
    assert not bg._flush("resp_r", 2, [{"type": "y"}], None)  # no longer running: nothing
    assert BackgroundEvent.objects.filter(response_id="resp_r").count() == 2
