"""A catalog entry's price tiers (``gateway.catalog.entry``): LiteLLM's tier keys become
tiers, and a bad tier is refused naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.catalog import litellm
from gateway.catalog.entry import CatalogError, TierPrices, entry_from_json

SPEC = {
    "litellm_provider": "openai",
    "mode": "chat",
    "input_cost_per_token": 2e-06,
    "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 2e-07,
    "input_cost_per_token_flex": 1e-06,
    "output_cost_per_token_flex": 5e-06,
    "input_cost_per_token_priority": 4e-06,
    "output_cost_per_token_priority": 2e-05,
    "input_cost_per_token_batches": 1e-06,
    "input_cost_per_token_above_272k_tokens": 4e-06,
    "output_cost_per_token_above_272k_tokens": 1.5e-05,
    "input_cost_per_token_above_272k_tokens_priority": 8e-06,
    # not tiers the gateway tells apart: cache TTLs, "ultrafast"
    "cache_creation_input_token_cost_above_1hr": 9e-06,
    "input_cost_per_token_ultrafast": 6e-05,
}


def test_litellm_tier_keys_become_tiers() -> None:
    (entry,), _ = litellm.parse({"gpt-6-sol": SPEC}, "2026-11-27")
    assert entry.long_context_above == 272_000
    assert [name for name, _ in entry.tiers] == [
        "batch", "flex", "priority", "long_context", "long_context_priority",
    ]  # fmt: skip
    assert entry.tier("flex") == TierPrices(input=Decimal(1), output=Decimal(5))
    assert entry.tier("long_context") == TierPrices(input=Decimal(4), output=Decimal(15))
    # round trip through the catalog's own format
    again = entry_from_json("openai", "gpt-6-sol", entry.to_json(), "2026-11-27")
    assert again == entry


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tiers": {"turbo": {"input": 1}}}, "unknown tier turbo"),
        ({"tiers": {"flex": {"input": 1, "speed": 2}}}, "unknown field speed"),
        ({"tiers": {"flex": {}}}, "must be an object of prices"),
        ({"tiers": {"flex": {"input": -1}}}, "zero or more"),
        ({"tiers": {"long_context": {"input": 4}}}, "long_context_above: a long_context tier"),
        ({"long_context_above": 0}, "positive whole number"),
    ],
)
def test_bad_tiers_are_refused_naming_the_field(data, message) -> None:
    with pytest.raises(CatalogError, match=message):
        entry_from_json("openai", "m", {"input": 2, "output": 10, **data}, "2026-11-27")
