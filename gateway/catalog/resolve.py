"""A deployment's effective figures: what the deployment sets wins, the catalog fills in
the rest, and every figure remembers where it came from (shown in the console)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.catalog import capability_flags
from gateway.catalog.entry import Entry

PRICES = ("input_price", "output_price", "cache_read_price", "cache_write_price")
_ENTRY_PRICE = dict(zip(PRICES, ("input", "output", "cache_read", "cache_write"), strict=True))
# The flags the catalog decides when the deployment leaves them empty (its capability
# name; gateway.catalog.capability_flags): a figure in force with its source, like a price.
FLAGS = {flag.name: flag.capability for flag in capability_flags.FLAGS if flag.nullable}
SET_ON_DEPLOYMENT = "set on deployment"
NOT_SET = "not set"


@dataclass(frozen=True, slots=True)
class Resolved:
    input_price: Decimal
    output_price: Decimal
    cache_read_price: Decimal
    cache_write_price: Decimal
    reasoning_price: Decimal | None
    search_unit_price: Decimal | None
    context_window: int | None
    max_output_tokens: int | None
    supports_tools: bool
    supports_vision: bool
    supports_reasoning: bool
    entry: Entry | None
    sources: dict[str, str] = field(default_factory=dict)  # field -> where it came from
    # The catalog's price tiers, each price filled in: (input, output, cache read, cache
    # write) per 1M by tier name; only while both token prices are the catalog's.
    tier_prices: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = field(default_factory=dict)


def catalog_label(entry: Entry) -> str:
    return f"catalog {entry.as_of}" if entry.as_of else "catalog"


def resolve(row: Any, entry: Entry | None) -> Resolved:
    """``row`` is anything with the Deployment fields (a model instance or a spec)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    from_catalog = catalog_label(entry) if entry is not None else ""
    for name in PRICES:
        own = getattr(row, name, None)
        if own is not None:
            values[name], sources[name] = Decimal(own), SET_ON_DEPLOYMENT
        elif entry is not None and getattr(entry, _ENTRY_PRICE[name]) is not None:
            values[name], sources[name] = getattr(entry, _ENTRY_PRICE[name]), from_catalog
        else:
            values[name], sources[name] = Decimal(0), NOT_SET
    # Cache reads or writes the catalog does not price apart are plain input tokens.
    for name in ("cache_read_price", "cache_write_price"):
        if sources[name] == NOT_SET and entry is not None:
            values[name], sources[name] = values["input_price"], sources["input_price"]
    for name, catalog_name in (("context_window", "context_window"),
                               ("max_output_tokens", "max_output_tokens")):  # fmt: skip
        own = getattr(row, name, None)
        if own is not None:
            values[name], sources[name] = own, SET_ON_DEPLOYMENT
        elif entry is not None and getattr(entry, catalog_name) is not None:
            values[name], sources[name] = getattr(entry, catalog_name), from_catalog
        else:
            values[name], sources[name] = None, "not set"
    # Rerank: USD per search unit, the deployment's own, else the catalog's unless the
    # deployment prices its tokens itself (what the deployment sets wins).
    own = getattr(row, "search_unit_price", None)
    if own is not None:
        values["search_unit_price"], sources["search_unit_price"] = Decimal(own), SET_ON_DEPLOYMENT
    elif (
        entry is not None
        and entry.search_unit is not None
        and sources["input_price"] != SET_ON_DEPLOYMENT
    ):
        values["search_unit_price"], sources["search_unit_price"] = entry.search_unit, from_catalog
    else:
        values["search_unit_price"], sources["search_unit_price"] = None, NOT_SET
    for flag in capability_flags.FLAGS:
        if flag.name not in FLAGS:
            continue
        own = getattr(row, flag.name, None)
        values[flag.name] = flag.in_force(own, entry)
        if own is not None:
            sources[flag.name] = SET_ON_DEPLOYMENT
        else:
            sources[flag.name] = from_catalog if entry is not None else "default"
    return Resolved(
        tier_prices=_tier_prices(entry, values, sources),
        # reasoning tokens priced apart only while output is priced by the catalog too
        reasoning_price=entry.reasoning
        if entry is not None and sources["output_price"] != SET_ON_DEPLOYMENT
        else None,
        entry=entry,
        sources=sources,
        **values,
    )


def _tier_prices(
    entry: Entry | None, values: dict[str, Any], sources: dict[str, str]
) -> dict[str, tuple[Decimal, Decimal, Decimal, Decimal]]:
    """The entry's tiers with a price for each of input, output, cache read and cache
    write: one a tier leaves out is the standard price in force, scaled as the tier
    scales input (a batch tier's cache reads at half the standard cache-read price when
    its input is half price). None while the deployment sets a token price itself (its
    own price is the one it means, for every request)."""
    if entry is None or not entry.tiers:
        return {}
    if SET_ON_DEPLOYMENT in (sources["input_price"], sources["output_price"]):
        return {}
    standard = [values[name] for name in PRICES]
    out: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {}
    for name, tier in entry.tiers:
        given = [tier.input, tier.output, tier.cache_read, tier.cache_write]
        ratio = given[0] / standard[0] if given[0] is not None and standard[0] else None
        filled = [
            price if price is not None else (base * ratio if ratio is not None and i >= 2 else base)
            for i, (price, base) in enumerate(zip(given, standard, strict=True))
        ]
        out[name] = (filled[0], filled[1], filled[2], filled[3])
    return out
