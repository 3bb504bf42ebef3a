"""Request journal: one Record per request, taken without waiting and written to
RequestLog/RequestBody in batches by a background task (see ``Writer``).

The request path only calls ``record(rec)``: it appends to an in-memory queue bounded
by records (``SWITCHYARD_JOURNAL_QUEUE_SIZE``) and bytes (``SWITCHYARD_JOURNAL_MAX_BYTES``)
and updates the metrics. A task on the event loop wakes every
``SWITCHYARD_JOURNAL_FLUSH_SECONDS`` (or as soon as a batch is full), converts the batch
to rows in a dedicated writer thread (one database connection, never the event loop),
inserts logs then bodies in one transaction (one multi-row INSERT per table: the ORM's
per-object work cost more than the database), and tells the console's live tail
(channel group ``switchyard.log-tail``). When the database is unavailable the batch
is put back and retried with backoff; what the bounds force out is counted and warned
about. ``drain()`` writes everything left at shutdown; the writer also prunes rows
older than ``SWITCHYARD_LOG_RETENTION_DAYS`` every hour in small batches (and hourly
rollups, ``gateway.rollups``, past their own longer retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any

import orjson
from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)
from django.db import connection as db_connection

from .db_driver import is_psycopg3

log = logging.getLogger(__name__)

LOG_TAIL_GROUP = "switchyard.log-tail"
BATCH_SIZE = 500
PRUNE_EVERY_SECONDS = 3600.0
PRUNE_FIRST_AFTER_SECONDS = 60.0
PRUNE_BATCH = 2000
PRUNE_BATCHES_PER_ROUND = 10  # then back to writing; the rest next round
MIN_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 30.0
DRAIN_SECONDS = 15.0
CONNECTION_CHECK_SECONDS = 30.0  # how often the writer applies Django's connection rules
REDACTED = "[redacted]"
REDACTION_MARGIN = 4096  # bytes past the body limit redacted before the cut
TRUNCATION_MARKER = "\n…[truncated by Switchyard: body exceeded {limit} bytes]"
MAX_INT = 2**31 - 1
# The writer thread converts this many records, then releases the GIL for a moment:
# a thread waiting for the GIL otherwise waits out the whole switch interval (5 ms),
# and the event loop's thread waits for it after every poll.
YIELD_EVERY = 16
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # SWITCHYARD_JOURNAL_MAX_BYTES: the queue's memory bound
RECORD_BYTES = 2048  # what a record holds besides its bodies, roughly
OTHER_BODY_BYTES = 4096  # a body given as an object (not bytes or text), roughly


@dataclass(slots=True)
class Attempt:
    deployment_id: int | None
    deployment: str  # provider/model label
    route: str
    status: int
    duration_ms: float
    error: str = ""


@dataclass(slots=True)
class Record:
    request_id: str
    created_at: float = field(default_factory=time.time)  # epoch seconds
    key_id: int | None = None
    key_name: str = ""
    key_prefix: str = ""
    dialect: str = ""  # openai | anthropic
    endpoint: str = ""  # chat | messages | completions | embeddings | count_tokens
    route: str = ""
    deployment_id: int | None = None
    provider: str = ""
    upstream_model: str = ""
    stream: bool = False
    status: int = 0
    finish_reason: str = ""
    error_kind: str = ""
    error_message: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    upstream_ms: float | None = None
    overhead_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    user_agent: str = ""
    from_playground: bool = False
    client_disconnected: bool = False
    cache_hit: bool = False  # answered from the response cache (no upstream call)
    # bodies (bytes or JSON-able objects); secrets never put here
    inbound_request: Any = None
    upstream_request: Any = None
    upstream_response: Any = None
    outbound_response: Any = None
    # what the record counts against the journal's memory bound (set when it is queued)
    queued_bytes: int = field(default=0, repr=False, compare=False)


# --- secrets: defence in depth (the service never puts headers into records) ---------------

_SECRET_PATTERNS = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization header value
    r"|(?i:\"(?:authorization|x-api-key|api-key)\"\s*:\s*)\"[^\"]*\""  # a header in JSON
    r"|\bsy-[A-Za-z0-9_-]{16,}"  # Switchyard virtual and master keys
    r"|\bsk-[A-Za-z0-9_-]{16,}"  # OpenAI / Anthropic style provider keys
)
# Every match of _SECRET_PATTERNS contains one of these in ``text.lower()``: a few
# substring searches (C speed) decide whether the regex (slow over 10 KB) has to run.
_CASELESS_MARKERS = ("bearer", "authorization", "api-key")  # the (?i:...) parts
_PATTERN_MARKERS = (*_CASELESS_MARKERS, "sy-", "sk-")
# The characters other than ASCII letters and what ``str.lower()`` maps onto them that the
# regex's case-insensitive parts match (dotted and dotless I): text holding one runs it.
_CASE_FOLD_ODDITIES = ("\u0130", "\u0131")


def configured_secrets() -> list[str]:
    """The literal secrets this process knows: the master key and provider keys
    (``os.environ/NAME`` references resolved), longest first."""
    from . import registry

    found = {settings.SWITCHYARD_MASTER_KEY}
    for provider in registry.current().providers.values():
        value = provider.secret or ""
        if value.startswith("os.environ/"):
            value = os.environ.get(value.removeprefix("os.environ/"), "")
        found.add(value)
    return sorted((s for s in found if s and len(s) >= 8), key=len, reverse=True)


def may_match_secret_pattern(text: str) -> bool:
    """False only when ``_SECRET_PATTERNS`` certainly finds nothing in ``text``."""
    low = text.lower()
    for marker in _PATTERN_MARKERS:
        if marker in low:
            return True
    return not text.isascii() and any(odd in text for odd in _CASE_FOLD_ODDITIES)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every configured secret and every key-looking token replaced."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if not may_match_secret_pattern(text):
        return text
    return _SECRET_PATTERNS.sub(_redacted_match, text)


def _redacted_match(match: re.Match[str]) -> str:
    value = match.group(0)
    if value.startswith('"'):  # keep the JSON field name, drop its value
        return value[: value.index(":") + 1] + f' "{REDACTED}"'
    if value[:6].lower() == "bearer":
        return "Bearer " + REDACTED
    return REDACTED


# --- rows --------------------------------------------------------------------------------


def _raw_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    return orjson.dumps(value, default=str)


def body_text(value: Any, limit: int, secrets: Iterable[str] = ()) -> tuple[str, bool]:
    """A body as storable text: utf-8 (invalid bytes replaced), secrets redacted, cut
    to ``limit`` bytes with a visible marker. Returns (text, truncated).

    The service captures at most ``limit`` bytes of what it streams, so a body that
    reaches the limit counts as cut. Redaction happens before the cut (over
    ``REDACTION_MARGIN`` more bytes), so a secret straddling the boundary cannot leave
    half of itself behind."""
    data = _raw_bytes(value)
    if not data:
        return "", False
    truncated = len(data) >= limit
    text = data[: limit + REDACTION_MARGIN].decode("utf-8", "replace")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    text = redact(text, secrets)
    if truncated:
        cut = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
        text = cut + TRUNCATION_MARKER.format(limit=limit)
    return text, truncated


def _count(value: int | None) -> int:
    return max(0, min(int(value or 0), MAX_INT))


# RequestLog columns in the order ``log_values`` produces them (model attribute names);
# ``_log_sql`` checks them against the model, so a model change cannot misalign them.
LOG_COLUMNS = (
    "request_id",
    "created_at",
    "key_id",
    "key_name",
    "key_prefix",
    "dialect",
    "endpoint",
    "route",
    "deployment_id",
    "provider",
    "upstream_model",
    "stream",
    "status",
    "finish_reason",
    "error_kind",
    "error_message",
    "attempts",
    "latency_ms",
    "ttft_ms",
    "upstream_ms",
    "overhead_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "user_agent",
    "from_playground",
    "client_disconnected",
    "cache_hit",
)
BODY_FIELDS = ("inbound_request", "upstream_request", "upstream_response", "outbound_response")
BODY_COLUMNS = ("log_id", *BODY_FIELDS, "truncated")
ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))
_attempt_values = attrgetter(*ATTEMPT_FIELDS)
_NO_ATTEMPTS = orjson.dumps([]).decode()
_ZERO = Decimal("0")


def log_values(
    rec: Record, secrets: Iterable[str], adapt_time: Callable, adapt_json: Callable
) -> tuple[tuple, datetime]:
    """(RequestLog values in LOG_COLUMNS order, the creation time): strings cut to their
    column sizes, counts to their ranges; time and JSON through the backend's adapters."""
    created = datetime.fromtimestamp(rec.created_at, tz=UTC)
    attempts = [dict(zip(ATTEMPT_FIELDS, _attempt_values(a), strict=True)) for a in rec.attempts]
    message = rec.error_message
    if message:
        message = redact(message, secrets).replace("\x00", "\ufffd")
    values = (
        rec.request_id[:40],
        adapt_time(created),
        rec.key_id,
        rec.key_name[:200],
        rec.key_prefix[:32],
        rec.dialect[:20],
        rec.endpoint[:40],
        rec.route[:200],
        rec.deployment_id,
        rec.provider[:100],
        rec.upstream_model[:200],
        rec.stream,
        max(0, min(rec.status, 32767)),
        (rec.finish_reason or "")[:30],
        (rec.error_kind or "")[:60],
        message or "",
        adapt_json(attempts),
        rec.latency_ms,
        rec.ttft_ms,
        rec.upstream_ms,
        rec.overhead_ms,
        _count(rec.input_tokens),
        _count(rec.output_tokens),
        _count(rec.cache_read_tokens),
        _count(rec.cache_write_tokens),
        rec.cost_usd or _ZERO,
        (rec.user_agent or "")[:300],
        rec.from_playground,
        rec.client_disconnected,
        rec.cache_hit,
    )
    return values, created


