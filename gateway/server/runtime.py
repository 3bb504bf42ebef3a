"""Per-process background work: the registry watcher and the journal writer.

Started by the ASGI lifespan (uvicorn) or lazily on the first request (daphne sends
no lifespan events); stopped, with the journal drained, on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.policy import registry

log = logging.getLogger(__name__)

_tasks: list[asyncio.Task] = []
_in_flight = 0
_started_total = 0  # API requests started in this process (memory_trim reads it)
_closing = False
_draining = False  # the drain began: requests are still served, readiness says 503
_idle: asyncio.Event | None = None
_requests: set[asyncio.Task] = set()  # the tasks serving API requests in flight
_cut: set[asyncio.Task] = set()  # those the drain ended when the grace period ran out
# After the grace period: how long requests that were cut get to write their last words.
CUT_SECONDS = 2.0
# What the server itself waits beyond the grace period before it cancels what is left
# (uvicorn's timeout_graceful_shutdown, daphne's application_close_timeout): by then the
# drain has ended every API request; this only bounds anything else (console pages).
SERVER_MARGIN_SECONDS = CUT_SECONDS + 3.0
# The request scope's extension (set by gateway.server.http_protocol) that ends a
# response without the end of its body: a stream the upstream broke off fails at the client.
CUT_BODY = "switchyard.cut_body"
SETTLE_POLL_SECONDS = 0.05  # how often a drain with nothing in flight checks its connections


def grace_seconds() -> float:
    """SWITCHYARD_SHUTDOWN_GRACE_SECONDS: how long API requests in flight may finish."""
    from django.conf import settings

    return settings.SWITCHYARD_SHUTDOWN_GRACE_SECONDS


def server_timeout_seconds() -> float:
    """The server's own graceful-shutdown timeout, agreeing with the drain's."""
    return grace_seconds() + SERVER_MARGIN_SECONDS


def closing() -> bool:
    """True once new API requests are refused with a 503 (the drain's deadline passed,
    or a server that cannot stop accepting began its drain), so the count of requests
    in flight only goes down and the journal drain that follows is the last write."""
    return _closing


def draining() -> bool:
    """True once the drain began (requests reaching this process are still served
    until ``closing``): readiness probes get a 503 from then on."""
    return _draining or _closing


def begin_shutdown() -> None:
    global _closing
    _closing = True


def request_started() -> None:
    """Count an API request in flight (the journal drains only once they are done); its
    task is remembered so that the drain can end it when the grace period runs out."""
    global _in_flight, _started_total
    _in_flight += 1
    _started_total += 1
    task = asyncio.current_task()
    if task is not None:
        _requests.add(task)


def activity() -> tuple[int, int]:
    """API requests started in this process so far, and those in flight."""
    return _started_total, _in_flight


def request_finished() -> None:
    global _in_flight
    _in_flight -= 1
    task = asyncio.current_task()
    _requests.discard(task)  # type: ignore[arg-type]
    _cut.discard(task)  # type: ignore[arg-type]
    if _in_flight <= 0 and _idle is not None:
        _idle.set()


def was_cut(task: asyncio.Task | None = None) -> bool:
    """Whether the drain cancelled ``task`` (default: the current one), as opposed to a
    client that went away: the request then ends with a 503 / in-stream error event."""
    if not _cut:
        return False
    return (task or asyncio.current_task()) in _cut


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
# Long-running work apps start in every serving process (see ``at_start``).
_start_hooks: list[Callable[[], Coroutine[Any, Any, None]]] = []


def at_start(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``factory()`` as a background task of every process once it has started
    (cancelled at shutdown). Apps register here from ``AppConfig.ready`` so that the
    gateway never imports them (the console's evaluation runner does)."""
    if factory not in _start_hooks:
        _start_hooks.append(factory)


