"""The console's work bounded where it shares a process with inference (``serve --role
all``, the one-box default): at most ``SWITCHYARD_CONSOLE_WORK_LIMIT`` requests that
Django serves (the console's pages, ``/admin``, the management ``/api``) run at once;
the others wait their turn, holding no thread and no database connection.

Django runs each of those requests' synchronous work in a thread of its own. In one
process those threads take turns with the event loop that serves ``/v1`` for the one
interpreter lock: four console clients over a 200k-row journal were four threads
building dashboards and log pages, and the loop waited for the lock behind each of
them (``/v1``'s own p99 2-9.3x its quiet figure, docs/benchmarks.md "Round four
(#67)"); on PostgreSQL four of them can hold every pooled connection of the process
(``SWITCHYARD_DB_POOL_SIZE``, 2) that the journal's writer borrows too. Two at a time
still overlap one page's database wait with another's rendering.

Turns bound how many pages are built at once, not how much of the process they take:
one thread building pages back to back still has the lock half the time. So a turn is
given back only after a pause in proportion to what it took (``SHARE``: pages built
back to back take at most that share of the process's time, each turn paused at most
``MAX_PAUSE``): a page every few seconds never waits, a console hammered by scripts
slows down, not ``/v1``. The pause is taken only when there is inference to give way
to: a request of ``/v1`` (or ``/mcp``, a realtime socket) in flight when the turn ends,
or started while it ran. A console used while no client calls the gateway (setting it
up, a quiet evening) is limited in how many pages run at once, never paused.

The console's static files (``STATIC_URL``: a file read each) take no turn. A streamed
answer (an export, the live tail) holds its place only while its view runs, not while
its body streams. Processes of the other roles have no loop of inference to
protect and are not limited (``--role console`` serves its pages as fast as it can)."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed

from gateway.base import lifecycle

# The share of the process's time the console's turns take when they follow each other
# without a gap: a turn that took t seconds is given back t * (1 / SHARE - 1) later.
SHARE = 0.25
MAX_PAUSE = 1.0  # seconds: a turn that waited on an upstream (a provider's test) pauses no longer


def limit() -> int:
    """How many Django requests may run at once in this process (0: no limit)."""
    if settings.SWITCHYARD_ROLE != "all":
        return 0
    value: int = settings.SWITCHYARD_CONSOLE_WORK_LIMIT
    return value


class _Turns:
    """At most ``size`` holders at once, per event loop (asyncio's semaphore belongs to
    the loop that first waits on it; tests run several) and across threads (a request
    served synchronously), each turn given back ``pause_after`` its end on a loop."""

    def __init__(self, size: int, share: float = SHARE) -> None:
        self.size, self.share = size, share
        self.threads = threading.BoundedSemaphore(size)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._loops = weakref.WeakKeyDictionary()

    def of_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._loops.get(loop)
        if semaphore is None:
            semaphore = self._loops[loop] = asyncio.Semaphore(self.size)
        return semaphore

    def pause_after(self, took: float) -> float:
        """How long a turn that took ``took`` seconds is held after it ended, while
        inference runs beside it."""
        return min(MAX_PAUSE, took * (1 / self.share - 1))


def inference_beside(started_before: int) -> bool:
    """Whether inference shares the process now: a request in flight, or one started
    since ``started_before`` (``lifecycle.activity()``'s count when the turn began)."""
    started, in_flight = lifecycle.activity()
    return in_flight > 0 or started != started_before


def console_work_limit(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Django middleware (the outermost): each request waits for one of ``limit()``
    turns before any other middleware or its view runs."""
    size = limit()
    if size == 0:
        raise MiddlewareNotUsed
    turns = _Turns(size)
    static = settings.STATIC_URL or "/static/"  # a file read, no turn taken
    if iscoroutinefunction(get_response):

        async def middleware(request: Any) -> Any:
            if request.path.startswith(static):
                return await get_response(request)
            semaphore = turns.of_loop()
            await semaphore.acquire()
            loop = asyncio.get_running_loop()
            started = loop.time()
            inference_started = lifecycle.activity()[0]
            try:
                pending: Awaitable[Any] = get_response(request)
                return await pending
            finally:  # the answer goes now; the turn comes back after its pause, if any
                if inference_beside(inference_started):
                    loop.call_later(turns.pause_after(loop.time() - started), semaphore.release)
                else:
                    semaphore.release()

        markcoroutinefunction(middleware)
        return middleware

    def sync_middleware(request: Any) -> Any:
        # served synchronously (Django's test client, a WSGI server): no event loop to
        # leave time to, so turns without pauses
        if request.path.startswith(static):
            return get_response(request)
        with turns.threads:
            return get_response(request)

    return sync_middleware


console_work_limit.sync_capable = True  # type: ignore[attr-defined]
console_work_limit.async_capable = True  # type: ignore[attr-defined]
