"""An async generator's items grouped by what it could produce without waiting.

A translated stream is a chain of async generators that each hand on one event at a
time; when an upstream read carries many events (a fast model, or a finish with its
usage) the chain produces them back to back without ever waiting, and handing each one
on to the client separately (journal capture, cache capture, an ASGI send) cost a
translated stream about a sixth of its CPU. ``ready_batches`` asks the generator for
its next item and, when the answer is there without suspending, keeps collecting; the
first time the generator has to wait (for the upstream) the items so far are handed on
as one list, and the wait is resumed as a normal ``await``. Order, exceptions and
cancellation are the generator's own: items produced before an exception are handed on
first, then it is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class Resume:
    """Awaits the rest of a coroutine that was already advanced to its first
    suspension (``pending`` is what it yielded there)."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro, self.pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self.coro, self.pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - cancellation goes to the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
            try:
                pending = coro.send(sent)
            except StopIteration as done:
                return done.value


async def ready_batches(
    items: AsyncGenerator[T, None],
    window: float | None = None,
    hand_on_when: Callable[[], bool] | None = None,
) -> AsyncIterator[list[T]]:
    """``items`` a list at a time (never an empty one); see the module docstring. With
    ``window``, a batch is handed on once its first item has waited that many seconds
    even if more are ready (a long burst does not hold back its first bytes); with
    ``hand_on_when``, the items so far are handed on the first time it says so when
    another is ready (a stream's first token goes at once, not behind the rest of its
    read). Closed while ``items`` waits
    (the client left), the wait is cancelled and ``items`` closed, as an ``async for``
    over it would have them."""
    batch: list[T] = []
    step: Any = None  # a __anext__ under way, suspended at ``pending``
    pending: Any = None
    clock = asyncio.get_running_loop().time
    since = 0.0
    try:
        while True:
            step = items.__anext__()
            try:
                pending = step.send(None)
            except StopIteration as done:  # ready without waiting
                step = None
                if batch and hand_on_when is not None and hand_on_when():
                    hand_on_when = None  # once: what came before this item goes now
                    ready, batch = batch, []
                    yield ready
                if not batch:
                    since = clock()
                batch.append(done.value)
                if window is not None and clock() - since >= window:
                    ready, batch = batch, []
                    yield ready
                continue
            except StopAsyncIteration:
                step = None
                break
            except BaseException:
                step = None
                if batch:
                    ready, batch = batch, []
                    yield ready
                raise
            if batch:  # it has to wait: hand on what is ready first
                ready, batch = batch, []
                yield ready
            try:
                value = await Resume(step, pending)
            except StopAsyncIteration:
                break
            finally:
                step = None
            batch.append(value)
    finally:
        if step is not None:
            await abandon(step, pending)
        await items.aclose()
    if batch:
        yield batch


async def abandon(step: Any, pending: Any) -> None:
    """End a ``__anext__`` left suspended: cancel its wait and let it unwind."""
    try:
        pending = step.throw(asyncio.CancelledError())
    except BaseException:  # noqa: BLE001 - it ended, however
        return
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await Resume(step, pending)
