"""Spend attribution figures: hourly ``SpendRollup`` rows kept by the journal writer, and
the one spend query the console's spend page and ``/api/spend`` share.

Writing: ``tally`` sums a batch per group (hour, key, end user, session, route, upstream
model) and ``add`` adds the sums with one ``INSERT ... ON CONFLICT DO UPDATE`` per
group (SQLite and PostgreSQL), in the writer's transaction, so the rollups always match
the logs committed. ``rebuild`` recomputes hours from RequestLog (``rebuild_rollups``);
``prune`` follows the usage rollups' retention.

Reading: ``query(group_by, bucket, since, until)`` groups rollups by any of
``DIMENSIONS`` and a time bucket (hour or day, UTC). A dimension is one line of
``DIMENSIONS``: a rollup column, or a value reached through the key (``team``, once
keys have one: the line is there and lights up when ``ApiKey.team`` exists).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict, Unpack

from django.db import connection
from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from gateway.models import ApiKey
from gateway.models.telemetry import SpendRollup
from gateway.telemetry.rollups import (
    TOKEN_FIELDS,
    hour_floor,
    hour_of,
    prune_hours,
    refold,
    retention_days,
)

GROUP_FIELDS = ("hour", "key_id", "key_name", "end_user", "session", "route", "model")
COUNTERS = ("requests", "errors", *TOKEN_FIELDS, "cost_usd")
# RequestLog attributes a log contributes, in this order (the journal's LOG_COLUMNS).
LOG_FIELDS = (
    "created_at",
    "key_id",
    "key_name",
    "end_user",
    "session",
    "route",
    "upstream_model",
    "status",
    *TOKEN_FIELDS,
    "cost_usd",
)


def tally(
    rows: Iterable[tuple[Any, ...]], into: dict[tuple[Any, ...], list[Any]] | None = None
) -> dict[tuple[Any, ...], list[Any]]:
    """Sum ``rows`` (tuples in LOG_FIELDS order) per group: {group: [COUNTERS...]}."""
    groups: dict[tuple[Any, ...], list[Any]] = {} if into is None else into
    hour_of_log = hour_floor()
    for created, key_id, key_name, end_user, session, route, model, status, *usage in rows:
        group = (
            hour_of_log(created),
            key_id or 0,
            key_name or "",
            end_user or "",
            session or "",
            route or "",
            model or "",
        )
        count_into(groups, group, status, usage)
    return groups


def count_into(
    groups: dict[tuple[Any, ...], list[Any]], group: tuple[Any, ...], status: int, usage: Any
) -> None:
    """Add one log (its status and its usage: input, output, cache read, cache write,
    cost) to ``group``'s COUNTERS; the tag rollups count the same way."""
    sums = groups.get(group)
    if sums is None:
        sums = groups[group] = [0, 0, 0, 0, 0, 0, Decimal(0)]
    tin, tout, cread, cwrite, cost = usage
    sums[0] += 1
    sums[1] += status >= 400
    sums[2] += tin or 0
    sums[3] += tout or 0
    sums[4] += cread or 0
    sums[5] += cwrite or 0
    sums[6] += Decimal(cost or 0)


def add_groups(
    model: Any, group_fields: tuple[str, ...], groups: dict[tuple[Any, ...], list[Any]]
) -> None:
    """Add ``groups`` (an hour first, then ``group_fields``' other values: COUNTERS) to
    ``model``'s rows, created when missing, inside the caller's transaction; concurrent
    writers add to the same row safely (the database merges)."""
    if not groups:
        return
    ops = connection.ops
    rows = [
        (
            ops.adapt_datetimefield_value(group[0]),
            *group[1:],
            *sums[:6],
            ops.adapt_decimalfield_value(sums[6], 18, 8),
        )
        for group, sums in groups.items()
    ]
    with connection.cursor() as cursor:
        cursor.executemany(_upsert_sql(model, group_fields), rows)


