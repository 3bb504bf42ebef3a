"""What the prompt cache saved, on the dashboard (raw rows in the hour view, rollups in
the day view), the routes page and the keys page: cached read and write tokens, the
share of prompt tokens read from cache, and dollars saved, all summed from what the
journal recorded per request (never recomputed from current prices)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from console import stats
from console.models import StoredHourSummary
from gateway import journal
from gateway.journal import Record
from gateway.models import ApiKey, UsageRollup
from tests.gateway.entries import deployment

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def fresh_summaries():
    stats._summaries.clear()
    cache.clear()
    yield
    stats._summaries.clear()
    cache.clear()


def test_saved_is_cached_reads_at_the_discount_less_the_write_premium() -> None:
    entry = deployment(
        "agent",
        "m",
        input_price=Decimal("3"),
        cache_read_price=Decimal("0.3"),
        cache_write_price=Decimal("3.75"),
    )
    usage = SimpleNamespace(cache_read_tokens=1_000_000, cache_write_tokens=200_000)
    saved = entry.cache_saved(usage)
    assert saved == Decimal("2.7") - Decimal("0.15")
    only_writes = SimpleNamespace(cache_read_tokens=0, cache_write_tokens=1_000_000)
    assert entry.cache_saved(only_writes) == Decimal("-0.75")


def traffic(key_id: int | None = None) -> None:
    """Six requests on "agent" (four with cache reads, one writing the cache), two on
    "plain" without any prompt cache."""
    recs = []
    for i in range(8):
        agent = i < 6
        recs.append(
            Record(
                request_id=f"s{i}",
                created_at=(NOW - timedelta(minutes=i)).timestamp(),
                dialect="openai",
                endpoint="chat",
                route="agent" if agent else "plain",
                key_id=key_id if agent else None,
                key_name="coder" if agent else "master",
                status=200,
                latency_ms=5.0,
                input_tokens=100,
                output_tokens=10,
                cache_read_tokens=900 if agent and i < 4 else 0,
                cache_write_tokens=900 if i == 4 else 0,
                cost_usd=Decimal("0.001"),
                cache_saved_usd=(
                    Decimal("0.00243") if agent and i < 4 else Decimal("-0.000675") if i == 4 else 0
                ),
            )
        )
    journal.write_batch(recs)


SAVED = 4 * Decimal("0.00243") - Decimal("0.000675")  # 0.009045
READ, WRITTEN, INPUT = 3600, 900, 800


@pytest.mark.django_db
@pytest.mark.parametrize("window", ["1h", "24h"])
def test_dashboard_totals_and_breakdowns(window: str) -> None:
    traffic()
    board = stats.dashboard(window, now=NOW + timedelta(seconds=1))
    t = board.totals
    assert (t.cache_read_tokens, t.cache_write_tokens) == (READ, WRITTEN)
    assert t.cache_saved == SAVED
    assert t.prompt_cache_rate == pytest.approx(READ / (INPUT + READ + WRITTEN))
    assert t.cost_without_cache == Decimal("0.008") + SAVED
    routes = {r["route"]: r for r in board.by_route}
    assert routes["agent"]["cache_saved"] == SAVED
    assert routes["agent"]["prompt_cache_rate"] == pytest.approx(3600 / (600 + 3600 + 900))
    assert routes["plain"]["cache_saved"] == 0 and routes["plain"]["prompt_cache_rate"] == 0
    keys = {r["key_name"]: r for r in board.by_key}
    assert keys["coder"]["cache_read_tokens"] == READ and keys["coder"]["cache_saved"] == SAVED


@pytest.mark.django_db
def test_rollups_hold_the_savings_and_a_rebuild_keeps_them() -> None:
    traffic()
    assert sum(UsageRollup.objects.values_list("cache_saved_usd", flat=True)) == SAVED
    UsageRollup.objects.update(cache_saved_usd=0)
    call_command("rebuild_rollups", "--since", "2d")
    assert sum(UsageRollup.objects.values_list("cache_saved_usd", flat=True)) == SAVED


@pytest.mark.django_db
def test_a_summary_stored_before_the_new_sums_is_folded_again() -> None:
    """Finished hours' summaries kept by an older release lack the cache sums: they are
    read from the rollups again rather than misread."""
    old = NOW - timedelta(hours=3)
    journal.write_batch(
        [
            Record(
                request_id="old",
                created_at=old.timestamp(),
                route="agent",
                status=200,
                cache_read_tokens=50,
                cache_saved_usd=Decimal("0.5"),
            )
        ]
    )
    stats.dashboard("24h", now=NOW)
    stored = StoredHourSummary.objects.get()
    data = stored.summary
    data["by_route"] = {r: v[:7] for r, v in data["by_route"].items()}  # the old layout
    data["by_key"] = [[k, n, v[:7]] for k, n, v in data["by_key"]]
    stored.summary = data
    stored.save()
    stats._summaries.clear()
    board = stats.dashboard("24h", now=NOW)
    assert board.totals.cache_saved == Decimal("0.5") and board.totals.cache_read_tokens == 50


@pytest.mark.django_db
def test_pages_show_the_money(staff_client: Client, registry_rows) -> None:
    registry_rows["route"].name = "agent"
    registry_rows["route"].save()
    key = ApiKey.objects.create(name="coder", prefix="sk-sy-coder", key_hash="x" * 64)
    traffic(key_id=key.pk)
    dash = staff_client.get("/?window=1h").content.decode()
    assert "Prompt cache hit rate" in dash and "Saved by caching" in dash
    rate = f"{READ / (INPUT + READ + WRITTEN) * 100:.1f}%"
    assert rate in dash and "of 5.3k tokens" in dash
    assert "3.6k read</span>" in dash and "900 written" in dash
    assert "$0.009 " in dash or "$0.009<" in dash  # usd_brief of 0.009045
    assert re.search(r"70\.6% · \$0\.009", dash)  # the agent row: 3600 of 5100 prompt tokens
    routes = staff_client.get("/routes/").content.decode()
    assert "prompt cache 70.6% of prompt tokens (3.6k read, 900 written)" in routes
    assert "$0.009 saved" in routes
    keys = staff_client.get("/keys/").content.decode()
    row = keys[keys.index(f'id="key-{key.pk}"') :]
    assert "70.6% · $0.009" in row[: row.index("</tr>")]


@pytest.mark.django_db
def test_the_usage_csv_and_the_api_carry_the_savings() -> None:
    import csv

    from console import usage
    from gateway.telemetry.logquery import LIST_FIELDS

    traffic()
    rows = list(csv.DictReader(usage.csv_lines("7d")))
    # a line per day: run just after midnight UTC, the traffic of the last minutes spans two
    agent = [r for r in rows if r["route"] == "agent"]
    assert sum(Decimal(r["cache_saved_usd"]) for r in agent) == Decimal(f"{SAVED:.8f}")
    assert sum(int(r["cache_read_tokens"]) for r in agent) == 3600
    assert "cache_saved_usd" in LIST_FIELDS
