"""Dashboard numbers. The hour view aggregates RequestLog in SQL over a range scan of
the ``log_time`` index, percentiles from a bounded sample of the newest rows. The day
and week views read the hourly rollups (``gateway.telemetry.rollups``: a few rows per route, key
and hour instead of every request), percentiles estimated from their latency
histograms. Results are cached for a few seconds (the dashboard polls), but not past a
new request: one indexed read of the newest log id per view tells whether there is one."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connections
from django.db.models import Avg, Count, F, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Concat
from django.utils import timezone

from console.models import StoredHourSummary
from gateway.models import ApiKey, RequestLog, UsageRollup
from gateway.telemetry import rollups
from gateway.telemetry.windows import REJECTED_LABEL as REJECTED_LABEL
from gateway.telemetry.windows import WINDOWS as WINDOWS
from gateway.telemetry.windows import Window as Window
from gateway.telemetry.windows import percentile as percentile

PERCENTILE_SAMPLE = 5000
ERROR = Q(status__gte=400)
CACHE_HIT = Q(cache_hit=True)


DEFAULT_WINDOW = "1h"
# While new requests keep arriving, a window is recomputed at most this often (per
# process): a busy gateway's open dashboards do not each cost a computation per poll.
RECOMPUTE_SECONDS = 1.0


@dataclass(slots=True)
class Totals:
    requests: int = 0
    errors: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0  # prompt-cache reads and writes, outside input_tokens
    cache_write_tokens: int = 0
    cost: Decimal = Decimal("0")
    cache_saved: Decimal = Decimal("0")  # USD the prompt cache saved (journal, per request)
    p50_ms: float | None = None
    p95_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        return self.cache_hits / self.requests if self.requests else None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost_without_cache(self) -> Decimal:
        """What the window would have cost without the prompt cache."""
        return self.cost + self.cache_saved

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token: uncached input, cache reads and cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def prompt_cache_rate(self) -> float | None:
        """The share of prompt tokens read from the upstreams' prompt caches."""
        return prompt_cache_rate(self.input_tokens, self.cache_read_tokens, self.cache_write_tokens)


def prompt_cache_rate(input_tokens: int, read: int, write: int) -> float | None:
    """Cached reads over all prompt tokens (None without any)."""
    total = (input_tokens or 0) + (read or 0) + (write or 0)
    return (read or 0) / total if total else None


def with_prompt_cache(row: dict[str, Any]) -> dict[str, Any]:
    """A breakdown row (route, key) with its prompt-cache hit rate, None sums as 0."""
    for name in ("cache_read_tokens", "cache_write_tokens"):
        row[name] = row.get(name) or 0
    row["cache_saved"] = Decimal(str(row.get("cache_saved") or 0))
    row["prompt_cache_rate"] = prompt_cache_rate(
        row.get("input_tokens") or 0, row["cache_read_tokens"], row["cache_write_tokens"]
    )
    return row


@dataclass(slots=True)
class Bucket:
    start: datetime
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    cost: Decimal = Decimal("0")
    avg_ms: float | None = None


@dataclass(slots=True)
class Dashboard:
    window: Window
    totals: Totals
    buckets: list[Bucket] = field(default_factory=list)
    by_route: list[dict[str, Any]] = field(default_factory=list)
    by_key: list[dict[str, Any]] = field(default_factory=list)


def _aggregates() -> dict[str, Any]:
    return {
        "requests": Count("id"),
        "errors": Count("id", filter=ERROR),
        "cache_hits": Count("id", filter=CACHE_HIT),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cache_read_tokens": Sum("cache_read_tokens"),
        "cache_write_tokens": Sum("cache_write_tokens"),
        "cost": Sum("cost_usd"),
        "cache_saved": Sum("cache_saved_usd"),
    }


