"""The shared counter service as its callers see it: its wire protocol, a worker's
connection to it, and the shelf of books it keeps, filled by registration.

``manage.py serve --workers N`` without Redis runs one counter service in the supervisor
(``gateway.server.counter_service``) so that the workers of one server count keys'
limits, budget holds, deployments' caps, cooldowns, sign-in failures and the reasoning
ledger together. This module is the part every layer may use:

- ``SOCKET_ENV``: the environment variable through which ``serve`` tells its workers
  where the service listens.
- ``CounterClient``: a worker's one persistent, pipelined connection (each line carries
  an id and the answer comes back with the same id, so any number of requests share the
  connection and each costs one local round trip); when the service cannot be reached,
  every request raises ``Unavailable`` at once and the caller falls back to counting in
  its own process. ``call_blocking``: one request from a caller outside the event loop.
- ``CounterBooks``: the state one service keeps, one of each book registered in
  ``gateway.base.hooks.counter_books`` (an attribute named as the book registered), and
  ``answer``, which carries out one request through the operation registered under its
  name in ``gateway.base.hooks.counter_ops``. The service knows no book by name: each
  book registers itself and its operations where it is defined (the limits',
  routing's cooldowns, access's sign-in attempts, core's reasoning ledger).

Wire format: one JSON array per line, ``[id, op, *args]`` in and ``[id, *answer]`` out
(or ``[null, *message]``, a message the service sends unasked: ``CounterBooks.push``);
``[id, "ping"]`` answers ``[id, "pong"]`` and a request the service could not carry out
``[id, "error", message]``. An operation may answer None: the request waits (a long
poll, such as ``cooldown_watch``), and the service asks it again after every later
operation of the same book (one whose name starts with the same word before ``_``) and
every ``WAKE_SECONDS``, until it answers; its caller's client needs a timeout longer
than the wait it asks for. Each operation's arguments and answers are documented with
its book. Money is counted in integer units of 1e-8 USD (the request log's precision).

It sits on the floor (``gateway/base``) because limits, routing, access and core talk to the service and
register books into it, while the process that serves it sits at the top (``server``).
This module imports no Django: the service runs in the supervisor process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Callable
from typing import Any

import orjson

from gateway.base import hooks

SOCKET_ENV = "SWITCHYARD_LIMITS_SOCKET"  # how ``serve`` tells its workers where it listens
WAKE_SECONDS = 0.05  # how often the service asks waiting requests again in any case


# --- the wire ---------------------------------------------------------------------------------


def encode_line(message: list[Any]) -> bytes:
    """One wire line. orjson (integer dict keys written as strings, as json writes
    them; a NaN or an infinity as null, which no book sends); what it refuses (an
    integer past 64 bits) is written by json."""
    try:
        return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def complete_lines(buffer: bytearray, data: bytes) -> list[bytes]:
    """Add what a read brought to ``buffer`` and take out the lines it completed (none
    while a line is still coming): both ends of a connection read lines this way."""
    searched = len(buffer)
    buffer += data
    end = buffer.rfind(b"\n", searched)
    if end < 0:
        return []
    lines = bytes(buffer[:end]).split(b"\n")
    del buffer[: end + 1]
    return lines


def decode_line(line: bytes) -> Any:
    """A wire line read; json reads what orjson refuses (an older peer's NaN)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


# --- the service's state ------------------------------------------------------------------------


class CounterBooks:
    """One of each registered book (``hooks.counter_books``), as attributes named as the
    books registered (``books.limits``, ``books.cooldowns`` ...), and the dispatch of a
    wire request to the operation registered under its name (``hooks.counter_ops``: a
    handler called with these books and the request's arguments, answering a list)."""

    def __init__(self) -> None:
        for name, make in hooks.counter_books.items():
            setattr(self, name, make())
        self.caller: Any = None  # the connection whose request is being carried out
        self.pushes: list[tuple[Any, list[Any]]] = []  # (connection, message) to send

    def gone(self, caller: Any) -> None:
        """A worker's connection closed: each book that keeps something for the
        connection's worker (a ``gone(caller)`` method) lets it go."""
        for name, _ in hooks.counter_books.items():
            forget = getattr(getattr(self, name), "gone", None)
            if forget is not None:
                forget(caller)

    def push(self, caller: Any, message: list[Any]) -> None:
        """Send ``message`` to the worker on ``caller`` (a ``caller`` of an earlier
        request) unasked, as ``[null, *message]``, once the current read is answered."""
        self.pushes.append((caller, message))

    def __getattr__(self, name: str) -> Any:
        """Only reached for a book that is not registered (typed ``Any`` for handlers)."""
        raise AttributeError(f"the counter service keeps no book {name!r}")

    def answer(self, request: list[Any]) -> list[Any] | None:
        """Carry out one wire request (without its id); None: it waits (a long poll)."""
        op, *args = request
        if op == "ping":
            return ["pong"]
        handler = hooks.counter_ops.get(op)
        if handler is None:
            raise ValueError(f"unknown operation {op!r}")
        reply: list[Any] | None = handler(self, *args)
        return reply


# --- a worker's connection ------------------------------------------------------------------


class Unavailable(ConnectionError):
    """The counter service cannot be reached (or did not answer in time)."""


def call_blocking(path: str, request: list[Any], timeout: float, service: str) -> list[Any]:
    """One request to the service at ``path`` on a connection of its own, for a caller
    outside the event loop: what follows the answer's "ok". Raises OSError (unreachable,
    timed out) or ValueError (any other answer, naming ``service``)."""
    line = encode_line([0, *request])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(line)
        with conn.makefile("rb") as answer:
            reply = decode_line(answer.readline() or b"null")
    if not isinstance(reply, list) or reply[1:2] != ["ok"]:
        raise ValueError(f"{service} answered {reply!r}")
    return reply[2:]


class CounterClient:
    """One pipelined connection to a ``CounterService``, per event loop.

    The first request connects. When the connection cannot be made or is lost, every
    request in flight and every later one raises ``Unavailable`` at once (never
    waiting on the hot path) while a background task reconnects every
    ``retry_seconds``. ``on_down(reason)`` and ``on_up()`` are called once per outage.
    """

    def __init__(
        self,
        path: str,
        timeout: float = 2.0,
        retry_seconds: float = 1.0,
        on_down: Callable[[str], None] | None = None,
        on_up: Callable[[], None] | None = None,
        on_push: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self.path = path
        self.on_push = on_push
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.on_down = on_down
        self.on_up = on_up
        self.down = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
        self._outbox: list[bytes] = []  # lines of this loop turn, written by ``_flush``
        self._ids = itertools.count()
        self._connecting: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, *request: Any) -> list[Any]:
        """Send one request; return its answer (without the id)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._bind(loop)
        if self._writer is None:
            if self.down:
                raise Unavailable(f"the counter service at {self.path} is unreachable")
            if self._connecting is None:
                self._connecting = loop.create_future()
                self._spawn(self._connect_once())
            await asyncio.shield(self._connecting)
            if self._writer is None:
                raise Unavailable(f"the counter service at {self.path} is unreachable")
        ident = next(self._ids)
        answer: asyncio.Future[list[Any]] = loop.create_future()
        self._pending[ident] = answer
        timer = loop.call_later(self.timeout, self._timed_out, ident)
        self._outbox.append(encode_line([ident, *request]))
        if len(self._outbox) == 1:  # the first of this loop turn's requests
            loop.call_soon(self._flush)
        try:
            reply = await answer
        finally:
            timer.cancel()
            self._pending.pop(ident, None)
        if reply and reply[0] == "error":
            raise RuntimeError(f"the counter service refused the request: {reply[1]}")
        return reply

    def _flush(self) -> None:
        """Write the requests of one loop turn in one write (concurrent requests' admissions
        and settles share a system call)."""
        lines, self._outbox = self._outbox, []
        writer = self._writer
        if writer is None:  # lost meanwhile: their waiters have failed already
            return
        try:
            writer.write(b"".join(lines))
        except (OSError, RuntimeError) as exc:  # the transport already broke
            self._lost(writer, exc)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new event loop (tests run one per test): forget the old loop's connection."""
        self._loop = loop
        self._writer = None
        self._pending = {}
        self._outbox = []
        self._connecting = None
        self._tasks = set()
        self.down = False

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await asyncio.wait_for(
            loop.create_unix_connection(lambda: _Answers(self), self.path), self.timeout
        )
        self._writer = transport

    async def _connect_once(self) -> None:
        try:
            await self._open()
        except (OSError, TimeoutError) as exc:
            self._lost(None, exc)
        finally:
            if self._connecting is not None and not self._connecting.done():
                self._connecting.set_result(None)
            self._connecting = None

    async def _reconnect(self) -> None:
        while self.down:
            await asyncio.sleep(self.retry_seconds)
            try:
                await self._open()
            except (OSError, TimeoutError):
                continue
            self.down = False
            if self.on_up is not None:
                self.on_up()

    def _answered(self, line: bytes) -> None:
        ident, *reply = decode_line(line)
        if ident is None:
            if self.on_push is not None:
                self.on_push(reply)
            return
        answer = self._pending.pop(ident, None)
        if answer is not None and not answer.done():
            answer.set_result(reply)

    def _timed_out(self, ident: int) -> None:
        if ident in self._pending:
            self._lost(self._writer, TimeoutError(f"no answer in {self.timeout:g}s"))

    def _lost(self, writer: asyncio.BaseTransport | None, exc: BaseException) -> None:
        """The connection failed: fail what waits on it, report once, reconnect."""
        if writer is not None:
            current: asyncio.BaseTransport | None = self._writer
            if writer is not current:
                return  # an old connection, already replaced
            self._writer = None
            writer.close()  # its connection_lost comes back here, and returns above
        self._writer = None
        pending = list(self._pending.values())
        self._pending.clear()
        for answer in pending:
            if not answer.done():
                answer.set_exception(Unavailable(str(exc) or type(exc).__name__))
        if not self.down:
            self.down = True
            if self.on_down is not None:
                self.on_down(f"{type(exc).__name__}: {exc}")
            self._spawn(self._reconnect())


class _Answers(asyncio.Protocol):
    """A ``CounterClient``'s connection: each read's answers handed to their waiters in
    the callback that received them (no reader task to wake, no stream to read lines
    from)."""

    def __init__(self, client: CounterClient) -> None:
        self.client = client
        self.transport: asyncio.BaseTransport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            for line in complete_lines(self.buffer, data):
                self.client._answered(line)
        except Exception as exc:  # a garbled answer: the connection cannot be trusted
            self.client._lost(self.transport, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost(
            self.transport, exc or Unavailable("the counter service closed the connection")
        )
