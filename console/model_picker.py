"""The deployment form's model picker: the provider's own models list (what "test
connection" fetches) merged with the model catalog, each with its price and context
window, so a person picks an id the upstream serves and sees what it costs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import async_to_sync

from gateway import catalog
from gateway.models import Deployment, Provider
from gateway.ops import admin_ops
from gateway.providers import kinds

LIVE_TTL = 300.0  # seconds a provider's models list is reused
LIVE_TIMEOUT = 5.0
MAX_OPTIONS = 400
_live: dict[tuple[int, float], tuple[float, list[str]]] = {}


@dataclass(frozen=True, slots=True)
class Option:
    model: str
    label: str
    listed: bool  # the provider's own list names it


def per_million(price: Decimal | None) -> str:
    """$2.5, $0.075, $10 (USD per 1M tokens)."""
    if price is None:
        return "?"
    return f"${catalog.entry.plain(Decimal(price))}"


def tokens(count: int | None) -> str:
    if not count:
        return "?"
    if count >= 1_000_000:
        return f"{round(count / 1_000_000, 2):g}M"
    return f"{round(count / 1000):g}k" if count >= 1000 else str(count)


def describe(entry: catalog.Entry | None) -> str:
    """ "$2.5 in / $10 out per 1M tokens · 128k context" (or that the catalog has no entry)."""
    if entry is None:
        return "not in the catalog"
    if entry.mode == "embedding":
        return f"{per_million(entry.input)} per 1M tokens · embeddings"
    return (
        f"{per_million(entry.input)} in / {per_million(entry.output)} out per 1M tokens"
        f" · {tokens(entry.context_window)} context"
    )


def live_models(provider: Provider) -> list[str]:
    """The provider's models list (cached for a few minutes; [] when it cannot answer)."""
    key = (provider.pk, provider.updated_at.timestamp() if provider.updated_at else 0.0)
    cached = _live.get(key)
    if cached is not None and time.monotonic() - cached[0] < LIVE_TTL:
        return cached[1]
    result = async_to_sync(admin_ops.test_connection)(provider, LIVE_TIMEOUT)
    models = sorted(set(result.models)) if result.ok else []
    if result.ok:
        _live[key] = (time.monotonic(), models)
    return models


def options(provider: Provider, live: list[str]) -> list[Option]:
    """The provider's listed models first (with catalog figures where known), then the
    catalog's other models for that provider."""
    loaded = catalog.load()
    base_url, kind = provider.base_url.rstrip("/"), kinds.catalog_vendor(provider.kind)
    out: list[Option] = []
    seen: set[str] = set()
    for model in live:
        entry = catalog.lookup(loaded, kind, base_url, model)
        out.append(Option(model, describe(entry), True))
        seen.add(model)
    vendor = catalog.vendor_of(kind, base_url)
    for model, entry in sorted(loaded.entries.get(vendor or "", {}).items()):
        if model not in seen:
            out.append(Option(model, describe(entry), False))
    return out[:MAX_OPTIONS]


def route_labels(names: list[str]) -> dict[str, str]:
    """ "$2.5 in / $10 out per 1M tokens · 128k context" per route name (its first
    enabled deployment's figures in force), for the playground's column picker."""

    labels: dict[str, str] = {}
    rows = (
        Deployment.objects.filter(route__name__in=names, enabled=True)
        .select_related("provider", "route")
        .order_by("id")
    )
    for deployment in rows:
        name = deployment.route.name
        if name in labels:
            continue
        figures = catalog.figures_for(deployment)
        labels[name] = (
            f"{per_million(figures['input_price'])} in / {per_million(figures['output_price'])}"
            f" out per 1M tokens · {tokens(figures['context_window'])} context"
        )
    return labels