def totals(rows: QuerySet) -> Totals:
    agg = rows.aggregate(**_aggregates())
    sample = list(
        rows.order_by("-created_at", "-id").values_list("latency_ms", "ttft_ms")[:PERCENTILE_SAMPLE]
    )
    latencies = sorted(lat for lat, _ in sample)
    ttfts = sorted(t for _, t in sample if t is not None)
    return Totals(
        requests=agg["requests"] or 0,
        errors=agg["errors"] or 0,
        cache_hits=agg["cache_hits"] or 0,
        input_tokens=agg["input_tokens"] or 0,
        output_tokens=agg["output_tokens"] or 0,
        cache_read_tokens=agg["cache_read_tokens"] or 0,
        cache_write_tokens=agg["cache_write_tokens"] or 0,
        cost=agg["cost"] or Decimal("0"),
        cache_saved=Decimal(str(agg["cache_saved"] or 0)),
        p50_ms=percentile(latencies, 0.5),
        p95_ms=percentile(latencies, 0.95),
        ttft_p50_ms=percentile(ttfts, 0.5),
        ttft_p95_ms=percentile(ttfts, 0.95),
    )


def buckets(window: Window, now: datetime, key_ids: Collection[int] | None = None) -> list[Bucket]:
    """One range-scan aggregate per bucket: native SQL aggregates only (no per-row
    date functions, which SQLite would run in Python). ``key_ids``: only those keys'."""
    step = window.span / window.buckets
    start = now - window.span
    result = []
    for i in range(window.buckets):
        lo, hi = start + step * i, start + step * (i + 1)
        rows = RequestLog.objects.filter(created_at__gte=lo, created_at__lt=hi)
        if key_ids is not None:
            rows = rows.filter(key_id__in=key_ids)
        agg = rows.aggregate(
            requests=Count("id"),
            errors=Count("id", filter=ERROR),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost_usd"),
            avg_ms=Avg("latency_ms"),
        )
        result.append(
            Bucket(
                start=lo,
                requests=agg["requests"] or 0,
                errors=agg["errors"] or 0,
                tokens=(agg["input_tokens"] or 0) + (agg["output_tokens"] or 0),
                cost=agg["cost"] or Decimal("0"),
                avg_ms=agg["avg_ms"],
            )
        )
    return result


def _breakdown_rows(rows: list[dict[str, Any]], by: str, limit: int) -> list[dict[str, Any]]:
    """Label grouped rows, the busiest ``limit`` first. Rows without a virtual key
    (``key_id`` 0 or None) are named by the journal: "master" for the master key,
    "console:<user>" for the playground; without a name they are requests refused
    before any key was accepted. Prefixes are those of keys that still exist."""
    rows = sorted((r for r in rows if r["requests"]), key=lambda r: r["requests"], reverse=True)
    rows = [with_prompt_cache(r) for r in rows[:limit]]
    if by == "key":
        ids = [r["key_id"] for r in rows if r["key_id"]]
        prefixes = dict(ApiKey.objects.filter(pk__in=ids).values_list("id", "prefix"))
        for row in rows:
            row["key_id"] = row["key_id"] or None
            row["key_prefix"] = prefixes.get(row["key_id"], "")
            if row["key_id"] is None and not row["key_name"]:
                row["key_name"] = REJECTED_LABEL
    return rows