def body_values(rec: Record, limit: int, secrets: Iterable[str] = ()) -> tuple | None:
    """RequestBody values after the log id (BODY_FIELDS, then truncated), or None when
    ``rec`` carries no body at all. A body equal to an earlier one of the same record
    (a passed-through response) is converted once."""
    texts: list[str] = []
    done: list[tuple[Any, str]] = []
    truncated = False
    for name in BODY_FIELDS:
        value = getattr(rec, name)
        text = next((t for seen, t in done if _same_body(value, seen)), None)
        if text is None:
            text, cut = body_text(value, limit, secrets)
            truncated = truncated or cut
            done.append((value, text))
        texts.append(text)
    if not any(texts):
        return None
    return (*texts, truncated)


def _same_body(value: Any, seen: Any) -> bool:
    return value is seen or (isinstance(value, bytes) and value == seen)


# --- the database: one multi-row INSERT per table and batch ------------------------------

MAX_PARAMS = 30_000  # per statement: under SQLite's (32,766) and PostgreSQL's (65,535) caps
STATEMENT_ROWS = (128, 16, 1)  # a batch of 500: 3 x 128 + 7 x 16 + 4 x 1 rows


def _columns(model: Any, names: tuple[str, ...]) -> list[str]:
    """The database columns of ``names``, which must be all of ``model``'s own columns."""
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    if model._meta.pk.attname in names:
        fields[model._meta.pk.attname] = model._meta.pk
    if set(fields) != set(names):
        raise RuntimeError(
            f"journal columns out of date for {model.__name__}: "
            f"model has {sorted(fields)}, journal writes {sorted(names)}"
        )
    return [fields[name].column for name in names]


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int, mark: str, returning: str) -> str:
    quote = db_connection.ops.quote_name
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([one] * rows)}"
    )
    return f"{sql} RETURNING {quote(returning)}" if returning else sql


