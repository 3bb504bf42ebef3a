"""What the cache doctor reads (``gateway.features.cache_doctor.reading``): the journal's
answered requests in a window, the deployments' prices from the snapshot, and the
stored bodies of the costliest misses; from a replayed agent trace (``conftest.trace``)
the write-only route and its volatile prefix are named."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gateway.access import registry
from gateway.features.cache_doctor import reading
from gateway.models import RequestLog
from tests.gateway.entries import deployment

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_doctor_names_the_write_only_route_and_its_volatile_prefix(trace) -> None:
    report = reading.diagnose(timezone.now() - timedelta(hours=1))
    by_route = {g.name: g for g in report.routes}
    volatile, steady = by_route["volatile"], by_route["steady"]
    assert volatile.misses == 5 and volatile.write_without_read and volatile.hit_rate == 0
    assert volatile.causes == {"volatile prefix": 5}
    assert "system changes between turns" in volatile.volatile[0]
    assert "cch=h000[0→1]" in volatile.volatile[0]
    assert steady.misses == 0 and steady.lost_usd == 0 and not steady.write_without_read
    assert steady.hit_rate == 100_000 / 121_240 and steady.net_usd > 0
    assert {m.turn.route for m in report.misses} == {"volatile"}
    # each miss lost the 20,040 tokens the turns share, at 2.7 $/M
    assert volatile.lost_usd == 5 * Decimal(20_040) * Decimal("2.7") / 1_000_000


def test_the_window_and_filters_choose_the_rows(trace) -> None:
    hour_ago = timezone.now() - timedelta(hours=1)
    assert reading.diagnose(hour_ago).rows == 12
    assert reading.diagnose(hour_ago, route="steady").rows == 6
    assert reading.diagnose(hour_ago, session="sess-volatile").rows == 6
    assert reading.diagnose(hour_ago, key_id=424242).rows == 0
    assert reading.diagnose(hour_ago, timezone.now() - timedelta(minutes=45)).rows == 0
    # failed, cached and shadow requests are not turns
    RequestLog.objects.filter(request_id="std-5").update(status=500)
    RequestLog.objects.filter(request_id="std-4").update(cache_hit=True)
    assert reading.diagnose(hour_ago, route="steady").rows == 4


def test_the_doctor_reads_no_more_than_its_most(trace, monkeypatch) -> None:
    monkeypatch.setattr(reading.doctor, "MAX_ROWS", 5)
    report = reading.diagnose(timezone.now() - timedelta(hours=1))
    assert report.rows == 5 and report.capped


def test_prices_and_cache_facts_from_the_snapshot(trace) -> None:
    prices = reading.pricing()
    assert set(prices) == set(trace.values())
    volatile = prices[trace["volatile"]]
    assert (volatile.input, volatile.read, volatile.write) == (
        Decimal(3), Decimal("0.3"), Decimal("3.75"),
    )  # fmt: skip
    assert volatile.needs_breakpoints and volatile.warm_seconds > 0
    assert registry.current().routes  # read from the snapshot in force


def test_only_the_explained_misses_bodies_are_read(trace) -> None:
    report = reading.diagnose(timezone.now() - timedelta(hours=1))
    read = reading.bodies(report)
    wanted = {m.turn.log_id for m in report.misses} | {m.previous.log_id for m in report.misses}
    assert set(read) == wanted and all("system" in body for body in read.values())
    report.misses.clear()
    assert reading.bodies(report) == {}


@pytest.mark.parametrize(
    ("kind", "needs"),
    [("anthropic", True), ("bedrock", True), ("openai", False), ("gemini", False)],
)
def test_breakpoints_are_needed_where_the_upstream_caches_only_up_to_them(
    kind: str, needs: bool
) -> None:
    """The dialect is the adapter class's codec (``Provider.dialect`` is an instance
    property: read on the class it never named one, and no Anthropic miss was ever put
    down to a missing breakpoint)."""
    made = deployment("r", "m")
    made = dataclasses.replace(made, provider=dataclasses.replace(made.provider, kind=kind))
    assert reading._pricing(made).needs_breakpoints is needs
