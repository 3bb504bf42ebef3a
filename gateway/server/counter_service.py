"""Per-key rate and budget counters, and a small service sharing them between the worker
processes of one server (``manage.py serve --workers N``) when there is no Redis.

- ``CounterStore`` holds the counters and decides admissions: a sliding 60-second
  window of requests and tokens per key, and the spend of each key's current budget
  period. It is plain synchronous Python: a worker uses one directly for its own
  counters, and the service uses one for everybody.
- ``CounterService`` serves a store on a Unix domain socket from a thread with its own
  event loop (``serve`` starts it in the supervisor, before the workers).
- ``CounterClient`` is a worker's one persistent connection to it. Requests are
  pipelined: each line carries an id and the answer comes back with the same id, so
  any number of admissions share the connection and each costs one local round trip.

Wire format: one JSON array per line, ``[id, op, *args]`` in and ``[id, *answer]`` out.

- ``[id, "admit", key_id, rpm, tpm, tokens, budget, period, at, initial, hold,
  hold_ttl]`` answers ``["ok", second]`` or, with a ``hold``, ``["ok", second,
  hold_id]`` (``second`` identifies the tokens reserved, ``null`` when the key has no
  rpm/tpm; ``hold_id`` the ``hold`` units of budget held for ``hold_ttl`` seconds;
  ``hold`` and ``hold_ttl`` may be left out), ``["load"]`` (the
  period's spend is unknown: send it again with ``initial``, the spend read from the
  request log), ``["budget", spent]``, ``["held", spent, held]`` (the hold does not fit
  beside the other requests' holds), ``["rpm", wait]`` or ``["tpm", wait]``.
- ``[id, "admit_all", tokens, at, hold, hold_ttl, [[counter_id, rpm, tpm, budget,
  period, initial], ...]]``: one request against a key and its team together (a team
  counts under the negative of its id); all are checked before any is reserved. Answers
  ``["ok", [[second, hold_id], ...]]`` or ``[reason, index, *detail]`` as above for the
  subject at ``index``.
- ``[id, "settle", key_id, second, delta, period, cost, initial, hold_period, hold_id]``
  releases the hold, adds ``cost``, corrects the tokens; answers ``["ok"]`` or
  ``["load"]``. A negative ``cost`` (spend given back) lowers a loaded spend, never
  below 0, and leaves one not loaded alone.
- ``[id, "claim", deployment_id, rpm, tpm, minute]`` counts one request against a
  deployment's caps for the (epoch) ``minute``: ``["ok"]``, or ``["full"]`` when the
  minute's requests reached ``rpm`` or its tokens ``tpm`` (nothing counted then).
- ``[id, "used", deployment_id, minute, tokens]`` adds the tokens a deployment served
  to its minute (for ``tpm``); answers ``["ok"]``.

- ``[id, "cooldown_failed" | "cooldown_succeeded" | "cooldown_probe" |
  "cooldown_release" | "cooldown_view", ...]``: deployments' cooldowns shared by the
  workers (``gateway/policy/cooldown_book.py``).
- ``[id, "ledger_put" | "ledger_get", ...]``: the reasoning ledger shared by the workers
  when there is no Redis (``gateway/core/ledger_book.py``).

Money is counted in integer units of 1e-8 USD (the request log's precision); ``budget``
is -1 for none, ``initial`` is ``null`` unless answering ``"load"``. Everything one
admission checks and reserves happens in one step of the service's loop, so it is
atomic across workers.

This module imports no Django: the service runs in the supervisor process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from gateway.core.ledger_book import SharedLedger
from gateway.policy.budget_holds import Holds
from gateway.policy.cooldown_book import CooldownBook
from gateway.policy.login_attempts import LoginAttempts

log = logging.getLogger(__name__)

WINDOW = 60  # seconds
SOCKET_ENV = "SWITCHYARD_LIMITS_SOCKET"  # how ``serve`` tells its workers where it listens


# --- the counters ---------------------------------------------------------------------------


class Window:
    """Requests and tokens in one-second buckets over the last WINDOW seconds."""

    __slots__ = ("buckets", "requests", "tokens")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [second, requests, tokens]
        self.requests = 0
        self.tokens = 0

    def prune(self, second: int) -> None:
        while self.buckets and self.buckets[0][0] <= second - WINDOW:
            _, requests, tokens = self.buckets.popleft()
            self.requests -= requests
            self.tokens -= tokens

    def add(self, second: int, tokens: int) -> int:
        """Count one request of ``tokens``; return the second of the bucket that holds it
        (a late caller whose clock read an earlier second joins the newest bucket, so the
        buckets stay in order)."""
        if not self.buckets or self.buckets[-1][0] < second:
            self.buckets.append([second, 0, 0])
        bucket = self.buckets[-1]
        bucket[1] += 1
        bucket[2] += tokens
        self.requests += 1
        self.tokens += tokens
        return bucket[0]

    def correct(self, second: int, delta: int) -> None:
        """Replace part of a reservation's estimate by the real count (if still held)."""
        for bucket in self.buckets:
            if bucket[0] == second:
                bucket[2] += delta
                self.tokens += delta
                return

    def wait(self, at: float, column: int, total: int, need: int, limit: int) -> float:
        """Seconds until old buckets free enough room for ``need`` more."""
        freed = 0
        for bucket in self.buckets:
            freed += bucket[column]
            if total - freed + need <= limit:
                return bucket[0] + WINDOW - at
        return float(WINDOW)


