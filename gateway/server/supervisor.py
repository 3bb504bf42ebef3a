"""The parent process of ``manage.py serve --workers N``, without Django or uvicorn.

``serve`` migrates, collects static files and decides everything that needs the
settings, then replaces itself (``exec``, same process id) with this module: the
process that stays for the server's lifetime binds the listening socket, starts the
workers (``gateway.server.worker``, each a uvicorn server on that socket) and watches them,
and hosts the counter service (exact key limits across workers,
``gateway.server.counter_service``) and the workers' one tokenizer
(``gateway.core.shared_tokenizer``). Loading Django there cost about 110 MB that served no
request; uvicorn's own supervision (multiprocessing, its CLI, its reloaders) about 15 MB
more, and a health-check thread and pipe in every worker.

    python -c 'from gateway.server.supervisor import main; main()' '<plan as JSON>'

The plan (``Plan``) is what ``serve`` decided: uvicorn's options, the socket of the
service, whether the workers share key counters through it (not with Redis), and the
modules that register the service's books (``gateway.apps.counter_books()``: the supervisor
imports them by name and knows none of them).

What the supervisor does with its workers (``Supervisor``), as uvicorn's did:

- SIGINT or SIGTERM: the supervisor closes its own copy of the listening socket and
  the "stopping" pipe (its read end, which every worker holds, turns readable), then
  sends SIGTERM to every worker; each stops accepting at once (the last one to close
  the socket takes and serves what waits in its accept queue first: no connection is
  reset, new ones are refused), drains (``DrainingServer``), and the supervisor exits 0
  once they are gone; those still there after twice their own shutdown timeout plus
  10 s are killed. Another SIGINT or SIGTERM meanwhile is passed on (a second SIGINT
  makes uvicorn skip what it has not begun of the drain).
- A worker that dies is replaced, after a pause that grows while replacements die
  young (a crash loop does not spin); one that fails its start-up (uvicorn's exit
  status 3: the application, its lifespan or the socket is broken) stops the server
  with that status, as it would fail the same way every time.
- SIGHUP: each worker in turn is replaced by a new one, retired once its replacement
  serves; SIGTTIN / SIGTTOU: one worker more / less. A retiring worker stops
  accepting at once (its siblings, or the supervisor's copy of the socket until the
  replacement serves, keep the port listening) and finishes what it has: no request
  is refused or reset.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.server import accept_balance

# Set for the workers: they leave daphne's app out (``gateway.server.settings``).
UVICORN_WORKER_ENV = "SWITCHYARD_UVICORN_WORKER"
STARTUP_FAILURE = 3  # uvicorn's exit status when a server cannot start
READY_TIMEOUT = 60.0  # seconds a SIGHUP replacement gets to start serving
STABLE_SECONDS = 10.0  # a worker that lived this long died of something new
MAX_PAUSE = 10.0  # the longest pause before replacing a worker that keeps dying


@dataclass
class Plan:
    app: str
    workers: int
    options: dict[str, Any] = field(default_factory=dict)
    socket: str = ""  # the service's Unix socket ("" for none)
    share_limits: bool = False  # the workers count keys' limits through the service
    temp_folder: str = ""  # made for the socket (a data folder path too long): removed at exit
    # The modules that register the service's books and operations (gateway.base.hooks),
    # imported before it starts: the wiring's list (gateway.apps.counter_books()).
    books: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


# The supervisor speaks no TLS (its one server is the counter service's Unix socket), and
# asyncio imports ``ssl`` only to offer it: imported while ``ssl`` is marked missing, it
# does without (OpenSSL's libraries and set-up: about 5 MB of the process, #67). The mark
# is removed at once (unless ``ssl`` was there before), so a module that imports ``ssl``
# later gets it; only asyncio's TLS transports stay unavailable in this process.
WITHOUT_TLS = (
    "sys.modules.setdefault('ssl', None); import asyncio; "
    "sys.modules['ssl'] is None and sys.modules.pop('ssl');"
)


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def command(plan: Plan) -> list[str]:
    """The argv that runs ``plan`` in a fresh interpreter, finding this source tree
    whatever the working directory."""
    code = f"import sys; sys.path.insert(0, {_root()!r}); {WITHOUT_TLS} from gateway.server.supervisor import main; main()"
    return [sys.executable, "-c", code, plan.to_json()]


def worker_command(spec: dict[str, Any]) -> list[str]:
    """The argv of one worker: ``gateway.server.worker`` serving ``spec`` (the application,
    uvicorn's options, the listening socket's and the readiness pipe's descriptors)."""
    code = f"import sys; sys.path.insert(0, {_root()!r}); from gateway.server.worker import main; main()"
    return [sys.executable, "-c", code, json.dumps(spec)]


def start_service(plan: Plan) -> str | None:
    """Listen on ``plan.socket`` and tell the workers (through the environment they
    inherit) what to use it for. Returns why it could not (the workers then count keys
    and tokens on their own) or None."""
    from gateway.base.counters import SOCKET_ENV
    from gateway.core import token_pieces
    from gateway.core.shared_tokenizer import TOKENIZER_ENV, TokenizerHost
    from gateway.server.counter_service import CounterService

    for module in plan.books:  # each registers its book and operations
        importlib.import_module(module)
    service = CounterService(plan.socket, tokenizer=TokenizerHost(token_pieces.load_encoder))
    if plan.temp_folder:
        atexit.register(_remove_folder, plan.temp_folder)  # runs after service.stop
    try:
        service.start()
    except RuntimeError as exc:
        return str(exc)
    atexit.register(service.stop)
    os.environ[TOKENIZER_ENV] = plan.socket
    if plan.share_limits:
        os.environ[SOCKET_ENV] = plan.socket
    return None


def _remove_folder(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def bind(options: dict[str, Any]) -> socket.socket:
    """The workers' listening socket, bound as uvicorn binds it for its workers (an
    IPv6 host when it has a colon, SO_REUSEADDR); each worker listens on it."""
    host = options.get("host") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(options.get("port", 8000))))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    ready_fd: int  # read end of the pipe the worker writes to once it serves (-1: read)
    started: float
    ready: bool = False
    retiring: bool = False  # asked to stop: its end is no reason to replace it
    slot: int = -1  # its slot in the accept ledger (``gateway.server.accept_balance``)

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def read_ready(self) -> None:
        """The pipe is readable: a byte once the worker serves, EOF if it exits first."""
        with contextlib.suppress(OSError):
            self.ready = self.ready or os.read(self.ready_fd, 1) != b""
        self.close_pipe()

    def close_pipe(self) -> None:
        if self.ready_fd >= 0:
            os.close(self.ready_fd)
            self.ready_fd = -1


