"""Reading LiteLLM's ``model_prices_and_context_window.json`` into catalog entries.

LiteLLM prices are USD per token; the catalog's are per million. Keys are
``provider/model`` or bare model names; ``litellm_provider`` says whose price it is.
Entries of providers Switchyard does not route to, image/audio modes and region- or
commitment-specific Bedrock keys are skipped (and counted).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.catalog.entry import MAX_PRICE, TIERS, CatalogError, Entry, TierPrices, plain

MILLION = Decimal(1_000_000)
# litellm_provider -> catalog provider key
PROVIDERS = {
    "openai": "openai", "text-completion-openai": "openai", "azure": "azure",
    "anthropic": "anthropic", "gemini": "gemini", "vertex_ai-language-models": "vertex",
    "vertex_ai-anthropic_models": "vertex", "vertex_ai-mistral_models": "vertex",
    "bedrock": "bedrock", "bedrock_converse": "bedrock", "cohere": "cohere",
    "cohere_chat": "cohere", "mistral": "mistral", "deepseek": "deepseek", "groq": "groq",
    "together_ai": "together", "fireworks_ai": "fireworks", "openrouter": "openrouter",
    "xai": "xai", "perplexity": "perplexity", "cerebras": "cerebras", "moonshot": "moonshot",
}  # fmt: skip
MODES = {"chat": "chat", "responses": "chat", "completion": "completion", "embedding": "embedding"}
FLAGS = {
    "supports_function_calling": "tools",
    "supports_parallel_function_calling": "parallel_tools",
    "supports_vision": "vision",
    "supports_pdf_input": "pdf",
    "supports_reasoning": "reasoning",
    "supports_response_schema": "json_schema",
    "supports_prompt_caching": "prompt_caching",
}
PRICES = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
    "output_cost_per_reasoning_token": "reasoning",
}
# Tier prices: ``<price>[_above_<N>k_tokens][_<batches|flex|priority>]`` (the cache
# TTL keys, ``..._above_1hr``, and tiers the gateway cannot tell apart, ``_ultrafast``,
# are not read).
_TIER_KEY = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|"
    r"cache_creation_input_token_cost)(?:_above_(\d+)k_tokens)?(?:_(batches|flex|priority))?$"
)
_TIER_NAME = {"batches": "batch", "flex": "flex", "priority": "priority"}
# ``supports_sampling_params: false``: the model refuses these.
SAMPLING = frozenset({"temperature", "top_p", "top_k"})
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
# Claude's standard window. Anthropic, Bedrock and Vertex serve some Claude models up to
# 1M tokens only behind the ``context-1m-2025-08-07`` beta header (docs.anthropic.com,
# "Context windows"); without it a prompt over 200k is refused ("prompt is too long:
# N tokens > 200000 maximum"). LiteLLM's file writes such a model's beta ceiling as its
# ``max_input_tokens`` and prices the beta's tier as ``*_above_200k_tokens``.
CLAUDE_STANDARD_WINDOW = 200_000
# Where the beta is the caller's to ask for (OpenRouter's figures are what it serves).
CLAUDE_BETA_VENDORS = frozenset({"anthropic", "bedrock", "vertex"})
_REGIONAL = re.compile(r"^([a-z]{2}(-[a-z]+)+-\d|\d+-month-commitment|\*)")


def looks_like_litellm(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and "providers" not in data
        and any(isinstance(v, dict) and "litellm_provider" in v for v in data.values())
    )


def _per_million(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CatalogError(f"{where}: not a number: {value!r}")
    try:
        price = Decimal(str(value)) * MILLION
    except InvalidOperation:
        raise CatalogError(f"{where}: not a number: {value!r}") from None
    if not price.is_finite() or price < 0:
        raise CatalogError(f"{where}: must be zero or more: {value!r}")
    if price > MAX_PRICE:  # also more than Decimal.quantize below can hold
        raise CatalogError(f"{where}: must be at most {MAX_PRICE} per 1M tokens: {value!r}")
    # per-token floats such as 2.5e-06 become 2.5000000 per million: keep 6 decimals
    return plain(price.quantize(Decimal("0.000001")))


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _name(key: str, provider: str) -> str | None:
    """The upstream model name of a LiteLLM key, or None for keys to skip."""
    for prefix in {provider, provider.split("-")[0], provider.split("_")[0]}:
        if key.startswith(prefix + "/"):
            key = key[len(prefix) + 1 :]
            break
    if provider.startswith("bedrock"):
        if "/" in key or _REGIONAL.match(key):
            return None  # region- and commitment-specific prices
        key = _BEDROCK_VERSION.sub("", key)  # the catalog names Bedrock models unversioned
    return key or None


def base_window(spec: dict[str, Any], vendor: str, name: str) -> int | None:
    """The window a request gets without opting into a beta: a Claude entry whose
    tokens above 200k are priced as a tier of their own (the 1M-context beta) has the
    standard 200k, whatever ``max_input_tokens`` says. Models whose 1M window is their
    own (no such tier) keep it."""
    window = _whole(spec.get("max_input_tokens"))
    beta_tier = any(key.endswith("_above_200k_tokens") for key in spec)
    claude = vendor in CLAUDE_BETA_VENDORS and "claude" in name.lower()
    if claude and beta_tier and window and window > CLAUDE_STANDARD_WINDOW:
        return CLAUDE_STANDARD_WINDOW
    return window


def tiers(spec: dict[str, Any], key: str) -> tuple[tuple[tuple[str, TierPrices], ...], int | None]:
    """An entry's price tiers and the prompt size past which its long-context tier
    applies (LiteLLM's ``above_<N>k_tokens``: N thousand)."""
    found: dict[str, dict[str, Decimal | None]] = {}
    above: int | None = None
    for source, value in spec.items():
        match = _TIER_KEY.match(source)
        if match is None or not (match.group(2) or match.group(3)):
            continue  # a standard price (PRICES)
        price, thousands, service = match.groups()
        if thousands:
            threshold = int(thousands) * 1000
            if above is not None and threshold != above:
                continue  # a second threshold: only the first is modelled
            above = threshold
        name = "_".join(
            part
            for part in ("long_context" if thousands else "", _TIER_NAME.get(service or "", ""))
            if part
        )
        found.setdefault(name, {})[PRICES[price]] = _per_million(value, f"{key}.{source}")
    out = tuple(
        (name, TierPrices(**found[name]))
        for name in TIERS
        if name in found and any(v is not None for v in found[name].values())
    )
    has_long = any(name.startswith("long_context") for name, _ in out)
    return out, above if has_long else None


def parse(data: Any, as_of: str) -> tuple[list[Entry], int]:
    """(entries, number of skipped keys) from a decoded LiteLLM price file."""
    if not isinstance(data, dict):
        raise CatalogError("not a LiteLLM price file: expected an object of models")
    entries: dict[tuple[str, str], Entry] = {}
    prefixed: set[tuple[str, str]] = set()  # entries read from a "provider/model" key
    skipped = 0
    for key, spec in data.items():
        if key == "sample_spec" or not isinstance(spec, dict):
            continue
        vendor = PROVIDERS.get(str(spec.get("litellm_provider") or ""))
        mode = MODES.get(str(spec.get("mode") or "chat"))
        name = _name(key, str(spec.get("litellm_provider") or "")) if vendor else None
        if vendor is None or mode is None or name is None:
            skipped += 1
            continue
        prices: dict[str, Any] = {  # Entry's price fields, each named by PRICES
            field: _per_million(spec.get(source), f"{key}.{source}")
            for source, field in PRICES.items()
        }
        caps = {cap for flag, cap in FLAGS.items() if spec.get(flag) is True}
        if "reasoning" in caps:
            reasoning_control = "budget" if vendor in ("anthropic", "bedrock") else "effort"
        else:
            reasoning_control = None
        # LiteLLM lists some models twice (bare and "provider/" keys, bedrock and
        # bedrock_converse): one entry per name, the "provider/" key's when there is one
        slot = (vendor, name)
        if slot in entries and (slot in prefixed or "/" not in key):
            skipped += 1
            continue
        if slot in entries:
            skipped += 1  # the bare key's entry, replaced by this "provider/" one
        if "/" in key:
            prefixed.add(slot)
        tier_prices, above = tiers(spec, key)
        entries[slot] = Entry(
            vendor=vendor,
            model=name,
            **prices,
            tiers=tier_prices,
            long_context_above=above,
            context_window=base_window(spec, vendor, name),
            max_output_tokens=_whole(spec.get("max_output_tokens") or spec.get("max_tokens")),
            caps=frozenset(caps),
            reasoning_control=reasoning_control,
            rejects=SAMPLING if spec.get("supports_sampling_params") is False else frozenset(),
            mode=mode,
            as_of=as_of,
        )
    if not entries:
        raise CatalogError("no model of a provider Switchyard routes to was found in the file")
    return list(entries.values()), skipped
