"""gateway.memory_trim: the heap is trimmed once per quiet spell after requests,
never while requests run or arrive."""

from __future__ import annotations

import asyncio

from gateway import memory_trim


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
        memory_trim.trim_when_idle(activity, every=0.02, trim=lambda: trims.append(1))
    )
    try:
        await asyncio.sleep(0.07)
        assert trims == []  # nothing served yet: nothing to give back
        activity.started, activity.in_flight = 5, 1
        await asyncio.sleep(0.07)
        assert trims == []  # a request still in flight
        for _ in range(4):  # requests keep arriving: no interval is quiet
            activity.started += 1
            await asyncio.sleep(0.02)
        activity.in_flight = 0
        assert trims == []
        await asyncio.sleep(0.1)
        assert trims == [1]  # one quiet interval after the burst: trimmed once
        await asyncio.sleep(0.1)
        assert trims == [1]  # and not again until there were requests
        activity.started += 1
        await asyncio.sleep(0.1)
        assert trims == [1, 1]
    finally:
        task.cancel()


def test_the_c_librarys_malloc_trim_runs_here() -> None:
    trim = memory_trim.malloc_trim()
    assert trim is not None  # glibc (Debian): the real function
    assert trim() in (0, 1)  # 1: memory was released, 0: none could be
