"""LiteLLM's per-token price file becomes catalog entries (per million tokens)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.catalog import CatalogError, litellm

SAMPLE = {
    "sample_spec": {"litellm_provider": "one of the providers", "mode": "chat"},
    "gpt-4o": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-06,
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "supports_function_calling": True,
        "supports_parallel_function_calling": True,
        "supports_vision": True,
        "supports_response_schema": True,
    },
    "anthropic/claude-opus-4-8": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 5e-06,
        "output_cost_per_token": 2.5e-05,
        "cache_read_input_token_cost": 5e-07,
        "cache_creation_input_token_cost": 6.25e-06,
        "max_input_tokens": 1000000,
        "max_tokens": 128000,
        "supports_reasoning": True,
        "supports_pdf_input": True,
        "supports_sampling_params": False,
    },
    "groq/llama-3.3-70b-versatile": {
        "litellm_provider": "groq",
        "input_cost_per_token": 5.9e-07,
        "output_cost_per_token": 7.9e-07,
    },
    "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation"},
    "replicate/some-model": {"litellm_provider": "replicate", "mode": "chat"},
    "bedrock/us-east-1/anthropic.claude-3-haiku": {"litellm_provider": "bedrock"},
}


def test_entries_are_converted_per_million_with_their_capabilities():
    entries, skipped = litellm.parse(SAMPLE, "2026-11-01")
    by_key = {e.key: e for e in entries}
    assert set(by_key) == {
        "openai/gpt-4o",
        "anthropic/claude-opus-4-8",
        "groq/llama-3.3-70b-versatile",
    }
    assert skipped == 3  # image mode, a provider not routed to, a regional Bedrock price
    gpt = by_key["openai/gpt-4o"]
    assert (gpt.input, gpt.output, gpt.cache_read, gpt.cache_write) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
        None,
    )
    assert gpt.caps == {"tools", "parallel_tools", "vision", "json_schema"}
    assert gpt.as_of == "2026-11-01"
    opus = by_key["anthropic/claude-opus-4-8"]
    assert opus.cache_write == Decimal("6.25") and opus.max_output_tokens == 128000
    assert opus.reasoning_control == "budget" and "pdf" in opus.caps
    assert opus.rejects == {"temperature", "top_p", "top_k"}
    assert by_key["groq/llama-3.3-70b-versatile"].input == Decimal("0.59")


def test_a_file_without_usable_models_is_refused():
    with pytest.raises(CatalogError, match="no model of a provider"):
        litellm.parse({"x": {"litellm_provider": "replicate"}}, "2026-11-01")


def test_a_bad_price_names_its_key():
    bad = {"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": "lots"}}
    with pytest.raises(CatalogError, match="gpt-4o.input_cost_per_token"):
        litellm.parse(bad, "2026-11-01")


def test_a_model_listed_twice_is_one_entry_the_provider_keys_one():
    twice = {
        "gemini-flash-latest": {
            "litellm_provider": "gemini",
            "input_cost_per_token": 3e-07,
            "output_cost_per_token": 2.5e-06,
        },
        "gemini/gemini-flash-latest": {
            "litellm_provider": "gemini",
            "input_cost_per_token": 3e-07,
            "output_cost_per_token": 2.5e-06,
            "cache_read_input_token_cost": 7.5e-08,
        },
        "anthropic.claude-haiku-4-5-20251001-v1:0": {
            "litellm_provider": "bedrock_converse",
            "input_cost_per_token": 1e-06,
            "output_cost_per_token": 5e-06,
        },
    }
    entries, skipped = litellm.parse(twice, "2026-11-01")
    assert skipped == 1
    by_key = {e.key: e for e in entries}
    assert by_key["gemini/gemini-flash-latest"].cache_read == Decimal("0.075")
    # Bedrock ids are kept without their version suffix, as matching looks them up
    assert "bedrock/anthropic.claude-haiku-4-5-20251001" in by_key
