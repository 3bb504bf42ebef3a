"""The database side: a batch of records inserted as one multi-row INSERT per table
(the ORM's per-object work cost more than the database) in one transaction, with the
hourly rollups. Synchronous: runs in the journal's writer thread."""

from __future__ import annotations

import functools
import itertools
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from types import SimpleNamespace
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction

from gateway.base.db_driver import is_psycopg3
from gateway.journal import blobs
from gateway.journal.record import Record
from gateway.journal.rows import BODY_COLUMNS, LOG_COLUMNS, as_is, body_values, log_values
from gateway.models import RequestBody, RequestLog, RequestTag
from gateway.telemetry import rollups, spend, tag_spend
from gateway.telemetry.redaction import configured_secrets

_NO_ATTEMPTS = orjson.dumps([]).decode()
# One row's values, in its table's column order (as rows.py makes them).
Row = tuple[Any, ...]

# The writer thread converts this many records, then releases the GIL for a moment:
# a thread waiting for the GIL otherwise waits out the whole switch interval (5 ms),
# and the event loop's thread waits for it after every poll. Not when the writer is
# behind (``hurry``): while the loop's thread is busy, each release costs the writer up
# to the switch interval to get the GIL back, and those waits were half its time.
YIELD_EVERY = 16
MAX_PARAMS = 30_000  # per statement: under SQLite's (32,766) and PostgreSQL's (65,535) caps
STATEMENT_ROWS = (128, 16, 1)  # a batch of 500: 3 x 128 + 7 x 16 + 4 x 1 rows


def _itself(value: Any) -> Any:
    return value


# sqlite3 adapts every None and bytes value it binds (int, float, str and bytearray go
# straight): with no adapter registered for the type it asks PrepareProtocol for
# ``__adapt__``, and that miss formats an AttributeError's message (about 0.3 us a
# value). A request's journal rows bind some seventeen of them (empty columns, bodies):
# registered as themselves they bind as before, found in the adapters' table (#67).
sqlite3.register_adapter(type(None), _itself)
sqlite3.register_adapter(bytes, _itself)


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


def _insert(model: Any, names: tuple[str, ...], rows: list[Row], returning: bool) -> list[int]:
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


def _insert_sqlite(
    raw: Any, table: str, columns: tuple[str, ...], rows: list[Row], pk: str
) -> list[int]:
    """Multi-row INSERTs written with ``?``, run by sqlite3's own execute: Django's SQLite
    cursor would rewrite each of the thousands of ``%s`` with a regex.

    The new ids come from ``lastrowid``, not RETURNING: sqlite3 fetches a RETURNING row
    per step and releases the GIL around each, and while the event loop's thread is busy
    every re-acquisition can wait up to the switch interval (5 ms). An AUTOINCREMENT
    table numbers the rows of one INSERT consecutively after the largest id ever used,
    and no one else inserts inside our write transaction; one COUNT over the span checks
    it (else ``NonConsecutiveIds``: the writer then stores the batch record by record)."""

    # Cursors of our own as plain namespaces: a class made per batch is a reference cycle
    # (a type refers to itself through its dict) left to the garbage collector.
    qmark_execute: Callable[..., Any] = functools.partial(sqlite3.Cursor.execute, raw)
    qmark = SimpleNamespace(execute=qmark_execute, fetchall=raw.fetchall)
    if not pk:
        return _insert_multirow(qmark, table, columns, rows, "", "?")
    ids: list[int] = []

    def execute_noting_ids(sql: str, params: list[Any]) -> None:
        qmark_execute(sql, params)  # not Django's execute (see above)
        size = len(params) // len(columns)
        ids.extend(range(raw.lastrowid - size + 1, raw.lastrowid + 1))

    last_row_id = SimpleNamespace(execute=execute_noting_ids, fetchall=raw.fetchall)
    _insert_multirow(last_row_id, table, columns, rows, "", "?")
    if ids:
        quote = db_connection.ops.quote_name
        qmark_execute(
            f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(pk)} BETWEEN ? AND ?",
            (ids[0], ids[-1]),
        )
        (found,) = raw.fetchone()
        if found != len(ids) or ids[-1] - ids[0] + 1 != len(ids):
            raise NonConsecutiveIds(f"{table}: {len(ids)} rows, ids {ids[0]}..{ids[-1]}")
    return ids


class NonConsecutiveIds(RuntimeError):
    """A multi-row INSERT's ids were not the consecutive run ``lastrowid`` implies."""


