"""Hourly usage rollups (``UsageRollup``): what the journal adds per batch, the rebuild
from RequestLog, retention, and percentiles estimated from the fixed-bucket histograms.

A batch is tallied in Python first (one ``Tally`` per group), then added to each group's
row by one UPDATE that sums in the database (histograms too), or the row is created;
everything runs inside the caller's transaction, so a batch's logs and its rollup
increments commit together.
"""

from __future__ import annotations

import functools
import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.dispatch import Signal

from gateway.base.db_work import delete_in_batches
from gateway.models import RequestLog, UsageRollup

log = logging.getLogger(__name__)
# Sent by ``rebuild`` once the rollups from ``since`` (an hour) are rebuilt: their new
# ids make every summary the console kept of those hours stale, and it folds its week
# view's hours again then rather than in the next dashboard view.
rebuilt = Signal()

# Upper bounds (ms) of the histogram buckets: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 per
# decade, 1 ms .. 1000 s (a bucket is at most a third wider than the one before it);
# bucket ``len(BOUNDS_MS)`` holds everything slower.
_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)
BOUNDS_MS: tuple[float, ...] = tuple(s * 10**d for d in range(6) for s in _STEPS) + (1e6,)
DEFAULT_RETENTION_DAYS = 400
PRUNE_BATCH = 2000
GROUP_FIELDS = ("hour", "route", "key_id", "key_name", "dialect", "status_class")
# The token counts a request log carries, summed by every rollup (the same names on
# RequestLog, UsageRollup and SpendRollup).
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
# What a log contributes, in this order (RequestLog attribute names).
LOG_FIELDS = (
    "created_at",
    "route",
    "key_id",
    "key_name",
    "dialect",
    "status",
    *TOKEN_FIELDS,
    "cost_usd",
    "cache_saved_usd",
    "latency_ms",
    "ttft_ms",
    "cache_hit",
)
COUNTERS = (
    "requests",
    "errors",
    "cache_hits",
    *TOKEN_FIELDS,
    "cost_usd",
    "cache_saved_usd",
    "latency_ms_sum",
    "ttft_count",
    "ttft_ms_sum",
)
HISTOGRAMS = ("latency_hist", "ttft_hist")
Group = tuple[datetime, str, int, str, str, int]


def bucket_index(ms: float) -> int:
    """The histogram bucket of a duration: the first bound at or above it."""
    return bisect_left(BOUNDS_MS, ms)


def bucket_range(index: int) -> tuple[float, float]:
    """(lower, upper) ms of bucket ``index``; the overflow bucket's upper is its lower."""
    lower = BOUNDS_MS[index - 1] if index > 0 else 0.0
    upper = BOUNDS_MS[index] if index < len(BOUNDS_MS) else lower
    return lower, upper


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


ONE_HOUR = timedelta(hours=1)
_NO_HOUR = datetime.min.replace(tzinfo=UTC)


def hour_floor() -> Callable[[datetime], datetime]:
    """``hour_of`` for moments that mostly fall in the hour of the one before (a batch
    of logs): that hour is kept, and a UTC moment inside it costs two comparisons
    rather than a conversion and a ``replace`` (0.7 us, twice a log in the journal
    writer)."""
    start = end = _NO_HOUR

    def floor(moment: datetime) -> datetime:
        nonlocal start, end
        if moment.tzinfo is not UTC or not start <= moment < end:
            start = hour_of(moment)
            end = start + ONE_HOUR
        return start

    return floor


