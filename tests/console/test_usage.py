"""The usage figures (``console.usage``): each key's spend per day, for the uPlot chart
and a table, and the CSV lines per day, key and route, read from the hourly rollups.
The export's view: ``tests/console/views/test_usage.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from console import usage
from gateway.models import UsageRollup
from tests.console.usage_rows import rollup


def test_spend_per_key_and_day(rollups: None, usage_today: datetime) -> None:
    found = usage.usage("30d")
    assert [k.name for k in found.keys] == ["research", "ci", "master key"]
    research = found.keys[0]
    assert research.cost == Decimal("1.75") and research.requests == 9
    assert research.per_day[usage_today.date()] == Decimal("0.75")
    chart = found.chart()
    assert len(chart["days"]) == 30 == len(chart["series"][0]["values"])
    assert (
        chart["days"][-1]
        == datetime.combine(usage_today.date(), datetime.min.time(), UTC).timestamp()
    )
    assert chart["series"][0] == {
        "name": "research",
        "values": [0.0] * 27 + [1.0, 0.0, 0.75],
    }
    assert usage.usage("90d").keys[0].cost == Decimal("10.75")


def test_the_master_key_and_the_consoles_requests_are_apart(
    db: None, usage_today: datetime
) -> None:
    """Neither has a virtual key (key id 0): each is its own line, by name, while a
    virtual key renamed over the window stays one line."""
    UsageRollup.objects.bulk_create(
        [
            rollup(usage_today, 0, 0, "master", "chat", "0.30", requests=12),
            rollup(usage_today, 0, 0, "console:admin", "chat", "0.10", requests=4),
            rollup(usage_today, 1, 0, "console:admin", "chat", "0.05", requests=2),
            rollup(usage_today, 1, 3, "old name", "chat", "0.01"),
            rollup(usage_today, 0, 3, "new name", "chat", "0.01"),
        ]
    )
    found = {k.name: k for k in usage.usage("30d").keys}
    assert set(found) == {"master key", "console:admin", "old name"} or set(found) == {
        "master key",
        "console:admin",
        "new name",
    }
    assert found["master key"].requests == 12 and found["master key"].cost == Decimal("0.30")
    assert found["console:admin"].requests == 6 and found["console:admin"].cost == Decimal("0.15")


def test_more_keys_than_drawn_are_summed(db: None, usage_today: datetime) -> None:
    UsageRollup.objects.bulk_create(
        [rollup(usage_today, 0, n, f"k{n}", "chat", str(n)) for n in range(1, usage.CHART_KEYS + 4)]
    )
    series = usage.usage("7d").chart()["series"]
    assert len(series) == usage.CHART_KEYS + 1
    assert series[-1]["name"] == "3 other keys" and series[-1]["values"][-1] == 6.0
