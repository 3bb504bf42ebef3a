"""The leased runner's loop (gateway/base/leased_runner.py), which the batch runner and
background Responses share: a job claimed by one runner only, a database away while
claiming or renewing retried rather than ending the loop, a lost lease told to the
job, and every lease released when a job ends or the loop stops."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError
from django.utils import timezone

from gateway.base import leased_runner
from gateway.base.leased_runner import LeasedRunner
from gateway.models.batches import Batch


def queued(pk: str) -> Batch:
    now = timezone.now()
    return Batch.objects.create(
        id=pk, endpoint="/v1/chat/completions", total=0, status="in_progress",
        created_at=now, expires_at=now + timedelta(hours=1),
    )  # fmt: skip


def holder(pk: str) -> tuple[str, object]:
    return Batch.objects.values_list("runner", "lease_until").get(id=pk)


async def until(check, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not in time")


@pytest.mark.django_db(transaction=True)
def test_one_runner_holds_a_job_until_its_lease_runs_out() -> None:
    queued("batch_one")
    a = LeasedRunner("a", Batch, lambda pk: asyncio.sleep(0), lease_seconds=10, room=lambda: True)
    b = LeasedRunner("b", Batch, lambda pk: asyncio.sleep(0), lease_seconds=10, room=lambda: True)
    assert a.claim() == "batch_one"
    assert b.claim() is None
    assert b.renew("batch_one") is None and a.renew("batch_one") == "in_progress"
    Batch.objects.filter(id="batch_one").update(lease_until=timezone.now() - timedelta(seconds=1))
    assert b.claim() == "batch_one"
    assert a.renew("batch_one") is None  # a learns it lost it
    a.release("batch_one")  # not a's any more: nothing changes
    assert holder("batch_one")[0] == b.runner_id


@pytest.mark.django_db(transaction=True)
async def test_a_database_away_while_claiming_is_tried_again(monkeypatch) -> None:
    """Two claims fail as a restarting database fails them; the loop goes on, claims
    the job, runs it under its lease and releases the lease when the run ends."""
    await sync_to_async(queued)("batch_two")
    real_claim = leased_runner.leases.claim
    failures = [OperationalError("the connection is closed")] * 2

    def claim(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(leased_runner.leases, "claim", claim)
    ran: list[tuple[str, str]] = []
    done = asyncio.Event()

    async def run(pk: str) -> None:
        ran.append(await sync_to_async(holder)(pk))  # held while it runs
        done.set()

    runner = LeasedRunner("test", Batch, run, lease_seconds=10, room=lambda: True)
    runner.poll_seconds = 0.02
    loop = asyncio.create_task(runner.run_forever())
    try:
        await asyncio.wait_for(done.wait(), 5)
        assert failures == [] and ran[0][0] == runner.runner_id and ran[0][1] is not None

        async def released() -> bool:
            return await sync_to_async(holder)("batch_two") == ("", None)

        await until(released)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def test_a_renewal_that_fails_is_tried_again_and_a_lost_lease_is_told(monkeypatch) -> None:
    runner = LeasedRunner(
        "test", Batch, lambda pk: asyncio.sleep(0), lease_seconds=3, room=lambda: True
    )
    runner.renew_seconds = 0.01
    answers: list[object] = [OperationalError("away"), OperationalError("away"), "in_progress"]
    answers.append(None)

    def renew(pk: str, runner_id: str | None = None) -> str | None:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    monkeypatch.setattr(runner, "renew", renew)
    told: list[str | None] = []
    lost = asyncio.Event()

    def on_status(status: str | None) -> bool:
        told.append(status)
        if status is None:
            lost.set()
        return status is None

    async with runner.leased("batch_x", on_status):
        await asyncio.wait_for(lost.wait(), 5)
    assert told == ["in_progress", None] and answers == []


@pytest.mark.django_db(transaction=True)
async def test_stopping_the_loop_stops_its_jobs_and_releases_their_leases() -> None:
    await sync_to_async(queued)("batch_three")
    started = asyncio.Event()

    async def run(pk: str) -> None:
        started.set()
        await asyncio.Event().wait()  # runs until cancelled

    runner = LeasedRunner("test", Batch, run, lease_seconds=10, room=lambda: True)
    loop = asyncio.create_task(runner.run_forever())
    await asyncio.wait_for(started.wait(), 5)
    assert (await sync_to_async(holder)("batch_three"))[0] == runner.runner_id
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    assert runner.running == {}
    assert await sync_to_async(holder)("batch_three") == ("", None)


async def test_a_runner_without_room_does_not_claim(monkeypatch) -> None:
    claims: list[object] = []
    runner = LeasedRunner(
        "test", Batch, lambda pk: asyncio.sleep(0), lease_seconds=10, room=lambda: False
    )
    monkeypatch.setattr(runner, "claim", lambda *args: claims.append(args))
    runner.poll_seconds = 0.01
    loop = asyncio.create_task(runner.run_forever())
    await asyncio.sleep(0.1)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    assert claims == []
