"""Rebuild the bundled catalog ``gateway/catalog/models.json`` from a copy of LiteLLM's
``model_prices_and_context_window.json``: keep the current chat and embedding models
of the providers Switchyard routes to, fold dated variants with equal facts into
aliases, and add what that file does not say (how reasoning is steered, which models
want their reasoning echoed back, which take ``top_k`` and which refuse sampling
parameters).

    python scripts/build_catalog.py PRICES.json --as-of YYYY-MM-DD --origin TEXT

Users refresh their own catalog with ``manage.py update_catalog`` instead.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.catalog import litellm  # noqa: E402
from gateway.catalog.entry import Entry  # noqa: E402
from gateway.catalog.matching import PREFIXES, _bases  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "gateway" / "catalog" / "models.json"
PROVIDERS = {
    "openai": ("OpenAI", "https://openai.com/api/pricing/"),
    "azure": ("Azure OpenAI", "https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/"),
    "anthropic": ("Anthropic", "https://www.anthropic.com/pricing#api"),
    "gemini": ("Google Gemini API", "https://ai.google.dev/gemini-api/docs/pricing"),
    "vertex": ("Google Vertex AI", "https://cloud.google.com/vertex-ai/generative-ai/pricing"),
    "bedrock": ("Amazon Bedrock", "https://aws.amazon.com/bedrock/pricing/"),
    "cohere": ("Cohere", "https://cohere.com/pricing"),
    "mistral": ("Mistral AI", "https://mistral.ai/pricing#api-pricing"),
    "deepseek": ("DeepSeek", "https://api-docs.deepseek.com/quick_start/pricing"),
    "groq": ("Groq", "https://groq.com/pricing"),
    "together": ("Together AI", "https://www.together.ai/pricing"),
    "fireworks": ("Fireworks AI", "https://fireworks.ai/pricing"),
    "openrouter": ("OpenRouter", "https://openrouter.ai/models"),
    "xai": ("xAI", "https://docs.x.ai/docs/models"),
    "perplexity": ("Perplexity", "https://docs.perplexity.ai/getting-started/pricing"),
    "cerebras": ("Cerebras", "https://www.cerebras.ai/pricing"),
    "moonshot": ("Moonshot AI", "https://platform.moonshot.ai/docs/pricing/chat"),
}  # fmt: skip
SKIP_NAMES = re.compile(
    r"(^ft:|audio|realtime|tts|image|search|robotics|lyria|live|computer-use|research|"
    r"container|transcribe|moderation|guard|^together-ai-|safeguard|/preset/|customtools)"
)
BEDROCK_REGIONAL = re.compile(r"^(us|eu|apac|au|jp|global|us-gov)\.")
TOP_K = {"anthropic", "vertex", "together", "fireworks", "openrouter"}
OPENAI_FIXED = frozenset(
    {"temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs",
     "top_logprobs", "logit_bias"}
)  # fmt: skip
OPENAI_REASONING = re.compile(r"^(o\d(-mini|-pro)?|gpt-5(-mini|-nano|-pro)?)(-\d{4}-\d\d-\d\d)?$")


# Facts LiteLLM's file leaves out for models people use every day, from the providers'
# model pages (docs.x.ai/docs/models/grok-4-0709: image input, always reasons, cached
# input $0.75 per 1M, structured outputs).
class Correction(TypedDict, total=False):
    """What a correction gives an entry: capabilities added, facts replaced."""

    caps: frozenset[str]
    input: Decimal
    cache_read: Decimal
    context_window: int


GROK_4: Correction = {
    "caps": frozenset({"vision", "reasoning", "json_schema"}),
    "cache_read": Decimal("0.75"),
}
CORRECTIONS: dict[tuple[str, str], Correction] = {
    ("xai", name): GROK_4 for name in ("grok-4", "grok-4-latest", "grok-4-0709")
}
# Cohere's structured outputs (response_format json_schema) work on Command A and the
# 08-2024 Command R models (docs.cohere.com, "Structured Outputs"); LiteLLM's file has
# no flag for them.
CORRECTIONS.update(
    {
        ("cohere", name): {"caps": frozenset({"json_schema"})}
        for name in (
            "command-a-03-2025",
            "command-r-08-2024",
            "command-r-plus-08-2024",
            "command-r7b-12-2024",
        )
    }
)
# LiteLLM's file prices embed-multilingual-light-v3.0 input at $100 per 1M tokens, a
# typo for its siblings' $0.10 (cohere.com/pricing).
CORRECTIONS[("cohere", "embed-multilingual-light-v3.0")] = {"input": Decimal("0.1")}


# Context windows checked against the vendors' pages on 2026-11-23 (the models the README
# and the tests name). Why Bedrock's Claude 3.5 Sonnet (both dates) and Claude Sonnet 4
# came out at 1M: LiteLLM's file (BerriAI/litellm model_prices_and_context_window.json,
# read at commit 00035b69) gives the bare Bedrock keys anthropic.claude-3-5-sonnet-
# 20240620-v1:0 / -20241022-v2:0 and anthropic.claude-sonnet-4-20250514-v1:0 (and the
# Anthropic and Vertex Sonnet 4 keys) "max_input_tokens": 1000000 next to
# *_above_200k_tokens prices: the 1M-context beta's ceiling and tier, copied onto the
# base entry (its own apac.* keys for 3.5 Sonnet say 200000). Anthropic's "Models
# overview" gives 200k for both; 1M is a Sonnet 4 beta sent with the context-1m header.
# litellm.base_window now reads such entries as 200k; the corrections below pin 3.5
# Sonnet whatever the next file says, and check_window stops any other such leak.
CLAUDE_200K: Correction = {"context_window": 200_000}
for name in ("anthropic.claude-3-5-sonnet-20240620", "anthropic.claude-3-5-sonnet-20241022"):
    CORRECTIONS[("bedrock", name)] = CLAUDE_200K


# Anthropic's API ids for Claude 4 (docs.anthropic.com "Models overview": the model
# claude-sonnet-4-20250514, alias claude-sonnet-4-0); LiteLLM's file keys them
# claude-4-sonnet-20250514, so a deployment of the real id found no price.
EXTRA_ALIASES = {
    ("anthropic", "claude-4-sonnet-20250514"): ["claude-sonnet-4-0", "claude-sonnet-4-20250514"],
    ("anthropic", "claude-4-opus-20250514"): ["claude-opus-4-0", "claude-opus-4-20250514"],
}


# Llama 4 models read images (Meta's model cards); LiteLLM's Bedrock and Together
# entries do not say so.
VISION_FAMILIES = re.compile(r"llama-?4", re.IGNORECASE)


def correct(entry: Entry) -> Entry:
    if VISION_FAMILIES.search(entry.model):
        entry = replace(entry, caps=entry.caps | {"vision"})
    fix = CORRECTIONS.get((entry.vendor, entry.model))
    if not fix:
        return entry
    changes: Correction = {**fix, "caps": entry.caps | fix.get("caps", frozenset())}
    return replace(entry, **changes)


# Claude models whose own window is 1M (no beta): Anthropic's "Models overview" lists
# them with a 1M context window. Any other Claude over 200k is a beta ceiling leaking in.
CLAUDE_1M = re.compile(
    r"claude-(opus-4-[6-9]|sonnet-4-[6-9]|opus-[5-9]|sonnet-[5-9]|haiku-[5-9]|fable|mythos)"
)


def check_window(entry: Entry) -> None:
    """Refuse to write a Claude window above 200k the vendor does not give by default."""
    if (
        entry.vendor in litellm.CLAUDE_BETA_VENDORS
        and "claude" in entry.model
        and (entry.context_window or 0) > litellm.CLAUDE_STANDARD_WINDOW
        and not CLAUDE_1M.search(entry.model.replace(".", "-"))
    ):
        raise SystemExit(
            f"{entry.key}: window {entry.context_window} is a long-context beta's, not the "
            "model's; add a correction with its published window"
        )


def control(entry: Entry) -> str | None:
    if not entry.has("reasoning"):
        return None
    name = entry.model
    if entry.vendor in ("deepseek", "moonshot") or "thinking" in name or "reasoner" in name:
        return "always"
    if "claude" in name or (entry.vendor in ("gemini", "vertex") and "gemini-2.5" in name):
        return "budget"
    if entry.vendor == "xai" and "grok-3-mini" not in name:
        return "always"
    return "effort"


def enrich(entry: Entry) -> Entry:
    caps = set(entry.caps)
    rejects = set(entry.rejects)
    if entry.vendor in TOP_K or (entry.vendor == "bedrock" and "claude" in entry.model):
        caps.add("top_k")
    if "claude" in entry.model and "tools" in caps:
        caps.add("parallel_tools")
    if entry.vendor in ("deepseek", "moonshot") and "reasoning" in caps:
        caps.add("reasoning_echo")  # their thinking models want reasoning_content back
    if "top_k" in rejects:
        caps.discard("top_k")
    if entry.vendor in ("openai", "azure") and OPENAI_REASONING.match(entry.model):
        rejects |= OPENAI_FIXED
    return replace(
        entry, caps=frozenset(caps), rejects=frozenset(rejects), reasoning_control=control(entry)
    )


class Provider(TypedDict):
    name: str
    source: str
    as_of: str
    models: dict[str, dict[str, Any]]  # Entry.to_json()'s, by model name


class Catalog(TypedDict):
    """gateway/catalog/models.json: LiteLLM's file is JSON of any shape (dict[str, Any]);
    what this script writes is this."""

    schema: int
    updated: str
    notes: str
    providers: dict[str, Provider]


def keep(key: str, spec: dict[str, Any], as_of: str) -> bool:
    if key.endswith("/"):
        return False
    deprecated = str(spec.get("deprecation_date") or "")
    if deprecated and deprecated <= as_of:
        return False
    if SKIP_NAMES.search(key.lower()):
        return False
    provider = spec.get("litellm_provider", "")
    if provider == "azure" and key.count("/") > 1:
        return False  # regional and data-zone prices
    if provider == "fireworks_ai" and not (
        key.startswith("fireworks_ai/accounts/fireworks/models/")
        and (spec.get("supports_function_calling") or spec.get("mode") == "embedding")
    ):
        return False  # serverless tool-calling models; the rest are by-size tiers
    if provider.startswith("bedrock") and BEDROCK_REGIONAL.match(key.split("/")[-1]):
        return False  # a geography's inference profile: matched through the base id
    return spec.get("input_cost_per_token") is not None


def build(data: dict[str, Any], as_of: str, origin: str) -> Catalog:
    kept = {k: v for k, v in data.items() if isinstance(v, dict) and keep(k, v, as_of)}
    entries, _ = litellm.parse(kept, as_of)
    by_vendor: dict[str, dict[str, Entry]] = {}
    for entry in entries:
        entry = enrich(correct(entry))
        check_window(entry)
        by_vendor.setdefault(entry.vendor, {})[entry.model] = replace(entry, as_of="")
    borrow_maker_capabilities(by_vendor)
    providers: dict[str, Provider] = {}
    for vendor, (name, source) in PROVIDERS.items():
        models = by_vendor.get(vendor, {})
        aliases: dict[str, list[str]] = {}
        for model in sorted(models):
            base = next((b for b in _bases(model)[1:] if b in models), None)
            if base and models[base] == replace(models[model], model=base):
                aliases.setdefault(base, []).append(model)
        folded = {alias for names in aliases.values() for alias in names}
        out = {}
        for model in sorted(models):
            if model in folded:
                continue
            item = models[model].to_json()
            names = aliases.get(model, []) + EXTRA_ALIASES.get((vendor, model), [])
            if names:
                item["aliases"] = sorted(set(names))
            out[model] = item
        providers[vendor] = {
            "name": name,
            "source": f"{source} (figures via {origin})",
            "as_of": as_of,
            "models": out,
        }
    return {
        "schema": 1,
        "updated": as_of,
        "notes": (
            "Prices in USD per 1M tokens (input, output, cache_read, cache_write; reasoning "
            "where priced apart from output); context = most input tokens without an opt-in beta (Claude's 1M-context beta is not a base window); max_output = most "
            "output tokens. Long-context tiers (above 200k/272k tokens), batch, flex and "
            "priority prices are not modelled: the standard tier is. Capabilities LiteLLM's "
            "file leaves out are added by scripts/build_catalog.py (OpenRouter and Azure "
            "models take their maker's; CORRECTIONS name their source). Refresh with "
            "`manage.py update_catalog FILE`."
        ),
        "providers": providers,
    }


def borrow_maker_capabilities(by_vendor: dict[str, dict[str, Entry]]) -> None:
    """OpenRouter's and Azure's entries in LiteLLM's file carry fewer capability flags
    (OpenRouter's gpt-5 and Azure's o3-mini have no tools): a model its maker's block
    also lists takes the maker's capabilities, reasoning control and refused
    parameters too (prices stay the reseller's)."""
    for name in list(by_vendor.get("openrouter", {})):
        prefix, _, rest = name.partition("/")
        _borrow(by_vendor, "openrouter", name, PREFIXES.get(prefix.lower()), rest)
    for name in list(by_vendor.get("azure", {})):
        _borrow(by_vendor, "azure", name, "openai", name)


def _borrow(
    by_vendor: dict[str, dict[str, Entry]], vendor: str, name: str, maker: str | None, rest: str
) -> None:
    entry = by_vendor[vendor][name]
    known = by_vendor.get(maker or "", {}).get(rest)
    if known is not None:
        by_vendor[vendor][name] = replace(
            entry,
            caps=entry.caps | known.caps,
            reasoning_control=known.reasoning_control or entry.reasoning_control,
            rejects=entry.rejects | known.rejects,
        )


def render(catalog: Catalog) -> str:
    """JSON with one line per model, so a refresh reads as a per-model diff."""
    head = {k: v for k, v in catalog.items() if k != "providers"}
    lines = ["{"] + [
        f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()
    ]
    lines.append(' "providers": {')
    vendors = list(catalog["providers"].items())
    for i, (vendor, spec) in enumerate(vendors):
        lines.append(f"  {json.dumps(vendor)}: {{")
        for key, value in spec.items():
            if key != "models":
                lines.append(f"   {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
        lines.append('   "models": {')
        models = list(spec["models"].items())
        for j, (name, item) in enumerate(models):
            comma = "," if j < len(models) - 1 else ""
            lines.append(f"    {json.dumps(name)}: {json.dumps(item, ensure_ascii=False)}{comma}")
        lines.append("   }")
        lines.append("  }" + ("," if i < len(vendors) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--origin", required=True, help="where the file came from")
    args = parser.parse_args()
    data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    catalog = build(data, args.as_of, args.origin)
    OUT.write_text(render(catalog), encoding="utf-8")
    count = sum(len(p["models"]) for p in catalog["providers"].values())
    print(f"wrote {OUT} ({count} models)")


if __name__ == "__main__":
    main()
