"""The usage CSV lines (``console.usage``): per day, key and route, summed from the
hourly rollups over whole days of the window, money to the rollups' eight decimals, one
key's or every key's. The export's view: ``tests/console/views/test_usage.py``."""

from __future__ import annotations

import csv
from datetime import datetime

from console import usage


def rows_of(lines: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(lines))


def test_the_lines_sum_each_day_key_and_route(rollups: None, usage_today: datetime) -> None:
    rows = rows_of(list(usage.csv_lines("30d")))
    assert rows and list(rows[0]) == list(usage.CSV_COLUMNS)
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)  # oldest day first
    today = usage_today.date().isoformat()
    research = {(r["route"], r["cost_usd"]) for r in rows if r["date"] == today and r["key_name"] == "research"}  # fmt: skip
    assert research == {("chat", "0.50000000"), ("embed", "0.25000000")}
    master = next(r for r in rows if r["key_name"] == usage.MASTER_LABEL)
    assert master["key_id"] == ""


def test_only_the_keys_asked_for(rollups: None) -> None:
    every = rows_of(list(usage.csv_lines("90d")))
    research_id = next(int(r["key_id"]) for r in every if r["key_name"] == "research")
    mine = rows_of(list(usage.csv_lines("90d", {research_id})))
    assert mine and {r["key_name"] for r in mine} == {"research"}
    assert rows_of(list(usage.csv_lines("90d", set()))) == []


def test_a_window_not_offered_is_the_default_and_keys_have_names() -> None:
    assert usage.window_of("7d") == "7d"
    assert usage.window_of("1y") == usage.window_of(None) == usage.DEFAULT_WINDOW
    assert usage.key_label(0, "master") == usage.key_label(0, "") == usage.MASTER_LABEL
    assert usage.key_label(5, "") == "key 5" and usage.key_label(5, "ci") == "ci"
