"""Model-catalog figures in console templates: a deployment's prices, windows and
flags in force (its own settings over the catalog) and the catalog's date."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, cast

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from gateway import catalog
from gateway.catalog import capability_flags
from gateway.catalog.entry import plain
from gateway.models import Deployment

register = template.Library()


@register.filter
def name_breaks(name: str) -> str:
    """``name`` escaped, with a line-break chance after each ``.``, ``/``, ``:`` and ``@``
    (a hyphen is one already): a long model id wraps between its parts, not mid-word."""
    return cast(str, mark_safe(re.sub(r"([./:@])", r"\1<wbr>", escape(name))))  # noqa: S308 - escaped first


@register.filter
def figures(deployment: Any) -> dict[str, Any]:
    """The figures in force for a Deployment row, with ``sources``."""
    return catalog.figures_for(deployment)


@register.filter
def flags_on(deployment: Any, figures: dict[str, Any]) -> list[str]:
    """The capability flags on for a Deployment row, by their short names: a flag the
    catalog decides as in force (``figures``), a plain one as set on the deployment. A
    model the catalog does not know gets only the flags its deployment sets: the
    defaults it is called with (tools, vision) are assumptions, not badges."""
    known = figures.get("catalog_model") is not None
    return [
        flag.label.lower()
        for flag in capability_flags.FLAGS
        if (
            getattr(deployment, flag.name)
            if not flag.nullable or not known
            else figures.get(flag.name)
        )
    ]


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


# How many unpriced deployments the dashboard notice names before "and N more".
UNPRICED_SHOWN = 5


@register.inclusion_tag("console/_unpriced_notice.html", takes_context=True)
def unpriced_notice(context: Any) -> dict[str, Any]:
    """Enabled deployments whose tokens nothing prices (no catalog entry, no price set):
    their spend counts as $0, so the dashboard names them, with a link to set a price
    where the reader may change the route (a member's links led to a 403). One query;
    the catalog lookups are in memory. Echo (the built-in test provider) costs nothing
    by design and is left out."""

    rows = (
        Deployment.objects.filter(
            enabled=True, route__enabled=True, input_price__isnull=True, output_price__isnull=True
        )
        .exclude(provider__kind="echo")
        .select_related("provider", "route")
        .order_by("route__name", "pk")
    )
    unpriced = [d for d in rows if catalog.figures_for(d)["unpriced"]]
    return {
        "unpriced": unpriced[:UNPRICED_SHOWN],
        "more": max(0, len(unpriced) - UNPRICED_SHOWN),
        "user": context.get("user"),
    }
