"""The journal's windows (``gateway.telemetry.windows``): each spans what its label says
and is drawn in buckets that tile it; only the hour is summed from raw rows, the longer
windows from the hourly rollups; ``percentile`` is the nearest rank of an ascending list."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.telemetry.windows import WINDOWS, percentile


def test_the_windows_span_an_hour_a_day_and_a_week() -> None:
    spans = {key: window.span for key, window in WINDOWS.items()}
    assert spans == {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
    assert [w.label for w in WINDOWS.values()] == ["Last hour", "Last day", "Last week"]


def test_only_the_hour_is_read_from_raw_rows() -> None:
    assert {key for key, window in WINDOWS.items() if not window.from_rollups} == {"1h"}


@pytest.mark.parametrize("key", ["24h", "7d"])
def test_a_rolled_up_windows_buckets_are_whole_hours(key: str) -> None:
    """The rollups are hourly: a bucket finer than an hour could not be drawn from them."""
    window = WINDOWS[key]
    bucket = window.span / window.buckets
    assert bucket >= timedelta(hours=1) and bucket % timedelta(hours=1) == timedelta(0)


def test_longer_windows_are_cached_longer() -> None:
    seconds = [w.cache_seconds for w in sorted(WINDOWS.values(), key=lambda w: w.span)]
    assert seconds == sorted(seconds) and len(set(seconds)) == len(seconds)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 11)]  # 1..10
    assert percentile(values, 0.5) == 5.0  # rank ceil(5) = 5th
    assert percentile(values, 0.95) == 10.0  # rank ceil(9.5) = 10th
    assert percentile(values, 0.91) == 10.0
    assert percentile(values, 0.9) == 9.0
    assert percentile([7.0], 0.5) == 7.0


def test_percentile_stays_within_the_list() -> None:
    values = [1.0, 2.0, 3.0]
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 3.0
    assert percentile(values, 1.5) == 3.0


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 0.5) is None
