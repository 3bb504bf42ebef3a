"""gateway.base.background: work a reply does not wait for is held until it ends."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from gateway.base import background


async def test_in_background_keeps_a_task_nobody_else_holds() -> None:
    """A pending task only the loop knows of is garbage once a collection runs (the loop
    holds tasks weakly): a budget settle scheduled that way could vanish half-way."""
    events: list[weakref.ref] = []
    finished: list[bool] = []

    async def work() -> None:
        event = asyncio.Event()  # referenced only from this coroutine's frame
        events.append(weakref.ref(event))
        await event.wait()
        finished.append(True)

    background.in_background(work())
    await asyncio.sleep(0)
    gc.collect()
    event = events[0]()
    assert event is not None, "the pending task was collected"
    event.set()
    await background.done()
    assert finished == [True]


async def test_woken_says_whether_the_event_came_in_time() -> None:
    event = asyncio.Event()
    assert await background.woken(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await background.woken(event, 5) is True


@pytest.mark.parametrize("turns", [0, 1, 2])
async def test_a_cancellation_as_the_event_is_set_is_not_swallowed(turns: int) -> None:
    """A cancellation the sleeping task accepts ends it cancelled, however near it lands
    to the event being set. On Python 3.11 ``asyncio.wait_for`` returned the event's
    result when the cancellation came a loop turn after the set: a loop sleeping that
    way went on after shutdown cancelled it, and the process waited for it."""
    event = asyncio.Event()
    sleeper = asyncio.create_task(background.woken(event, 10))
    await asyncio.sleep(0)  # waiting
    event.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    if sleeper.cancel():  # accepted: it had not ended
        with pytest.raises(asyncio.CancelledError):
            await sleeper
    else:
        assert sleeper.result() is True
