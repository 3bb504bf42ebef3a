"""The Gemini Interactions feature plugs in through ``gateway.base.hooks`` alone: the
state an Interactions create keeps (which detaches a background create), its route and
its pruner."""

from __future__ import annotations

from gateway.base import hooks
from gateway.edge import endpoints
from gateway.features.interactions import plugin
from gateway.features.interactions.state import Turn


def test_every_part_is_registered() -> None:
    assert hooks.call_states["gemini_interactions"] is plugin.open_turn
    assert plugin.ROUTE in list(hooks.api_routes)
    assert plugin.prune_stored in list(hooks.pruners)


def test_registering_again_changes_nothing() -> None:
    before = list(hooks.api_routes), list(hooks.pruners), hooks.call_states.items()
    plugin.register()
    assert (list(hooks.api_routes), list(hooks.pruners), hooks.call_states.items()) == before


def test_the_route_takes_the_stored_interactions_paths_only() -> None:
    for method, path, found in (
        ("GET", "/v1beta/interactions/int_1", ("int_1", "")),
        ("DELETE", "/v1/interactions/int_1", ("int_1", "")),
        ("POST", "/v1beta/interactions/int_1/cancel", ("int_1", "cancel")),
    ):
        row, matched = endpoints.route_for({"headers": []}, method, path)
        assert row is not None and row.name == "stored interaction", path
        assert matched == (plugin.ROUTE, found)
    for method, path in (("POST", "/v1beta/interactions/int_1"), ("GET", "/v1beta/x/int_1")):
        row, _ = endpoints.route_for({"headers": []}, method, path)
        assert row is None or row.name != "stored interaction", path
    assert plugin.ROUTE.google_key and plugin.ROUTE.dialect == "gemini_interactions"


def test_only_a_background_create_detaches() -> None:
    assert Turn(key_id=1, store=True).detach(None, None) is None
    detached = Turn(key_id=1, store=True, background=True).detach(None, None)
    assert detached is not None
    detached.close()  # type: ignore[attr-defined]  (a coroutine never awaited here)
