"""gateway.server.memory_trim: the heap is trimmed once after the start-up, once per quiet
spell after requests, and under steady load once per ``busy_every``."""

from __future__ import annotations

import asyncio

from gateway.server import memory_trim


class Activity:
    def __init__(self) -> None:
        self.started = 0
        self.in_flight = 0

    def __call__(self) -> tuple[int, int]:
        return self.started, self.in_flight


async def test_trims_once_after_a_burst_when_quiet_and_not_while_busy() -> None:
    activity = Activity()
    trims: list[int] = []
    task = asyncio.ensure_future(
        memory_trim.trim_when_idle(
            activity, every=0.02, trim=lambda: trims.append(1), busy_every=60
        )
    )
    try:
        await asyncio.sleep(0.07)
        assert trims == [1]  # nothing served yet: what the start-up freed, once
        activity.started, activity.in_flight = 5, 1
        await asyncio.sleep(0.07)
        assert trims == [1]  # a request still in flight
        for _ in range(4):  # requests keep arriving: no interval is quiet
            activity.started += 1
            await asyncio.sleep(0.02)
        activity.in_flight = 0
        assert trims == [1]
        await asyncio.sleep(0.1)
        assert trims == [1, 1]  # one quiet interval after the burst: trimmed once
        await asyncio.sleep(0.1)
        assert trims == [1, 1]  # and not again until there were requests
        activity.started += 1
        await asyncio.sleep(0.1)
        assert trims == [1, 1, 1]
    finally:
        task.cancel()


async def test_the_start_up_is_trimmed_once_it_is_over_and_quiet() -> None:
    """A worker that has served nothing gives back what its start-up freed (#67), but
    not before the start-up sequence is over (what is left of it frees more)."""
    activity = Activity()
    trims: list[int] = []
    over = False
    task = asyncio.ensure_future(
        memory_trim.trim_when_idle(
            activity, every=0.02, trim=lambda: trims.append(1), started=lambda: over
        )
    )
    try:
        await asyncio.sleep(0.1)
        assert trims == []  # still starting
        over = True
        await asyncio.sleep(0.07)
        assert trims == [1]
        await asyncio.sleep(0.1)
        assert trims == [1]  # once: nothing new was freed since
    finally:
        task.cancel()


async def test_steady_load_is_trimmed_every_busy_interval() -> None:
    activity = Activity()
    loop = asyncio.get_running_loop()
    trims: list[tuple[float, int]] = []
    task = asyncio.ensure_future(
        memory_trim.trim_when_idle(
            activity,
            every=0.01,
            trim=lambda: trims.append((loop.time(), activity.started)),
            busy_every=0.05,
        )
    )
    try:
        activity.in_flight = 3
        for _ in range(40):  # 0.4 s or more of requests arriving, never a quiet interval
            activity.started += 1
            await asyncio.sleep(0.01)
        assert len(trims) >= 2, trims
        times = [at for at, _ in trims]
        assert all(b - a >= 0.045 for a, b in zip(times, times[1:], strict=False)), (
            times
        )  # not more often
        served = [started for _, started in trims]
        assert served == sorted(set(served))  # each after new requests
        count = len(trims)
        await asyncio.sleep(0.15)  # in flight but nothing new arrives: nothing more to free
        assert len(trims) <= count + 1
    finally:
        task.cancel()


def test_the_c_librarys_malloc_trim_runs_here() -> None:
    trim = memory_trim.malloc_trim()
    assert trim is not None  # glibc (Debian): the real function
    assert trim() in (0, 1)  # 1: memory was released, 0: none could be


def test_the_journals_records_are_work_until_written(monkeypatch) -> None:
    """A worker whose requests are over but whose journal still holds their records is
    not quiet: the trim that counts is the one after the queue is written (#67)."""
    journal = {"queued": 40, "queued_bytes": 12_000_000, "written": 100, "dropped": 2}
    monkeypatch.setattr(memory_trim.lifecycle, "activity", lambda: (142, 0))
    monkeypatch.setattr(memory_trim.journal, "stats", lambda: dict(journal))
    assert memory_trim.activity() == (142 + 100 + 2, 40)
    journal.update(queued=0, queued_bytes=0, written=140)
    assert memory_trim.activity() == (142 + 140 + 2, 0)


async def test_trimmed_again_once_the_journal_has_written_the_burst(monkeypatch) -> None:
    journal = {"queued": 30, "written": 0, "dropped": 0}
    requests = {"started": 30}
    monkeypatch.setattr(memory_trim.lifecycle, "activity", lambda: (requests["started"], 0))
    monkeypatch.setattr(memory_trim.journal, "stats", lambda: dict(journal))
    trims: list[int] = []
    task = asyncio.ensure_future(
        memory_trim.trim_when_idle(
            memory_trim.activity,
            every=0.02,
            trim=lambda: trims.append(journal["queued"]),
            busy_every=60,
        )
    )
    try:
        await asyncio.sleep(0.1)
        assert trims == []  # the requests are over, their records are not written yet
        journal.update(queued=0, written=30)
        await asyncio.sleep(0.1)
        assert trims == [0]  # once the queue is written: what it held is given back
        await asyncio.sleep(0.1)
        assert trims == [0]
    finally:
        task.cancel()
