"""What the A2A feature plugs into the edge and the registry (``gateway.base.hooks``):
the ``/a2a/<agent>`` endpoint's app (``asgi_apps``, imported on a worker's first A2A
request), the registered agents and the keys' grants as a part of the snapshot
(``snapshot_parts``: no query per request) and the pruning of old task bindings
(``pruners``)."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks, lazy_import
from gateway.features.a2a import retention, snapshot

ENDPOINT = "gateway.features.a2a.endpoint"


async def endpoint_app() -> Any:
    endpoint = await lazy_import.loaded(ENDPOINT)
    return endpoint.app


def register() -> None:
    hooks.asgi_apps.register("a2a", endpoint_app)
    hooks.snapshot_parts.register(snapshot.PART, snapshot.load)
    hooks.pruners.register(retention.prune_tasks)
    hooks.oauth_targets.register("agent", snapshot.oauth_target)
