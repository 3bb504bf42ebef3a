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
        # reasoning tokens priced apart only while output is priced by the catalog too
        reasoning_price=entry.reasoning
        if entry is not None and sources["output_price"] != SET_ON_DEPLOYMENT
        else None,
        entry=entry,
        sources=sources,
        **values,
    )