def _insert(model: Any, names: tuple[str, ...], rows: list[tuple], returning: bool) -> list[int]:
    """Insert ``rows`` (values in ``names`` order); with ``returning``, the new primary
    keys in row order. Errors become Django's, so an outage stays recognisable."""
    columns = tuple(_columns(model, names))
    table = model._meta.db_table
    pk = model._meta.pk.column if returning else ""
    with db_connection.cursor() as cursor, db_connection.wrap_database_errors:
        if db_connection.vendor == "sqlite":
            return _insert_sqlite(cursor.cursor, table, columns, rows, pk)
        if db_connection.vendor == "postgresql" and is_psycopg3:
            return _insert_psycopg(cursor.cursor, table, columns, rows, pk)
        return _insert_multirow(cursor, table, columns, rows, pk, "%s")


def _insert_sqlite(raw: Any, table: str, columns: tuple, rows: list[tuple], pk: str) -> list[int]:
    """Multi-row INSERTs written with ``?``, run by sqlite3's own execute: Django's SQLite
    cursor would rewrite each of the thousands of ``%s`` with a regex."""

    class Qmark:
        execute = functools.partial(sqlite3.Cursor.execute, raw)
        fetchall = raw.fetchall

    return _insert_multirow(Qmark, table, columns, rows, pk, "?")


