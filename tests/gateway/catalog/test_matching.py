"""A deployment finds its catalog entry by provider (kind, base URL) and model name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import catalog
from gateway.providers.kinds import catalog_vendor

OPENAI = ("openai", "https://api.openai.com/v1")
ANTHROPIC = ("anthropic", "https://api.anthropic.com")
OPENROUTER = ("openai", "https://openrouter.ai/api/v1")
BEDROCK = ("openai", "https://bedrock-runtime.us-east-1.amazonaws.com")
VLLM = ("openai", "http://gpu-box:8000/v1")


def entry_for(kind: str, base_url: str, model: str) -> catalog.Entry | None:
    """The entry a deployment on a provider of ``kind`` finds (its adapter's vendor)."""
    return catalog.entry_for(catalog_vendor(kind), base_url, model)


@pytest.mark.parametrize(
    ("provider", "model", "key"),
    [
        (OPENAI, "gpt-4o", "openai/gpt-4o"),
        (OPENAI, "gpt-4o-2024-08-06", "openai/gpt-4o"),  # a dated variant: its base
        (OPENAI, "GPT-4o", "openai/gpt-4o"),
        (ANTHROPIC, "claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"),
        (ANTHROPIC, "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"),
        (("openai", "https://api.deepseek.com/v1"), "deepseek-chat", "deepseek/deepseek-chat"),
        (OPENROUTER, "anthropic/claude-sonnet-4.5", "openrouter/anthropic/claude-sonnet-4.5"),
        (
            ("openai", "https://generativelanguage.googleapis.com/v1beta/openai"),
            "gemini-2.5-pro",
            "gemini/gemini-2.5-pro",
        ),
        (("azure", "https://acme.openai.azure.com"), "gpt-4o", "azure/gpt-4o"),
        (
            BEDROCK,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "bedrock/anthropic.claude-sonnet-4-5-20250929",
        ),
        (BEDROCK, "amazon.nova-pro-v1:0", "bedrock/amazon.nova-pro"),
        (("openai", "https://api.x.ai/v1"), "grok-4", "xai/grok-4"),
        (
            ("openai", "https://api.mistral.ai/v1"),
            "mistral-large-latest",
            "mistral/mistral-large-latest",
        ),
        # a LiteLLM-proxy style provider/model on a host we do not know names its vendor
        (VLLM, "openai/gpt-4o", "openai/gpt-4o"),
    ],
)
def test_entries_are_found(provider, model, key):
    entry = entry_for(*provider, model)
    assert entry is not None, model
    assert entry.key == key


@pytest.mark.parametrize(
    ("kind", "model", "vendor"),
    [
        ("gemini", "gemini-2.5-pro", "gemini"),
        ("vertex_ai", "gemini-2.5-pro", "vertex"),
        ("bedrock", "amazon.nova-pro-v1:0", "bedrock"),
        ("cohere", "command-a-03-2025", "cohere"),
        ("openai_responses", "o3-pro", "openai"),
    ],
)
def test_native_kinds_with_their_default_address_find_their_prices(kind, model, vendor):
    """Providers of the issue #15 kinds may leave base_url empty: the kind names the
    vendor."""
    entry = entry_for(kind, "", model)
    assert entry is not None, (kind, model)
    assert entry.vendor in (vendor, *catalog.matching.MAKERS.get(vendor, ()))
    assert entry.input is not None


def test_a_self_hosted_model_matches_nothing_so_it_costs_what_the_deployment_says():
    assert entry_for("openai", "http://localhost:11434/v1", "llama3.1") is None
    assert entry_for(*VLLM, "my-finetune") is None
    assert entry_for("echo", "", "echo-1") is None


def test_an_openai_model_name_behind_another_openai_compatible_url_is_openais():
    """LiteLLM's ``openai/gpt-4o`` with an ``api_base`` (a proxy, a gateway) means
    OpenAI's model: LiteLLM prices it so, and budgets must count it (issue #32)."""
    for base_url in (VLLM[1], "https://llm-proxy.internal.example/v1"):
        entry = entry_for("openai", base_url, "gpt-4o")
        assert entry is not None and entry.key == "openai/gpt-4o"
        dated = entry_for("openai", base_url, "gpt-4o-2024-08-06")
        assert dated is not None and dated.key == "openai/gpt-4o"
    # a kind that is no vendor's own (Azure's names are deployment names) stays unmatched
    assert entry_for("openai_responses", VLLM[1], "my-finetune") is None


def test_an_unknown_model_of_a_known_provider_matches_nothing():
    assert entry_for(*OPENAI, "gpt-99-imaginary") is None


def test_gpt_4o_carries_the_published_figures():
    entry = entry_for(*OPENAI, "gpt-4o")
    assert (entry.input, entry.output, entry.cache_read) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
    )
    assert entry.context_window == 128_000 and entry.max_output_tokens == 16_384
    assert {"tools", "parallel_tools", "vision", "json_schema"} <= entry.caps
    assert not entry.has("reasoning")
    assert entry.as_of == catalog.load().updated


def test_every_provider_in_the_bundle_names_its_source_and_date():
    loaded = catalog.load()
    assert len(loaded) >= 300
    for vendor, info in loaded.providers.items():
        assert info.source.startswith("https://"), vendor
        assert len(info.as_of) == 10, vendor
        assert loaded.entries[vendor], vendor
