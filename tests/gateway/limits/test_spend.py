"""Spend for budgets (``gateway.limits.spend``): a budget period's bounds."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.limits import spend


def test_period_bounds():
    at = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert spend.period_bounds("day", at)[0] == "d2026-12-31"
    period, start, end = spend.period_bounds("month", at)
    assert period == "m2026-12" and start == datetime(2026, 12, 1, tzinfo=UTC)
    assert end == datetime(2027, 1, 1, tzinfo=UTC)
    assert spend.period_bounds("total", at) == ("total", None, None)