@functools.cache
def _upsert_sql(model: Any, group_fields: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    meta = model._meta
    table = quote(meta.db_table)
    columns = [quote(meta.get_field(n).column) for n in (*group_fields, *COUNTERS)]
    keys = ", ".join(columns[: len(group_fields)])
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns[len(group_fields) :])
    marks = ", ".join(["%s"] * len(columns))
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    )


def add(groups: dict[tuple[Any, ...], list[Any]]) -> None:
    """Add ``groups`` to their spend rollup rows (``add_groups``)."""
    add_groups(SpendRollup, GROUP_FIELDS, groups)


def rebuild(since: datetime | None = None) -> int:
    """Recompute the spend rollups of the hours from ``since`` (all when None) from
    RequestLog, in one transaction; returns rows written."""
    start = hour_of(since) if since is not None else None
    return refold(SpendRollup, LOG_FIELDS, start, tally, add)[1]


def prune(older_than: timedelta, max_batches: int | None = None) -> int:
    """Delete spend rollups of hours that ended more than ``older_than`` ago."""
    return prune_hours(SpendRollup, older_than, max_batches)


def prune_expired(max_batches: int) -> int:
    """The journal's pruning round (``hooks.pruners``): the spend rollups past the usage
    rollups' retention (``rollups.retention_days``); rows deleted."""
    if days := retention_days():
        return prune(timedelta(days=days), max_batches=max_batches)
    return 0


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dimension:
    """A way to group spend: ``column`` of SpendRollup, or ``through_key``: a field
    path of ApiKey reached through the rollup's key (None when ApiKey lacks it)."""

    label: str
    column: str | None = None
    through_key: str | None = None

    def available(self) -> bool:
        if self.through_key is None:
            return True
        head = self.through_key.split("__", 1)[0]
        return any(f.name == head for f in ApiKey._meta.get_fields())

    def expression(self) -> Any:
        if self.column is not None:
            return F(self.column)
        found = ApiKey.objects.filter(id=OuterRef("key_id")).values(self.through_key)[:1]
        return Coalesce(Subquery(found), Value(""))


DIMENSIONS: dict[str, Dimension] = {
    "key": Dimension("Key", column="key_name"),
    "end_user": Dimension("End user", column="end_user"),
    "session": Dimension("Session", column="session"),
    "route": Dimension("Route", column="route"),
    "model": Dimension("Model", column="model"),
    "team": Dimension("Team", through_key="team__name"),
}
BUCKETS = ("hour", "day")
FIGURES = COUNTERS  # what a query sums: the rollups' counters


class BadQuery(ValueError):
    """A spend query naming an unknown dimension or bucket (400 for /api)."""


def dimensions(names: Iterable[str]) -> list[str]:
    """``names`` checked against DIMENSIONS (available ones only), in order, once each."""
    out: list[str] = []
    for name in names:
        name = name.strip()
        if not name or name in out:
            continue
        dim = DIMENSIONS.get(name)
        if dim is None or not dim.available():
            known = ", ".join(n for n, d in DIMENSIONS.items() if d.available())
            raise BadQuery(f"unknown group_by {name!r} (one or more of: {known})")
        out.append(name)
    return out


class Asked(TypedDict, total=False):
    """What a spend query is asked beside its grouping (``query``, ``tag_spend.query``,
    ``agent_runs.query``): the rows from ``since`` to ``until``, matching ``filters``
    exactly, of the keys of ``key_ids`` (None or not given: all, the master key's
    included), at most ``limit`` groups (``LIMIT`` when not given)."""

    since: datetime | None
    until: datetime | None
    filters: dict[str, str] | None
    limit: int
    key_ids: Collection[int] | None


LIMIT = 1000


