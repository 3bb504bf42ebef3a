"""Request callbacks (``hooks.request_callbacks``, the plugin API's third hook): each
journaled request, as a read-only ``RequestOutcome``, to every callback registered.

The invariant: a callback costs a request nothing it can notice, and nothing at all when
none is registered.
- The dispatcher subscribes to the journal only while a callback is registered; the
  subscriber runs where the journal's do (after the reply is written) and only makes
  the outcome and puts it on a bounded queue, never waiting: a full queue drops the
  outcome (counted in ``stats``, warned about at most once a minute).
- One daemon thread per process calls the callbacks, each outcome to each in
  registration order. One that raises is logged and the next still runs; one that is
  slow holds up only the outcomes behind it, never a request.
- At shutdown (``hooks.drainers``) the queue gets ``DRAIN_SECONDS`` to empty."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable

from gateway import journal
from gateway.base import hooks
from gateway.base.plugins import RequestOutcome
from gateway.journal.record import Record

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000  # outcomes waiting for the callbacks; more are dropped
DRAIN_SECONDS = 5.0
WARN_EVERY = 60.0  # seconds between two warnings of dropped outcomes

Callback = Callable[[RequestOutcome], object]


def outcome(rec: Record) -> RequestOutcome:
    """What a callback sees of ``rec``."""
    return RequestOutcome(
        request_id=rec.request_id,
        success=200 <= rec.status < 400 and not rec.error_kind,
        status=rec.status,
        endpoint=rec.endpoint,
        route=rec.route,
        model=rec.upstream_model,
        provider=rec.provider,
        key_id=rec.key_id,
        key_name=rec.key_name,
        input_tokens=rec.input_tokens,
        output_tokens=rec.output_tokens,
        cache_read_tokens=rec.cache_read_tokens,
        cache_write_tokens=rec.cache_write_tokens,
        cost_usd=rec.cost_usd,
        latency_ms=rec.latency_ms,
        ttft_ms=rec.ttft_ms,
        stream=rec.stream,
        cache_hit=rec.cache_hit,
        error_kind=rec.error_kind,
        error=rec.error_message,
        tags=tuple(rec.tags),
        created_at=rec.created_at,
    )


class Dispatcher:
    """The bounded queue and the thread that empties it into the callbacks."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._queue: queue.Queue[RequestOutcome] = queue.Queue(size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.delivered = 0
        self.dropped = 0
        self.failures = 0
        self._warned = 0.0

    def observe(self, rec: Record) -> None:
        """The journal's subscriber: the outcome queued, never waiting."""
        try:
            self._queue.put_nowait(outcome(rec))
        except queue.Full:
            self.dropped += 1
            now = time.monotonic()
            if now - self._warned >= WARN_EVERY:
                self._warned = now
                log.warning(
                    "request callbacks: %d outcome(s) dropped so far; the queue of %d is "
                    "full (a callback is slower than the requests)",
                    self.dropped,
                    self._queue.maxsize,
                )
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="request-callbacks", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                for callback in hooks.request_callbacks:
                    try:
                        callback(item)
                    except Exception:
                        self.failures += 1
                        log.exception("request callback %r failed", callback)
                self.delivered += 1
            finally:
                self._queue.task_done()

    def flush(self, within: float) -> bool:
        """Wait up to ``within`` seconds for every queued outcome to be called back;
        whether they were (blocking: a thread's, or a test's)."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, within)

    def pending(self) -> int:
        """Outcomes queued or being called back."""
        return self._queue.unfinished_tasks

    def stats(self) -> dict[str, int]:
        return {
            "queued": self._queue.qsize(),
            "delivered": self.delivered,
            "dropped": self.dropped,
            "failures": self.failures,
        }


DISPATCHER = Dispatcher()


def register(callback: Callback) -> Callback:
    """Call ``callback`` after each request from now on (the plugin sink of
    ``request_callbacks``); the journal tells the dispatcher from the first one on."""
    hooks.request_callbacks.register(callback)
    journal.subscribe(DISPATCHER.observe)
    return callback


def unregister(callback: Callback) -> None:
    hooks.request_callbacks.unregister(callback)
    if not len(hooks.request_callbacks):
        journal.unsubscribe(DISPATCHER.observe)


async def drain() -> None:
    """At shutdown (``hooks.drainers``): the queued outcomes called back, or
    ``DRAIN_SECONDS`` passed."""
    if DISPATCHER.pending():
        await asyncio.to_thread(DISPATCHER.flush, DRAIN_SECONDS)
