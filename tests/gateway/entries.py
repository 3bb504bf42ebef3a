"""Registry entries for tests that build their own snapshot (no database)."""

from __future__ import annotations

from decimal import Decimal

from gateway.base.entries import DeploymentEntry, ProviderEntry, RouteEntry, Snapshot

PROVIDER = ProviderEntry(1, "mock", "openai", "http://mock/v1", "", {}, "", None)
_ids = iter(range(1, 10_000))


def deployment(route: str, model: str, weight: float = 1.0, **extra) -> DeploymentEntry:
    fields = dict(
        id=next(_ids),
        route=route,
        provider=PROVIDER,
        model=model,
        weight=weight,
        rpm=None,
        tpm=None,
        input_price=Decimal(0),
        output_price=Decimal(0),
        cache_read_price=Decimal(0),
        cache_write_price=Decimal(0),
        context_window=None,
        max_output_tokens=None,
        supports_tools=True,
        supports_vision=True,
        supports_reasoning=False,
        params={},
    )
    fields.update(extra)
    return DeploymentEntry(**fields)


def route(
    name: str,
    *models,
    strategy: str = "weighted",
    fallbacks=(),
    cw: str | tuple[str, ...] = "",  # one context-window fallback, or several in order
    max_attempts: int = 3,
    weights=None,
    enabled: bool = True,
    provider: ProviderEntry | None = None,
) -> RouteEntry:
    weights = weights or [1.0] * len(models)
    provider = provider or PROVIDER
    return RouteEntry(
        id=next(_ids),
        name=name,
        enabled=enabled,
        strategy=strategy,
        deployments=tuple(
            deployment(name, m, w, provider=provider) for m, w in zip(models, weights, strict=True)
        ),
        fallbacks=tuple(fallbacks),
        context_window_fallbacks=(cw,) if isinstance(cw, str) and cw else tuple(cw),
        drop_params=True,
        default_params={},
        max_attempts=max_attempts,
        created=0,
    )


def snapshot(*routes: RouteEntry) -> Snapshot:
    return Snapshot(version=1, routes={r.name: r for r in routes})
