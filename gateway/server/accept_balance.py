"""New connections spread evenly over the workers of ``serve`` (issue #67: p99 at c=64).

The workers share one listening socket. Left to the event loop, whichever worker wakes
first takes every connection waiting in the accept queue (libuv accepts until the queue
is empty), so a client that opens its pool at once lands on one worker: 64 keep-alive
connections were split 63/1, 58/6 and 48/16 between two workers, one core stayed idle
and a request's wait followed the busy worker's queue.

Each worker publishes how many connections it holds in a slot of a small table shared
through a memory file the supervisor made (``Ledger``); a worker holding more than the
least loaded of the others (``SLACK`` more) lets a waiting connection be for a moment
(``DEFER_SECONDS``), so that one takes it; after ``MOST_DEFERRED_SECONDS`` it accepts
anyway (a sibling stuck in a long call must not leave a connection waiting). A worker
that stops accepting (draining, retiring) marks its slot ``IDLE`` and is no one's
reference; the supervisor empties the slot of a worker that is gone.

Only new connections pay for this, and only while they wait in the queue: a request on
an open connection never reaches it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SLOTS = 64  # workers of one server at once (SIGHUP doubles them for a moment)
_SLOT = struct.Struct("=i")
IDLE = -1  # the slot's worker does not accept (none, starting, draining, gone)
# connections a worker may hold above the least loaded sibling before it defers (and an
# eighth of the sibling's more: a few connections' difference among many is no matter)
SLACK = 2
# below this many, a worker never defers: a few connections' split costs no core, and a
# burst of a few (sessions opened at once) is served as it comes, as libuv served it
DEFER_FROM = 8
BATCH = 16  # connections accepted at most at one readiness (then the loop's other work)
DEFER_SECONDS = 0.0005
MOST_DEFERRED_SECONDS = 0.01  # then it accepts one, whoever is less loaded
ERROR_PAUSE_SECONDS = 0.1  # after an accept that failed (no descriptor left)
LEDGER_FD_KEY = "ledger_fd"  # in a worker's spec: the memory file's descriptor
SLOT_KEY = "ledger_slot"  # and its slot in it


class Ledger:
    """The shared table: one signed 32-bit count of open connections a slot."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.map = mmap.mmap(fd, SLOTS * _SLOT.size)

    @classmethod
    def create(cls) -> Ledger:
        """A new table (every slot ``IDLE``) in an anonymous memory file whose descriptor
        the workers inherit."""
        fd = os.memfd_create("switchyard-accept-ledger", 0)  # (not close-on-exec)
        os.ftruncate(fd, SLOTS * _SLOT.size)
        ledger = cls(fd)
        for slot in range(SLOTS):
            ledger.set(slot, IDLE)
        return ledger

    def set(self, slot: int, count: int) -> None:
        _SLOT.pack_into(self.map, slot * _SLOT.size, count)

    def least_other(self, mine: int) -> int | None:
        """The fewest connections an accepting worker other than ``mine`` holds."""
        least: int | None = None
        for slot, (count,) in enumerate(_SLOT.iter_unpack(self.map)):
            if slot != mine and count != IDLE and (least is None or count < least):
                least = count
        return least

    def close(self) -> None:
        with contextlib.suppress(BufferError):
            self.map.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def free_slot(taken: set[int]) -> int:
    """The first slot not in ``taken`` (the supervisor's live workers'); the last slot is
    shared when all are taken (its workers then defer to nobody by it, as before)."""
    return next((slot for slot in range(SLOTS) if slot not in taken), SLOTS - 1)


