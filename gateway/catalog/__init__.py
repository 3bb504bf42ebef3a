"""The model catalog: prices, context windows and capabilities of known models.

``store`` loads the bundled ``models.json`` with the user's ``data/catalog.json`` over
it; ``matching`` finds a deployment's entry; ``resolve`` merges it with what the
deployment sets; ``litellm`` reads LiteLLM's price file; ``update`` refreshes the
override. The registry resolves every deployment when it builds its snapshot, so the
request path never looks anything up here.
"""

from __future__ import annotations

from typing import Any

from gateway.catalog.entry import CAPABILITIES, CatalogError, Entry
from gateway.catalog.matching import KindVendor, lookup, vendor_of
from gateway.catalog.media import in_force as media_in_force
from gateway.catalog.resolve import FLAGS, NOT_SET, PRICES, SET_ON_DEPLOYMENT, Resolved, resolve
from gateway.catalog.store import Catalog, load, reset

UNPRICED = "unpriced"

__all__ = [
    "CAPABILITIES",
    "Catalog",
    "CatalogError",
    "Entry",
    "KindVendor",
    "Resolved",
    "entry_for",
    "figures_for",
    "is_unpriced",
    "price_label",
    "load",
    "lookup",
    "reset",
    "resolve",
    "vendor_of",
]


def figures_for(deployment: Any) -> dict[str, Any]:
    """A Deployment row's figures in force and their sources, for the API and console
    (its catalog entry as the row finds it: ``Deployment.catalog_entry``)."""
    entry = deployment.catalog_entry()
    resolved = resolve(deployment, entry)
    out: dict[str, Any] = {
        name: getattr(resolved, name)
        for name in (*PRICES, *FLAGS, "context_window", "max_output_tokens")
    }
    out["search_unit_price"] = resolved.search_unit_price  # rerank: USD per search unit
    out["catalog_model"] = entry.key if entry is not None else None
    out["sources"] = dict(resolved.sources)
    first, second = (price_label(resolved.sources[n], entry) for n in PRICES[:2])
    out["price_source"] = first if first == second else f"input {first}, output {second}"
    out["unpriced"] = is_unpriced(resolved)
    own_tokens = (deployment.input_price, deployment.output_price)
    out["media"] = media_in_force(
        deployment.model,
        deployment.params or {},
        entry.mode if entry is not None else None,
        own_tokens,
    )
    if out["media"] is not None:  # images and audio: priced per unit or by the media table
        out["unpriced"] = not out["media"]["priced"]
    return out


def price_label(source: str, entry: Entry | None) -> str:
    """Where a price comes from, as the console shows it: the catalog entry that prices
    it, a custom price set on the deployment, or unpriced (counted as $0)."""
    if source == SET_ON_DEPLOYMENT:
        return "custom price"
    if source == NOT_SET:
        return UNPRICED
    return f"catalog {entry.key}" if entry is not None else source


def is_unpriced(resolved: Resolved) -> bool:
    """Neither input nor output has a price from anywhere: its tokens count as $0."""
    return all(resolved.sources[name] == NOT_SET for name in PRICES[:2])


def entry_for(
    kind: KindVendor, base_url: str, model: str, catalog: Catalog | None = None
) -> Entry | None:
    """The catalog entry for a deployment of ``model`` on a provider (its kind's vendor,
    its base URL)."""
    return lookup(catalog if catalog is not None else load(), kind, base_url, model)
