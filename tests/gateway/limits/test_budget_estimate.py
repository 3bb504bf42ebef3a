"""A budget hold's estimate (``gateway.limits.budget_estimate``): the dearest reachable
deployment's most for the request, counting the routes that may answer; the configured
amount when it cannot be known."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from gateway.limits import budget_estimate
from tests.gateway.entries import deployment, route
from tests.gateway.limits.test_limits import key


def priced(**extra):
    fields = dict(input_price=Decimal("1"), output_price=Decimal("2"), max_output_tokens=1000)
    fields.update(extra)
    return deployment("r", "m", **fields)


def test_hold_is_the_dearest_deployments_most(settings):
    settings.SWITCHYARD_BUDGET_RESERVATION_USD = 0.05
    k = key(budget_usd=Decimal(1))
    two = dataclasses.replace(
        route("r", "a"), deployments=(priced(), priced(output_price=Decimal("4")))
    )
    # 100 prompt tokens at $1/M + 200 output at $4/M (the request's own ceiling)
    assert budget_estimate.hold_for(k, two, 100, 200) == Decimal("0.0009")
    # no ceiling in the request: each deployment's max output (1000)
    assert budget_estimate.hold_for(k, two, 100, None) == Decimal("0.0041")
    assert budget_estimate.hold_for(k, two, 100, 0) == Decimal("0.0001")  # embeddings
    reasoning = dataclasses.replace(two, deployments=(priced(reasoning_price=Decimal("10")),))
    assert budget_estimate.hold_for(k, reasoning, 0, 100) == Decimal("0.001")


def test_hold_falls_back_to_the_configured_amount_when_unknown(settings):
    settings.SWITCHYARD_BUDGET_RESERVATION_USD = 0.05
    k = key(budget_usd=Decimal(1))
    unpriced = route("r", "a")
    assert budget_estimate.hold_for(k, unpriced, 100, 200) == Decimal("0.05")
    no_ceiling = dataclasses.replace(unpriced, deployments=(priced(max_output_tokens=None),))
    assert budget_estimate.hold_for(k, no_ceiling, 100, None) == Decimal("0.05")
    assert budget_estimate.hold_for(key(), unpriced, 100, 200) is None  # no budget


def test_the_hold_counts_the_routes_that_may_answer(settings):
    settings.SWITCHYARD_BUDGET_RESERVATION_USD = 0.01
    k = key(budget_usd=Decimal(1))
    cheap = dataclasses.replace(route("cheap", "a"), deployments=(priced(),))
    dear = dataclasses.replace(route("dear", "b"), deployments=(priced(output_price=Decimal(8)),))
    alone = budget_estimate.hold_for(k, cheap, 0, 100)
    assert alone == Decimal("0.0002")
    falling = dataclasses.replace(cheap, fallbacks=("dear",))
    assert budget_estimate.hold_for(k, falling, 0, 100, reachable=lambda: [dear]) == Decimal(
        "0.0008"
    )
    windowing = dataclasses.replace(cheap, context_window_fallbacks=("dear",))
    assert budget_estimate.hold_for(k, windowing, 0, 100, reachable=lambda: [dear]) == Decimal(
        "0.0008"
    )

    def walked() -> list[object]:
        raise AssertionError("a route without fallbacks reaches no other")

    assert budget_estimate.hold_for(k, cheap, 0, 100, reachable=walked) == alone
    windowed = dataclasses.replace(
        cheap, deployments=(priced(max_output_tokens=None, context_window=4000),)
    )
    # the window caps a larger max_tokens, and stands in for an unknown max output
    assert budget_estimate.hold_for(k, windowed, 0, 10**9) == Decimal("0.008")
    assert budget_estimate.hold_for(k, windowed, 0, None, text_output=True) == Decimal("0.008")
