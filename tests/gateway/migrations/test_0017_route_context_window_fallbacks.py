"""Migration 0016: a route's one context-window fallback becomes the first (only) entry
of its list; it reverses to the first entry."""

from __future__ import annotations

import pytest

from gateway.models import Route
from tests.migrate import at, latest

BEFORE = [("gateway", "0016_prompt_cache_breakpoints")]
AFTER = [("gateway", "0017_route_context_window_fallbacks")]


@pytest.mark.django_db(transaction=True)
def test_the_one_fallback_becomes_a_list_and_the_migration_reverses() -> None:
    OldRoute = at(BEFORE).get_model("gateway", "Route")
    OldRoute.objects.create(name="big")
    small = OldRoute.objects.create(name="small", context_window_fallback="big")
    plain = OldRoute.objects.create(name="plain")
    NewRoute = at(AFTER).get_model("gateway", "Route")
    assert NewRoute.objects.get(pk=small.pk).context_window_fallbacks == ["big"]
    assert NewRoute.objects.get(pk=plain.pk).context_window_fallbacks == []
    NewRoute.objects.filter(pk=small.pk).update(context_window_fallbacks=["big", "plain"])
    OldRoute = at(BEFORE).get_model("gateway", "Route")
    assert OldRoute.objects.get(pk=small.pk).context_window_fallback == "big"
    assert OldRoute.objects.get(pk=plain.pk).context_window_fallback == ""
    latest()
    assert Route.objects.get(pk=small.pk).context_window_fallbacks == ["big"]  # and today
