"""gateway.base.background: work a reply does not wait for is held until it ends."""

from __future__ import annotations

import asyncio
import gc
import weakref

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