class CounterStore:
    """Every key's windows and budget spend; ``admit`` checks and reserves at once.
    Deployments' caps count per epoch minute (``claim``, ``used``), as routing does in a
    single process."""

    def __init__(self) -> None:
        self.windows: dict[int, Window] = {}
        self.spend: dict[tuple[int, str], int] = {}  # (key id, period id) -> 1e-8 USD
        self.holds = Holds()  # budget held by requests in flight
        self.minutes: dict[int, list[int]] = {}  # deployment id -> [minute, requests, tokens]
        self.cooldowns = CooldownBook()  # deployments' shared cooldowns ("cooldown_*" ops)
        self.ledger = SharedLedger()  # signed reasoning between turns ("ledger_*" ops)

    def _minute(self, deployment_id: int, minute: int) -> list[int]:
        """The deployment's counts of the newest minute anyone asked about (a late
        caller whose clock read the minute before counts in the newer one)."""
        entry = self.minutes.get(deployment_id)
        if entry is None or entry[0] < minute:
            entry = self.minutes[deployment_id] = [minute, 0, 0]
        return entry

    def claim(self, deployment_id: int, rpm: int, tpm: int, minute: int) -> list[Any]:
        entry = self._minute(deployment_id, minute)
        if (rpm and entry[1] >= rpm) or (tpm and entry[2] >= tpm):
            return ["full"]
        entry[1] += 1
        return ["ok"]

    def used(self, deployment_id: int, minute: int, tokens: int) -> list[Any]:
        entry = self._minute(deployment_id, minute)
        if entry[0] == minute:  # tokens of a minute that is over count for nothing
            entry[2] += max(0, int(tokens))
        return ["ok"]

    def _spent(self, key_id: int, period: str, initial: int | None) -> int | None:
        spent = self.spend.get((key_id, period))
        if spent is None and initial is not None:
            # A key has one current period: drop the ones before it.
            for stale in [k for k in self.spend if k[0] == key_id]:
                del self.spend[stale]
            spent = self.spend[(key_id, period)] = int(initial)
        return spent

    def admit(
        self,
        key_id: int,
        rpm: int,
        tpm: int,
        tokens: int,
        budget: int,
        period: str,
        at: float,
        initial: int | None = None,
        hold: int = 0,
        hold_ttl: float = 0,
    ) -> list[Any]:
        hold = hold if budget >= 0 else 0
        if budget >= 0:
            spent = self._spent(key_id, period, initial)
            if spent is None:
                return ["load"]
            if spent >= budget:
                return ["budget", spent]
            if hold:
                # What the request may cost must fit what is left beside the requests
                # in flight, alone too: a budget is never overrun by a request's hold
                held = self.holds.held(key_id, period, at)
                if spent + held + hold > budget:
                    return ["held", spent, held]
        if not rpm and not tpm:
            return self._ok(None, key_id, period, hold, at + hold_ttl)
        second = int(at)
        window = self.windows.get(key_id)
        if window is None:
            window = self.windows[key_id] = Window()
        window.prune(second)
        if rpm and window.requests + 1 > rpm:
            return ["rpm", window.wait(at, 1, window.requests, 1, rpm)]
        # A request larger than the whole allowance passes when the window is empty,
        # so that a small tpm never locks a key out for good.
        if tpm and window.tokens and window.tokens + tokens > tpm:
            return ["tpm", window.wait(at, 2, window.tokens, tokens, tpm)]
        return self._ok(window.add(second, tokens), key_id, period, hold, at + hold_ttl)

    def admit_all(
        self, tokens: int, at: float, hold: int, hold_ttl: float, subjects: list[list[Any]]
    ) -> list[Any]:
        """Admit one request against several counters at once (a key and its team): each
        subject ``[counter_id, rpm, tpm, budget, period, initial]`` is checked first and
        only if all pass is anything reserved. Answers ``["ok", [[second, hold_id],
        ...]]`` or a refusal of one subject: ``[reason, index, *detail]`` (``"load"``:
        send that subject's ``initial``)."""
        for index, (counter_id, rpm, tpm, budget, period, initial) in enumerate(subjects):
            refusal = self._check(counter_id, rpm, tpm, tokens, budget, period, at, initial, hold)
            if refusal is not None:
                return [refusal[0], index, *refusal[1:]]
        taken = []
        for counter_id, rpm, tpm, budget, period, _ in subjects:
            second = None
            if rpm or tpm:
                second = self.windows.setdefault(counter_id, Window()).add(int(at), tokens)
            hold_id = None
            if hold > 0 and budget >= 0:
                hold_id = self.holds.take(counter_id, period, hold, at + hold_ttl)
            taken.append([second, hold_id])
        return ["ok", taken]

    def _check(
        self,
        counter_id: int,
        rpm: int,
        tpm: int,
        tokens: int,
        budget: int,
        period: str,
        at: float,
        initial: int | None,
        hold: int,
    ) -> list[Any] | None:
        """Why one subject cannot take one more request now (None: it can)."""
        if budget >= 0:
            spent = self._spent(counter_id, period, initial)
            if spent is None:
                return ["load"]
            if spent >= budget:
                return ["budget", spent]
            if hold > 0:
                held = self.holds.held(counter_id, period, at)
                if spent + held + hold > budget:
                    return ["held", spent, held]
        if not rpm and not tpm:
            return None
        window = self.windows.get(counter_id)
        if window is None:
            return None
        window.prune(int(at))
        if rpm and window.requests + 1 > rpm:
            return ["rpm", window.wait(at, 1, window.requests, 1, rpm)]
        if tpm and window.tokens and window.tokens + tokens > tpm:
            return ["tpm", window.wait(at, 2, window.tokens, tokens, tpm)]
        return None

    def _ok(
        self, second: int | None, key_id: int, period: str, hold: int, expires: float
    ) -> list[Any]:
        """An admission's answer; with a hold, the hold's id too."""
        if hold <= 0:
            return ["ok", second]
        return ["ok", second, self.holds.take(key_id, period, hold, expires)]

    def settle(
        self,
        key_id: int,
        second: int | None,
        delta: int,
        period: str,
        cost: int,
        initial: int | None = None,
        hold_period: str | None = None,
        hold: int | None = None,
    ) -> list[Any]:
        if hold is not None and hold_period is not None:
            self.holds.release(key_id, hold_period, hold)
        if cost:
            spent = self._spent(key_id, period, initial if cost > 0 else None)
            if spent is None and cost > 0:
                return ["load"]
            if spent is not None:  # a give-back on a spend not loaded yet: nothing to do
                self.spend[(key_id, period)] = max(0, spent + cost)
        if second is not None and delta:
            window = self.windows.get(key_id)
            if window is not None:
                window.correct(second, delta)
        return ["ok"]

    def forget(self, key_id: int) -> None:
        self.windows.pop(key_id, None)
        self.holds.forget(key_id)
        for stale in [k for k in self.spend if k[0] == key_id]:
            del self.spend[stale]

    def answer(self, request: list[Any]) -> list[Any]:
        """Carry out one wire request (without its id)."""
        op, *args = request
        if op == "admit":
            return self.admit(*args)
        if op == "admit_all":
            return self.admit_all(*args)
        if op == "settle":
            return self.settle(*args)
        if op == "claim":
            return self.claim(*args)
        if op == "used":
            return self.used(*args)
        if op == "ping":
            return ["pong"]
        if op.startswith("cooldown_"):
            return self.cooldowns.answer(op, args)
        if op.startswith("ledger_"):
            return self.ledger.answer(op, args)
        if (
            op == "login"
        ):  # sign-in throttling, shared by the workers (gateway.policy.login_attempts)
            if not hasattr(self, "logins"):
                self.logins = LoginAttempts()
            return self.logins.answer(*args)
        raise ValueError(f"unknown operation {op!r}")


