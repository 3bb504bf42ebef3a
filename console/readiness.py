"""Which routes can answer right now, without calling anyone: enabled, with at least
one enabled deployment whose provider's settings name no unset environment variable
(``os.environ/NAME`` references are read at call time, so a missing one only shows up
as a failed request). Console-side only: reads the database, never the hot path."""

from __future__ import annotations

import os
from typing import Any

from gateway.models import ENV_REFERENCE, Provider, Route


def missing_variables(provider: Provider) -> list[str]:
    """The environment variables ``provider`` refers to that are not set."""
    values: list[Any] = [provider.secret_ref, provider.base_url, provider.api_version]
    values += list((provider.extra_headers or {}).values())
    missing = []
    for value in values:
        match = ENV_REFERENCE.match(value) if isinstance(value, str) else None
        if match and match.group(1) not in os.environ and match.group(1) not in missing:
            missing.append(match.group(1))
    return missing


def ready_route_names() -> list[str]:
    """Enabled routes, by name, that have a deployment able to answer."""
    ready = []
    routes = (
        Route.objects.filter(enabled=True)
        .order_by("name")
        .prefetch_related("deployments__provider")
    )
    for route in routes:
        if any(d.enabled and not missing_variables(d.provider) for d in route.deployments.all()):
            ready.append(route.name)
    return ready