def breakdown(
    since: datetime, by: str, limit: int = 10, key_ids: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """Top ``limit`` routes or keys by request count since ``since``, from raw rows
    (the hour view), deleted routes and keys included.

    Grouped by an expression rather than the bare column, so that SQLite reads the
    ``log_time`` range instead of walking a whole (route|key, time) index for the
    order of its GROUP BY."""
    rows = RequestLog.objects.filter(created_at__gte=since).order_by()
    if key_ids is not None:
        rows = rows.filter(key_id__in=key_ids)
    if by == "route":
        grouped = rows.values(g_route=Concat(F("route"), Value("")))
        names = {"g_route": "route"}
    else:
        grouped = rows.values(g_key=F("key_id") + 0, g_name=Concat(F("key_name"), Value("")))
        names = {"g_key": "key_id", "g_name": "key_name"}
    found = [
        {names.get(k, k): v for k, v in row.items()}
        for row in grouped.annotate(**_aggregates(), avg_ms=Avg("latency_ms"))
    ]
    return _breakdown_rows(found, by, limit)


# --- the day and week views: hourly rollups ------------------------------------------------

ROLLUP_SUMS = {
    "requests": Sum("requests"),
    "errors": Sum("errors"),
    "cache_hits": Sum("cache_hits"),
    "input_tokens": Sum("input_tokens"),
    "output_tokens": Sum("output_tokens"),
    "cost": Sum("cost_usd"),
    "latency_sum": Sum("latency_ms_sum"),
    "cache_read_tokens": Sum("cache_read_tokens"),
    "cache_write_tokens": Sum("cache_write_tokens"),
    "cache_saved": Sum("cache_saved_usd"),
}
SUM_NAMES = tuple(ROLLUP_SUMS)
HIST_SQL = {
    "sqlite": "SELECT r.hour, je.key, SUM(je.value) FROM ({rows}) r, json_each(r.{column}) je "
    "GROUP BY r.hour, je.key",
}
# PostgreSQL sums each bucket's key as a column: a set-returning jsonb_each_text per row
# took 0.5-0.8 s for the 106,000 rollup rows of a week, this 0.26-0.3 s. A histogram's
# keys are its bucket indexes (``rollups.bucket_index``), 0 to len(BOUNDS_MS).
HIST_BUCKETS = len(rollups.BOUNDS_MS) + 1
PG_HIST_SQL = "SELECT r.hour, {sums} FROM ({rows}) r GROUP BY r.hour"
# A finished hour's summary is reused until its rollup rows change; an hour that ended
# less than this long ago may still get late records (a retried batch), so it is
# always read afresh.
SETTLE = timedelta(minutes=10)
KEEP_SUMMARIES = timedelta(days=8)


@dataclass(slots=True)
class HourSummary:
    """One hour of rollups folded per route and per key, plus its two histograms."""

    version: tuple[int, int]  # (highest rollup id, rollup rows) when it was read
    by_route: dict[str, list[Any]] = field(default_factory=dict)  # SUM_NAMES order
    by_key: dict[tuple[int, str], list[Any]] = field(default_factory=dict)
    latency: dict[str, int] = field(default_factory=dict)
    ttft: dict[str, int] = field(default_factory=dict)


_summaries: dict[datetime, HourSummary] = {}
_summaries_lock = threading.Lock()


def _as_hour(value: datetime | str) -> datetime:
    """An hour as a raw cursor returns it (SQLite: text) as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _add(into: dict[Any, list[Any]], key: object, values: list[Any]) -> None:
    row = into.get(key)
    if row is None:
        into[key] = [v or 0 for v in values]
    else:
        for i, value in enumerate(values):
            row[i] += value or 0


def _hist_by_hour(rows: QuerySet, column: str) -> dict[datetime, dict[str, int]]:
    """Each hour's ``column`` histograms added up (in SQL where the database walks JSON
    objects, else in Python), on the database ``rows`` reads from (the replica, for the
    console, when there is one)."""
    connection = connections[rows.db]
    if connection.vendor == "postgresql":
        return _pg_hist_by_hour(rows, column)
    merged: dict[datetime, dict[str, int]] = {}
    template = HIST_SQL.get(connection.vendor)
    if template is None:
        for hour, hist in rows.values_list("hour", column).iterator():
            rollups.merge_hist(merged.setdefault(_as_hour(hour), {}), hist or {})
        return merged
    sql, params = rows.values("hour", column).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(template.format(rows=sql, column=column), params)
        for hour, key, count in cursor.fetchall():
            merged.setdefault(_as_hour(hour), {})[str(key)] = int(count)
    return merged


def _pg_hist_by_hour(rows: QuerySet, column: str) -> dict[datetime, dict[str, int]]:
    merged: dict[datetime, dict[str, int]] = {}
    sql, params = rows.values("hour", column).query.sql_with_params()
    sums = ", ".join(f"SUM((r.{column} ->> '{i}')::bigint)" for i in range(HIST_BUCKETS))
    with connections[rows.db].cursor() as cursor:
        cursor.execute(PG_HIST_SQL.format(sums=sums, rows=sql), params)
        for hour, *counts in cursor.fetchall():
            merged[_as_hour(hour)] = {str(i): int(n) for i, n in enumerate(counts) if n}
    return merged


def _summarise(hours: dict[datetime, tuple[int, int]]) -> dict[datetime, HourSummary]:
    """Read ``hours`` (hour -> version) from the rollups: four grouped queries."""
    rows = UsageRollup.objects.filter(hour__in=list(hours)).order_by()
    found = {hour: HourSummary(version=version) for hour, version in hours.items()}
    for row in rows.values("hour", "route").annotate(**ROLLUP_SUMS):
        _add(found[row["hour"]].by_route, row["route"], [row[n] for n in SUM_NAMES])
    for row in rows.values("hour", "key_id", "key_name").annotate(**ROLLUP_SUMS):
        key = (row["key_id"], row["key_name"])
        _add(found[row["hour"]].by_key, key, [row[n] for n in SUM_NAMES])
    for hour, hist in _hist_by_hour(rows, "latency_hist").items():
        found[hour].latency = hist
    for hour, hist in _hist_by_hour(rows, "ttft_hist").items():
        found[hour].ttft = hist
    return found


def hour_summaries(
    first: datetime, last: datetime, now: datetime
) -> list[tuple[datetime, HourSummary]]:
    """Summaries of the hours from ``first`` to ``last`` that have traffic. One
    index-only query tells each hour's version; only hours that are new, changed
    (more rows, or rows rebuilt with new ids) or not yet settled are read again."""
    versions = {
        row["hour"]: (row["top"] or 0, row["n"])
        for row in UsageRollup.objects.filter(hour__gte=first, hour__lte=last)
        .order_by()
        .values("hour")
        .annotate(top=Max("id"), n=Count("id"))
    }
    settled = now - timedelta(hours=1) - SETTLE
    with _summaries_lock:
        known = {h: _summaries[h] for h in versions if h in _summaries}
    missing = [
        h for h in versions if h <= settled and (h not in known or known[h].version != versions[h])
    ]
    if missing:  # a process that just started: other processes may have folded them
        stored = _load_stored(missing, versions)
        known.update(stored)
        with _summaries_lock:
            _summaries.update(stored)
    fresh = {h: v for h, v in versions.items() if h not in known or known[h].version != v}
    fresh.update({h: v for h, v in versions.items() if h > settled})
    if fresh:
        read = _summarise(fresh)
        known.update(read)
        finished = {h: s for h, s in read.items() if h <= settled}
        _store(finished, now)
        with _summaries_lock:
            _summaries.update(finished)
            for hour in [h for h in _summaries if h < now - KEEP_SUMMARIES]:
                del _summaries[hour]
    return [(h, known[h]) for h in sorted(versions)]


def refold_week() -> None:
    """Fold and keep the summaries of the week view's hours whose rollups changed (a
    rollup rebuild gives every row a new id), so that the first week view after it reads
    stored summaries instead of folding 168 hours (0.7-1.2 s at a million logs)."""
    moment = timezone.now()
    last = rollups.hour_of(moment)
    hours = round(WINDOWS["7d"].span / timedelta(hours=1))
    hour_summaries(last - timedelta(hours=hours - 1), last, moment)


def _rollups_rebuilt(sender: object, since: datetime, **kwargs: object) -> None:
    refold_week()


rollups.rebuilt.connect(_rollups_rebuilt, dispatch_uid="console.stats.refold_week")


# --- finished hours, kept in the database for the next process ---------------------------

DECIMALS = (SUM_NAMES.index("cost"), SUM_NAMES.index("cache_saved"))


def _encode(summary: HourSummary) -> dict[str, Any]:
    def values(v: list[Any]) -> list[Any]:
        return [str(x) if i in DECIMALS else x for i, x in enumerate(v)]

    return {
        "by_route": {route: values(v) for route, v in summary.by_route.items()},
        "by_key": [[k, name, values(v)] for (k, name), v in summary.by_key.items()],
        "latency": summary.latency,
        "ttft": summary.ttft,
    }


def _decode(data: dict[str, Any], version: tuple[int, int]) -> HourSummary:
    def values(v: list[Any]) -> list[Any]:
        if len(v) != len(SUM_NAMES):  # stored before a sum was added: fold it again
            raise ValueError("stale summary layout")
        return [Decimal(str(x)) if i in DECIMALS else x for i, x in enumerate(v)]

    return HourSummary(
        version=version,
        by_route={route: values(v) for route, v in data["by_route"].items()},
        by_key={(k, name): values(v) for k, name, v in data["by_key"]},
        latency=data["latency"],
        ttft=data["ttft"],
    )


def _load_stored(
    hours: list[datetime], versions: dict[datetime, tuple[int, int]]
) -> dict[datetime, HourSummary]:
    """Stored summaries of ``hours`` that are still current (same rollup version)."""

    found = {}
    rows = StoredHourSummary.objects.filter(hour__in=hours).values_list(
        "hour", "top_id", "rows", "summary"
    )
    for hour, top_id, count, data in rows:
        hour = _as_hour(hour)
        if versions.get(hour) == (top_id, count):
            try:
                found[hour] = _decode(data, (top_id, count))
            except (ValueError, KeyError, TypeError):
                continue  # another layout (an older release): read from the rollups
    return found


def _store(summaries: dict[datetime, HourSummary], now: datetime) -> None:
    """Keep finished hours' summaries for the next process; forget week-old ones."""

    if not summaries:
        return
    StoredHourSummary.objects.bulk_create(
        [
            StoredHourSummary(hour=hour, top_id=s.version[0], rows=s.version[1], summary=_encode(s))
            for hour, s in summaries.items()
        ],
        update_conflicts=True,
        unique_fields=["hour"],
        update_fields=["top_id", "rows", "summary"],
    )
    StoredHourSummary.objects.filter(hour__lt=now - KEEP_SUMMARIES).delete()


