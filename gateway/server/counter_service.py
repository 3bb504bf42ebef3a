"""The counter service: the process side of the counters the workers of one server share
(``manage.py serve --workers N`` without Redis).

``CounterService`` serves a ``gateway.base.counters.CounterBooks`` (one of each book
registered in ``gateway.base.hooks.counter_books``: key limits, cooldowns, sign-in
attempts, the reasoning ledger) on a Unix domain socket, from a thread with its own
event loop; ``serve`` starts it in the supervisor before the workers
(``gateway.server.supervisor.start_service``). Each request is carried out by the
operation registered under its name (``gateway.base.hooks.counter_ops``), in one step
of the service's loop, so what it checks and changes is atomic across workers. With a
``tokenizer`` (``gateway.core.shared_tokenizer.TokenizerHost``) it also counts tokens
(``[id, "tokens", texts, wait]``), answered when counted, out of order, so that the
admissions behind a long text do not wait. A request whose operation answers None (a
long poll: ``cooldown_watch``) is held and asked again after each later operation of
its book and every ``WAKE_SECONDS``, then answered out of order too.

The wire format and a worker's connection are in ``gateway.base.counters``; each
operation is documented with its book. This module imports no Django: the service runs
in the supervisor process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from typing import Any, cast

from gateway.base.counters import (
    WAKE_SECONDS,
    CounterBooks,
    complete_lines,
    decode_line,
    encode_line,
)

log = logging.getLogger(__name__)


# --- the service ----------------------------------------------------------------------------


# The longest line the service reads: a ``tokens`` request carries a prompt's texts.
MAX_LINE_BYTES = 256 * 1024 * 1024


class CounterService:
    """The registered books (``store``, a ``CounterBooks``) served on the Unix socket
    ``path`` from a background thread; with a ``tokenizer``
    (``shared_tokenizer.TokenizerHost``) it also counts tokens."""

    def __init__(
        self, path: str, tokenizer: Any = None, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.store = CounterBooks()
        self.tokenizer = tokenizer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._connections: set[_Connection] = set()
        # requests held until their operation answers: (id, request, connection)
        self._waiting: list[tuple[Any, list[Any], _Connection]] = []

    def start(self, timeout: float = 10) -> None:
        """Listen on the socket (replacing a stale file) and return once it accepts."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            # asyncio's own loop, not uvloop: uvloop imports ``ssl`` (OpenSSL's libraries
            # and set-up, which the supervisor leaves out: ``supervisor.command``) and made
            # no round trip faster measured (``bench/round_trips.py``: 25-31 µs p50 either)
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # reported to start() or logged below
                failure.append(exc)
                if ready.is_set():
                    log.exception("limits: the counter service stopped")
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="switchyard-counters", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"the counter service did not start on {self.path}")
        if failure:
            raise RuntimeError(f"the counter service could not listen on {self.path}: {failure[0]}")

    def stop(self, timeout: float = 5) -> None:
        """Close the socket and every connection, remove the socket file."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, ready: threading.Event) -> None:
        self._stopped = asyncio.Event()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        loop = asyncio.get_running_loop()
        # Only this user's processes may count: the socket is made 0600 (umask while
        # binding; start() blocks the only other thread of the serve process meanwhile).
        umask = os.umask(0o177)
        try:
            server = await loop.create_unix_server(lambda: _Connection(self), path=self.path)
        finally:
            os.umask(umask)
        os.chmod(self.path, 0o600)
        ready.set()
        waker = asyncio.ensure_future(self._wake_periodically())
        async with server:
            await self._stopped.wait()
            waker.cancel()
            server.close()
            for connection in list(self._connections):
                connection.close()
            await server.wait_closed()

    def _answer_lines(self, connection: _Connection, lines: list[bytes]) -> bytes | None:
        """Carry out the requests of one read, in order; what to write back at once (the
        answers of one read go in one write), or None when the connection must go."""
        answer = self.store.answer
        answers: list[bytes] = []
        for line in lines:
            if len(line) > self.max_line_bytes:
                log.warning("limits: dropping a connection that sent an overlong line")
                return None
            try:
                request = decode_line(line)
                ident = request[0]
            except (ValueError, IndexError, TypeError, KeyError):
                log.warning("limits: dropping a connection that sent %r", line[:100])
                return None
            if request[1:2] == ["tokens"] and self.tokenizer is not None:
                # answered when counted; admissions behind it do not wait
                connection.count(self._count(ident, request[2:], connection))
                continue
            self.store.caller = connection
            try:
                answered = answer(request[1:])
            except Exception as exc:  # a bad request must not stop the service
                answered = ["error", f"{type(exc).__name__}: {exc}"]
            if answered is None:  # a long poll: held until it answers
                self._waiting.append((ident, request[1:], connection))
                continue
            answers.append(encode_line([ident, *answered]))
            if self._waiting:
                self._wake(str(request[1]).partition("_")[0])
        return b"".join(answers)

    def _push(self) -> None:
        """Send what the books asked to send unasked (``CounterBooks.push``)."""
        pushes, self.store.pushes = self.store.pushes, []
        for caller, message in pushes:
            if isinstance(caller, _Connection):
                caller.write(encode_line([None, *message]))

    def _wake(self, book: str | None) -> None:
        """Ask the held requests (of ``book``'s operations; None: all) again; write the
        answers of those that answer now."""
        still: list[tuple[Any, list[Any], _Connection]] = []
        for ident, request, connection in self._waiting:
            if book is not None and str(request[0]).partition("_")[0] != book:
                still.append((ident, request, connection))
                continue
            self.store.caller = connection
            try:
                answered = self.store.answer(request)
            except Exception as exc:
                answered = ["error", f"{type(exc).__name__}: {exc}"]
            if answered is None:
                still.append((ident, request, connection))
                continue
            connection.write(encode_line([ident, *answered]))
        self._waiting = still
        self._push()

    async def _wake_periodically(self) -> None:
        """Held requests answer their timeouts even when nothing else happens."""
        while True:
            await asyncio.sleep(WAKE_SECONDS)
            if self._waiting:
                self._wake(None)

    async def _count(self, ident: Any, args: list[Any], connection: _Connection) -> None:
        try:
            reply = [ident, *await self.tokenizer.answer(*args)]
        except Exception as exc:  # a bad request must not stop the service
            reply = [ident, "error", f"{type(exc).__name__}: {exc}"]
        connection.write(encode_line(reply))


class _Connection(asyncio.Protocol):
    """One worker's connection: each read's complete lines answered in the callback
    that received them (no reader task to wake, no stream to read lines from: a round
    trip costs the service one wakeup's work). While the worker does not read what is
    written (past the transport's high-water mark), its requests are not read either."""

    def __init__(self, service: CounterService) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.counting: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.service._connections.add(self)

    def data_received(self, data: bytes) -> None:
        lines = complete_lines(self.buffer, data)
        if not lines:
            if len(self.buffer) > self.service.max_line_bytes:
                log.warning("limits: dropping a connection that sent an overlong line")
                self.close()
            return
        answers = self.service._answer_lines(self, lines)
        if answers is None:
            self.close()
        elif answers:
            self.write(answers)
        # after the answers: a worker asked to report has heard what it was granted
        self.service._push()

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def count(self, work: Any) -> None:
        """Count tokens in a task of its own, answered when done."""
        task = asyncio.ensure_future(work)
        self.counting.add(task)
        task.add_done_callback(self.counting.discard)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        service = self.service
        for task in self.counting:
            task.cancel()
        service._waiting = [held for held in service._waiting if held[2] is not self]
        service._connections.discard(self)
        service.store.gone(self)
        self.transport = None
