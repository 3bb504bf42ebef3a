"""Migration 0016: a route's one context-window fallback becomes the first (only) entry
of its list; it reverses to the first entry."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.models import Route

BEFORE = [("gateway", "0016_prompt_cache_breakpoints")]
AFTER = [("gateway", "0017_route_context_window_fallbacks")]


def migrate(target) -> MigrationExecutor:  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target if target else executor.loader.graph.leaf_nodes())
    return executor


@pytest.mark.django_db(transaction=True)
def test_the_one_fallback_becomes_a_list_and_the_migration_reverses() -> None:
    executor = migrate(BEFORE)
    OldRoute = executor.loader.project_state(BEFORE).apps.get_model("gateway", "Route")
    OldRoute.objects.create(name="big")
    small = OldRoute.objects.create(name="small", context_window_fallback="big")
    plain = OldRoute.objects.create(name="plain")
    migrate(AFTER)
    migrate(None)
    assert Route.objects.get(pk=small.pk).context_window_fallbacks == ["big"]
    assert Route.objects.get(pk=plain.pk).context_window_fallbacks == []
    Route.objects.filter(pk=small.pk).update(context_window_fallbacks=["big", "plain"])
    executor = migrate(BEFORE)
    OldRoute = executor.loader.project_state(BEFORE).apps.get_model("gateway", "Route")
    assert OldRoute.objects.get(pk=small.pk).context_window_fallback == "big"
    assert OldRoute.objects.get(pk=plain.pk).context_window_fallback == ""
    migrate(None)
