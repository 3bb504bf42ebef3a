"""Which catalog entry describes a deployment: by the provider it calls (its kind and
the host of its base URL) and the upstream model name.

A ``vendor/model`` spelling (``openai/gpt-4o``, OpenRouter's ``anthropic/claude-sonnet-4.5``)
names its vendor; an OpenAI-compatible server at a host we do not know, asked for an
OpenAI model by its name (``gpt-4o``), is priced as OpenAI's. Other self-hosted models
(vLLM, Ollama) match nothing: they are unpriced until the deployment sets a price, and
the console says so.
Dated variants fall back to their base entry (``gpt-4o-2024-08-06`` -> ``gpt-4o``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.catalog.entry import Entry
from gateway.catalog.store import Catalog


@dataclass(frozen=True, slots=True)
class KindVendor:
    """Which catalog vendor a provider kind's models are, as its adapter declares it
    (``providers.base.Provider.catalog_vendor``: the catalog sits below the providers, so
    its callers ask the adapter and pass this in). ``fixed``: whatever the base URL
    (None: the URL's host decides, ``HOSTS``); ``by_name``: at a host the catalog does not
    know, the vendor whose own model names the kind's servers answer to (LiteLLM's
    ``openai/gpt-4o`` with an ``api_base`` means OpenAI's model; None: unmatched)."""

    fixed: str | None = None
    by_name: str | None = None


# Host (or host suffix) of a provider's base URL -> catalog provider key.
HOSTS: tuple[tuple[str, str], ...] = (
    ("api.openai.com", "openai"),
    ("openai.azure.com", "azure"),
    ("cognitiveservices.azure.com", "azure"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gemini"),
    ("aiplatform.googleapis.com", "vertex"),
    ("amazonaws.com", "bedrock"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.mistral.ai", "mistral"),
    ("api.deepseek.com", "deepseek"),
    ("api.groq.com", "groq"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("openrouter.ai", "openrouter"),
    ("api.x.ai", "xai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cerebras.ai", "cerebras"),
    ("api.moonshot.ai", "moonshot"),
)
# Where a vendor's models are also priced by their maker (same list prices).
MAKERS = {"azure": ("openai",), "vertex": ("gemini", "anthropic", "mistral"),
          "bedrock": ("anthropic", "mistral", "cohere", "deepseek"), "openrouter": ()}  # fmt: skip
# ``vendor/`` prefixes (LiteLLM's and OpenRouter's spellings) -> catalog provider key.
PREFIXES = {
    "openai": "openai", "azure": "azure", "anthropic": "anthropic", "gemini": "gemini",
    "google": "gemini", "vertex_ai": "vertex", "bedrock": "bedrock", "cohere": "cohere",
    "mistral": "mistral", "mistralai": "mistral", "deepseek": "deepseek", "groq": "groq",
    "together_ai": "together", "fireworks_ai": "fireworks", "openrouter": "openrouter",
    "xai": "xai", "x-ai": "xai", "perplexity": "perplexity", "cerebras": "cerebras",
    "moonshot": "moonshot", "moonshotai": "moonshot",
}  # fmt: skip
# Bedrock ids: optional region group, the maker, the name, a version suffix.
_BEDROCK = re.compile(r"^(?:(?:us|eu|apac|au|jp|global)\.)?([a-z0-9-]+)\.(.+?)(?:-v\d+(?::\d+)?)?$")
_DATED = (
    re.compile(r"^(.+)-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-2024-08-06
    re.compile(r"^(.+)[-@]\d{8}$"),  # claude-sonnet-4-5-20250929, Vertex's @20250929
    re.compile(r"^(.+)-\d{4}$"),  # gpt-4-0613, mistral-large-2411
    re.compile(r"^(.+)-0\d\d$"),  # gemini-2.0-flash-001
    re.compile(r"^(.+)-(?:latest|preview|exp)$"),
)


def vendor_of(kind: KindVendor, base_url: str) -> str | None:
    """The catalog provider a deployment's provider is, or None (self-hosted, unknown)."""
    if kind.fixed is not None:
        return kind.fixed
    host = (urlsplit(base_url or "").hostname or "").lower()
    for suffix, vendor in HOSTS:
        if host == suffix or host.endswith("." + suffix):
            return vendor
    return None


def _bases(name: str) -> list[str]:
    """``name`` then the names it may be a dated or tagged variant of, nearest first."""
    out = [name]
    current = name
    changed = True
    while changed:
        changed = False
        for pattern in _DATED:
            found = pattern.match(current)
            if found:
                current = found.group(1)
                out.append(current)
                changed = True
                break
    return out


def _find(catalog: Catalog, vendor: str, name: str) -> Entry | None:
    for candidate in _bases(name):
        for spelled in (candidate, candidate.lower()):
            entry = catalog.get(vendor, spelled)
            if entry is not None:
                return entry
    return None


def lookup(catalog: Catalog, kind: KindVendor, base_url: str, model: str) -> Entry | None:
    """The catalog entry for ``model`` served by a provider of ``kind`` at ``base_url``."""
    model = (model or "").strip()
    if not model:
        return None
    vendor = vendor_of(kind, base_url)
    prefix, _, rest = model.partition("/")
    named = PREFIXES.get(prefix.lower()) if rest else None
    if vendor is not None:
        entry = _find(catalog, vendor, model)
        if entry is not None:
            return entry
        if vendor == "bedrock":
            found = _BEDROCK.match(model.split("/")[-1])
            if found:
                maker, name = found.groups()
                entry = _find(catalog, "bedrock", f"{maker}.{name}") or _find(
                    catalog, PREFIXES.get(maker, maker), name
                )
                if entry is not None:
                    return entry
        if named is not None:  # OpenRouter and LiteLLM-proxy style vendor/model
            entry = _find(catalog, named, rest)
            if entry is not None:
                return entry
        for maker in MAKERS.get(vendor, ()):
            entry = _find(catalog, maker, model)
            if entry is not None:
                return entry
        return None
    if named is not None:
        return _find(catalog, named, rest)
    if kind.by_name is not None:
        # An OpenAI-compatible server at a host we do not know, asked for a model by a
        # vendor's own name (LiteLLM's ``openai/gpt-4o`` with an ``api_base``): the user
        # means that vendor's model and prices, as LiteLLM prices it. A self-hosted
        # model that borrows a vendor's name is the rarer case; a price set on the
        # deployment (0 included) wins over this.
        return _find(catalog, kind.by_name, model)
    return None
