"""The dashboard's labels and charts: who sent the traffic (a virtual key, the master
key, the playground, or nobody with a valid key) and axis labels that fit the chart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from console import stats
from gateway.models import RequestLog
from gateway.telemetry import rollups
from tests.console.views.test_logs import make_logs


@pytest.mark.django_db
@pytest.mark.parametrize("window", ["1h", "24h"])
def test_rejected_traffic_is_not_called_the_master_key(staff_client: Client, window) -> None:
    make_logs(3, route="echo", key_name="master")
    make_logs(2, route="echo", key_name="")  # refused before any key was accepted
    RequestLog.objects.filter(key_name="").update(status=401, route="")
    rollups.rebuild()
    board = stats.dashboard(window, now=timezone.now() + timedelta(seconds=1))
    names = {row["key_name"]: row["requests"] for row in board.by_key}
    assert names == {"master": 3, "rejected (no valid key)": 2}
    html = staff_client.get(f"/?window={window}").content.decode()
    assert "rejected (no valid key)" in html
    assert "master key" not in html


@pytest.fixture
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("window", ["1h", "24h"])
def test_a_request_logged_since_the_last_view_is_on_the_next_one(
    window, fresh_cache, monkeypatch
) -> None:
    """The figures are cached for the window's seconds, but not past a new request: a
    view right after one shows it (it used to show the cached figures from before)."""
    make_logs(2, route="before")
    rollups.rebuild()
    assert stats.dashboard(window).totals.requests == 2
    monkeypatch.setattr(stats, "RECOMPUTE_SECONDS", 0.0)
    make_logs(3, route="after")
    rollups.rebuild()
    board = stats.dashboard(window)
    assert board.totals.requests == 5
    assert {row["route"] for row in board.by_route} == {"before", "after"}


@pytest.mark.django_db
def test_views_without_new_requests_or_within_a_second_reuse_the_figures(
    fresh_cache, monkeypatch
) -> None:
    built = []
    real = stats.raw_dashboard
    monkeypatch.setattr(stats, "raw_dashboard", lambda *a: built.append(1) or real(*a))
    make_logs(2, route="one")
    for _ in range(3):  # nothing new: computed once
        assert stats.dashboard("1h").totals.requests == 2
    assert len(built) == 1
    make_logs(1, route="two")  # new, but the last computation is under a second old:
    assert stats.dashboard("1h").totals.requests == 2  # a busy gateway's polls share it
    assert len(built) == 1
