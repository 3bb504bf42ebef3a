"""Cohere's usage maps (``gateway.codecs.cohere.maps``): without billed units, every prompt
token but the cached ones is counted."""

from __future__ import annotations

from gateway.base.types import Usage
from gateway.codecs.cohere import maps as cohere_maps

READS_ONLY = Usage(input_tokens=5, output_tokens=4, cache_read_tokens=7)


# --- upstream wire -> canonical ------------------------------------------------------------


def test_cohere_without_billed_units_counts_every_prompt_token_minus_the_cached() -> None:
    usage = cohere_maps.usage(
        {"tokens": {"input_tokens": 12, "output_tokens": 4}, "cached_tokens": 7}
    )
    assert usage == READS_ONLY
    # everything served from the cache: nothing billed, all of it cached
    usage = cohere_maps.usage(
        {"billed_units": {"input_tokens": 0, "output_tokens": 4}, "cached_tokens": 7}
    )
    assert usage == Usage(input_tokens=0, output_tokens=4, cache_read_tokens=7)
