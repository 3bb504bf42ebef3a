"""One process's runner of a leased job table (``gateway.base.leases``): the loop the
batch runner and background Responses share, written once.

The invariant: a job is run by one process at a time, and a job that was claimed runs
to its end even if the process running it dies. The loop claims the oldest free job
while the runner has room (``room``) and the process is not closing, runs it in a task
of its own (``run``, given the job's pk) and releases its lease when that task ends;
the job keeps its lease while it runs inside ``leased`` (renewed every
``renew_seconds``, a third of the lease or a second, and its status read there: a
cancel from any process is seen within a beat). A process that dies lets its leases
run out, and the next claim, here or in any other process, runs the job again: what a
second run does with a first run's leftovers is the job's own business.

Failure modes: the loop never raises. A database that is down, restarting or not
migrated yet fails a claim, which is tried again at the next poll (``poll_seconds``);
a renewal that fails is tried again at the next beat (a lease outlives at least two failed
beats), and a lease lost meanwhile is reported to the job (``on_status(None)``). The
runner's tasks are cancelled when the loop is (the process stopping); their leases are
released, so another process need not wait for them to run out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway.base import db_work, leases, lifecycle
from gateway.base.background import woken

log = logging.getLogger(__name__)


def new_runner_id() -> str:
    """Who holds a lease: the host, the process and a random part (a restarted process
    with the same pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasedRunner:
    """Claims jobs of ``model`` (a table with ``status``, ``runner``, ``lease_until``,
    ``created_at`` and ``UNFINISHED``) and runs each with ``run(pk)``. ``name`` names
    the tasks (``{name}-{pk}``) and the log lines; ``room()`` says whether this process
    takes one more job now (it reads ``running``)."""

    def __init__(
        self,
        name: str,
        model: Any,
        run: Callable[[str], Awaitable[None]],
        *,
        lease_seconds: float,
        room: Callable[[], bool],
        poll_seconds: float = 1.0,
    ) -> None:
        self.name, self.model, self.run, self.room = name, model, run, room
        self.lease_seconds = lease_seconds
        self.renew_seconds = min(1.0, lease_seconds / 3)
        self.poll_seconds = poll_seconds
        self.runner_id = new_runner_id()
        self.running: dict[str, asyncio.Task[None]] = {}  # the jobs this process runs
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the lease's steps (blocking: run them with db_work.arun) ------------------------

    def claim(self, runner_id: str | None = None) -> str | None:
        """Take the oldest free job (none this process runs already): its pk, or None."""
        holder = runner_id or self.runner_id
        pk = leases.claim(self.model, holder, self.lease_seconds, skip=self.running)
        return None if pk is None else str(pk)

    def renew(self, pk: str, runner_id: str | None = None) -> str | None:
        """Extend our lease: the job's status, or None when it is no longer ours."""
        return leases.renew(self.model, pk, runner_id or self.runner_id, self.lease_seconds)

    def release(self, pk: str, runner_id: str | None = None) -> None:
        leases.release(self.model, pk, runner_id or self.runner_id)

    # --- the loop -------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for work now (a job was just queued in this process, from any thread); a
        runner not started yet (``hooks.BackgroundTask.jobs``) starts on it."""
        wake, loop = self._wake, self._loop
        if wake is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)
        else:
            lifecycle.wake_dormant()

    async def run_forever(self) -> None:
        """Claim, run, repeat, until cancelled (never raises otherwise)."""
        wake = asyncio.Event()
        self._wake, self._loop = wake, asyncio.get_running_loop()
        wake.set()  # started on a queued job (or with the process): claim at once
        try:
            while True:
                await woken(wake, self.poll_seconds)
                wake.clear()
                for pk in [pk for pk, task in self.running.items() if task.done()]:
                    del self.running[pk]
                if lifecycle.closing() or not self.room():
                    continue
                try:
                    claimed = await db_work.arun(self.claim)
                except Exception as exc:  # the database is away: the next poll tries again
                    log.debug("%s: cannot claim (%s)", self.name, exc)
                    continue
                if claimed is not None:
                    task = asyncio.create_task(self._run(claimed), name=f"{self.name}-{claimed}")
                    self.running[claimed] = task
                    wake.set()  # maybe another one
        finally:
            tasks = list(self.running.values())
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.running.clear()
            self._wake = self._loop = None

    async def _run(self, pk: str) -> None:
        try:
            await self.run(pk)
        finally:  # whatever the end (a cancel too): the next claim need not wait
            with contextlib.suppress(Exception):
                await asyncio.shield(db_work.arun(self.release, pk))

    @contextlib.asynccontextmanager
    async def leased(self, pk: str, on_status: Callable[[str | None], bool]) -> AsyncIterator[None]:
        """Keep the lease on ``pk`` while the block runs: renewed every
        ``renew_seconds``, ``on_status`` told the job's status after each renewal (None:
        the lease is no longer ours) and answering whether to stop renewing."""
        beat = asyncio.create_task(self._heartbeat(pk, on_status))
        try:
            yield
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beat

    async def _heartbeat(self, pk: str, on_status: Callable[[str | None], bool]) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                status = await db_work.arun(self.renew, pk)
            except Exception as exc:  # the database is away: keep going, try again
                log.debug("%s %s: lease not renewed (%s)", self.name, pk, exc)
                continue
            if on_status(status):
                return