# --- the service ----------------------------------------------------------------------------


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it is with uvicorn[standard]): a faster round trip."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# The longest line the service reads: a ``tokens`` request carries a prompt's texts.
MAX_LINE_BYTES = 256 * 1024 * 1024


class CounterService:
    """A ``CounterStore`` served on the Unix socket ``path`` from a background thread;
    with a ``tokenizer`` (``shared_tokenizer.TokenizerHost``) it also counts tokens."""

    def __init__(
        self, path: str, tokenizer: Any = None, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.store = CounterStore()
        self.tokenizer = tokenizer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    def start(self, timeout: float = 10) -> None:
        """Listen on the socket (replacing a stale file) and return once it accepts."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = _new_loop()
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
        # Only this user's processes may count: the socket is made 0600 (umask while
        # binding; start() blocks the only other thread of the serve process meanwhile).
        umask = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(
                self._client, path=self.path, limit=self.max_line_bytes
            )
        finally:
            os.umask(umask)
        os.chmod(self.path, 0o600)
        ready.set()
        async with server:
            await self._stopped.wait()
            server.close()
            for writer in self._handlers.values():
                writer.close()  # each handler then reads the end and returns
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers[handler] = writer
        answer, dumps = self.store.answer, json.dumps
        counting: set[asyncio.Task[None]] = set()
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    ident = request[0]
                except (ValueError, IndexError, TypeError):
                    log.warning("limits: dropping a connection that sent %r", line[:100])
                    return
                if request[1:2] == ["tokens"] and self.tokenizer is not None:
                    # answered when counted; admissions behind it do not wait
                    task = asyncio.ensure_future(self._count(ident, request[2:], writer))
                    counting.add(task)
                    task.add_done_callback(counting.discard)
                    continue
                try:
                    reply = [ident, *answer(request[1:])]
                except Exception as exc:  # a bad request must not stop the service
                    reply = [ident, "error", f"{type(exc).__name__}: {exc}"]
                writer.write(dumps(reply, separators=(",", ":")).encode() + b"\n")
                await writer.drain()
        except ValueError:  # a line longer than the stream's limit
            log.warning("limits: dropping a connection that sent an overlong line")
        except ConnectionError:
            pass
        finally:
            for task in counting:
                task.cancel()
            self._handlers.pop(handler, None)
            writer.close()

    async def _count(self, ident: Any, args: list[Any], writer: asyncio.StreamWriter) -> None:
        try:
            reply = [ident, *await self.tokenizer.answer(*args)]
        except Exception as exc:  # a bad request must not stop the service
            reply = [ident, "error", f"{type(exc).__name__}: {exc}"]
        with contextlib.suppress(ConnectionError):
            writer.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            await writer.drain()


# --- a worker's connection ------------------------------------------------------------------


class Unavailable(ConnectionError):
    """The counter service cannot be reached (or did not answer in time)."""


def call_blocking(path: str, request: list[Any], timeout: float, service: str) -> list[Any]:
    """One request to the service at ``path`` on a connection of its own, for a caller
    outside the event loop: what follows the answer's "ok". Raises OSError (unreachable,
    timed out) or ValueError (any other answer, naming ``service``)."""
    line = json.dumps([0, *request], separators=(",", ":")).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(line)
        with conn.makefile("rb") as answer:
            reply = json.loads(answer.readline() or b"null")
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
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.on_down = on_down
        self.on_up = on_up
        self.down = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
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
        line = json.dumps([ident, *request], separators=(",", ":")).encode() + b"\n"
        writer = self._writer
        try:
            try:
                writer.write(line)
            except (OSError, RuntimeError) as exc:  # the transport already broke
                self._lost(writer, exc)
            reply = await answer
        finally:
            timer.cancel()
            self._pending.pop(ident, None)
        if reply and reply[0] == "error":
            raise RuntimeError(f"the counter service refused the request: {reply[1]}")
        return reply

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new event loop (tests run one per test): forget the old loop's connection."""
        self._loop = loop
        self._writer = None
        self._pending = {}
        self._connecting = None
        self._tasks = set()
        self.down = False

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.path), self.timeout
        )
        self._writer = writer
        self._spawn(self._read(reader, writer))

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

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loads = json.loads
        try:
            while line := await reader.readline():
                ident, *reply = loads(line)
                answer = self._pending.pop(ident, None)
                if answer is not None and not answer.done():
                    answer.set_result(reply)
            raise Unavailable("the counter service closed the connection")
        except asyncio.CancelledError:
            writer.close()
            raise
        except Exception as exc:
            self._lost(writer, exc)

    def _timed_out(self, ident: int) -> None:
        if ident in self._pending:
            self._lost(self._writer, TimeoutError(f"no answer in {self.timeout:g}s"))

    def _lost(self, writer: asyncio.StreamWriter | None, exc: BaseException) -> None:
        """The connection failed: fail what waits on it, report once, reconnect."""
        if writer is not None:
            if writer is not self._writer:
                return  # an old connection, already replaced
            writer.close()
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
