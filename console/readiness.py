"""Which routes can answer right now, without calling anyone, and which of them a new
playground comparison starts with. Console-side only: reads the database (and this
process's latest health check), never the hot path.

A route can answer when it is enabled and has an enabled deployment whose provider

- names no unset environment variable (``os.environ/NAME`` references are read at call
  time, so a missing one only shows up as a failed request),
- has credentials: a secret of its own, or for the kinds that may run without one,
  what they use instead, as each kind's adapter declares it (``keyless``: an AWS
  profile or the ambient AWS / Google credentials, or nothing at all for the built-in
  echo provider and a plain-http OpenAI-compatible server such as a local vLLM), and
- was not found failing by the latest health check of this process.

An imported Bedrock route with no keys, no profile and no AWS credentials in the
environment cannot answer, and is never a default."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from typing import Any

from gateway.models import Deployment, Provider, RequestLog, Route
from gateway.ops import deployment_health
from gateway.ops.deployment_health import missing_variables
from gateway.providers import kinds
from gateway.providers.base import Provider as Adapter

FAILING = ("unhealthy", "misconfigured")
# How many of the newest logged requests say which routes are in use.
RECENT_REQUESTS = 2000


def has_credentials(provider: Provider, deployment: Deployment) -> bool:
    """Whether ``provider`` has what it authenticates with (see the module's doc)."""
    if provider.has_secret:
        return True
    adapter: type[Adapter] | None = kinds.adapter_class(provider.kind)
    keyless = None if adapter is None else adapter.keyless  # what the kind takes instead
    if keyless is None:
        return False
    if keyless.plain_http:
        return (provider.base_url or "").startswith("http://")
    if not keyless.settings and not keyless.variables:
        return True
    given = {**(provider.settings or {}), **(deployment.params or {})}
    return any(given.get(n) for n in keyless.settings) or any(
        os.environ.get(v) for v in keyless.variables
    )


def can_answer(deployment: Deployment, health: dict[int, Any]) -> bool:
    provider = deployment.provider
    if not deployment.enabled or missing_variables(provider):
        return False
    checked = health.get(deployment.pk)
    if checked is not None and checked.status in FAILING:
        return False
    return has_credentials(provider, deployment)


def ready_route_names() -> list[str]:
    """Enabled routes, by name, that have a deployment able to answer."""
    health = deployment_health.latest()
    routes = (
        Route.objects.filter(enabled=True)
        .order_by("name")
        .prefetch_related("deployments__provider")
    )
    return [
        route.name
        for route in routes
        if any(can_answer(d, health) for d in route.deployments.all())
    ]


def recent_successes(limit: int = RECENT_REQUESTS) -> tuple[Counter[str], dict[str, int]]:
    """Among the newest ``limit`` logged requests (one read down the primary key):
    each route's answered requests, and how recent its last one is (0: the newest)."""
    rows = RequestLog.objects.order_by("-id").values_list("route", "status")[:limit]
    answered: Counter[str] = Counter()
    newest: dict[str, int] = {}
    for age, (route, status) in enumerate(rows):
        if route and 200 <= status < 400:
            answered[route] += 1
            newest.setdefault(route, age)
    return answered, newest


def rank(ready: Iterable[str], answered: Counter[str], newest: dict[str, int]) -> list[str]:
    """Ready routes, the most recently answering first, then the busiest, then by name;
    routes with no answer on record follow in name order."""
    return sorted(ready, key=lambda r: (r not in newest, newest.get(r, 0), -answered[r], r))


def default_routes(count: int = 2) -> list[str]:
    """The routes a new comparison starts with: ``count`` ready routes, those in use
    first; the one ready route repeated when there is only one; none when no route can
    answer (the page then asks for a choice rather than preselect one that fails)."""
    ready = rank(ready_route_names(), *recent_successes())
    if not ready:
        return []
    return [ready[n % len(ready)] for n in range(count)]