def retention_days() -> int:
    """``SWITCHYARD_ROLLUP_RETENTION_DAYS`` (0 keeps rollups forever)."""
    return int(getattr(settings, "SWITCHYARD_ROLLUP_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


@dataclass(slots=True)
class Tally:
    """One group's sums over some logs."""

    requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    cache_saved_usd: Decimal = Decimal("0")  # what the prompt cache saved
    latency_ms_sum: float = 0.0
    ttft_count: int = 0
    ttft_ms_sum: float = 0.0
    latency_hist: dict[str, int] = field(default_factory=dict)
    ttft_hist: dict[str, int] = field(default_factory=dict)


_BUCKET_KEYS = tuple(str(index) for index in range(len(BOUNDS_MS) + 1))  # (JSON keys)


def _bump(hist: dict[str, int], ms: float) -> None:
    key = _BUCKET_KEYS[bucket_index(ms)]
    hist[key] = hist.get(key, 0) + 1


def merge_hist(into: dict[str, int], other: Mapping[Any, Any]) -> dict[str, int]:
    for key, count in other.items():
        into[str(key)] = into.get(str(key), 0) + int(count)
    return into


def tally(
    rows: Iterable[tuple[Any, ...]], into: dict[Group, Tally] | None = None
) -> dict[Group, Tally]:
    """Sum ``rows`` (tuples in LOG_FIELDS order) per group."""
    groups: dict[Group, Tally] = {} if into is None else into
    hour_of_log = hour_floor()
    for (
        created,
        route,
        key_id,
        key_name,
        dialect,
        status,
        tin,
        tout,
        cread,
        cwrite,
        cost,
        saved,
        latency,
        ttft,
        cache_hit,
    ) in rows:
        group = (hour_of_log(created), route, key_id or 0, key_name, dialect, status // 100)
        t = groups.get(group)
        if t is None:
            t = groups[group] = Tally()
        t.requests += 1
        t.errors += status >= 400
        t.cache_hits += bool(cache_hit)
        t.input_tokens += tin
        t.output_tokens += tout
        t.cache_read_tokens += cread
        t.cache_write_tokens += cwrite
        t.cost_usd += Decimal(cost or 0)
        if saved:  # NULL on logs older than the column
            t.cache_saved_usd += Decimal(saved)
        t.latency_ms_sum += latency or 0.0
        _bump(t.latency_hist, latency or 0.0)
        if ttft is not None:
            t.ttft_count += 1
            t.ttft_ms_sum += ttft
            _bump(t.ttft_hist, ttft)
    return groups


# --- writing -------------------------------------------------------------------------------


def _new_row(group: Group, t: Tally) -> UsageRollup:
    return UsageRollup(
        **dict(zip(GROUP_FIELDS, group, strict=True)),
        **{name: getattr(t, name) for name in COUNTERS},
        latency_hist=t.latency_hist,
        ttft_hist=t.ttft_hist,
    )


def _upsert(groups: dict[Group, Tally]) -> None:
    """Add each group's tally to its row in the database itself (one UPDATE a group:
    counters summed, histograms merged bucket by bucket, the row locked by the UPDATE
    on PostgreSQL; SQLite's write transaction is held already), then create the groups
    no row was found for. Building the ORM query that read the rows back cost the
    journal's writer about 1 ms a batch, more than the UPDATEs."""
    if connection.vendor not in _MERGED_HIST:
        _upsert_by_rows(groups)
        return
    sql = _update_sql(connection.vendor)
    adapt_time = connection.ops.adapt_datetimefield_value
    new = []
    with connection.cursor() as cursor:
        for group, t in groups.items():
            hour, *rest = group
            cursor.execute(
                sql,
                (
                    *_counters(t),
                    orjson.dumps(t.latency_hist).decode(),
                    orjson.dumps(t.ttft_hist).decode(),
                    adapt_time(hour),
                    *rest,
                ),
            )
            if cursor.rowcount == 0:
                new.append(_new_row(group, t))
    if new:
        UsageRollup.objects.bulk_create(new)


def _upsert_by_rows(groups: dict[Group, Tally]) -> None:
    """``_upsert`` on a database without the JSON functions it merges histograms with
    (neither SQLite nor PostgreSQL): each group's row read under a row lock, summed in
    Python and saved; the missing groups created."""
    new = []
    for group, t in groups.items():
        found = UsageRollup.objects.select_for_update().filter(
            **dict(zip(GROUP_FIELDS, group, strict=True))
        )
        row = found.first()
        if row is None:
            new.append(_new_row(group, t))
            continue
        for name in COUNTERS:
            setattr(row, name, getattr(row, name) + getattr(t, name))
        row.latency_hist = merge_hist(dict(row.latency_hist or {}), t.latency_hist)
        row.ttft_hist = merge_hist(dict(row.ttft_hist or {}), t.ttft_hist)
        row.save(update_fields=[*COUNTERS, *HISTOGRAMS])
    if new:
        UsageRollup.objects.bulk_create(new)


_counters = attrgetter(*COUNTERS)
# a stored histogram and one of the batch's, merged: each bucket's counts summed
# (a stored value that is not an object, as JSON null, counts as empty: the merge must
# never fail, or the journal's batch would be retried for ever)
_MERGED_HIST = {
    "sqlite": "(SELECT COALESCE(json_group_object(key, total), '{{}}') FROM (SELECT key, "
    "SUM(value) AS total FROM (SELECT key, value FROM json_each(CASE WHEN "
    "json_type({column}) = 'object' THEN {column} ELSE '{{}}' END) UNION ALL "
    "SELECT key, value FROM json_each(%s)) GROUP BY key))",
    "postgresql": "(SELECT COALESCE(jsonb_object_agg(key, total), '{{}}'::jsonb) FROM "
    "(SELECT key, SUM(value::bigint) AS total FROM (SELECT key, value FROM "
    "jsonb_each_text(CASE WHEN jsonb_typeof({column}) = 'object' THEN {column} ELSE "
    "'{{}}'::jsonb END) UNION ALL SELECT key, value FROM jsonb_each_text(%s::jsonb)) "
    "AS pieces GROUP BY key) AS sums)",
}


@functools.cache
def _update_sql(vendor: str) -> str:
    """UPDATE of one group's row: its counters plus the parameters (COUNTERS order),
    its histograms merged with the parameters' (HISTOGRAMS order), found by the group's
    fields (GROUP_FIELDS order)."""
    quote = connection.ops.quote_name
    meta = UsageRollup._meta
    merged = _MERGED_HIST[vendor]
    sets = [
        f"{quote(meta.get_field(n).column)} = {quote(meta.get_field(n).column)} + %s"
        for n in COUNTERS
    ]
    sets += [
        f"{quote(meta.get_field(n).column)} = "
        + merged.format(column=quote(meta.get_field(n).column))
        for n in HISTOGRAMS
    ]
    where = " AND ".join(f"{quote(meta.get_field(n).column)} = %s" for n in GROUP_FIELDS)
    return f"UPDATE {quote(meta.db_table)} SET {', '.join(sets)} WHERE {where}"


def add(groups: dict[Group, Tally]) -> None:
    """Add ``groups`` to their rollup rows (inside the caller's transaction). When
    another process creates one of the rows first, the insert fails on the unique
    group and the whole step is redone, now updating that row."""
    if not groups:
        return
    try:
        with transaction.atomic():  # a savepoint: a lost race undoes only this step
            _upsert(groups)
    except IntegrityError:
        with transaction.atomic():
            _upsert(groups)


# --- rebuild and retention -----------------------------------------------------------------


def default_rebuild_start() -> datetime | None:
    """The first whole hour still fully in RequestLog: the oldest log's hour, or the
    next one when retention pruning may have cut into it."""
    oldest = RequestLog.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if oldest is None:
        return None
    start = hour_of(oldest)
    days = settings.SWITCHYARD_LOG_RETENTION_DAYS
    if days and start < datetime.now(UTC) - timedelta(days=days) + timedelta(hours=1):
        start += timedelta(hours=1)
    return start


def rebuild(since: datetime | None = None) -> tuple[int, int]:
    """Recompute rollups from RequestLog for the hours from ``since`` (floored to the
    hour; default ``default_rebuild_start()``), in one transaction: older rollups are
    kept. Returns (logs read, rollup rows written)."""
    start = hour_of(since) if since is not None else default_rebuild_start()
    if start is None:
        return 0, 0
    read, written = refold(UsageRollup, LOG_FIELDS, start, tally, _create)
    for receiver, error in rebuilt.send_robust(sender=None, since=start):
        if isinstance(error, Exception):  # the rollups stand; a view refolds what it needs
            log.warning("after the rollup rebuild, %r failed", receiver, exc_info=error)
    return read, written


def _create(groups: dict[Group, Tally]) -> None:
    UsageRollup.objects.bulk_create(
        [_new_row(g, t) for g, t in groups.items()], batch_size=PRUNE_BATCH
    )


def refold(
    rollup: type[Model],
    log_fields: Sequence[str],
    start: datetime | None,
    fold: Callable[[Iterable[tuple[Any, ...]], dict[Any, Any]], dict[Any, Any]],
    write: Callable[[dict[Any, Any]], object],
) -> tuple[int, int]:
    """Replace the ``rollup`` rows of the hours from ``start`` (every hour when None)
    with RequestLog's rows folded again, in one transaction and one hour at a time:
    ``fold(rows, into)`` adds rows (``log_fields``, ``created_at`` first) to the groups
    of ``into``, each group keyed by its hour and the rollup's dimensions;
    ``write(groups)`` stores one hour's groups. Returns (logs read, groups written)."""
    logs = RequestLog.objects.order_by("created_at", "id")
    stale = rollup._default_manager.all()
    if start is not None:
        logs = logs.filter(created_at__gte=start)
        stale = stale.filter(hour__gte=start)
    read = written = 0
    with transaction.atomic():
        stale.delete()
        current: datetime | None = None
        groups: dict[Any, Any] = {}
        for row in logs.values_list(*log_fields).iterator(chunk_size=5000):
            read += 1
            hour = hour_of(row[0])
            if hour != current and groups:
                write(groups)
                written += len(groups)
                groups = {}
            current = hour
            fold((row,), groups)
        if groups:
            write(groups)
            written += len(groups)
    return read, written


def prune(older_than: timedelta, max_batches: int | None = None) -> int:
    """Delete rollups of hours that ended more than ``older_than`` ago, in batches."""
    return prune_hours(UsageRollup, older_than, max_batches)


def prune_expired(max_batches: int) -> int:
    """The journal's pruning round (``hooks.pruners``): the rollups past
    ``retention_days`` (none when it is 0); rows deleted."""
    if days := retention_days():
        return prune(timedelta(days=days), max_batches=max_batches)
    return 0


def prune_hours(rollup: type[Model], older_than: timedelta, max_batches: int | None) -> int:
    """Delete the ``rollup`` rows of hours that ended more than ``older_than`` ago, in
    batches of PRUNE_BATCH (one transaction each); returns rows deleted."""
    cutoff = datetime.now(UTC) - older_than - timedelta(hours=1)
    old = rollup._default_manager.filter(hour__lt=cutoff)
    return delete_in_batches(old, PRUNE_BATCH, max_batches)


# --- reading -------------------------------------------------------------------------------


def percentile_from_hist(hist: Mapping[Any, Any], fraction: float) -> float | None:
    """Estimate the nearest-rank percentile from a histogram: find the bucket holding
    that rank and interpolate linearly inside it (the estimate lies in the bucket of
    the exact value)."""
    counts = sorted((int(k), int(v)) for k, v in hist.items() if int(v) > 0)
    total = sum(v for _, v in counts)
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index, count in counts:
        if seen + count >= rank:
            lower, upper = bucket_range(index)
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return bucket_range(counts[-1][0])[1]
