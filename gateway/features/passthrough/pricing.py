"""What a passthrough answer costs: the usage it reports, priced for the model it names.

The prices, first found of: a deployment of that model on the same provider (the
operator's figures: what they set wins, as on every route); the catalog's entry for the
model at that provider (``gateway.catalog``, kept in the snapshot by the feature's
plugin, so no file is read on the request path); none (the call costs nothing, and its
tokens still count toward the key's tpm and the journal). The journal row names the
model priced; the deployment that admitted the call lends the rest (its id, its
provider)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from gateway import catalog
from gateway.access import registry
from gateway.base.entries import DeploymentEntry
from gateway.features.passthrough import selection
from gateway.providers import kinds

PART = "passthrough_catalog"  # hooks.snapshot_parts: the catalog in force when built
ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True, slots=True)
class _Unpriced:
    """A deployment row that sets no figure of its own (the catalog's are asked)."""

    input_price: Any = None
    output_price: Any = None
    cache_read_price: Any = None
    cache_write_price: Any = None
    context_window: Any = None
    max_output_tokens: Any = None
    search_unit_price: Any = None


def priced(deployment: DeploymentEntry, names: Iterable[str]) -> DeploymentEntry:
    """``deployment`` as the journal and the cost read it for a call of the first of
    ``names`` that has prices; its own when it is that model or none is named."""
    wanted = [name for name in dict.fromkeys(names) if name]
    if not wanted or deployment.model in wanted[:1]:
        return deployment
    provider = deployment.provider
    for name in wanted:
        found = selection.priced_deployment(provider, name)
        if found is not None:
            return dataclasses.replace(found, id=deployment.id, route=deployment.route)
    models = registry.current().parts.get(PART)
    if models is not None:
        vendor = kinds.catalog_vendor(provider.kind)
        for name in wanted:
            entry = catalog.lookup(models, vendor, provider.base_url, name)
            if entry is not None:
                figures = catalog.resolve(_Unpriced(), entry)
                return dataclasses.replace(
                    deployment,
                    model=name,
                    input_price=figures.input_price,
                    output_price=figures.output_price,
                    cache_read_price=figures.cache_read_price,
                    cache_write_price=figures.cache_write_price,
                    reasoning_price=figures.reasoning_price,
                    tier_prices=figures.tier_prices,
                    long_context_above=entry.long_context_above if figures.tier_prices else None,
                    catalog=entry,
                    sources=figures.sources,
                )
    return dataclasses.replace(
        deployment,
        model=wanted[0],
        input_price=ZERO,
        output_price=ZERO,
        cache_read_price=ZERO,
        cache_write_price=ZERO,
        reasoning_price=None,
        tier_prices={},
        catalog=None,
        sources={},
    )