async def ensure_started() -> None:
    """Idempotent: load the registry snapshot and start the background tasks once
    per event loop."""
    global _started_loop, _lock
    loop = asyncio.get_running_loop()
    if _started_loop is loop:
        return
    if _lock is None or _lock._loop is not loop:  # type: ignore[attr-defined]
        _lock = asyncio.Lock()
    async with _lock:
        if _started_loop is loop:
            return
        await registry.arebuild()
        _tasks.append(asyncio.create_task(registry.watch(), name="registry-watch"))
        from gateway.server.memory_trim import trim_when_idle

        _tasks.append(asyncio.create_task(trim_when_idle(activity), name="memory-trim"))
        from gateway.telemetry import metrics

        shared = metrics.shared_dir()
        if shared is not None:  # several workers: each publishes its counts there
            _tasks.append(
                asyncio.create_task(metrics.publish_forever(shared), name="metrics-publish")
            )
        from gateway import journal

        starter = getattr(journal, "start", None)
        if starter is not None:
            await starter()
        _started_loop = loop
        for factory in _start_hooks:
            _tasks.append(asyncio.create_task(factory(), name=getattr(factory, "__name__", "hook")))
        warm_up()
        freeze_startup_objects()


WARM_TEMPLATES = ("console/dashboard.html", "console/logs.html", "console/routes.html")


def warm_up() -> None:
    """Do at start-up what the first request would otherwise pay for: import the
    dialects' codecs and the upstream adapters (first API request), the URLconf (the
    console's views, the management API and its pydantic schemas), compile every URL
    pattern and fill the reverse lookups (the first ``{% url %}`` of a page, else 15-100 ms
    of it on the first console view) and compile the busiest templates (first console
    page). Measured on a loaded 2-core machine: the first dashboard view of a fresh
    process went from 0.6-1.2 s to the page's own cost."""
    from django.template.loader import get_template
    from django.urls import get_resolver

    try:
        # every client dialect's codec (the service itself is loaded already: each
        # caller of ensure_started imports it), and the adapters of the common kinds
        from gateway import codecs
        from gateway.providers import anthropic, echo, openai_compatible  # noqa: F401

        codecs.clients()  # reading every codec's client half loads it (lazy otherwise)

        # Importing the URLconf compiles no pattern; filling the reverse lookups compiles
        # every pattern below the root (resolving a path needs them too, and the root's).
        resolver = get_resolver()
        resolver.pattern.regex  # noqa: B018 - compiling it is the point
        resolver.reverse_dict  # noqa: B018 - filling it is the point
        for name in WARM_TEMPLATES:
            get_template(name)
    except Exception:  # a broken page must not stop the API from serving
        log.exception("warming up the console failed; pages will load on first use")


_frozen = False


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (Django, the registry, imported modules)
    out of the garbage collector's reach, once per process. Without it a full collection
    walks them all: measured 76-86 ms pauses of the event loop every few seconds under
    load (p99 at concurrency 1 went from 20-40 ms to 5 ms with it)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


async def _close_mcp() -> None:
    """Close the MCP sessions and upstream connections (stdio servers stopped), when
    this process ever used them (never imported otherwise)."""
    for name in ("gateway.mcp.endpoint", "gateway.mcp.pool"):
        module = sys.modules.get(name)
        if module is not None:
            try:
                await module.aclose()
            except Exception:
                log.exception("closing %s failed", name)


async def shutdown() -> None:
    """Stop background tasks and drain the journal (graceful shutdown)."""
    global _started_loop, _closing, _draining
    from gateway import journal
    from gateway.server import http

    await drain()  # a no-op when the server already drained before closing its sockets
    drain_journal = getattr(journal, "drain", None)
    if drain_journal is not None:
        try:
            await drain_journal()
        except Exception:
            log.exception("journal drain failed")
    from gateway.telemetry import metrics

    shared = metrics.shared_dir()
    if shared is not None:  # the final counts of this worker
        with contextlib.suppress(Exception):
            metrics.publish(shared)
    await _close_mcp()
    from gateway.server import loop_lag

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


async def lifespan(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """ASGI lifespan protocol (uvicorn, granian)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await ensure_started()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