class Supervisor:
    """Runs ``count`` workers on ``sock`` until SIGINT or SIGTERM (see the module's
    docstring); ``run`` returns the exit status."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGTTIN", "SIGTTOU", "SIGCHLD")
    ledger: accept_balance.Ledger | None = None

    def __init__(self, app: str, count: int, options: dict[str, Any], sock: socket.socket):
        self.app, self.count, self.options, self.sock = app, count, options, sock
        self.workers: list[Worker] = []
        self.retired: list[Worker] = []  # told to stop, not yet gone
        self.due: list[float] = []  # when each missing worker is to be replaced
        self.deaths = 0  # consecutive workers that died young
        self.signals: list[int] = []
        self.status: int | None = None  # set: stop with this exit status
        self._wake_r, self._wake_w = os.pipe()
        # The workers inherit the read end; closing the write end (or the supervisor's
        # death) tells them all at once that the server stops (``WorkerServer``).
        self._stopping_r, self._stopping_w = os.pipe()
        # Where the workers tell each other how many connections they hold, so that new
        # ones spread evenly; without memfd_create (not Linux) they accept as they come.
        self.ledger = accept_balance.Ledger.create() if hasattr(os, "memfd_create") else None

    # --- signals and waiting -------------------------------------------------------------

    def _install(self) -> None:
        for wake in (self._wake_r, self._wake_w):
            os.set_blocking(wake, False)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for name in self.SIGNALS:
            signal.signal(getattr(signal, name), self._queue)

    def _queue(self, signum: int, frame: object) -> None:
        self.signals.append(signum)

    def _wait(self, timeout: float, also: list[Worker] | None = None) -> None:
        """Until a signal, a worker's readiness (or its exit before) or ``timeout``."""
        pipes = {w.ready_fd: w for w in self.workers + (also or []) if w.ready_fd >= 0}
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([self._wake_r, *pipes], [], [], max(0.0, timeout))
            for fd in readable:
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 512)
                else:
                    pipes[fd].read_ready()

    def _take_signals(self) -> list[int]:
        taken, self.signals[:] = list(self.signals), []
        return taken

    # --- workers ---------------------------------------------------------------------------

    def _spawn(self) -> Worker:
        ready_r, ready_w = os.pipe()
        spec = {
            "app": self.app,
            "options": self.options,
            "fd": self.sock.fileno(),
            "ready_fd": ready_w,
            "stop_fd": self._stopping_r,
        }
        fds: tuple[int, ...] = (self.sock.fileno(), ready_w, self._stopping_r)
        slot = -1
        if self.ledger is not None:
            slot = accept_balance.free_slot({w.slot for w in self.workers + self.retired})
            self.ledger.set(slot, accept_balance.IDLE)  # (until the worker accepts)
            spec[accept_balance.LEDGER_FD_KEY] = self.ledger.fd
            spec[accept_balance.SLOT_KEY] = slot
            fds += (self.ledger.fd,)
        try:
            process = subprocess.Popen(worker_command(spec), pass_fds=fds)
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        return Worker(process, ready_r, time.monotonic(), slot=slot)

    def _forget(self, worker: Worker) -> None:
        """A worker is gone: its slot in the ledger counts for nobody."""
        if self.ledger is not None and worker.slot >= 0:
            self.ledger.set(worker.slot, accept_balance.IDLE)

    def _reap(self) -> None:
        """Forget workers that exited; schedule the replacement of those that should
        not have, or stop the server if one could not start."""
        now = time.monotonic()
        for worker in list(self.workers):
            if worker.process.poll() is None:
                continue
            if worker.ready_fd >= 0:
                worker.read_ready()  # it may have served before it died
            self.workers.remove(worker)
            self._forget(worker)
            if worker.retiring or self.status is not None:
                continue
            code = worker.process.returncode
            if code == STARTUP_FAILURE and not worker.ready:
                _say(f"worker {worker.pid} failed to start; stopping the server")
                self.status = STARTUP_FAILURE
                continue
            young = not worker.ready or now - worker.started < STABLE_SECONDS
            self.deaths = self.deaths + 1 if young else 0
            pause = 0.0 if self.deaths <= 1 else min(MAX_PAUSE, 0.5 * 2 ** (self.deaths - 2))
            _say(f"worker {worker.pid} exited ({_describe(code)}); replacing it in {pause:g} s")
            self.due.append(now + pause)
        for worker in list(self.retired):
            if worker.process.poll() is not None:
                worker.close_pipe()
                self.retired.remove(worker)
                self._forget(worker)

    def _replace_due(self) -> None:
        now = time.monotonic()
        for when in [d for d in self.due if d <= now]:
            self.due.remove(when)
            if len(self.workers) < self.count:
                self.workers.append(self._spawn())

    def _next_timeout(self) -> float:
        return min([1.0, *(d - time.monotonic() for d in self.due)])

    def _retire(self, worker: Worker) -> None:
        worker.retiring = True
        worker.signal(signal.SIGTERM)
        if worker in self.workers:
            self.workers.remove(worker)
        self.retired.append(worker)

    def _handle(self, signals: list[int]) -> None:
        for signum in signals:
            if signum in (signal.SIGINT, signal.SIGTERM):
                self.status = 0 if self.status is None else self.status
            elif self.status is not None or signum == signal.SIGCHLD:
                continue
            elif signum == signal.SIGHUP:
                self._restart_all()
            elif signum == signal.SIGTTIN:
                self.count += 1
                self.workers.append(self._spawn())
            elif signum == signal.SIGTTOU and self.count > 1:
                self.count -= 1
                if len(self.workers) > self.count:
                    self._retire(self.workers[-1])
                elif self.due:
                    self.due.pop()

    def _restart_all(self) -> None:
        """Replace each worker by a new one, retiring the old one once the new one
        serves; give up (keeping the old ones) when a replacement does not start."""
        for old in list(self.workers):
            if old not in self.workers:  # gone or retired meanwhile
                continue
            new = self._spawn()
            deadline = time.monotonic() + READY_TIMEOUT
            taken: list[int] = []
            while not new.ready and new.process.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0 or signal.SIGINT in taken or signal.SIGTERM in taken:
                    break
                self._wait(min(1.0, left), also=[new])
                self._reap()
                taken += self._take_signals()
            if not new.ready and new.ready_fd >= 0 and new.process.poll() is not None:
                new.read_ready()  # exited: it may have served first (EOF: it did not)
            taken = [s for s in taken if s != signal.SIGHUP]
            if not new.ready:
                new.signal(signal.SIGKILL)
                new.process.wait()
                new.close_pipe()
                self._forget(new)
                if signal.SIGINT not in taken and signal.SIGTERM not in taken:
                    _say(f"SIGHUP: worker {new.pid} did not start; keeping the others")
                self._handle(taken)
                return
            if old in self.workers:
                self.workers[self.workers.index(old)] = new
                self._retire(old)
            else:  # died meanwhile: its replacement is this one
                self.workers.append(new)
                if self.due:
                    self.due.pop()
            self._handle(taken)
            if self.status is not None:
                return

    def _stop(self) -> None:
        """SIGTERM to every worker; wait for them to drain and exit (passing on a later
        SIGINT or SIGTERM), killing those still there after twice their own timeout."""
        everyone = self.workers + self.retired
        # First this process's copy of the listening socket: the workers' copies are
        # then the last, and the last of them to close it empties its accept queue
        # first (a socket closed with connections queued resets them).
        self.sock.close()
        if self._stopping_w >= 0:
            os.close(self._stopping_w)
            self._stopping_w = -1
        for worker in everyone:
            worker.signal(signal.SIGTERM)
        grace = float(self.options.get("timeout_graceful_shutdown") or 30)
        deadline = time.monotonic() + 2 * grace + 10
        while any(w.process.poll() is None for w in everyone):
            left = deadline - time.monotonic()
            if left <= 0:
                for worker in everyone:
                    if worker.process.poll() is None:
                        _say(f"worker {worker.pid} did not stop in time; killing it")
                        worker.signal(signal.SIGKILL)
                        worker.process.wait()
                break
            self._wait(min(0.5, left))
            for signum in self._take_signals():
                if signum in (signal.SIGINT, signal.SIGTERM):
                    for worker in everyone:
                        worker.signal(signum)
        for worker in everyone:
            worker.close_pipe()

    def run(self) -> int:
        self._install()
        for _ in range(self.count):
            self.workers.append(self._spawn())
        while self.status is None:
            self._wait(self._next_timeout())
            self._handle(self._take_signals())
            self._reap()
            if self.status is None:
                self._replace_due()
        self._stop()
        return self.status


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


def _say(message: str) -> None:
    print(f"switchyard supervisor: {message}", file=sys.stderr, flush=True)


def run(plan: Plan) -> int:
    if plan.socket:
        problem = start_service(plan)
        if problem is not None:
            print(f"note: no shared counters or tokenizer ({problem})", file=sys.stderr)
    os.environ[UVICORN_WORKER_ENV] = "1"
    try:
        sock = bind(plan.options)
    except OSError as exc:
        _say(f"cannot listen: {exc.strerror or exc}")
        return STARTUP_FAILURE
    with sock:
        return Supervisor(plan.app, plan.workers, plan.options, sock).run()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sys.exit(run(Plan(**json.loads(args[0]))))
