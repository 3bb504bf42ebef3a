"""The windows the journal's figures are read over (the dashboard's tabs, a pinned
chart's window): what each spans, how it is drawn and cached, and whether its sums come
from the hourly rollups (``gateway.telemetry.rollups``) or the raw rows. One list, so
the dashboard and the pinned charts (``gateway.features.dashboards``) never disagree on
what "the last day" is. ``percentile``: the nearest-rank percentile both take."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

REJECTED_LABEL = "rejected (no valid key)"  # a group of requests refused before any key


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    label: str
    span: timedelta
    buckets: int
    bucket_label: str  # strftime for axis labels
    cache_seconds: int  # long windows cost more and change more slowly
    from_rollups: bool = True  # else raw rows (the hour view, drawn in minutes)


WINDOWS = {
    w.key: w
    for w in (
        Window("1h", "Last hour", timedelta(hours=1), 30, "%H:%M", 5, from_rollups=False),
        Window("24h", "Last day", timedelta(days=1), 24, "%H:00", 30),
        Window("7d", "Last week", timedelta(days=7), 28, "%a %H:00", 120),
    )
}


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]
