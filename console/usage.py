"""Usage over days, per day, key and route, for the CSV export the Spend page links
(``/usage/export.csv``). It reads the hourly rollups (``gateway.telemetry.rollups``),
never the request log, so 90 days cost a few thousand rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from gateway.models import UsageRollup
from gateway.telemetry import spend

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}  # days
DEFAULT_WINDOW = "30d"
CENTS_E8 = Decimal("0.00000001")  # the rollups' precision (SQLite sums come back as floats)
MASTER_LABEL = spend.MASTER_KEY_LABEL  # one name for it on every page
SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "cost_usd", "cache_saved_usd")  # fmt: skip
CSV_COLUMNS = ("date", "key_id", "key_name", "route", *SUMS)
MONEY = ("cost_usd", "cache_saved_usd")


def window_of(key: str | None) -> str:
    return key if key in WINDOWS else DEFAULT_WINDOW


def _since(window: str) -> datetime:
    """Midnight (UTC) of the window's first day: the window is whole days up to today."""
    today: date = timezone.now().astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=WINDOWS[window] - 1), time(), UTC)


def key_label(key_id: int, name: str) -> str:
    return MASTER_LABEL if key_id == 0 and name in ("", "master") else name or f"key {key_id}"


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