class BalancedAcceptor:
    """Accepts connections on ``listener`` (a bound socket it listens on) for
    ``protocol_factory``, up to ``BATCH`` at a readiness, deferring to a less loaded
    sibling (``Ledger``); ``held`` says how many connections this worker holds now."""

    def __init__(
        self,
        listener: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        held: Callable[[], int],
        ledger: Ledger,
        slot: int,
        ssl: Any = None,
        backlog: int = 2048,
    ) -> None:
        self.listener = listener
        self.protocol_factory = protocol_factory
        self.held = held
        self.ledger = ledger
        self.slot = slot
        self.ssl = ssl
        self.loop = asyncio.get_running_loop()
        self.deferred_since = 0.0  # when this worker began to let a waiting one be
        self.last_deferred = 0.0  # when it last did (0: it accepted since)
        self.stopped = False
        self.pending = 0  # accepted, not yet connected to a protocol (not in ``held``)
        self.resume: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        listener.setblocking(False)
        listener.listen(backlog)  # (the supervisor binds; each worker listens, as uvicorn's)
        self.publish()
        self.loop.add_reader(listener.fileno(), self._readable)

    def publish(self) -> None:
        """Write this worker's count again (connections also close: ``WorkerServer``
        calls this at every tick of uvicorn's, ten a second)."""
        if not self.stopped:
            self.ledger.set(self.slot, self.held() + self.pending)

    def _readable(self) -> None:
        """Accept what waits, as long as no sibling holds clearly fewer connections;
        else let the queue be for a moment (``_defer``)."""
        held = self.held() + self.pending
        accepted: list[socket.socket] = []
        while len(accepted) < BATCH:
            if held >= DEFER_FROM and self._behind(held):
                if not accepted:
                    self._defer()
                break
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                break  # the queue is empty: a sibling took the rest (or a client gave up)
            except OSError:  # out of descriptors: try again in a while, not in a spin
                self._pause(ERROR_PAUSE_SECONDS)
                break
            connection.setblocking(False)
            accepted.append(connection)
            held += 1
            self.ledger.set(self.slot, held)
        self.ledger.set(self.slot, held)
        if accepted:
            self.last_deferred = 0.0
            self.pending += len(accepted)
            for connection in accepted:  # wired side by side: none waits for another's turn
                task = self.loop.create_task(self._serve(connection))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    def _behind(self, held: int) -> bool:
        """Whether an accepting sibling holds clearly fewer connections than ``held``
        (``SLACK`` and an eighth of its own fewer), and has not kept this worker waiting
        for ``MOST_DEFERRED_SECONDS`` already."""
        least = self.ledger.least_other(self.slot)
        if least is None or held <= least + SLACK + least // 8:
            return False
        now = time.monotonic()
        if now - self.last_deferred > 4 * DEFER_SECONDS:  # a new wait, not the last one's
            self.deferred_since = now
        if now - self.deferred_since < MOST_DEFERRED_SECONDS:
            return True
        self.last_deferred = 0.0  # waited long enough for one: the next waits anew
        return False

    def _defer(self) -> None:
        self.last_deferred = time.monotonic()
        self._pause(DEFER_SECONDS)

    def _pause(self, seconds: float) -> None:
        self.loop.remove_reader(self.listener.fileno())
        self.resume = self.loop.call_later(seconds, self._listen_again)

    def _listen_again(self) -> None:
        self.resume = None
        if not self.stopped:
            self.loop.add_reader(self.listener.fileno(), self._readable)

    async def _serve(self, connection: socket.socket) -> None:
        """Make an accepted connection a transport with its protocol (then counted by
        ``held``; until then by ``pending``)."""
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, connection, ssl=self.ssl)
        except OSError:  # the client went away meanwhile
            connection.close()
        except Exception:  # never leave it open unserved (its client would wait)
            log.exception("could not serve an accepted connection")
            connection.close()
        finally:
            self.pending -= 1

    def stop(self) -> None:
        """Stop accepting (the listener stays open for the caller to empty its queue)."""
        if self.stopped:
            return
        self.stopped = True
        if self.resume is not None:
            self.resume.cancel()
            self.resume = None
        with contextlib.suppress(ValueError, RuntimeError):
            self.loop.remove_reader(self.listener.fileno())
        self.ledger.set(self.slot, IDLE)
