"""Deployment health on demand, like LiteLLM's ``/health``: every deployment's provider
is asked for its model list (a cheap call that proves the address and the key), at
most a few at a time, each within a timeout. A deployment whose provider names an unset
``os.environ/NAME`` variable is reported as misconfigured without calling anyone.

Kinds whose upstream has no model list (Bedrock, Vertex AI) are never failed for not
listing: each deployment is checked by what can be checked of it (the adapter's
``check_deployment``: region and credentials resolve, a token can be had); a problem
there is "misconfigured", with the adapter's words for it. A model missing from a list
is only a finding where the upstream serves what it lists (not echo, which answers any
model name).

Used by ``GET /health`` (master key, JSON) and the console's health page; never on the
request path. The latest result of each deployment is kept in this process so the
page can show it again without checking.

An operator's tool, so it sits in ``ops`` beside ``admin_ops`` (whose connection test
it runs, the console's "test connection" button): routing below it never reads it."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from asgiref.sync import sync_to_async

from gateway import catalog
from gateway.access import registry
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import GatewayError
from gateway.models import ENV_REFERENCE, Deployment, Provider
from gateway.ops import admin_ops
from gateway.providers import kinds
from gateway.providers.base import Provider as ProviderAdapter
from gateway.providers.base import adapter_for

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
    checked_by: str = ""  # what the check was, in words (the model list, or configuration)

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


def _adapter_class(provider: Provider) -> type[ProviderAdapter] | None:
    cls: type[ProviderAdapter] | None = kinds.adapter_class(provider.kind)
    return cls


def _lists_models(provider: Provider) -> bool:
    cls = _adapter_class(provider)
    return cls is None or cls.lists_models


async def check_deployment(
    deployment: Deployment,
    timeout: float = admin_ops.TEST_CONNECTION_TIMEOUT,  # noqa: ASYNC109
) -> admin_ops.ConnectionResult:
    """The adapter's own check of one deployment of a kind that lists no models; never
    raises, the error message is the result (``models`` holds what was checked)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        entry = admin_ops.provider_entry(deployment.provider)
        adapter = adapter_for(entry)
        target = await sync_to_async(_deployment_entry)(deployment, entry)
        what = await asyncio.wait_for(adapter.check_deployment(target), timeout)
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except GatewayError as exc:
        error = exc.log_message
    except Exception as exc:  # any failure is the answer the operator needs to see
        error = str(exc) or type(exc).__name__
    else:
        return admin_ops.ConnectionResult(True, [what], "", (loop.time() - started) * 1000)
    return admin_ops.ConnectionResult(False, [], error, (loop.time() - started) * 1000)


def _deployment_entry(deployment: Deployment, entry: ProviderEntry) -> DeploymentEntry:

    return registry._deployment_entry(
        deployment.route.name, deployment, entry, catalog.load(), deployment.route.timeout
    )


async def check_all(timeout: float = admin_ops.TEST_CONNECTION_TIMEOUT) -> list[DeploymentHealth]:  # noqa: ASYNC109
    """Check every deployment now (each listing provider once, each deployment of a kind
    that lists no models by itself), keep and return the results."""
    deployments = await sync_to_async(_deployments)()
    live = [d for d in deployments if d.enabled and d.route.enabled]
    providers = {d.provider_id: d.provider for d in live if _lists_models(d.provider)}
    own_checks = [d for d in live if not _lists_models(d.provider)]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def probe(provider: Provider) -> admin_ops.ConnectionResult | None:
        if missing_variables(provider):
            return None
        async with gate:
            return await admin_ops.test_connection(provider, timeout)

    async def own_check(deployment: Deployment) -> admin_ops.ConnectionResult | None:
        if missing_variables(deployment.provider):
            return None
        async with gate:
            return await check_deployment(deployment, timeout)

    ids = list(providers)
    listed, checked = await asyncio.gather(
        asyncio.gather(*(probe(providers[i]) for i in ids)),
        asyncio.gather(*(own_check(d) for d in own_checks)),
    )
    by_provider = dict(zip(ids, listed, strict=True))
    by_deployment = {d.pk: r for d, r in zip(own_checks, checked, strict=True)}
    now = time.time()
    report = [
        _health(
            d, by_deployment[d.pk] if d.pk in by_deployment else by_provider.get(d.provider_id), now
        )
        for d in deployments
    ]
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
    adapter = _adapter_class(deployment.provider)
    if adapter is not None and not adapter.lists_models:
        # Its own check: what it found is configuration, never "unhealthy".
        if result.ok:
            health.status, health.checked_by = "healthy", result.models[0]
        else:
            health.status, health.error = "misconfigured", result.error[:500]
            health.checked_by = "configuration"
        return health
    health.checked_by = "model list"
    if result.ok:
        health.status = "healthy"
        names_models = result.models and not (adapter is not None and adapter.answers_any_model)
        health.model_listed = deployment.model in result.models if names_models else None
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
