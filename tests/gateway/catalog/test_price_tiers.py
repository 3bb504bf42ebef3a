"""The catalog's price tiers: read from LiteLLM's map (``<price>_flex``, ``_priority``,
``_batches``, ``_above_<N>k_tokens``), written and validated in the catalog's own
format, and filled in for a deployment whose token prices are the catalog's."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from gateway import catalog
from gateway.catalog import litellm, store
from gateway.catalog.entry import entry_from_json

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


def test_a_model_without_tier_keys_has_none() -> None:
    standard = ("litellm_provider", "mode", "input_cost_per_token", "output_cost_per_token")
    (entry,), _ = litellm.parse({"m": {k: SPEC[k] for k in standard}}, "2026-11-27")
    assert entry.tiers == () and entry.long_context_above is None
    assert "tiers" not in entry.to_json()


def row(**fields):
    names = ("input_price", "output_price", "cache_read_price", "cache_write_price",
             "context_window", "max_output_tokens", "supports_tools", "supports_vision",
             "supports_reasoning")  # fmt: skip
    return SimpleNamespace(**{**dict.fromkeys(names), **fields})


def test_a_deployment_gets_every_tier_price_filled_in() -> None:
    entry = store.read_file(store.BUNDLED).get("openai", "gpt-5.5")
    figures = catalog.resolve(row(), entry)
    # gpt-5.5's priority tier prices input, output and cache reads; OpenAI prices no cache
    # writes apart (they are input tokens), so the tier's are its input price
    assert figures.tier_prices["priority"] == (
        Decimal("12.5"), Decimal(75), Decimal("1.25"), Decimal("12.5"),
    )  # fmt: skip
    assert set(figures.tier_prices) >= {"batch", "flex", "priority", "long_context"}


def test_a_price_the_deployment_sets_is_paid_in_every_tier() -> None:
    entry = store.read_file(store.BUNDLED).get("openai", "gpt-5.5")
    assert catalog.resolve(row(input_price=Decimal(3)), entry).tier_prices == {}
    assert catalog.resolve(row(output_price=Decimal(3)), entry).tier_prices == {}
    assert catalog.resolve(row(cache_read_price=Decimal(1)), entry).tier_prices  # control


def test_a_tier_missing_a_cache_price_scales_the_standard_one() -> None:
    entry = entry_from_json(
        "xai", "g", {"input": 2, "output": 6, "cache_read": 0.5,
                     "tiers": {"batch": {"input": 1.6, "output": 4.8}}}, "2026-11-27",
    )  # fmt: skip
    batch = catalog.resolve(row(), entry).tier_prices["batch"]
    assert batch == (Decimal("1.6"), Decimal("4.8"), Decimal("0.4"), Decimal("1.6"))


def test_the_bundled_catalog_is_dated_and_names_its_source() -> None:
    bundled = store.read_file(store.BUNDLED)
    assert bundled.updated == "2026-11-27"
    for vendor in ("openai", "anthropic", "gemini", "xai", "vertex", "bedrock", "azure"):
        info = bundled.providers[vendor]
        assert info.as_of == "2026-11-27" and "litellm 1.110.2" in info.source
    # an entry the newer map no longer lists keeps the date its figures were read
    assert bundled.providers["cohere"].as_of == "2026-07-24"


@pytest.mark.parametrize(
    "key",
    ["openai/gpt-6-astra", "openai/gpt-6-sol", "openai/gpt-6-luna", "openai/gpt-6.1-sol",
     "openai/gpt-6.1-terra", "azure/gpt-6-sol", "bedrock/openai.gpt-6-sol"],
)  # fmt: skip
def test_gpt_6_class_models_refuse_sampling_unless_effort_is_none(key) -> None:
    entry = store.read_file(store.BUNDLED).get(*key.split("/"))
    rules = {rule.name: rule for rule in entry.rules}
    for name in ("temperature", "top_p"):
        assert rules[name].action == "reject_unless"
        assert rules[name].unless == (("reasoning.effort", ("none",)),)
