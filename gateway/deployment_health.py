"""Deployment health on demand, like LiteLLM's ``/health``: every deployment's provider
is asked for its model list (a cheap call that proves the address and the key), at
most a few at a time, each within a timeout. A deployment whose provider names an unset
``os.environ/NAME`` variable is reported as misconfigured without calling anyone.

Used by ``GET /health`` (master key, JSON) and the console's health page; never on the
request path. The latest result of each deployment is kept in this process so the
page can show it again without checking."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from asgiref.sync import sync_to_async

from . import admin_ops
from .models import ENV_REFERENCE, Deployment, Provider

CONCURRENCY = 8


@dataclass(slots=True)
class DeploymentHealth:
    deployment_id: int
    route: str
    provider: str
    model: str
    enabled: bool
    status: str  # healthy | unhealthy | misconfigured | disabled
    latency_ms: float | None = None
    error: str = ""
    model_listed: bool | None = None  # None: the provider lists no models to compare
    checked_at: float = 0.0  # epoch seconds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_latest: dict[int, DeploymentHealth] = {}


def missing_variables(provider: Provider) -> list[str]:
    """The environment variables ``provider``'s settings refer to that are not set."""
    values: list[Any] = [provider.secret_ref, provider.base_url, provider.api_version]
    values += list((provider.extra_headers or {}).values())
    missing: list[str] = []
    for value in values:
        match = ENV_REFERENCE.match(value) if isinstance(value, str) else None
        if match and match.group(1) not in os.environ and match.group(1) not in missing:
            missing.append(match.group(1))
    return missing


def _deployments() -> list[Deployment]:
    return list(
        Deployment.objects.select_related("route", "provider").order_by("route__name", "pk")
    )


async def check_all(timeout: float = admin_ops.TEST_CONNECTION_TIMEOUT) -> list[DeploymentHealth]:  # noqa: ASYNC109
    """Check every deployment now (each provider once), keep and return the results."""
    deployments = await sync_to_async(_deployments)()
    providers = {d.provider_id: d.provider for d in deployments if d.enabled and d.route.enabled}
    gate = asyncio.Semaphore(CONCURRENCY)

    async def probe(provider: Provider) -> admin_ops.ConnectionResult | None:
        if missing_variables(provider):
            return None
        async with gate:
            return await admin_ops.test_connection(provider, timeout)

    ids = list(providers)
    results = dict(zip(ids, await asyncio.gather(*(probe(providers[i]) for i in ids)), strict=True))
    now = time.time()
    report = [_health(d, results.get(d.provider_id), now) for d in deployments]
    _latest.update({h.deployment_id: h for h in report})
    return report


def _health(
    deployment: Deployment, result: admin_ops.ConnectionResult | None, now: float
) -> DeploymentHealth:
    health = DeploymentHealth(
        deployment_id=deployment.pk,
        route=deployment.route.name,
        provider=deployment.provider.name,
        model=deployment.model,
        enabled=deployment.enabled and deployment.route.enabled,
        status="disabled",
        checked_at=now,
    )
    if not health.enabled:
        return health
    missing = missing_variables(deployment.provider)
    if missing:
        health.status = "misconfigured"
        health.error = "environment variable(s) not set: " + ", ".join(missing)
        return health
    assert result is not None
    health.latency_ms = round(result.elapsed_ms, 1)
    if result.ok:
        health.status = "healthy"
        health.model_listed = deployment.model in result.models if result.models else None
    else:
        health.status, health.error = "unhealthy", result.error[:500]
    return health


def latest() -> dict[int, DeploymentHealth]:
    """The last check of each deployment made in this process (deployment id: result)."""
    return dict(_latest)


def summary(report: list[DeploymentHealth]) -> dict[str, Any]:
    """``GET /health``'s body: LiteLLM's shape (healthy/unhealthy lists and counts)."""
    checked = [h for h in report if h.status != "disabled"]
    healthy = [h.as_dict() for h in checked if h.status == "healthy"]
    unhealthy = [h.as_dict() for h in checked if h.status != "healthy"]
    return {
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "healthy_count": len(healthy),
        "unhealthy_count": len(unhealthy),
    }
