"""How late this process's event loop runs what is due: a cheap saturation signal.

A timer is set every ``INTERVAL`` seconds; how much later than asked it fires is the
time a callback that became ready waited for the loop (the callbacks ahead of it, or
the CPU taken by other processes). An idle or lightly loaded loop answers within about
a millisecond (epoll's timeouts are whole milliseconds); a saturated one, always busy
with ready work, several milliseconds or tens. Each tick's lateness is smoothed (half
the new tick, half the old value) so that one long callback or a garbage collection
counts as saturation for a tick or two only.

Unlike the number of requests in flight (a gateway relaying long LLM calls has many,
all waiting on the network, while its loop idles) this says whether the loop has CPU
to spare. Work that may be dropped (shadow mirrors) calls ``watch()`` and reads
``lag()`` before it starts.

The probe runs only while it is used: ``watch()`` starts it on the running loop, and it
stops by itself after ``IDLE_STOP`` seconds without a ``watch()`` (or, for a watcher
that asks seldom, after the ``keep`` seconds it asked for: a ``/metrics`` scrape keeps it
running for two minutes, so the lag it exports is measured between scrapes). A process whose
routes mirror nothing never runs it; while it runs it costs one timer wake-up 20 times
a second (measured in docs/benchmarks.md). When it does not run, ``lag()`` is 0."""

from __future__ import annotations

import asyncio
import time

INTERVAL = 0.05  # seconds between ticks
SMOOTHING = 0.5  # weight of the newest tick
IDLE_STOP = 10.0  # seconds without a watch() after which the probe stops

_lag = 0.0  # smoothed lateness, seconds
_task: asyncio.Task[None] | None = None
_watched = 0.0  # time.monotonic() of the last watch()
_kept_until = 0.0  # time.monotonic() until which a watch(keep=...) asked the probe to run


def lag() -> float:
    """The loop's recent lateness in seconds (0 when the probe does not run)."""
    return _lag


def note(late: float) -> float:
    """Fold one tick's lateness (seconds) into the smoothed value and return it."""
    global _lag
    _lag += (max(0.0, late) - _lag) * SMOOTHING
    return _lag


def watch(keep: float = 0.0) -> None:
    """Keep the probe running on the current loop (start it if it is not), for
    ``IDLE_STOP`` seconds or ``keep`` seconds, whichever is longer; call from a coroutine
    or callback of that loop."""
    global _task, _watched, _lag, _kept_until
    _watched = time.monotonic()
    _kept_until = max(_kept_until, _watched + keep)
    task, loop = _task, asyncio.get_running_loop()
    if task is not None and not task.done() and task.get_loop() is loop:
        return
    _lag = 0.0  # nothing stale from a probe of a loop that has gone (tests)
    _task = loop.create_task(probe(INTERVAL, IDLE_STOP), name="loop-lag")


def running() -> bool:
    return _task is not None and not _task.done()


def stop() -> None:
    """Stop the probe (shutdown, tests); ``lag()`` reads 0 again."""
    global _task, _lag, _kept_until
    if _task is not None:
        _task.cancel()
    _task, _lag, _kept_until = None, 0.0, 0.0


async def probe(interval: float = INTERVAL, idle_stop: float = IDLE_STOP) -> None:
    """Measure each tick's lateness until nobody watched for ``idle_stop`` seconds."""
    global _lag
    clock = time.perf_counter  # uvloop's loop.time() has whole milliseconds only
    try:
        while time.monotonic() - _watched < idle_stop or time.monotonic() < _kept_until:
            due = clock() + interval
            await asyncio.sleep(interval)
            note(clock() - due)
    finally:
        _lag = 0.0  # a stopped probe says nothing stale