def _insert_multirow(
    cursor: Any, table: str, columns: tuple[str, ...], rows: list[Row], pk: str, mark: str
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


def _insert_psycopg(
    raw: Any, table: str, columns: tuple[str, ...], rows: list[Row], pk: str
) -> list[int]:
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


class Adapters(NamedTuple):
    """How a row's values go to the current backend's driver: ``rows.log_values``'
    adapter parameters, in their order."""

    time: Callable[[datetime], Any]
    json: Callable[[Any], object]
    flag: Callable[[bool], object] = as_is
    money: Callable[[Decimal], object] = as_is


def _adapters() -> Adapters:
    """The adapters of the current database backend. On SQLite the driver passes
    every value that is not exactly an int, float, str or bytes through its adapter
    registry (about 0.3 us each, a bool or a Decimal as much as None), so flags go as
    the 0 and 1 SQLite stores for them and amounts as the text Django's registered
    Decimal adapter (``str``) makes of them: the same values stored. (The rollup
    tallies read amounts from these rows: ``Decimal`` takes the text as exactly.)"""
    ops = db_connection.ops
    if db_connection.vendor == "sqlite":

        def adapt_json(value: Any) -> object:
            return orjson.dumps(value, default=str).decode() if value else _NO_ATTEMPTS

        return Adapters(_sqlite_time(), adapt_json, int, _decimal_text)

    def adapt_json_value(value: Any) -> object:
        return ops.adapt_json_value(value, None)

    return Adapters(ops.adapt_datetimefield_value, adapt_json_value)


def _decimal_text(amount: Decimal) -> object:
    """What Django's Decimal adapter for SQLite (``str``) makes of ``amount``."""
    return str(amount) if amount.__class__ is Decimal else amount


def _sqlite_time() -> Callable[[datetime], Any]:
    """Django's SQLite datetime adapter, or when the connection's time zone is UTC an
    equivalent one without its per-value time zone checks and conversion (half the
    cost): the naive UTC text, from the ISO form of a UTC moment less its "+00:00"."""
    django_adapter: Callable[[datetime], Any] = db_connection.ops.adapt_datetimefield_value
    if not settings.USE_TZ or db_connection.timezone is not UTC:
        return django_adapter

    def adapt_time(moment: datetime) -> Any:
        if moment.tzinfo is UTC:
            return moment.isoformat(" ")[:-6]
        return django_adapter(moment)

    return adapt_time


def write_batch(records: list[Record], *, hurry: bool = False) -> list[int]:
    """Insert ``records`` (logs, then bodies and their parts stored once, ``journal.blobs``)
    and add them to the hourly rollups, in one transaction; the new log ids.
    Synchronous: runs in the journal's writer thread.
    ``hurry`` (more records are waiting): convert without yielding (see YIELD_EVERY).

    Rows are converted before the transaction starts, so the database (SQLite's one
    write lock, shared by every worker process) is held only for the inserts."""

    parts = blobs.Parts()  # (its start time read first: the fence, journal.blobs)
    secrets = configured_secrets()
    adapt = _adapters()
    usage_of = _usage_picker()
    bodies_on = settings.SWITCHYARD_LOG_BODIES
    limit = settings.SWITCHYARD_LOG_BODY_MAX_BYTES
    logs: list[Row] = []
    usage: list[Row] = []
    bodies: list[Row | None] = []
    yield_every = len(records) + 1 if hurry else YIELD_EVERY
    for index, rec in enumerate(records, 1):
        values, created = log_values(rec, secrets, *adapt)
        logs.append(values)
        usage.append((created, *usage_of(values)))
        if bodies_on:
            bodies.append(body_values(rec, limit, secrets, adapt.flag, parts.add))
        if index % yield_every == 0:
            time.sleep(0)  # let the event loop's thread take the GIL (see YIELD_EVERY)
    groups = rollups.tally(usage)
    spend_of = _spend_picker()
    spent = spend.tally(((u[0], *spend_of(v)) for u, v in zip(usage, logs, strict=True)), {})
    tagged = [(n, rec) for n, rec in enumerate(records) if rec.tags]
    by_tag = tag_spend.tally(_tag_rows(tagged, usage, logs)) if tagged else {}
    with transaction.atomic():
        ids = _insert(RequestLog, LOG_COLUMNS, logs, returning=True)
        rollups.add(groups)
        spend.add(spent)
        rows = [(i, *v) for i, v in zip(ids, bodies, strict=False) if v is not None]
        if rows:
            parts.write()
            _insert(RequestBody, BODY_COLUMNS, rows, returning=False)
        if tagged:
            _insert_tags(tagged, ids, logs)
            tag_spend.add(by_tag)
        parts.within_fence()
        if parts.nodes:
            transaction.on_commit(parts.remember)
    return ids


TAG_COLUMNS = ("log_id", "tag", "created_at")


def _tag_rows(tagged: list[tuple[int, Record]], usage: list[Row], logs: list[Row]) -> Iterable[Row]:
    """What ``tag_spend.tally`` sums of the tagged records: (created, tags, key id, key
    name, status, tokens..., cost), picked from the rows already converted."""
    spend_of = _spend_picker()
    for n, rec in tagged:
        key_id, key_name, _, _, _, _, status, *figures = spend_of(logs[n])
        yield (usage[n][0], rec.tags, key_id, key_name, status, *figures)


def _insert_tags(tagged: list[tuple[int, Record]], ids: list[int], logs: list[Row]) -> None:
    """One ``RequestTag`` row per tag of each tagged record (its log's creation time
    beside it, for the tag filter's index)."""

    created_at = LOG_COLUMNS.index("created_at")
    rows = [
        (ids[n], tag, logs[n][created_at]) for n, rec in tagged for tag in dict.fromkeys(rec.tags)
    ]
    _insert(RequestTag, TAG_COLUMNS, rows, returning=False)


def _usage_picker() -> Callable[[Row], Row]:
    """Picks what the usage rollups tally out of a ``log_values`` row."""
    return _picker(rollups.LOG_FIELDS)


def _spend_picker() -> Callable[[Row], Row]:
    """Picks what the spend rollups tally out of a ``log_values`` row."""
    return _picker(spend.LOG_FIELDS)


@functools.cache
def _picker(log_fields: tuple[str, ...]) -> Callable[[Row], Row]:
    """Picks ``log_fields`` after the creation time (a rollup's ``LOG_FIELDS``) out of a
    ``log_values`` row."""
    assert log_fields[0] == "created_at"
    return itemgetter(*(LOG_COLUMNS.index(name) for name in log_fields[1:]))