def _insert_multirow(
    cursor: Any, table: str, columns: tuple, rows: list[tuple], pk: str, mark: str
) -> list[int]:
    """Multi-row INSERTs of a few fixed sizes (``STATEMENT_ROWS``): every distinct
    statement stays prepared in the connection's statement cache, and one of thousands of
    parameters takes hundreds of KB there."""
    cap = max(1, MAX_PARAMS // len(columns))
    ids: list[int] = []
    start = 0
    for size in (min(n, cap) for n in STATEMENT_ROWS):
        while len(rows) - start >= size:
            chunk = rows[start : start + size]
            start += size
            sql = _insert_sql(table, columns, size, mark, pk)
            cursor.execute(sql, list(itertools.chain.from_iterable(chunk)))
            if pk:
                # ids come from one sequence in VALUES order; RETURNING's order is not
                # specified
                ids += sorted(row[0] for row in cursor.fetchall())
    return ids


def _insert_psycopg(raw: Any, table: str, columns: tuple, rows: list[tuple], pk: str) -> list[int]:
    """One single-row INSERT run for every row in one pipeline (psycopg 3's executemany):
    a short statement psycopg parses once, where a multi-row one is parsed in Python for
    its thousands of placeholders every time. Each row's RETURNING is its own result."""
    sql = _insert_sql(table, columns, 1, "%s", pk)
    raw.executemany(sql, rows, returning=bool(pk))
    ids: list[int] = []
    if pk:
        ids.append(raw.fetchone()[0])
        while raw.nextset():
            ids.append(raw.fetchone()[0])
    return ids


def _adapters() -> tuple[Callable, Callable]:
    """(datetime adapter, JSON adapter) for the current database backend."""
    ops = db_connection.ops
    if db_connection.vendor == "sqlite":

        def adapt_json(value: Any) -> str:
            return orjson.dumps(value, default=str).decode() if value else _NO_ATTEMPTS

    else:

        def adapt_json(value: Any) -> Any:
            return ops.adapt_json_value(value, None)

    return ops.adapt_datetimefield_value, adapt_json


def write_batch(records: list[Record]) -> list[int]:
    """Insert ``records`` (logs, then bodies) and add them to the hourly rollups, in
    one transaction; the new log ids. Synchronous: runs in the journal's writer thread.

    Rows are converted before the transaction starts, so the database (SQLite's one
    write lock, shared by every worker process) is held only for the inserts."""
    from . import rollups
    from .models import RequestBody, RequestLog

    secrets = configured_secrets()
    adapt_time, adapt_json = _adapters()
    usage_of = _usage_picker()
    bodies_on = settings.SWITCHYARD_LOG_BODIES
    limit = settings.SWITCHYARD_LOG_BODY_MAX_BYTES
    logs: list[tuple] = []
    usage: list[tuple] = []
    bodies: list[tuple | None] = []
    for index, rec in enumerate(records, 1):
        values, created = log_values(rec, secrets, adapt_time, adapt_json)
        logs.append(values)
        usage.append((created, *usage_of(values)))
        if bodies_on:
            bodies.append(body_values(rec, limit, secrets))
        if index % YIELD_EVERY == 0:
            time.sleep(0)  # let the event loop's thread take the GIL (see YIELD_EVERY)
    groups = rollups.tally(usage)
    with transaction.atomic():
        ids = _insert(RequestLog, LOG_COLUMNS, logs, returning=True)
        rollups.add(groups)
        rows = [(i, *v) for i, v in zip(ids, bodies, strict=False) if v is not None]
        if rows:
            _insert(RequestBody, BODY_COLUMNS, rows, returning=False)
    return ids


@functools.cache
def _usage_picker() -> Callable[[tuple], tuple]:
    """Picks what the rollups tally (``rollups.LOG_FIELDS`` after the creation time)
    out of a ``log_values`` row."""
    from . import rollups

    assert rollups.LOG_FIELDS[0] == "created_at"
    picker = itemgetter(*(LOG_COLUMNS.index(name) for name in rollups.LOG_FIELDS[1:]))
    return picker


AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$", re.IGNORECASE)
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d`` (also ``s`` and ``w``) as a timedelta; ValueError else."""
    match = AGE.match(text.strip())
    if not match:
        raise ValueError(f"not an age like 90m, 12h or 30d: {text!r}")
    return timedelta(**{AGE_UNITS[match.group(2).lower()]: float(match.group(1))})


def prune(
    older_than: timedelta, batch_size: int = PRUNE_BATCH, max_batches: int | None = None
) -> int:
    """Delete logs (and their bodies) created more than ``older_than`` ago, in batches
    of ``batch_size`` rows, each its own short transaction. Returns rows deleted."""
    from .models import RequestBody, RequestLog

    cutoff = datetime.now(UTC) - older_than
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        ids = list(
            RequestLog.objects.filter(created_at__lt=cutoff)
            .order_by()
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            break
        with transaction.atomic():
            RequestBody.objects.filter(log_id__in=ids).delete()
            RequestLog.objects.filter(id__in=ids).delete()
        deleted += len(ids)
        batches += 1
    return deleted


# --- the writer --------------------------------------------------------------------------


def _unavailable(exc: BaseException) -> bool:
    """The database is down or busy (retry later), as opposed to a row it rejects."""
    return isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError)


def admit(rec: Record) -> int:
    """Prepare ``rec`` for the queue and return what it counts against the memory bound:
    bodies go when body logging is off, and are cut to what ``body_text`` will read
    (the limit plus the redaction margin) when on: a 30 MB request body is not kept
    whole for the 256 KB stored of it."""
    size = RECORD_BYTES
    if not settings.SWITCHYARD_LOG_BODIES:
        rec.inbound_request = rec.upstream_request = None
        rec.upstream_response = rec.outbound_response = None
        rec.queued_bytes = size
        return size
    keep = settings.SWITCHYARD_LOG_BODY_MAX_BYTES + REDACTION_MARGIN
    for name in BODY_FIELDS:
        value = getattr(rec, name)
        if value is None:
            continue
        if isinstance(value, bytes | bytearray | str):
            if len(value) > keep:
                value = value[:keep]
                setattr(rec, name, value)
            size += len(value)
        else:
            size += OTHER_BODY_BYTES
    rec.queued_bytes = size
    return size


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
    ) -> None:
        self.write = write
        self.capacity = capacity or settings.SWITCHYARD_JOURNAL_QUEUE_SIZE
        self.max_bytes = max_bytes or getattr(
            settings, "SWITCHYARD_JOURNAL_MAX_BYTES", DEFAULT_MAX_BYTES
        )
        self.flush_seconds = flush_seconds or settings.SWITCHYARD_JOURNAL_FLUSH_SECONDS
        self.batch_size = batch_size
        self.notify = notify
        self.prune_every = prune_every
        self.pending: deque[Record] = deque()
        self.in_flight = 0
        self.pending_bytes = 0
        self.in_flight_bytes = 0
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._deadline = float("inf")
        self._next_prune = time.monotonic() + PRUNE_FIRST_AFTER_SECONDS
        self.pruned = 0  # log rows deleted by the retention pass, in this process
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._last_drop_warning = 0.0
        self._connection_checked = float("-inf")

    # --- the request path ---------------------------------------------------------------
    def record(self, rec: Record) -> None:
        size = admit(rec)
        with self._lock:
            dropped = 0
            if self.in_flight + 1 > self.capacity or self.in_flight_bytes + size > self.max_bytes:
                dropped = 1  # no room even with nothing queued: the new record goes
            else:
                while self.pending and (
                    len(self.pending) + self.in_flight >= self.capacity
                    or self.pending_bytes + self.in_flight_bytes + size > self.max_bytes
                ):
                    self.pending_bytes -= self.pending.popleft().queued_bytes
                    dropped += 1
                self.pending.append(rec)
                self.pending_bytes += size
            if dropped:
                self._drop(dropped, "the journal queue is full")
        self._kick()

    def _kick(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop here: start() or the next record() on a loop takes it up
        if self._task is None or self._task.done() or self._task.get_loop().is_closed():
            if self._stopping:
                return
            self._launch(loop)
        full = len(self.pending) >= self.batch_size
        if full and self._wake is not None and self._task.get_loop() is loop:
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
            await asyncio.get_running_loop().run_in_executor(executor, db_connection.close)
        executor.shutdown(wait=False)

    async def _run(self) -> None:
        while not self._stopping:
            await self._sleep(self.flush_seconds)
            await self._flush_pending()
            await self._maybe_prune()
        await self._flush_pending()

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    # --- writing ----------------------------------------------------------------------------
    async def _flush_pending(self) -> None:
        """Write batches until the queue is empty (or holds less than a batch while the
        writer keeps running), retrying with backoff while the database is down."""
        backoff = 0.0
        while self.pending:
            if await self._flush_once():
                backoff = 0.0
                if not self._stopping and len(self.pending) < self.batch_size:
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
            batch = [self.pending.popleft() for _ in range(min(self.batch_size, len(self.pending)))]
            self.in_flight = len(batch)
            self.in_flight_bytes = sum(rec.queued_bytes for rec in batch)
            self.pending_bytes -= self.in_flight_bytes
        try:
            ids, unwritten = await self._in_thread(self._write_isolating, batch)
        except Exception as exc:  # the database is unavailable: keep the batch
            self.failures += 1
            log.warning("journal: writing %d record(s) failed, will retry: %s", len(batch), exc)
            self._requeue(batch)
            return False
        finally:
            self.in_flight = self.in_flight_bytes = 0
        self.written += len(ids)
        if unwritten:
            self.failures += 1
            self._requeue(unwritten)
        if ids and self.notify:
            await self._announce(ids)
        return not unwritten

    def _requeue(self, batch: list[Record]) -> None:
        """Put a batch back at the front, within the bounds (oldest dropped first)."""
        with self._lock:
            room = self.capacity - len(self.pending)
            room_bytes = self.max_bytes - self.pending_bytes
            keep: list[Record] = []  # newest first
            for rec in reversed(batch):
                if len(keep) >= room or rec.queued_bytes > room_bytes:
                    break
                keep.append(rec)
                room_bytes -= rec.queued_bytes
            if len(keep) < len(batch):
                self._drop(
                    len(batch) - len(keep), "the journal queue is full while the database is down"
                )
            self.pending.extendleft(keep)
            self.pending_bytes = self.max_bytes - room_bytes

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
        now = time.monotonic()
        if now >= self._connection_checked + CONNECTION_CHECK_SECONDS:
            # Django's age and health rules; not per batch: with CONN_MAX_AGE 0 (the
            # SQLite default) that reopened the database for every batch
            self._connection_checked = now
            close_old_connections()
        try:
            return self.write(batch)
        except Exception:
            with contextlib.suppress(Exception):
                db_connection.close()  # reconnect on the next try
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

    # --- retention --------------------------------------------------------------------------
    async def _maybe_prune(self) -> None:
        days = settings.SWITCHYARD_LOG_RETENTION_DAYS
        stored_days = settings.SWITCHYARD_RESPONSES_RETENTION_DAYS
        if not (days or stored_days) or self.prune_every is None:
            return
        if time.monotonic() < self._next_prune:
            return
        try:
            deleted = await self._in_thread(
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

    @staticmethod
    def _prune_guarded(older_than: timedelta | None, max_batches: int) -> int:
        """Prune logs (None: kept forever), then rollups and stored Responses API
        responses past their own retentions; logs deleted."""
        from . import responses_state, rollups

        close_old_connections()
        deleted = prune(older_than, max_batches=max_batches) if older_than else 0
        if days := rollups.retention_days():
            rollups.prune(timedelta(days=days), max_batches=max_batches)
        if days := settings.SWITCHYARD_RESPONSES_RETENTION_DAYS:
            responses_state.prune(timedelta(days=days), max_batches=max_batches)
        return deleted

    def stats(self) -> dict[str, int]:
        return {
            "queued": len(self.pending) + self.in_flight,
            "queued_bytes": self.pending_bytes + self.in_flight_bytes,
            "written": self.written,
            "dropped": self.dropped,
            "failures": self.failures,
            "pruned": self.pruned,
        }


# --- module API (what the service and runtime call) -----------------------------------------

_writer: Writer | None = None


def writer() -> Writer:
    global _writer
    if _writer is None:
        _writer = Writer()
    return _writer


def record(entry: Record) -> None:
    """Hand one record to the journal without waiting (never raises, never blocks)."""
    try:
        writer().record(entry)
    except Exception:
        log.exception("journal: could not queue record %s", getattr(entry, "request_id", "?"))
    try:
        from . import metrics

        metrics.observe(entry)
    except Exception:
        log.exception("journal: metrics update failed")


async def start() -> None:
    await writer().start()


async def drain(within: float = DRAIN_SECONDS) -> None:
    """Write what is queued before the process exits (graceful shutdown)."""
    await writer().drain(within)


def stats() -> dict[str, int]:
    return (
        writer().stats()
        if _writer is not None
        else {
            "queued": 0,
            "queued_bytes": 0,
            "written": 0,
            "dropped": 0,
            "failures": 0,
            "pruned": 0,
        }
    )
