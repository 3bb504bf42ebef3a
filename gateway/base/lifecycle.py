"""The process's life as every layer sees it: whether it is closing or draining, the API
requests in flight (started, finished, cut by the drain), the drain itself, and the
start/stop sequence run once per event loop.

It sits in ``base`` because the edge, the pipeline, the features and the console all ask
it ("are we closing?", "was this request cut?") and count their requests here. What the
sequence starts and stops belongs to the layers above and is registered into
``gateway.base.hooks`` (``starters``, ``background_tasks``, ``warm_ups``, ``drainers``,
``closers``) from ``GatewayConfig.ready``: this module never names them.

Started by the ASGI lifespan (``gateway.server.lifespan``, uvicorn) or lazily on the first
request (daphne sends no lifespan events); stopped, with what is queued drained, on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from gateway.base import db_work, hooks, http, leases, loop_lag, process_role, running_loop
from gateway.base.background import woken

log = logging.getLogger(__name__)

_tasks: list[asyncio.Task[Any]] = []
_in_flight = 0
_streams = 0  # of those, answers being streamed now (SSE bodies still being written)
_started_total = 0  # API requests started in this process (memory_trim reads it)
_closing = False
_draining = False  # the drain began: requests are still served, readiness says 503
_idle: asyncio.Event | None = None
_requests: set[asyncio.Task[Any]] = set()  # the tasks serving API requests in flight
_cut: set[asyncio.Task[Any]] = set()  # those the drain ended when the grace period ran out
# After the grace period: how long requests that were cut get to write their last words.
CUT_SECONDS = 2.0
# What the server itself waits beyond the grace period before it cancels what is left
# (uvicorn's timeout_graceful_shutdown, daphne's application_close_timeout): by then the
# drain has ended every API request; this only bounds anything else (console pages).
SERVER_MARGIN_SECONDS = CUT_SECONDS + 3.0
# The request scope's extension (set by gateway.server.http_protocol) that ends a
# response without the end of its body: a stream the upstream broke off fails at the client.
CUT_BODY = "switchyard.cut_body"
# ... and the one (same module) through which a request's task learns that its client
# left: called with a callback (None: no longer), which runs when the connection is lost
# before the response completed. Without it, a task waits on the ASGI receive instead.
ON_DISCONNECT = "switchyard.on_disconnect"
SETTLE_POLL_SECONDS = 0.05  # how often a drain with nothing in flight checks its connections


def grace_seconds() -> float:
    """SWITCHYARD_SHUTDOWN_GRACE_SECONDS: how long API requests in flight may finish."""
    from django.conf import settings

    seconds: float = settings.SWITCHYARD_SHUTDOWN_GRACE_SECONDS
    return seconds


def server_timeout_seconds() -> float:
    """The server's own graceful-shutdown timeout, agreeing with the drain's."""
    return grace_seconds() + SERVER_MARGIN_SECONDS


def closing() -> bool:
    """True once new API requests are refused with a 503 (the drain's deadline passed,
    or a server that cannot stop accepting began its drain), so the count of requests
    in flight only goes down and the journal drain that follows is the last write."""
    return _closing


async def every_round(
    outage: db_work.Outage,
    round_once: Callable[[], Awaitable[object]],
    seconds: Callable[[], float],
    first_after: float = 0.0,
) -> None:
    """A background task's loop: after ``first_after`` seconds, ``round_once()`` and a
    sleep of ``seconds()``, until the process closes. It never raises: a failed round is
    the ``outage`` (logged once, and its end) and the next round is tried as usual."""
    await asyncio.sleep(first_after)
    while not closing():
        await outage.attempt(round_once)
        await asyncio.sleep(seconds())


def draining() -> bool:
    """True once the drain began (requests reaching this process are still served
    until ``closing``): readiness probes get a 503 from then on."""
    return _draining or _closing


def begin_shutdown() -> None:
    global _closing
    _closing = True


def request_started(task: asyncio.Task[Any] | None = None) -> None:
    """Count an API request in flight (the journal drains only once they are done); its
    task (``task``, when the caller has it at hand) is remembered so that the drain can
    end it when the grace period runs out."""
    global _in_flight, _started_total
    _in_flight += 1
    _started_total += 1
    if task is None:
        task = asyncio.current_task()
    if task is not None:
        _requests.add(task)


def activity() -> tuple[int, int]:
    """API requests started in this process so far, and those in flight."""
    return _started_total, _in_flight


def stream_opened() -> None:
    """Count a streamed answer being written (the edge's ``send_stream``); with
    ``stream_closed`` in its ``finally``. Read by ``/metrics`` (``streams_in_flight``),
    which an autoscaler follows: a pod's streams, not its CPU, are what a relay of long
    LLM answers runs out of."""
    global _streams
    _streams += 1


def stream_closed() -> None:
    global _streams
    _streams -= 1


def streams() -> int:
    """Answers being streamed by this process now."""
    return _streams


def request_finished(task: asyncio.Task[Any] | None = None) -> None:
    """The end of ``request_started``'s request (``task``: its task, when at hand)."""
    global _in_flight
    _in_flight -= 1
    if task is None:
        task = asyncio.current_task()
    _requests.discard(task)
    _cut.discard(task)
    if _in_flight <= 0 and _idle is not None:
        _idle.set()


@contextlib.contextmanager
def in_flight() -> Iterator[None]:
    """An API request in flight while the block runs (``request_started``, then
    ``request_finished`` however it ends)."""
    request_started()
    try:
        yield
    finally:
        request_finished()


def was_cut() -> bool:
    """Whether the drain cancelled the current task, as opposed to a client that went
    away: the request then ends with a 503 / in-stream error event."""
    if not _cut:
        return False
    return asyncio.current_task() in _cut


def cut_requests() -> int:
    """Cancel every API request still in flight, marked as cut by the drain."""
    cut = 0
    for task in list(_requests):
        if not task.done():
            _cut.add(task)
            task.cancel()
            cut += 1
    return cut


async def drain(
    grace: float | None = None,
    refuse: bool = True,
    settled: Callable[[], bool] | None = None,
) -> None:
    """The graceful part of a shutdown: give API requests ``grace`` seconds, then refuse
    new ones (503 + Retry-After, journaled), end those still running in their dialect (a
    stream gets its in-stream error event, a request still waiting for its upstream a
    503) and give them CUT_SECONDS to say so.

    ``refuse=True``: a server that goes on accepting while it drains (daphne) refuses
    new API requests from the start, so that requests in flight only go down.
    ``refuse=False``: a server that stopped accepting (uvicorn's, ``uvicorn_server``)
    serves what still reaches it on its open connections until the deadline, and the
    grace period ends early only once nothing is in flight and ``settled()`` says its
    connections are done (each closes after its last answer)."""
    global _draining
    _draining = True
    if refuse:
        begin_shutdown()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (grace_seconds() if grace is None else grace)
    while True:
        left = deadline - loop.time()
        if left <= 0:
            break
        if _in_flight > 0:
            await wait_for_requests(left, quiet=True)
        elif settled is None or settled():
            break
        else:
            await asyncio.sleep(min(SETTLE_POLL_SECONDS, left))
    begin_shutdown()
    if _in_flight > 0:
        count = cut_requests()
        log.warning("shutdown: ending %d request(s) still running after the grace period", count)
        await wait_for_requests(CUT_SECONDS)


async def wait_for_requests(grace: float | None = None, quiet: bool = False) -> None:
    """Give in-flight API requests up to ``grace`` seconds to finish (default: the
    configured grace period); ``quiet``: no warning when some are still running."""
    global _idle
    if grace is None:
        grace = grace_seconds()
    if _in_flight <= 0:
        return
    if _idle is None or _idle.is_set():
        _idle = asyncio.Event()
    try:
        await asyncio.wait_for(asyncio.shield(_idle.wait()), grace)
    except TimeoutError:
        if quiet:
            return
        log.warning("shutdown: %d request(s) still running after %.1fs", _in_flight, grace)


_started_loop: asyncio.AbstractEventLoop | None = None
_lock: asyncio.Lock | None = None


def started() -> bool:
    """Whether the start-up sequence has run in the running event loop: set once the
    starters are done; the rest of it (the background tasks spawned, the warm-ups, the
    freeze) follows without an await, so another task that sees it true sees it all."""
    try:
        return _started_loop is asyncio.get_running_loop()
    except RuntimeError:  # no loop running
        return False


def spawn(coroutine: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``coroutine`` as a background task of this process, cancelled at shutdown
    (a starter's long-running part: the registry watcher, metrics publishing)."""
    _tasks.append(asyncio.create_task(coroutine, name=name))


async def ensure_started() -> None:
    """Idempotent: run the start-up sequence once per event loop. The starters are
    awaited in order (the registry snapshot is loaded before anything is served), then
    the background tasks this process's role runs are started, the warm-ups run and what is alive is frozen."""
    global _started_loop, _lock
    loop = running_loop.get()
    if _started_loop is loop:
        return
    if _lock is None or _lock._loop is not loop:  # type: ignore[attr-defined]
        _lock = asyncio.Lock()
    async with _lock:
        if _started_loop is loop:
            return
        for starter in hooks.starters:
            await starter()
        _started_loop = loop
        dormant: list[hooks.BackgroundTask] = []
        for task in hooks.background_tasks:
            if not process_role.runs(task.roles):  # where the process's role says
                continue
            if task.jobs:
                dormant.append(task)
            else:
                spawn(task.run(), name=task.name)
        if dormant:
            spawn(_start_when_due(dormant), name=DORMANT_TASK)
        warm_up()
        freeze_startup_objects()
        shorten_switch_interval()


DORMANT_TASK = "dormant-runners"
DORMANT_POLL_SECONDS = 1.0  # as often as the runners themselves look for jobs
_dormant_wake: asyncio.Event | None = None
_dormant_loop: asyncio.AbstractEventLoop | None = None


async def _start_when_due(dormant: list[hooks.BackgroundTask]) -> None:
    """Start each task of ``dormant`` once one of its ``jobs`` models has an unfinished
    row, looking every ``DORMANT_POLL_SECONDS`` (or when ``wake_dormant`` asks): one
    query for all of them. A database that is away is asked again the next time."""
    global _dormant_wake, _dormant_loop

    _dormant_wake, _dormant_loop = asyncio.Event(), asyncio.get_running_loop()
    models = [model for task in dormant for model in task.jobs]
    try:
        while dormant:
            try:
                have = await db_work.arun(leases.unfinished_among, models)
                found = dict(zip(models, have, strict=True))
            except Exception as exc:  # away, or not migrated yet: next time
                log.debug("dormant runners: cannot look for jobs (%s)", exc)
            else:
                due = [t for t in dormant if any(found.get(m) for m in t.jobs)]
                for task in [] if closing() else due:
                    dormant.remove(task)
                    models = [m for m in models if m not in task.jobs]
                    spawn(task.run(), name=task.name)
            if not dormant:
                break
            await woken(_dormant_wake, DORMANT_POLL_SECONDS)
            _dormant_wake.clear()
    finally:
        _dormant_wake = _dormant_loop = None


def wake_dormant() -> None:
    """A job was just queued in this process: look for jobs now (from any thread)
    rather than at the next poll, so a dormant runner starts on it at once."""
    wake, loop = _dormant_wake, _dormant_loop
    if wake is not None and loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(wake.set)


def warm_up() -> None:
    """Do at start-up what the first request would otherwise pay for: every registered
    warm-up, in order (an exception is logged, never fatal)."""
    for warm in hooks.warm_ups:
        try:
            warm()
        except Exception:
            log.exception("warm-up %r failed", warm)


_frozen = False
# The youngest generation is collected when this many more container objects were made
# than freed (Python's default is 700). Requests in flight hold about 140 each (their
# await chain of some 25 coroutines, lists, tuples, futures): at 700 the count crossed
# the threshold every 11 requests under load, and each pass walked the ~1,200 objects of
# the requests in flight for nothing (they are alive), 140 us a pass, a gen-1 pass every
# 10th: about 15 us a request, 4-6% of a worker's CPU. A coding agent's request holds
# about 1,500 more while it is in flight (its parsed 150 KB body): at 5,000 a worker
# under bench/run.py's agent cells still made one pass every 9 requests, each walking
# the bodies in flight (0.6 ms; a gen-1 pass 3 ms), 3-4 % of its CPU; at 20,000 about
# half as many; at 50,000 none in the whole run. Requests leave almost no cyclic garbage
# (tests/gateway/test_reference_cycles.py), so what waits longer for a pass is a few
# objects.
SERVING_GC_THRESHOLD = 50_000


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (Django, the registry, imported modules)
    out of the garbage collector's reach, once per process, and collect the young less
    often (``SERVING_GC_THRESHOLD``). Without the freeze a full collection walks them
    all: measured 76-86 ms pauses of the event loop every few seconds under load (p99
    at concurrency 1 went from 20-40 ms to 5 ms with it)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(SERVING_GC_THRESHOLD, older, oldest)


# How long a thread computing in Python keeps the interpreter lock from the event loop
# (CPython's default is 5 ms). The loop gives the lock up at every wait for I/O, and a
# thread that computes takes it at once; when the loop's I/O is ready it waits a whole
# interval before the thread is made to give it back: every wake-up of the loop (a
# request read, the upstream's answer, the reply written) costs that interval while a
# console page is built in the same process, or the journal's writer builds a batch.
# Measured (bench/gil_convoy.py, docs/benchmarks.md "Round four (#67)"): a loop's round
# trip with one thread computing beside it 5.9 ms at 5 ms, 1.2 ms at 1 ms; the journal's
# throughput was flat at 1 ms (the journal's knobs, docs/benchmarks.md).
SERVING_SWITCH_INTERVAL = 0.001


def shorten_switch_interval() -> None:
    """In a process whose loop serves inference (``--role api`` and ``all``), threads
    hand the interpreter lock back to it after ``SERVING_SWITCH_INTERVAL``."""
    if process_role.runs(process_role.API):
        sys.setswitchinterval(SERVING_SWITCH_INTERVAL)


async def shutdown() -> None:
    """Stop background tasks and drain the journal (graceful shutdown): the drain, then
    the registered drainers and closers in order, then the background tasks and the
    pooled HTTP client."""
    global _started_loop, _closing, _draining

    await drain()  # a no-op when the server already drained before closing its sockets
    for drainer in hooks.drainers:
        try:
            await drainer()
        except Exception:
            log.exception("shutdown: %r failed", drainer)
    for closer in hooks.closers:
        try:
            await closer()
        except Exception:
            log.exception("shutdown: %r failed", closer)

    loop_lag.stop()  # running only while routes mirror (gateway/core/shadow)
    for task in _tasks:
        task.cancel()
    for task in _tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    _tasks.clear()
    await http.aclose()
    _started_loop = None
    _closing = _draining = False  # a later loop in this process (tests) starts afresh
    _requests.clear()
    _cut.clear()
