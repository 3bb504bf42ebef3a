"""Which routes can answer right now, without calling anyone: enabled, with at least
one enabled deployment whose provider's settings name no unset environment variable
(``os.environ/NAME`` references are read at call time, so a missing one only shows up
as a failed request). Console-side only: reads the database, never the hot path."""

from __future__ import annotations

from gateway.deployment_health import missing_variables
from gateway.models import Route


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
