"""Response-cache hits on the dashboard: counted from raw rows in the hour view and from
the hourly rollups in the day and week views (which a rebuild reproduces)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from console import stats
from gateway import journal
from gateway.journal import Record
from gateway.models import RequestLog, UsageRollup

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def fresh_summaries():
    """No hour summaries or rendered dashboards left over from other tests."""
    stats._summaries.clear()
    cache.clear()
    yield
    stats._summaries.clear()
    cache.clear()


def traffic() -> None:
    recs = []
    for i in range(12):
        recs.append(
            Record(
                request_id=f"c{i}",
                created_at=(NOW - timedelta(minutes=i)).timestamp(),
                dialect="openai",
                endpoint="chat",
                route="cached" if i < 8 else "plain",
                status=200,
                latency_ms=1.0 + i,
                cache_hit=i < 5,  # five of the eight "cached" requests were hits
            )
        )
    journal.write_batch(recs)


@pytest.mark.django_db
@pytest.mark.parametrize("window", ["1h", "24h"])
def test_hits_are_counted_in_totals_and_per_route(window: str) -> None:
    traffic()
    board = stats.dashboard(window, now=NOW + timedelta(seconds=1))
    assert board.totals.requests == 12 and board.totals.cache_hits == 5
    assert board.totals.cache_hit_rate == pytest.approx(5 / 12)
    routes = {r["route"]: r for r in board.by_route}
    assert routes["cached"]["cache_hits"] == 5 and routes["plain"]["cache_hits"] == 0


@pytest.mark.django_db
def test_rollups_hold_the_hits_and_a_rebuild_keeps_them() -> None:
    traffic()
    assert RequestLog.objects.filter(cache_hit=True).count() == 5
    assert sum(UsageRollup.objects.values_list("cache_hits", flat=True)) == 5
    UsageRollup.objects.update(cache_hits=0)
    call_command("rebuild_rollups", "--since", "2d")
    assert sum(UsageRollup.objects.values_list("cache_hits", flat=True)) == 5


@pytest.mark.django_db
def test_the_dashboard_page_shows_the_hits(staff_client: Client) -> None:
    traffic()
    page = staff_client.get("/?window=1h").content.decode()
    assert "Cache hits" in page and "41.7% of requests" in page
