"""An experiment's summary figures (``console.evals.summary``): Wilson intervals,
percentiles and win rates (a tie counts half)."""

from __future__ import annotations

import pytest

from console.evals.summary import percentile, wilson, win_rate


def test_wilson_interval_known_values() -> None:
    # Reference values (Wilson 1927; e.g. statsmodels proportion_confint(method="wilson")).
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_win_rate_counts_ties_as_half() -> None:
    result = win_rate([(1, 0), (1, 0), (0, 1), (1, 1)])
    assert result["rate"] == pytest.approx(0.625)
    assert (result["wins"], result["ties"], result["losses"], result["n"]) == (2, 1, 1, 4)
    assert result["low"] < 0.625 < result["high"]


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile(list(range(1, 101)), 0.95) == pytest.approx(95.05)
    assert percentile([], 0.5) is None
