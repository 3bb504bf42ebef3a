"""One tokenizer for every worker of ``manage.py serve --workers N``.

tiktoken's cl100k table costs about 45 MB in each process that loads it. With several
workers, the supervisor (``gateway.server.supervisor``) hosts the only copy: its counter
service (``gateway.server.counter_service``) also answers ``[id, "tokens", texts, wait]`` with
``["ok", counts]`` (one count per text, by ``gateway.core.tokens``' own tokenizer, so exactly
what a worker would count itself) or, while the table is still loading and ``wait`` is
false, ``["loading"]``. The workers find it through ``SWITCHYARD_TOKENIZER_SOCKET``.

- ``TokenizerHost`` is the supervisor's half: it loads the tokenizer on the first
  request (in a thread: the service's loop keeps answering admissions) and counts short
  texts on the loop, long ones in a thread (tiktoken releases the GIL). When nothing
  asked for a count for ``SWITCHYARD_TOKENIZER_IDLE_SECONDS`` (600; 0: never) it lets
  the table go (about 25 MB of the supervisor): the next request loads it again, and
  until then is answered ``["loading"]``, as at start.
- ``SharedTokenizer`` is a worker's half: one pipelined connection of its own (a long
  text never delays an admission on the counters' connection), and a blocking variant
  for callers in a thread.

This module imports no Django: the host runs in the supervisor process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateway.base.counters import CounterClient, call_blocking

log = logging.getLogger(__name__)

TOKENIZER_ENV = "SWITCHYARD_TOKENIZER_SOCKET"
IDLE_ENV = "SWITCHYARD_TOKENIZER_IDLE_SECONDS"
# Unused this long, the supervisor's table is let go: loading it again costs a thread
# about half a second of CPU, so a server counting now and then keeps it, and one that
# stopped serving the requests that count gives back its memory.
DEFAULT_IDLE_SECONDS = 600.0
# Texts up to this many characters in all are counted on the service's loop (tens of
# microseconds); more go to a thread.
INLINE_CHARS = 2048
# A worker waits this long for an answer before it counts by itself.
TIMEOUT_SECONDS = 30.0
# Threads counting long texts: few and the same ones, since each thread that tokenizes
# gets its own copy of tiktoken's regex caches (and its own malloc arena).
COUNT_THREADS = 2


def _release_unused_memory() -> None:
    """Give the allocator's free pages back (loading the table leaves garbage)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def idle_seconds() -> float:
    """``SWITCHYARD_TOKENIZER_IDLE_SECONDS``: how long the supervisor keeps an unused
    tokenizer (0 or less: for good)."""
    raw = os.environ.get(IDLE_ENV, "").strip()
    if not raw:
        return DEFAULT_IDLE_SECONDS
    try:
        return max(0.0, float(raw))
    except ValueError:
        log.warning(
            "%s=%r is not a number of seconds; using %s", IDLE_ENV, raw, DEFAULT_IDLE_SECONDS
        )
        return DEFAULT_IDLE_SECONDS


class TokenizerHost:
    """The supervisor's tokenizer, loaded on first use, let go when unused."""

    def __init__(self, load: Callable[[], Callable[[str], int]], idle: float | None = None) -> None:
        """``load`` builds the text -> token count function (``token_pieces.load_encoder``:
        a copy of its own; the supervisor tokenizes nothing else). ``idle``: seconds
        without a request before it is let go (``idle_seconds()`` unless given)."""
        self._load = load
        self.idle = idle_seconds() if idle is None else idle
        self._count: Callable[[str], int] | None = None
        self._lock = threading.Lock()
        self._loaded = threading.Event()
        self._loading = False
        self._threads: ThreadPoolExecutor | None = None
        self._used_at = 0.0  # time.monotonic() of the last request
        self._idle_check: asyncio.TimerHandle | None = None

    @property
    def loaded(self) -> bool:
        return self._count is not None

    def _start_loading(self) -> None:
        with self._lock:
            if self._loading:
                return
            self._loading = True
        threading.Thread(target=self._load_now, name="tokenizer-load", daemon=True).start()

    def _load_now(self) -> None:
        try:
            self._count = self._load()
            _release_unused_memory()
        finally:
            self._loaded.set()

    async def answer(self, texts: list[str], wait: bool) -> list[Any]:
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError("tokens takes a list of strings")
        self._used_at = time.monotonic()
        if self._count is None:
            self._start_loading()
            if not wait:
                return ["loading"]
            await asyncio.to_thread(self._loaded.wait)
        count = self._count
        if count is None:
            raise RuntimeError("the tokenizer did not load")
        if self._idle_check is None and self.idle > 0:
            self._idle_check = asyncio.get_running_loop().call_later(self.idle, self._check_idle)
        if sum(map(len, texts)) <= INLINE_CHARS:
            return ["ok", [count(text) for text in texts]]
        if self._threads is None:
            self._threads = ThreadPoolExecutor(COUNT_THREADS, thread_name_prefix="tokenizer")
        loop = asyncio.get_running_loop()
        counts = await loop.run_in_executor(self._threads, lambda: [count(t) for t in texts])
        return ["ok", counts]

    def _check_idle(self) -> None:
        """On the service's loop: let the tokenizer go once unused for ``idle`` seconds,
        else look again when that would be."""
        self._idle_check = None
        if self._count is None or self.idle <= 0:  # (0: kept for good, a check pending too)
            return
        quiet = time.monotonic() - self._used_at
        loop = asyncio.get_running_loop()
        if quiet < self.idle:
            self._idle_check = loop.call_later(self.idle - quiet, self._check_idle)
            return
        with self._lock:
            if not self._loaded.is_set():  # a load under way
                return
            self._count = None
            self._loading = False
            self._loaded = threading.Event()  # the next load's
            threads, self._threads = self._threads, None
        log.info("tokens: the shared tokenizer went unused for %.0f s; letting it go", quiet)
        # a count still running in a thread holds its own reference until it ends
        loop.run_in_executor(None, self._release, threads)

    @staticmethod
    def _release(threads: ThreadPoolExecutor | None) -> None:
        """Free what the tokenizer held (off the service's loop: the collector and the
        allocator's trim take milliseconds)."""
        if threads is not None:
            threads.shutdown(wait=True)
        gc.collect()
        _release_unused_memory()


class SharedTokenizer:
    """A worker's way to the supervisor's tokenizer at ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.client = CounterClient(
            path, timeout=TIMEOUT_SECONDS, on_down=self._down, on_up=self._up
        )

    @property
    def down(self) -> bool:
        return self.client.down

    async def count(self, texts: list[str]) -> list[int] | None:
        """Each text's tokens, or None while the supervisor's tokenizer is loading.
        Raises ``gateway.base.counters.Unavailable`` when the service cannot be reached."""
        reply = await self.client.call("tokens", texts, False)
        return reply[1] if reply[0] == "ok" else None

    def count_blocking(self, texts: list[str], timeout: float = TIMEOUT_SECONDS) -> list[int]:
        """Each text's tokens, waiting for the tokenizer to load if it must; for a
        caller outside the event loop (a connection of its own for the call). Raises
        OSError or ValueError when the service cannot answer."""
        request = ["tokens", texts, True]
        counts: list[int] = call_blocking(self.path, request, timeout, "the tokenizer service")[0]
        return counts

    def _down(self, reason: str) -> None:
        log.warning(
            "tokens: the shared tokenizer at %s is unreachable (%s); this worker loads its own",
            self.path,
            reason,
        )

    def _up(self) -> None:
        log.info("tokens: the shared tokenizer is back")
