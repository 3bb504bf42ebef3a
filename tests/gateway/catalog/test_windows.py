"""Context windows: the bundled catalog gives the vendors' published windows (routing
sends a prompt only where it fits), and a long-context beta's ceiling never becomes a
model's window, neither in the bundled build nor in a user's ``update_catalog``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from gateway.catalog import entry_for, litellm
from gateway.providers.kinds import catalog_vendor

BUILD = Path(__file__).resolve().parents[3] / "scripts" / "build_catalog.py"

# (provider kind, base URL, model as a deployment writes it) -> published window.
# Sources: docs.anthropic.com "Models overview" / "Context windows" (Claude: 200k; 1M only
# with the context-1m beta header), platform.openai.com model pages, ai.google.dev
# "Gemini models", docs.cohere.com "Command A".
PUBLISHED = [
    ("bedrock", "", "anthropic.claude-3-5-sonnet-20240620-v1:0", 200_000),
    ("bedrock", "", "anthropic.claude-3-5-sonnet-20241022-v2:0", 200_000),
    ("bedrock", "", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", 200_000),
    ("bedrock", "", "anthropic.claude-sonnet-4-20250514-v1:0", 200_000),
    ("anthropic", "https://api.anthropic.com", "claude-4-sonnet-20250514", 200_000),
    ("vertex_ai", "", "claude-sonnet-4@20250514", 200_000),
    ("anthropic", "https://api.anthropic.com", "claude-sonnet-4-5-20250929", 200_000),
    ("openai", "https://api.openai.com/v1", "gpt-4o", 128_000),
    ("openai", "https://api.openai.com/v1", "gpt-4o-2024-08-06", 128_000),
    ("gemini", "", "gemini-2.5-pro", 1_048_576),
    ("gemini", "", "gemini-2.5-flash", 1_048_576),
    ("cohere", "https://api.cohere.com", "command-a-03-2025", 256_000),
]


@pytest.mark.parametrize(("kind", "base_url", "model", "window"), PUBLISHED)
def test_the_bundled_catalog_gives_the_published_window(kind, base_url, model, window):
    entry = entry_for(catalog_vendor(kind), base_url, model)
    assert entry is not None, model
    assert entry.context_window == window


def _claude(name: str, window: int, *, tier: bool) -> dict:
    spec = {
        "litellm_provider": "bedrock_converse",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "max_input_tokens": window,
        "max_output_tokens": 64000,
    }
    if tier:  # how LiteLLM's file prices the 1M beta
        spec["input_cost_per_token_above_200k_tokens"] = 6e-06
        spec["output_cost_per_token_above_200k_tokens"] = 2.25e-05
    return spec


def test_a_beta_ceiling_priced_as_its_own_tier_is_not_the_window():
    data = {
        "anthropic.claude-sonnet-4-20250514-v1:0": _claude("sonnet-4", 1_000_000, tier=True),
        "anthropic.claude-sonnet-5": _claude("sonnet-5", 1_000_000, tier=False),
        "gemini/gemini-2.5-pro": {
            "litellm_provider": "gemini",
            "input_cost_per_token": 1.25e-06,
            "output_cost_per_token": 1e-05,
            "input_cost_per_token_above_200k_tokens": 2.5e-06,
            "max_input_tokens": 1_048_576,
        },
    }
    entries, _ = litellm.parse(data, "2026-11-23")
    windows = {e.key: e.context_window for e in entries}
    assert windows == {
        "bedrock/anthropic.claude-sonnet-4-20250514": 200_000,  # the beta's 1M is not it
        "bedrock/anthropic.claude-sonnet-5": 1_000_000,  # its own window: no beta tier
        "gemini/gemini-2.5-pro": 1_048_576,  # Gemini's long-context tier is no beta
    }


@pytest.fixture(scope="module")
def build_catalog():
    spec = importlib.util.spec_from_file_location("build_catalog", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_cannot_write_a_beta_window_for_a_base_model(build_catalog):
    data = {
        "anthropic.claude-sonnet-4-20250514-v1:0": _claude("sonnet-4", 1_000_000, tier=True),
        "anthropic.claude-3-5-sonnet-20240620-v1:0": _claude("3-5", 1_000_000, tier=False),
    }
    models = build_catalog.build(data, "2026-11-23", "test")["providers"]["bedrock"]["models"]
    assert models["anthropic.claude-sonnet-4-20250514"]["context"] == 200_000
    assert models["anthropic.claude-3-5-sonnet-20240620"]["context"] == 200_000  # corrected
    # A Claude over 200k that no rule explains stops the build rather than ship it.
    data = {"anthropic.claude-sonnet-4-20250514-v1:0": _claude("x", 1_000_000, tier=False)}
    with pytest.raises(SystemExit, match="beta"):
        build_catalog.build(data, "2026-11-23", "test")


def test_every_bundled_claude_window_passes_the_build_check(build_catalog):
    from gateway.catalog import load

    for entry in load().all():
        build_catalog.check_window(entry)


def test_anthropics_own_ids_for_claude_4_find_their_entry():
    for model in ("claude-sonnet-4-20250514", "claude-sonnet-4-0"):
        entry = entry_for(catalog_vendor("anthropic"), "https://api.anthropic.com", model)
        assert entry is not None and entry.model == "claude-4-sonnet-20250514"
        assert (entry.input, entry.output, entry.context_window) == (3, 15, 200_000)
    entry = entry_for(
        catalog_vendor("anthropic"), "https://api.anthropic.com", "claude-opus-4-20250514"
    )
    assert entry is not None and (entry.input, entry.output) == (15, 75)


# Standard-tier list prices (USD per 1M input / output tokens) on the vendors' price pages:
# openai.com/api/pricing, anthropic.com/pricing, ai.google.dev/gemini-api/docs/pricing,
# cohere.com/pricing, aws.amazon.com/bedrock/pricing.
PUBLISHED_PRICES = [
    ("openai", "https://api.openai.com/v1", "gpt-4o", "2.5", "10"),
    ("openai", "https://api.openai.com/v1", "gpt-4o-mini", "0.15", "0.6"),
    ("openai", "https://api.openai.com/v1", "gpt-4.1", "2", "8"),
    ("openai", "https://api.openai.com/v1", "o3", "2", "8"),
    ("anthropic", "https://api.anthropic.com", "claude-sonnet-4-5-20250929", "3", "15"),
    ("anthropic", "https://api.anthropic.com", "claude-sonnet-4-20250514", "3", "15"),
    ("anthropic", "https://api.anthropic.com", "claude-haiku-4-5", "1", "5"),
    ("bedrock", "", "anthropic.claude-3-5-sonnet-20240620-v1:0", "3", "15"),
    ("gemini", "", "gemini-2.5-pro", "1.25", "10"),
    ("gemini", "", "gemini-2.5-flash", "0.3", "2.5"),
    ("cohere", "https://api.cohere.com", "command-a-03-2025", "2.5", "10"),
]


@pytest.mark.parametrize(("kind", "base_url", "model", "price_in", "price_out"), PUBLISHED_PRICES)
def test_the_bundled_catalog_gives_the_published_price(kind, base_url, model, price_in, price_out):
    from decimal import Decimal

    entry = entry_for(catalog_vendor(kind), base_url, model)
    assert entry is not None, model
    assert (entry.input, entry.output) == (Decimal(price_in), Decimal(price_out))