def _avg(row: dict[str, Any]) -> dict[str, Any]:
    row["avg_ms"] = row.pop("latency_sum") / row["requests"] if row["requests"] else None
    return row


def _sums(values: list[Any]) -> dict[str, Any]:
    return dict(zip(SUM_NAMES, values, strict=True))


def rollup_dashboard(
    window: Window, now: datetime, key_ids: Collection[int] | None = None
) -> Dashboard:
    """The window in whole hours, the current (partial) hour last. ``key_ids``: only
    those keys' requests (a member's or viewer's board): its figures come from the
    hours' per-key folds and its routes from the rollups of those keys; latency
    percentiles are the gateway's only (the hours keep one histogram), so none."""
    hours = round(window.span / timedelta(hours=1))
    per_bucket = max(1, hours // window.buckets)
    last = rollups.hour_of(now)
    first = last - timedelta(hours=hours - 1)
    result = [Bucket(start=first + timedelta(hours=h)) for h in range(0, hours, per_bucket)]
    latency_sums = [0.0] * len(result)
    agg = Totals()
    by_route: dict[str, list[Any]] = {}
    by_key: dict[tuple[int, str], list[Any]] = {}
    latency: dict[str, int] = {}
    ttft: dict[str, int] = {}
    for hour, summary in hour_summaries(first, last, now):
        index = min(int((hour - first) / timedelta(hours=1)) // per_bucket, len(result) - 1)
        bucket = result[index]
        parts = (
            summary.by_route.items()
            if key_ids is None
            else ((key, v) for key, v in summary.by_key.items() if key[0] in key_ids)
        )
        for part, values in parts:
            if key_ids is None:
                _add(by_route, part, values)
            row = _sums(values)
            bucket.requests += row["requests"]
            bucket.errors += row["errors"]
            bucket.tokens += row["input_tokens"] + row["output_tokens"]
            bucket.cost += row["cost"]
            latency_sums[index] += row["latency_sum"]
        for key, values in summary.by_key.items():
            if key_ids is None or key[0] in key_ids:
                _add(by_key, key, values)
        if key_ids is None:
            rollups.merge_hist(latency, summary.latency)
            rollups.merge_hist(ttft, summary.ttft)
    if key_ids is not None:
        by_route = _route_sums_of_keys(first, key_ids)
    for bucket, total in zip(result, latency_sums, strict=True):
        bucket.avg_ms = total / bucket.requests if bucket.requests else None
        agg.requests += bucket.requests
        agg.errors += bucket.errors
        agg.cost += bucket.cost
    for values in by_key.values() if key_ids is not None else by_route.values():
        row = _sums(values)
        agg.input_tokens += row["input_tokens"]
        agg.output_tokens += row["output_tokens"]
        agg.cache_hits += row["cache_hits"]
        agg.cache_read_tokens += row["cache_read_tokens"]
        agg.cache_write_tokens += row["cache_write_tokens"]
        agg.cache_saved += Decimal(str(row["cache_saved"] or 0))
    agg.p50_ms = rollups.percentile_from_hist(latency, 0.5)
    agg.p95_ms = rollups.percentile_from_hist(latency, 0.95)
    agg.ttft_p50_ms = rollups.percentile_from_hist(ttft, 0.5)
    agg.ttft_p95_ms = rollups.percentile_from_hist(ttft, 0.95)
    routes = [_avg({"route": route, **_sums(v)}) for route, v in by_route.items()]
    keys = [_avg({"key_id": k, "key_name": n, **_sums(v)}) for (k, n), v in by_key.items()]
    return Dashboard(
        window=window,
        totals=agg,
        buckets=result,
        by_route=_breakdown_rows(routes, "route", 10),
        by_key=_breakdown_rows(keys, "key", 10),
    )


def _route_sums_of_keys(first: datetime, key_ids: Collection[int]) -> dict[str, list[Any]]:
    """Per route, the rollups of ``key_ids`` since the hour ``first`` (one grouped query)."""
    rows = (
        UsageRollup.objects.filter(key_id__in=key_ids, hour__gte=first)
        .order_by()
        .values("route")
        .annotate(**ROLLUP_SUMS)
    )
    return {row["route"]: [row[name] for name in SUM_NAMES] for row in rows}


def raw_dashboard(
    window: Window, now: datetime, key_ids: Collection[int] | None = None
) -> Dashboard:
    rows = RequestLog.objects.filter(created_at__gte=now - window.span)
    if key_ids is not None:
        rows = rows.filter(key_id__in=key_ids)
    return Dashboard(
        window=window,
        totals=totals(rows),
        buckets=buckets(window, now, key_ids),
        by_route=breakdown(now - window.span, "route", key_ids=key_ids),
        by_key=breakdown(now - window.span, "key", key_ids=key_ids),
    )


def scoped_dashboard(window_key: str, key_ids: Collection[int]) -> Dashboard:
    """``window_key``'s figures over ``key_ids`` only (computed each time: a member's
    or viewer's board, a few keys' rows)."""
    window = WINDOWS.get(window_key) or WINDOWS[DEFAULT_WINDOW]
    build = rollup_dashboard if window.from_rollups else raw_dashboard
    return build(window, timezone.now(), frozenset(key_ids))


def dashboard(window_key: str, now: datetime | None = None) -> Dashboard:
    """``window_key``'s figures at ``now`` (computed afresh), or as of now: the cached
    figures while no request was logged since (up to the window's ``cache_seconds``),
    else recomputed (at most once per ``RECOMPUTE_SECONDS``), so a request made a moment
    ago is on the next view."""
    window = WINDOWS.get(window_key) or WINDOWS[DEFAULT_WINDOW]
    build = rollup_dashboard if window.from_rollups else raw_dashboard
    if now is not None:
        return build(window, now)
    cache_key = f"console:dashboard:{window.key}"
    newest = RequestLog.objects.order_by("-id").values_list("id", flat=True).first()
    cached: tuple[Dashboard, int | None, float] | None = cache.get(cache_key)
    if cached is not None:
        result, seen, computed = cached
        if seen == newest or time.time() - computed < RECOMPUTE_SECONDS:
            return result
    result = build(window, timezone.now())
    cache.set(cache_key, (result, newest, time.time()), window.cache_seconds)
    return result


def usage_by(column: str, values: list[Any], since: datetime) -> dict[Any, dict[str, Any]]:
    """The rollups' sums (requests, tokens, spend, what the prompt cache saved) per
    ``column`` (``key_id``: the keys page, ``route``: the routes page) for the rows whose
    ``column`` is among ``values``, since the hour of ``since``."""
    rows = (
        UsageRollup.objects.filter(**{f"{column}__in": values}, hour__gte=rollups.hour_of(since))
        .order_by()
        .values(column)
        .annotate(**{k: v for k, v in ROLLUP_SUMS.items() if k != "latency_sum"})
    )
    return {row[column]: with_prompt_cache(row) for row in rows}
