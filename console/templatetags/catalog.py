"""Model-catalog figures in console templates: a deployment's prices, windows and
flags in force (its own settings over the catalog) and the catalog's date."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from gateway import catalog
from gateway.catalog.entry import plain

register = template.Library()


@register.filter
def figures(deployment: Any) -> dict[str, Any]:
    """The figures in force for a Deployment row, with ``sources``."""
    return catalog.figures_for(deployment)


@register.filter
def per_million(price: Decimal | None) -> str:
    """A USD-per-1M-tokens price without trailing zeros: 2.5, 0.075, 10."""
    if price is None or price == "":
        return "—"
    return f"{plain(Decimal(price)):f}"


@register.simple_tag
def catalog_info() -> dict[str, Any]:
    loaded = catalog.load()
    return {
        "count": len(loaded),
        "updated": loaded.updated or "unknown",
        "overridden": loaded.overridden,
        "sources": "; ".join(
            f"{info.name}: {info.source} ({info.as_of})" for info in loaded.providers.values()
        ),
    }


@register.filter
def route_label(labels: dict[str, str] | None, name: str) -> str:
    """``labels[name]`` (the playground's price-and-context label of a route), or ""."""
    return (labels or {}).get(name, "")
