"""Usage over days: spend, requests and tokens per key and day for the usage page's
chart, and per day, key and route for its CSV export. Both read the hourly rollups
(``gateway.telemetry.rollups``), never the request log, so 90 days cost a few thousand rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from gateway.models import UsageRollup
from gateway.telemetry import spend

WINDOWS = {"7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30), "90d": ("Last 90 days", 90)}
DEFAULT_WINDOW = "30d"
CENTS_E8 = Decimal("0.00000001")  # the rollups' precision (SQLite sums come back as floats)
CHART_KEYS = 8  # keys drawn one by one; the rest are summed as "other keys"
MASTER_LABEL = spend.MASTER_KEY_LABEL  # one name for it on every page
CSV_COLUMNS = (
    "date", "key_id", "key_name", "route", "requests", "errors", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd", "cache_saved_usd",
)  # fmt: skip
SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "cost_usd", "cache_saved_usd")  # fmt: skip
MONEY = ("cost_usd", "cache_saved_usd")


@dataclass(slots=True)
class KeyUsage:
    key_id: int  # 0: the master key (no virtual key)
    name: str
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    per_day: dict[date, Decimal] = field(default_factory=dict)


@dataclass(slots=True)
class Usage:
    window: str
    label: str
    days: list[date]
    keys: list[KeyUsage]  # by spend, highest first

    @property
    def total_cost(self) -> Decimal:
        return sum((k.cost for k in self.keys), Decimal(0))

    def chart(self) -> dict[str, Any]:
        """What the page's script draws: one series of daily spend (USD) per key, the
        biggest ``CHART_KEYS`` keys apart and the rest summed."""
        shown, rest = self.keys[:CHART_KEYS], self.keys[CHART_KEYS:]
        series = [
            {"name": k.name, "values": [float(k.per_day.get(d, 0)) for d in self.days]}
            for k in shown
        ]
        if rest:
            series.append(
                {
                    "name": f"{len(rest)} other keys",
                    "values": [float(sum(k.per_day.get(d, 0) for k in rest)) for d in self.days],
                }
            )
        midnight = [datetime.combine(d, time(), UTC).timestamp() for d in self.days]
        return {"days": midnight, "series": series}


def window_of(key: str | None) -> str:
    return key if key in WINDOWS else DEFAULT_WINDOW


def first_day(window: str) -> date:
    today: date = timezone.now().astimezone(UTC).date()
    return today - timedelta(days=WINDOWS[window][1] - 1)


def _since(window: str) -> datetime:
    return datetime.combine(first_day(window), time(), UTC)


def key_label(key_id: int, name: str) -> str:
    return MASTER_LABEL if key_id == 0 and name in ("", "master") else name or f"key {key_id}"


def usage(window: str) -> Usage:
    """Per key (by spend) and day, over the window's whole UTC days up to today."""
    window = window_of(window)
    start = first_day(window)
    rows = (
        UsageRollup.objects.filter(hour__gte=_since(window))
        .annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("key_id", "key_name", "day")
        .annotate(
            requests=Sum("requests"),
            errors=Sum("errors"),
            tokens=Sum("input_tokens") + Sum("output_tokens"),
            cost=Sum("cost_usd"),
        )
        .order_by()
    )
    # A virtual key is one line whatever it was called over time; requests without one
    # (the master key, the console's own as "console:<user>") are told apart by name.
    keys: dict[int | str, KeyUsage] = {}
    for row in rows:
        label = key_label(row["key_id"], row["key_name"])
        key = keys.setdefault(row["key_id"] or label, KeyUsage(row["key_id"], label))
        key.requests += row["requests"] or 0
        key.errors += row["errors"] or 0
        key.tokens += row["tokens"] or 0
        cost = row["cost"] or Decimal(0)
        key.cost += cost
        key.per_day[row["day"]] = key.per_day.get(row["day"], Decimal(0)) + cost
    days = [start + timedelta(days=n) for n in range(WINDOWS[window][1])]
    ranked = sorted(keys.values(), key=lambda k: (-k.cost, -k.requests, k.name))
    return Usage(window, WINDOWS[window][0], days, ranked)


class _Echo:
    """A file-like object whose write hands the line back (for a streamed CSV)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(window: str, key_ids: set[int] | None = None) -> Iterator[str]:
    """The CSV export: a header, then one line per day, key and route (oldest day
    first), summed from the rollups; money to the rollups' eight decimals. ``key_ids``:
    only those keys' usage (None: every key's)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    rollups = UsageRollup.objects.filter(hour__gte=_since(window_of(window)))
    if key_ids is not None:
        rollups = rollups.filter(key_id__in=key_ids)
    rows = (
        rollups.annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("day", "key_id", "key_name", "route")
        .annotate(**{f"sum_{name}": Sum(name) for name in SUMS})
        .order_by("day", "key_id", "key_name", "route")
    )
    for row in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                row["day"].isoformat(),
                row["key_id"] or "",
                key_label(row["key_id"], row["key_name"]),
                row["route"],
                *(
                    f"{Decimal(str(row[f'sum_{name}'] or 0)).quantize(CENTS_E8):f}"
                    if name in MONEY
                    else row[f"sum_{name}"] or 0
                    for name in SUMS
                ),
            ]
        )