def query(
    group_by: Iterable[str] = ("key",), bucket: str | None = None, **asked: Unpack[Asked]
) -> list[dict[str, Any]]:
    """Spend, tokens and requests per group (and time bucket), costliest first. Times
    are floored to the hour (the rollups' grain); ``filters`` match dimensions."""
    names = dimensions(group_by)
    if bucket is not None and bucket not in BUCKETS:
        raise BadQuery(f"unknown bucket {bucket!r} (hour or day)")
    rows = within(SpendRollup.objects.all(), asked)
    for name, value in (asked.get("filters") or {}).items():
        dimensions([name])
        rows = rows.annotate(**{f"_f_{name}": DIMENSIONS[name].expression()}).filter(
            **{f"_f_{name}": value}
        )
    keys = {name: DIMENSIONS[name].expression() for name in names}
    if bucket is not None:
        keys["bucket"] = Trunc("hour", bucket, tzinfo=UTC)
    if not keys:  # the totals of the range: one row (none without rollups)
        found = rows.aggregate(**{f"t_{n}": Sum(n) for n in FIGURES})
        if found["t_requests"] is None:
            return []
        totals_row = {f: found[f"t_{f}"] or 0 for f in FIGURES}
        totals_row["tokens"] = sum(totals_row[f] for f in FIGURES[2:6])
        totals_row["cost_usd"] = Decimal(totals_row["cost_usd"]).quantize(Decimal("0.00000001"))
        return [totals_row]
    return grouped_totals(rows, keys, names, asked.get("limit", LIMIT))


def within(rows: Any, asked: Asked) -> Any:
    """Rollup ``rows`` of the hours from ``since`` (floored to its hour) to ``until``, and
    of the keys of ``key_ids``; None leaves that side open."""
    if (key_ids := asked.get("key_ids")) is not None:
        rows = rows.filter(key_id__in=list(key_ids))
    if (since := asked.get("since")) is not None:
        rows = rows.filter(hour__gte=hour_of(since))
    if (until := asked.get("until")) is not None:
        rows = rows.filter(hour__lt=until)
    return rows


def grouped_totals(
    rows: Any, keys: dict[str, Any], names: Iterable[str], limit: int
) -> list[dict[str, Any]]:
    """Rollup ``rows`` (hourly rows carrying ``FIGURES``) summed per group of ``keys``
    (name -> expression; a ``bucket`` key is the time bucket, listed first), the
    largest cost first, at most ``limit`` groups: one dict per group with the ``names``,
    the figures, their ``tokens`` and the cost to eight places. Shared by the spend
    rollups and the tag rollups, which carry the same figures."""
    bucketed = "bucket" in keys
    grouped = rows.annotate(**{f"g_{n}": e for n, e in keys.items()}).values(
        *(f"g_{n}" for n in keys)
    )
    totals = grouped.annotate(**{f"t_{n}": Sum(n) for n in FIGURES}).order_by()
    order = ["g_bucket"] if bucketed else []
    totals = totals.order_by(*order, "-t_cost_usd", "-t_requests")[: max(1, limit)]
    out = []
    for row in totals:
        item: dict[str, Any] = {}
        if bucketed:
            moment = row["g_bucket"]
            item["bucket"] = moment.astimezone(UTC).isoformat() if moment else None
        for name in names:
            item[name] = row[f"g_{name}"]
        for figure in FIGURES:
            item[figure] = row[f"t_{figure}"] or 0
        item["tokens"] = sum(item[f] for f in FIGURES[2:6])
        item["cost_usd"] = Decimal(item["cost_usd"]).quantize(Decimal("0.00000001"))
        out.append(item)
    return out


MASTER_KEY_LABEL = "master key"  # requests made with the master key, on every page


def plain(value: Any) -> Any:
    """A Decimal as a plain number (0, 0.00012), never in exponent form: the eight
    places the rollups keep made zero "0E-8" in the CSV."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value else "0"
    return value


def csv_lines(names: list[str], rows: list[dict[str, Any]], bucket: str | None) -> Iterable[str]:
    """``query``'s rows as CSV lines, header first."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = (["bucket"] if bucket else []) + names + [*FIGURES[:6], "tokens", "cost_usd"]

    def line(values: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(columns)
    for row in rows:
        values = [plain(row.get(c)) for c in columns]
        yield line(["'" + v if isinstance(v, str) and v[:1] in "=+-@" and v else v for v in values])
