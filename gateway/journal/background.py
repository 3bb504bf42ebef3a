"""The bounded queue and the background task that writes it (one ``Writer`` per process).

``record`` appends without waiting; a task on the event loop wakes every
``SWITCHYARD_JOURNAL_FLUSH_SECONDS`` (or as soon as a batch is full) and writes batches
in a dedicated thread (one database connection, never the event loop), then tells the
console's live tail. While the database is unavailable a batch is put back and retried
with backoff; what the bounds force out is counted and warned about.

When the queue's memory bound is reached, records give up their bodies before any
record is dropped (the arriving one first, counted as ``bodies_shed``): a log row is a request's
spend, usage and status (budgets are restored from them), a body only its text, and
agents' requests (100-300 KB each) fill the bound long before the row count does. A
record whose bodies were shed is stored with a note saying so in their place.

Before that bound, bodies go to disk: once the queue holds half its bound in memory,
``record`` wakes the spool thread, which moves the newest queued records' bodies to the
spool (``journal.spool``, at most ``SWITCHYARD_JOURNAL_SPOOL_BYTES``) until a quarter is
left; the writer thread reads them back just before their batch is written. The request
path does no file I/O; a full or failing spool leaves the bodies in memory, shed at the
bound as without one."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db import connection as db_connection

from gateway.base import db_work, running_loop
from gateway.base.background import woken
from gateway.base.hot_settings import hot
from gateway.base.json_layout import Pieces
from gateway.base.owned_bytes import ORJSON_BLOCK, owned
from gateway.journal import blobs
from gateway.journal import spool as spooling
from gateway.journal.pruning import (
    PRUNE_BATCH,
    PRUNE_BATCHES_PER_ROUND,
    PRUNE_EVERY_SECONDS,
    PRUNE_FIRST_AFTER_SECONDS,
    prune_round_if_held,
    runs_here,
)
from gateway.journal.record import Record, Spliced
from gateway.journal.rows import BODY_FIELDS, REDACTION_MARGIN
from gateway.journal.spool import Spool, Spooled
from gateway.journal.sql import write_batch

log = logging.getLogger("gateway.journal")

LOG_TAIL_GROUP = "switchyard.log-tail"
BATCH_SIZE = 500
BATCH_BYTES_SHARE = 4  # a batch takes at most this share of the queue's memory bound
# A batch is written once this many bytes of records wait, if there are at least
# FLUSH_MIN_RECORDS of them: streams' records (about 10 KB each, their events twice)
# no longer wait for 500 of a kind (5 MB a worker waiting, 5 MB more being written),
# while short questions' records still go 500 at a time (1.5 MB) and agents' (600 KB)
# go no sooner than before: 64 of them are past the quarter of the byte bound, which
# makes a batch of about 27 already. (Each batch costs the writer about 2 ms besides
# its rows, docs/benchmarks.md: small batches of big records would pay it often.)
FLUSH_BYTES = 2 * 1024 * 1024
FLUSH_MIN_RECORDS = 64
MIN_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 30.0
DRAIN_SECONDS = 15.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # SWITCHYARD_JOURNAL_MAX_BYTES: the queue's memory bound
RECORD_BYTES = 2048  # what a record holds besides its bodies, roughly
OTHER_BODY_BYTES = 4096  # a body given as an object (not bytes or text), roughly
# (a body queued as the other of its pair, past this many first bytes of it: a Spliced)
SPLICED = (("upstream_request", "inbound_request"), ("upstream_response", "outbound_response"))
SPLICE_AFTER = 4096  # the model is renamed near a JSON body's start
SPLICE_MIN_BYTES = 4 * SPLICE_AFTER  # shorter bodies are queued whole
DEFAULT_SPOOL_BYTES = 512 * 1024 * 1024  # SWITCHYARD_JOURNAL_SPOOL_BYTES (0: no spool)
# With a spool, the spool thread is woken once the queue holds this many bytes in memory
# (or half its bound, if less), and moves the newest bodies out until it holds under
# SPILL_TO_BYTES (or a quarter); a batch then reads back at most SPILL_TO_BYTES. So an
# agents' burst keeps a few MB of bodies in a worker's memory, while the bound itself
# stays where a database outage needs it: records whose bodies are on disk still count
# RECORD_BYTES each, and at 16 MB a worker would drop spend rows after ~8,000 of them.
SPILL_FROM_BYTES = 8 * 1024 * 1024
SPILL_TO_BYTES = 4 * 1024 * 1024
SPILL_SCAN = 1024  # records looked at from the newest, at most, a round
SPOOLER_IDLE_SECONDS = 30.0  # the spool thread ends after this long unwoken


def _unavailable(exc: BaseException) -> bool:
    """The database is down or busy (retry later), as opposed to a row it rejects."""
    return isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError)


def admit(rec: Record) -> int:
    """Prepare ``rec`` for the queue and return what it counts against the memory bound:
    bodies go when body logging is off, and are cut to what ``body_text`` will read
    (the limit plus the redaction margin) when on: a 30 MB request body is not kept
    whole for the 256 KB stored of it."""
    size = RECORD_BYTES
    if not hot.SWITCHYARD_LOG_BODIES:
        rec.inbound_request = rec.upstream_request = None
        rec.upstream_response = rec.outbound_response = None
        rec.queued_bytes = size
        return size
    keep = hot.SWITCHYARD_LOG_BODY_MAX_BYTES + REDACTION_MARGIN
    if type(rec.upstream_request) is Pieces:
        rec.upstream_request = _from_pieces(rec.upstream_request, rec.inbound_request, keep)
    for name in BODY_FIELDS:
        value = getattr(rec, name)
        if value is None:
            continue
        kind = type(value)
        if kind is bytes and (length := len(value)) <= keep:  # nearly every body: whole
            if length < ORJSON_BLOCK:  # ``owned``'s copy, its test made here
                setattr(rec, name, memoryview(value).tobytes())
            size += length
        elif kind is Spliced:
            size += len(value.head)
        elif isinstance(value, bytes | bytearray | str):
            if len(value) > keep:
                value = value[:keep]
                setattr(rec, name, value)
            elif isinstance(value, bytes):
                setattr(rec, name, owned(value))  # not in orjson's 4 KiB block
            size += len(value)
        else:
            size += OTHER_BODY_BYTES
    rec.queued_bytes = size - _splice(rec)
    return rec.queued_bytes


def _from_pieces(pieces: Pieces, inbound: Any, keep: int) -> bytes | Spliced:
    """A body sent in pieces of the caller's (``json_layout``) as it is queued: its
    head and the caller's body from ``tail`` on (a ``Spliced``, as ``_splice`` queues a
    passed-through body) when its tail is that body as journaled and kept whole, else
    joined."""
    if pieces.tail >= 0 and pieces.raw is inbound and len(inbound) <= keep:
        return Spliced(pieces.head(), "inbound_request", pieces.tail)
    return b"".join(pieces)


def _splice(rec: Record) -> int:
    """Queue each upstream body that ends as its neighbour does past that one's first
    ``SPLICE_AFTER`` bytes (a passed-through body: the model renamed near the start) as
    a ``Spliced`` over it; the bytes no longer held. One compare of the ends (about
    1.6 us at 150 KB, no copy): a translated body differs at its last bytes and is
    told apart at once."""
    saved = 0
    for target, source in SPLICED:
        body, other = getattr(rec, target), getattr(rec, source)
        if type(body) is not bytes or type(other) is not bytes:
            continue
        if len(body) < SPLICE_MIN_BYTES or len(other) < SPLICE_MIN_BYTES:
            continue
        head = len(body) - len(other) + SPLICE_AFTER
        if (
            0 <= head < len(body)
            and body[-64:] == other[-64:]
            and body.endswith(memoryview(other)[SPLICE_AFTER:])
        ):
            setattr(rec, target, Spliced(body[:head], source, SPLICE_AFTER))
            saved += len(body) - head
    return saved


class Writer:
    """The bounded queue and its background flusher (one per process).

    ``write`` is the synchronous batch writer (``write_batch``); tests pass their own.
    The bounds (``capacity`` records, ``max_bytes`` of bodies and records) count queued
    records plus the batch being written; when a new record does not fit, the oldest
    queued records are dropped to make room (counted, warned about)."""

    def __init__(
        self,
        write: Callable[[list[Record]], list[int]] = write_batch,
        *,
        capacity: int | None = None,
        max_bytes: int | None = None,
        flush_seconds: float | None = None,
        batch_size: int = BATCH_SIZE,
        notify: bool = True,
        prune_every: float | None = PRUNE_EVERY_SECONDS,
        spool_bytes: int | None = None,
    ) -> None:
        # Callable[..., ...]: called with ``hurry`` too when it takes it (sniffed below)
        self.write: Callable[..., list[int]] = write
        # a ``write`` that takes ``hurry`` is told when more than this batch is waiting
        self._can_hurry = "hurry" in inspect.signature(write).parameters
        self.capacity: int = capacity or settings.SWITCHYARD_JOURNAL_QUEUE_SIZE
        self.max_bytes: int = max_bytes or cast(
            int, getattr(settings, "SWITCHYARD_JOURNAL_MAX_BYTES", DEFAULT_MAX_BYTES)
        )
        self.flush_seconds = flush_seconds or settings.SWITCHYARD_JOURNAL_FLUSH_SECONDS
        self.batch_size = batch_size
        self.notify = notify
        self.prune_every = prune_every
        self.pending: deque[Record] = deque()
        self.in_flight = 0
        self._in_flight_batch: list[Record] = []
        self.pending_bytes = 0
        self.in_flight_bytes = 0
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._deadline = float("inf")
        self._next_prune = time.monotonic() + PRUNE_FIRST_AFTER_SECONDS
        self.pruned = 0  # log rows deleted by the retention pass, in this process
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._last_drop_warning = 0.0
        self.bodies_shed = 0  # records kept without their bodies (the memory bound)
        self._last_shed_warning = 0.0
        self._outage = db_work.Outage("journal writer", log)
        if spool_bytes is None:
            spool_bytes = getattr(settings, "SWITCHYARD_JOURNAL_SPOOL_BYTES", DEFAULT_SPOOL_BYTES)
        data_dir = getattr(settings, "DATA_DIR", None)
        self.spool = Spool(spool_bytes, data_dir and str(data_dir)) if spool_bytes else None
        self._spill_from = min(SPILL_FROM_BYTES, self.max_bytes // 2)
        self._spill_to = min(SPILL_TO_BYTES, self.max_bytes // 4)
        quarter = self.max_bytes // BATCH_BYTES_SHARE
        self._batch_bytes = quarter if self.spool is None else min(quarter, self._spill_to)
        self._spill_wake = threading.Event()
        self._spooler: threading.Thread | None = None
        self._spool_outage = db_work.Outage("journal spool", log, service="disk")

    # --- the request path ---------------------------------------------------------------
    def record(self, rec: Record) -> None:
        size = admit(rec)
        with self._lock:
            dropped = 0
            if self.pending_bytes + self.in_flight_bytes + size > self.max_bytes:
                size -= self._shed(rec)  # no room for its bodies: it goes without them
                excess = self.pending_bytes + self.in_flight_bytes + size - self.max_bytes
                if excess > 0:  # nor for the record: queued ones give theirs up
                    self._shed_queued(excess)
            if self.in_flight + 1 > self.capacity or self.in_flight_bytes + size > self.max_bytes:
                dropped = 1  # no room even with nothing queued: the new record goes
            else:
                while self.pending and (
                    len(self.pending) + self.in_flight >= self.capacity
                    or self.pending_bytes + self.in_flight_bytes + size > self.max_bytes
                ):
                    gone = self.pending.popleft()
                    self.pending_bytes -= gone.queued_bytes
                    spooling.release(gone, self.spool)
                    dropped += 1
                self.pending.append(rec)
                self.pending_bytes += size
            if dropped:
                self._drop(dropped, "the journal queue is full")
            spill = self.spool is not None and self.pending_bytes > self._spill_from
        if spill:
            self._wake_spooler()
        self._kick()

    def _shed_queued(self, excess: int) -> None:
        """Let go of queued records' bodies, oldest first, until ``excess`` bytes are
        freed or none is left to shed. Under the lock. (Rare: a record arriving at a full
        queue sheds its own bodies first, so the queue holds few shed records here.)"""
        if self.pending_bytes <= RECORD_BYTES * len(self.pending):
            return  # every queued record is bare already
        freed = 0
        for queued in self.pending:
            if freed >= excess:
                break
            freed += self._shed(queued)
        self.pending_bytes -= freed

    def _shed(self, rec: Record) -> int:
        """Let go of ``rec``'s bodies (it is stored with a note in their place); the
        bytes it no longer counts. Counted, and warned about now and then."""
        if rec.bodies_shed or rec.queued_bytes <= RECORD_BYTES:
            return 0
        return self._let_go_bodies(rec)

    def _let_go_bodies(self, rec: Record) -> int:
        spooling.release(rec, self.spool)
        for name in BODY_FIELDS:
            setattr(rec, name, None)
        rec.bodies_shed = True
        freed = rec.queued_bytes - RECORD_BYTES
        rec.queued_bytes = RECORD_BYTES
        self.bodies_shed += 1
        now = time.monotonic()
        if now - self._last_shed_warning >= 5:
            self._last_shed_warning = now
            log.warning(
                "journal kept %d record(s) without their bodies: the queue reached "
                "SWITCHYARD_JOURNAL_MAX_BYTES (%d bytes) faster than the database took it",
                self.bodies_shed,
                self.max_bytes,
            )
        return freed

    def _kick(self) -> None:
        try:
            loop = running_loop.get()
        except RuntimeError:
            return  # no loop here: start() or the next record() on a loop takes it up
        task = self._task
        if (
            task is None
            or task.done()
            or (task.get_loop() is not loop and task.get_loop().is_closed())  # (running: open)
        ):
            if self._stopping:
                return
            self._launch(loop)
        full = self._batch_waiting()
        if (
            full
            and self._wake is not None
            and self._task is not None  # (never None here: launched above)
            and self._task.get_loop() is loop
        ):
            self._wake.set()

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._last_drop_warning >= 5:  # warn, but not once per record
            self._last_drop_warning = now
            log.warning(
                "journal dropped %d record(s): %s (%d dropped so far)", count, why, self.dropped
            )

    # --- lifecycle ------------------------------------------------------------------------
    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="journal-writer")

    async def start(self) -> None:
        """Start the background flusher on the running loop (idempotent)."""
        self._stopping = False
        self._kick()

    async def settled(self, request_ids: set[str], within: float) -> bool:
        """Wait until none of ``request_ids`` is queued or being written here (the
        writer woken to write them now), or ``within`` seconds pass: whether they were."""
        deadline = time.monotonic() + within
        while True:
            with self._lock:
                waiting = any(r.request_id in request_ids for r in self.pending) or any(
                    r.request_id in request_ids for r in self._in_flight_batch
                )
            if not waiting:
                return True
            if time.monotonic() >= deadline:
                return False
            task = self._task
            if (
                self._wake is not None
                and task is not None
                and not task.done()
                and task.get_loop() is asyncio.get_running_loop()
            ):
                self._wake.set()
            await asyncio.sleep(0.02)

    async def drain(self, within: float = DRAIN_SECONDS) -> None:
        """Write everything queued (retrying for up to ``within`` seconds), then stop.
        What still cannot be written is counted as dropped, with a warning."""
        self._stopping = True
        self._deadline = time.monotonic() + within
        task = self._task
        try:
            if (
                task is not None
                and not task.done()
                and task.get_loop() is asyncio.get_running_loop()
            ):
                assert self._wake is not None
                self._wake.set()
                try:
                    await asyncio.wait_for(asyncio.shield(task), within + 1)
                except TimeoutError:
                    task.cancel()
            else:
                await self._flush_pending()
        finally:
            with self._lock:
                left = len(self.pending)
                for rec in self.pending:
                    spooling.release(rec, self.spool)
                self.pending.clear()
                self.pending_bytes = 0
            if left:
                self._last_drop_warning = 0.0
                self._drop(left, "the database stayed unavailable during shutdown")
            self._task = None
            self._stopping = False
            self._deadline = float("inf")
            await self._release_thread()

    async def _release_thread(self) -> None:
        """Close the writer thread's database connection and the thread itself."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.get_running_loop().run_in_executor(executor, self._close_thread)
        executor.shutdown(wait=False)

    def _close_thread(self) -> None:
        db_connection.close()
        if self.spool is not None:
            self.spool.trim()

    async def _run(self) -> None:
        while not self._stopping:
            await self._sleep(self.flush_seconds)
            await self._flush_pending()
            await self._maybe_prune()
        await self._flush_pending()

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        await woken(self._wake, seconds)
        self._wake.clear()

    # --- writing ----------------------------------------------------------------------------
    async def _flush_pending(self) -> None:
        """Write batches until the queue is empty (or holds less than a batch while the
        writer keeps running), retrying with backoff while the database is down."""
        backoff = 0.0
        while self.pending:
            if await self._flush_once():
                backoff = 0.0
                if not self._stopping and not self._batch_waiting():
                    return
                continue
            if self._stopping and time.monotonic() >= self._deadline:
                return
            backoff = min(MAX_BACKOFF_SECONDS, max(MIN_BACKOFF_SECONDS, backoff * 2))
            if self._stopping:
                backoff = min(backoff, max(0.0, self._deadline - time.monotonic()))
            await self._sleep(backoff)

    async def _flush_once(self) -> bool:
        with self._lock:
            batch, held, size = self._take_batch()
            self.in_flight = len(batch)
            self._in_flight_batch = batch
            self.in_flight_bytes = size  # (its spooled bodies too: they are read back)
            self.pending_bytes -= held
        try:
            ids, unwritten = await self._in_thread(self._write_in_thread, batch)
        except Exception as exc:  # the database is unavailable: keep the batch
            self.failures += 1
            self._outage.failed(exc)  # once per outage, not per retry
            self._requeue(batch)
            return False
        finally:
            self.in_flight = self.in_flight_bytes = 0
            self._in_flight_batch = []
        self.written += len(ids)
        if ids or not unwritten:
            self._outage.recovered()
        if unwritten:
            self.failures += 1
            self._requeue(unwritten)
        if ids and self.notify:
            await self._announce(ids)
        return not unwritten

    def _batch_waiting(self) -> bool:
        """Whether a whole batch (by records or by bytes) is queued."""
        waiting = len(self.pending)
        size = self.pending_bytes + (self.spool.outstanding_bytes if self.spool else 0)
        return (
            waiting >= self.batch_size
            or size >= self._batch_bytes
            or (size >= FLUSH_BYTES and waiting >= FLUSH_MIN_RECORDS)
        )

    def _take_batch(self) -> tuple[list[Record], int, int]:
        """The next batch off the queue, the bytes it held in memory and its bytes once
        its spooled bodies are read back: up to ``batch_size`` records and a quarter of
        the memory bound (one record at least). Records in flight cannot shed their
        bodies, so a batch of agents' requests may not take the whole bound (nor hold
        the database's write lock for one huge transaction). Under the lock."""
        batch: list[Record] = []
        held = size = 0
        budget = self._batch_bytes
        while self.pending and len(batch) < self.batch_size:
            rec = self.pending[0]
            whole = rec.queued_bytes + rec.spooled_bytes
            if batch and size + whole > budget:
                break
            batch.append(self.pending.popleft())
            held += rec.queued_bytes
            size += whole
        return batch, held, size

    def _requeue(self, batch: list[Record]) -> None:
        """Put a batch back at the front, within the bounds (bodies shed, then the
        oldest records dropped, first)."""
        with self._lock:
            room = self.capacity - len(self.pending)
            room_bytes = self.max_bytes - self.pending_bytes
            keep: list[Record] = []  # newest first
            for rec in reversed(batch):
                if rec.queued_bytes > room_bytes:
                    self._shed(rec)
                if len(keep) >= room or rec.queued_bytes > room_bytes:
                    break
                keep.append(rec)
                room_bytes -= rec.queued_bytes
            if len(keep) < len(batch):
                for rec in batch[: len(batch) - len(keep)]:
                    spooling.release(rec, self.spool)
                self._drop(
                    len(batch) - len(keep), "the journal queue is full while the database is down"
                )
            self.pending.extendleft(keep)
            self.pending_bytes = self.max_bytes - room_bytes

    def _write_in_thread(self, batch: list[Record]) -> tuple[list[int], list[Record]]:
        """(the writer thread) Read the batch's spooled bodies back, then write it with a
        usable connection, handed back after (to the pool, when pooled): a database
        restart costs the writer the batches while it is away."""
        if self.spool is not None:
            for rec in batch:
                if rec.spooled_bytes:
                    self._restore(rec, self.spool)
            self.spool.trim()
        return db_work.run(self._write_isolating, batch)

    def _restore(self, rec: Record, spool: Spool) -> None:
        try:
            spooling.restore(rec, spool)
        except OSError as exc:  # its bodies are lost: stored with the note
            self._spool_outage.failed(exc)
            with self._lock:
                self._let_go_bodies(rec)

    def _write_isolating(self, batch: list[Record]) -> tuple[list[int], list[Record]]:
        """Write ``batch``; if the database rejects it (bad data, not an outage), write
        record by record and drop only the ones it rejects. Returns (ids, unwritten)."""
        try:
            return self._write_guarded(batch), []
        except Exception as exc:
            if _unavailable(exc):
                raise
        ids: list[int] = []
        for index, rec in enumerate(batch):
            try:
                ids += self._write_guarded([rec])
            except Exception as exc:
                if _unavailable(exc):
                    return ids, batch[index:]
                self._last_drop_warning = 0.0
                self._drop(1, f"the database rejected record {rec.request_id}: {exc}")
        return ids, []

    def _write_guarded(self, batch: list[Record]) -> list[int]:
        try:
            if self._can_hurry and self._batch_waiting():
                return self.write(batch, hurry=True)
            return self.write(batch)
        except Exception:
            with contextlib.suppress(Exception):
                db_connection.close()  # reconnect on the next try
            # (a failover may have lost the last commits: parts are looked up again)
            blobs.forget()
            raise

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` in the journal's own thread (one connection, SQLite-friendly)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="journal-writer")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _announce(self, ids: list[int]) -> None:
        """Tell live tails (channel group) which rows are new; never fails the writer."""
        try:
            from channels.layers import get_channel_layer

            layer = get_channel_layer()
            if layer is not None:
                message = {"type": "log.created", "ids": ids}
                await asyncio.wait_for(layer.group_send(LOG_TAIL_GROUP, message), 2)
        except Exception as exc:
            log.debug("journal: live-tail notification failed: %s", exc)

    # --- the spool thread -------------------------------------------------------------------
    def _wake_spooler(self) -> None:
        """Wake the spool thread (started when first needed, ended when long unwoken)."""
        spooler = self._spooler
        if spooler is None or not spooler.is_alive():
            spooler = threading.Thread(target=self._spool_loop, name="journal-spool", daemon=True)
            self._spooler = spooler
            spooler.start()
        self._spill_wake.set()

    def _spool_loop(self) -> None:
        while self._spill_wake.wait(SPOOLER_IDLE_SECONDS):
            self._spill_wake.clear()
            self._spill()

    def _spill(self) -> None:
        """Move the newest queued records' bodies to the spool until the queue holds under
        a quarter of its memory bound (the oldest are written next: left in memory). The
        file is written outside the lock; a body is swapped for its place on disk under
        it only if its record is still queued and the body unchanged (not shed, not
        taken to be written), else released. A full or failing spool stops the round."""
        spool = self.spool
        assert spool is not None
        if spool.outstanding_bytes + spooling.SPILL_MIN_BYTES > spool.bound:
            return  # full: no body would go (looked at again on the next record)
        with self._lock:
            wanted = self._newest_spillable()
        moved: list[tuple[Record, tuple[str, ...], bytes, Spooled]] = []
        try:
            for rec, names, body in wanted:
                spooled = spool.put(body)
                if spooled is None:
                    break  # full: the queue sheds at its bound, as without a spool
                moved.append((rec, names, body, spooled))
            self._spool_outage.recovered()
        except OSError as exc:
            self._spool_outage.failed(exc)  # once an outage: bodies stay in memory
        with self._lock:
            queued = self._still_queued({id(rec) for rec, *_ in moved})
            for rec, names, body, spooled in moved:
                if id(rec) in queued and all(getattr(rec, name) is body for name in names):
                    for name in names:
                        setattr(rec, name, spooled)
                    rec.queued_bytes -= len(body)
                    rec.spooled_bytes += len(body)
                    self.pending_bytes -= len(body)
                else:
                    spool.release(spooled)
        spool.trim()

    def _newest_spillable(self) -> list[tuple[Record, tuple[str, ...], bytes]]:
        """The bodies to spool, newest record first, until what stays in memory is the
        spill-to point's worth: (record, fields, bytes). Past records spooled already:
        a round the spool refused (full, or the disk failing) leaves older bodies in
        memory behind newer ones on disk, and they go once it takes them again; stopping
        at the first spooled record left them there for good, so a worker's queue stayed
        at its memory bound and every record arriving shed its bodies. Under the lock."""
        excess = self.pending_bytes - self._spill_to
        wanted: list[tuple[Record, tuple[str, ...], bytes]] = []
        for rec in itertools.islice(reversed(self.pending), SPILL_SCAN):
            if excess <= 0:
                break
            for names, body in spooling.spillable(rec):
                wanted.append((rec, names, body))
                excess -= len(body)
        return wanted

    def _still_queued(self, wanted: set[int]) -> set[int]:
        """Which of the records ``wanted`` (by id) are queued, looked for from the newest
        (where they were). Under the lock."""
        found: set[int] = set()
        for rec in reversed(self.pending):
            if len(found) == len(wanted):
                break
            if id(rec) in wanted:
                found.add(id(rec))
        return found

    # --- retention --------------------------------------------------------------------------
    async def _maybe_prune(self) -> None:
        days = settings.SWITCHYARD_LOG_RETENTION_DAYS
        stored_days = settings.SWITCHYARD_RESPONSES_RETENTION_DAYS
        if not (days or stored_days) or self.prune_every is None or not runs_here():
            return
        if time.monotonic() < self._next_prune:
            return
        try:
            deleted = await self._in_thread(
                db_work.run,
                self._prune_guarded,
                timedelta(days=days) if days else None,
                PRUNE_BATCHES_PER_ROUND,
            )
        except Exception as exc:
            log.warning("journal: pruning old logs failed: %s", exc)
            self._next_prune = time.monotonic() + 60
            return
        if deleted >= PRUNE_BATCH * PRUNE_BATCHES_PER_ROUND:
            self._next_prune = time.monotonic() + 1  # more to do: continue soon
        else:
            self._next_prune = time.monotonic() + self.prune_every
        if deleted:
            self.pruned += deleted
            log.info("journal: pruned %d log rows older than %d days", deleted, days)

    # in the writer thread, under the retention lease (one process of all prunes)
    _prune_guarded = staticmethod(prune_round_if_held)

    def stats(self) -> dict[str, int]:
        return {
            "queued": len(self.pending) + self.in_flight,
            "queued_bytes": self.pending_bytes + self.in_flight_bytes,
            "written": self.written,
            "dropped": self.dropped,
            "bodies_shed": self.bodies_shed,
            "failures": self.failures,
            "pruned": self.pruned,
            "spooled": self.spool.outstanding if self.spool else 0,
            "spooled_bytes": self.spool.outstanding_bytes if self.spool else 0,
        }
