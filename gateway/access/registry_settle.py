"""A registry change holds everywhere by the time its writer answers: after the commit
that changed the registry, the writer waits (at most ``SETTLE_SECONDS``) until every other
process serving requests has rebuilt its snapshot, so that a key revoked through the API or
the console is refused by every worker and instance the moment the answer is sent.

- The workers of one ``serve`` without Redis talk through its counter service
  (``registry_book``): each keeps a ``registry_watch`` waiting instead of sleeping between
  polls and acknowledges what it built; the writer asks ``registry_settled``.
- With Redis (several instances) the channel layer announces the change as before, and
  each process's watcher marks the registry version its snapshot holds under a key of
  its own that expires with the process (``BuiltMarks``); the writer reads the marks.

A process that cannot be reached in time only makes the writer wait; it converges at its
next poll as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from gateway.base import counters, db_work

log = logging.getLogger(__name__)

SETTLE_SECONDS = 1.0  # how long a change's writer waits for the others at most
MARKS = "switchyard:registry:built:"  # + a process's name: the version it has built
PROCESS = f"{socket.gethostname()}:{os.getpid()}"
OWN = (MARKS + PROCESS).encode()
_service_outage = db_work.Outage("registry watcher", log, service="counter service")
_marks_outage = db_work.Outage("registry watcher", log, service="Redis")


def counter_service() -> str:
    """The counter service's socket for a worker of ``serve`` without Redis (whose
    channel layer reaches no other worker), else ''."""
    return "" if settings.REDIS_URL else os.environ.get(counters.SOCKET_ENV, "")


async def watch_workers(
    path: str, stop: asyncio.Event, poll: float, checked: Callable[[], Awaitable[bool]]
) -> None:
    """The registry watcher of a worker of ``serve`` without Redis: woken through the
    counter service the moment another worker commits a change, else every ``poll``
    seconds; ``checked`` rebuilds if the stored version moved (False: the database was
    away). Says which change it has built, for ``settle``."""
    watcher = counters.CounterClient(path, timeout=poll + 5)
    seen = -1
    while not stop.is_set():
        try:
            reply = await watcher.call("registry_watch", seen, time.time(), poll)
            _service_outage.recovered()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the supervisor restarting it: poll meanwhile
            _service_outage.failed(exc)
            reply = ["ok", seen]
            await asyncio.sleep(poll)
        if not await checked():
            await asyncio.sleep(poll)  # built nothing new: nothing to acknowledge
            continue
        if int(reply[1]) != seen:
            seen = int(reply[1])
            with contextlib.suppress(Exception):
                await watcher.call("registry_built", seen)


class BuiltMarks:
    """With Redis: this process's mark of the registry version its snapshot holds,
    renewed by its watcher every poll (so a process gone stops being waited for)."""

    def __init__(self, url: str, ttl: float) -> None:
        self.url, self.ttl = url, max(2, int(ttl + 0.999))
        self._client: Any = None

    @classmethod
    def for_this_process(cls) -> BuiltMarks | None:
        url = settings.REDIS_URL
        return cls(url, 3 * settings.SWITCHYARD_REGISTRY_POLL_SECONDS + 2) if url else None

    async def mark(self, version: int) -> None:
        await _marks_outage.attempt(lambda: self._set(version))

    async def _set(self, version: int) -> None:
        if self._client is None:
            import redis.asyncio as aioredis  # with Redis only

            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=2, socket_connect_timeout=2
            )
        await self._client.set(MARKS + PROCESS, version, ex=self.ttl)


def settle(version: int) -> None:
    """After a commit that changed the registry (this process rebuilt, at ``version``):
    wait until the others have rebuilt too, or SETTLE_SECONDS have passed."""
    try:
        if settings.REDIS_URL:
            _wait_for_marks(settings.REDIS_URL, version)
        elif path := counter_service():
            (change,) = counters.call_blocking(path, ["registry_changed"], 1.0, "counter service")
            ask = ["registry_settled", change, time.time(), SETTLE_SECONDS]
            counters.call_blocking(path, ask, SETTLE_SECONDS + 1.0, "counter service")
    except Exception as exc:  # (Redis, the counter service away) the others poll
        log.warning("registry: could not wait for the other processes to rebuild: %s", exc)


def _wait_for_marks(url: str, version: int) -> None:
    """Until every other process's mark is at ``version`` or past it (this one rebuilt
    already; a command's process marks nothing: nobody waits for it)."""
    import redis  # with Redis only

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            names = [n for n in client.scan_iter(match=MARKS + "*", count=500) if n != OWN]
            marks: list[Any] = list(client.mget(names)) if names else []  # type: ignore[arg-type]
            if all(mark is None or int(mark) >= version for mark in marks):
                return
            time.sleep(0.005)
        log.info("registry: not every process rebuilt within %ss; they poll", SETTLE_SECONDS)
    finally:
        client.close()
