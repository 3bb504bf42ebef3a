"""Give the heap memory that requests freed back to the system.

glibc's malloc keeps freed memory inside its heap for reuse: after the benchmark each
worker held about 10 MB of it (104 -> 93 MB resident when ``malloc_trim(0)`` ran;
261 -> 236 MB for ``serve --workers 2``). ``trim_when_idle`` calls ``malloc_trim``
when the process has served API requests and then none started for a whole interval
and none is in flight (once per quiet spell), and under steady load every
``BUSY_SECONDS``: a server that is never quiet for a second still gives back what a
burst freed (right after the benchmark's last cell: 270-272 -> 256-258 MB; the CPU per
request did not move, a trim took 3-35 ms of a thread's time every 2 s). The call
runs in a thread (ctypes releases the GIL), so the event loop is not held up. Where
the C library has no ``malloc_trim`` (musl, macOS) nothing runs.

A burst of agents' requests (150 KB bodies) ends with the journal's queue still full
(up to ``SWITCHYARD_JOURNAL_MAX_BYTES`` of bodies a worker): a trim when the requests
stop ran while the writer still held them, and what it freed once the queue was written
(50-100 MB of a worker) stayed resident for good. The journal's records count as work
too: a worker is quiet once no request is in flight and nothing is queued, and it is
trimmed again once what was queued has been written (#67: a worker 3 s after the agents'
load, 173-177 -> 109-110 MB).

The start-up is trimmed too, once it is over and a quiet interval has passed, before
any request: what importing the application and loading the registry freed (the
collection that freezes what is alive frees more) is about 3 MB of a worker, which a
worker that has served nothing yet kept (#67: the idle ``serve --workers 2``).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

from gateway import journal
from gateway.base import lifecycle

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
BUSY_SECONDS = 2.0

Activity = Callable[[], tuple[int, int]]  # (work started so far, work not done yet)


def malloc_trim() -> Callable[[], object] | None:
    """The C library's ``malloc_trim(0)``, or None where there is none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


async def trim_when_idle(
    activity: Activity,
    every: float = IDLE_SECONDS,
    trim: Callable[[], object] | None = None,
    busy_every: float = BUSY_SECONDS,
    started: Callable[[], bool] = lambda: True,
) -> None:
    """Run forever: once the start-up is over (``started()``) and ``every`` seconds
    pass quiet, trim the heap once; then after requests, once ``every`` seconds pass
    with none started and none in flight; under steady load, every ``busy_every``
    seconds."""
    trim = trim or malloc_trim()
    if trim is None:
        return
    seen, _ = activity()
    trimmed_at: int | None = None  # the start-up's garbage: trimmed once before any request
    busy_for = 0.0
    while True:
        await asyncio.sleep(every)
        requests, in_flight = activity()
        quiet = requests == seen and in_flight == 0
        busy_for = 0.0 if quiet else busy_for + every
        due = quiet or busy_for >= busy_every
        if requests != trimmed_at and due and started():
            trimmed_at, busy_for = requests, 0.0
            try:
                await asyncio.to_thread(trim)
            except Exception:  # never worth stopping the process for
                log.warning("malloc_trim failed", exc_info=True)
                return
        seen = requests


def activity() -> tuple[int, int]:
    """The work this process has done and still has: API requests started and in flight,
    with the journal's records written (or dropped) and queued, whose bodies are the
    bulk of what a burst of agents' requests leaves behind."""
    started, in_flight = lifecycle.activity()
    stats = journal.stats()
    return started + stats["written"] + stats["dropped"], in_flight + stats["queued"]


async def start() -> None:
    """At start-up (``hooks.starters``, registered in GatewayConfig.ready): trim while
    the process serves, reading the lifecycle's request counts and the journal's."""
    lifecycle.spawn(trim_when_idle(activity, started=lifecycle.started), name="memory-trim")
