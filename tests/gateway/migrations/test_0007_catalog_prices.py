"""Migration 0007: rows holding the old defaults (price 0, tools and vision on,
reasoning off) leave the decision to the catalog; values someone chose are kept."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.migrate import at, latest

BEFORE = [("gateway", "0006_translate_top_k")]
AFTER = [("gateway", "0007_catalog_prices")]


@pytest.fixture
def latest_afterwards():
    """The test database back at the latest migrations of every app (the leaf nodes)
    afterwards, whatever the test left it at: the tests after this one expect them."""
    yield
    latest()


@pytest.mark.django_db(transaction=True)
def test_old_defaults_become_catalog_and_chosen_values_stay(latest_afterwards):
    old = at(BEFORE)
    Provider = old.get_model("gateway", "Provider")
    Route = old.get_model("gateway", "Route")
    Deployment = old.get_model("gateway", "Deployment")
    provider = Provider.objects.create(
        name="p", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="r")
    untouched = Deployment.objects.create(route=route, provider=provider, model="gpt-4o")
    chosen = Deployment.objects.create(
        route=route,
        provider=provider,
        model="gpt-4o-mini",
        input_price=Decimal("0.2"),
        output_price=Decimal("0.8"),
        supports_tools=False,
        supports_vision=False,
        supports_reasoning=True,
    )
    try:
        new = at(AFTER)
        Deployment = new.get_model("gateway", "Deployment")
        untouched = Deployment.objects.get(pk=untouched.pk)
        assert untouched.input_price is None and untouched.cache_write_price is None
        assert (untouched.supports_tools, untouched.supports_vision) == (None, None)
        assert untouched.supports_reasoning is None
        chosen = Deployment.objects.get(pk=chosen.pk)
        assert (chosen.input_price, chosen.output_price) == (Decimal("0.2"), Decimal("0.8"))
        assert chosen.cache_read_price is None
        assert (chosen.supports_tools, chosen.supports_vision, chosen.supports_reasoning) == (
            False,
            False,
            True,
        )
        # and back: NULL becomes the old defaults again
        back = at(BEFORE)
        Deployment = back.get_model("gateway", "Deployment")
        untouched = Deployment.objects.get(pk=untouched.pk)
        assert untouched.input_price == 0 and untouched.supports_tools is True
        assert untouched.supports_reasoning is False
    finally:
        at(AFTER)
