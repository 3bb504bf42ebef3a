"""What the A2A unit plugs in (``gateway.features.a2a.plugin``): its endpoint's app,
imported on the first A2A request, its part of the snapshot, the pruning of its task
bindings and the OAuth targets of its agents, each through ``gateway.base.hooks``."""

from __future__ import annotations

import asyncio

from gateway.base import hooks
from gateway.features.a2a import endpoint, plugin, retention, snapshot


def test_the_unit_plugs_in_through_the_hooks() -> None:
    assert hooks.asgi_apps.get("a2a") is plugin.endpoint_app
    assert hooks.snapshot_parts.get(snapshot.PART) is snapshot.load
    assert retention.prune_tasks in list(hooks.pruners)
    assert hooks.oauth_targets.get("agent") is snapshot.oauth_target


def test_the_endpoint_app_is_the_endpoint_modules() -> None:
    assert asyncio.run(plugin.endpoint_app()) is endpoint.app
    assert endpoint.__name__ == plugin.ENDPOINT
