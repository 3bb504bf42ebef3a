"""A deployment's effective figures: what the deployment sets wins, the catalog fills in
the rest, and every figure remembers where it came from (shown in the console)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .entry import Entry

PRICES = ("input_price", "output_price", "cache_read_price", "cache_write_price")
_ENTRY_PRICE = dict(zip(PRICES, ("input", "output", "cache_read", "cache_write"), strict=True))
FLAGS = {"supports_tools": "tools", "supports_vision": "vision", "supports_reasoning": "reasoning"}
# What a deployment without a catalog entry and without a setting gets (the old defaults).
FLAG_DEFAULTS = {"supports_tools": True, "supports_vision": True, "supports_reasoning": False}
SET_ON_DEPLOYMENT = "set on deployment"


@dataclass(frozen=True, slots=True)
class Resolved:
    input_price: Decimal
    output_price: Decimal
    cache_read_price: Decimal
    cache_write_price: Decimal
    reasoning_price: Decimal | None
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
            values[name], sources[name] = Decimal(0), "not set"
    # Cache reads or writes the catalog does not price apart are plain input tokens.
    for name in ("cache_read_price", "cache_write_price"):
        if sources[name] == "not set" and entry is not None:
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
    for name, capability in FLAGS.items():
        own = getattr(row, name, None)
        if own is not None:
            values[name], sources[name] = bool(own), SET_ON_DEPLOYMENT
        elif entry is not None:
            values[name], sources[name] = entry.has(capability), from_catalog
        else:
            values[name], sources[name] = FLAG_DEFAULTS[name], "default"
    return Resolved(
        # reasoning tokens priced apart only while output is priced by the catalog too
        reasoning_price=entry.reasoning
        if entry is not None and sources["output_price"] != SET_ON_DEPLOYMENT
        else None,
        entry=entry,
        sources=sources,
        **values,
    )
