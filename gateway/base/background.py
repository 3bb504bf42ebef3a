"""Work a reply does not wait for (a budget settle, a deployment's token count), run
on the loop and held until it ends: the loop keeps only a weak reference to a task,
and an unreferenced pending task may be collected half-way. A leaf module: whatever
schedules work imports it without joining an import cycle."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_tasks: set[asyncio.Task[Any]] = set()  # in_background's tasks until they end


def in_background(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coroutine`` on the running loop without waiting for it."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def done() -> None:
    """Wait until every ``in_background`` task so far has ended (tests)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``: whether it was set. A background loop's
    sleep: unlike ``asyncio.wait_for`` on Python 3.11, a cancellation that comes as the
    event is set is not swallowed (a swallowed one kept a loop running, and the process
    waiting for it at shutdown)."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
