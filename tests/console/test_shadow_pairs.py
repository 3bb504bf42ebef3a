"""A route's shadow traffic as pairs (``console.shadow_pairs``): each mirrored request of
its shadow routes beside its primary on this route (newest first, at most ``limit``),
both answers read back from the bodies and how alike they are; pairs by id in the order
asked; the summary per shadow route (successes, mean likeness, median latencies, costs)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from console import shadow_pairs
from gateway.models import RequestLog, Route
from tests.console.test_shadow_scoring import log_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def route() -> Route:
    primary = Route.objects.create(name="big", shadow_routes=["small"])
    log_pairs([("four", "four"), ("4", "5"), ("yes", "no")])
    RequestLog.objects.filter(request_id="m2").update(status=500, latency_ms=90)
    RequestLog.objects.filter(request_id__in=["m0", "m1"]).update(latency_ms=30)
    RequestLog.objects.filter(route="big").update(latency_ms=10, cost_usd=Decimal("0.5"))
    RequestLog.objects.filter(route="small").update(cost_usd=Decimal("0.1"))
    return primary


def test_the_newest_mirrors_beside_their_primaries(route: Route) -> None:
    pairs = shadow_pairs.pairs_of(route)
    assert [(p.mirror.request_id, p.primary.request_id) for p in pairs] == [
        ("m2", "p2"), ("m1", "p1"), ("m0", "p0"),
    ]  # fmt: skip
    same = pairs[2]
    assert (same.primary_text, same.mirror_text, same.likeness) == ("four", "four", 1.0)
    assert pairs[1].likeness == 0.0 and '"2+2?"' in same.primary_request
    assert [p.mirror.request_id for p in shadow_pairs.pairs_of(route, limit=1)] == ["m2"]
    # a mirror whose primary is another route's (or gone) is no pair of this one
    RequestLog.objects.filter(request_id="p2").update(route="elsewhere")
    assert [p.mirror.request_id for p in shadow_pairs.pairs_of(route)] == ["m1", "m0"]
    assert shadow_pairs.pairs_of(Route.objects.create(name="plain")) == []


def test_pairs_by_id_keep_the_order_asked(route: Route) -> None:
    pairs = shadow_pairs.pairs_by_id(route, ["m0", "gone", "m2"])
    assert [p.mirror.request_id for p in pairs] == ["m0", "m2"]


def test_a_missing_answer_has_no_likeness(route: Route) -> None:
    pair = shadow_pairs.pairs_of(route)[0]
    assert shadow_pairs.Pair(pair.primary, pair.mirror, None, "x").likeness is None


def test_the_summary_of_a_shadow_route(route: Route) -> None:
    summary = shadow_pairs.Summary("small", shadow_pairs.pairs_of(route))
    assert (summary.count, summary.succeeded) == (3, 2)
    assert summary.likeness == pytest.approx((1.0 + 0.0 + 0.0) / 3)
    assert (summary.primary_latency, summary.mirror_latency) == (10, 30)
    assert (summary.primary_cost, summary.mirror_cost) == (Decimal("1.5"), Decimal("0.3"))
    empty = shadow_pairs.Summary("tiny")
    assert (empty.count, empty.likeness, empty.mirror_latency) == (0, None, None)
    assert empty.mirror_cost == Decimal(0)
