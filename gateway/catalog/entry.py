"""One model's catalog facts (``Entry``) and the conversion from the file format.

Prices are USD per million tokens, as the providers' price pages state them (audio
tokens of realtime models too: ``audio_input``, ``audio_cache_read``, ``audio_output``,
and their image input tokens: ``image_input``, ``image_cache_read``), except
``search_unit``: USD per rerank search unit (one query with up to 100 documents, a
document over 500 tokens counting as several; the price pages quote it per 1,000). A
capability missing from ``caps`` means the model does not have it; ``rejects`` lists
request parameters the model refuses (reasoning models that fix their sampling);
``rules`` says more of a parameter (``gateway.catalog.rules``: rejected unless, renamed,
clamped, mapped). ``api_versions`` lists the upstream API versions the model takes on
this vendor where that is narrower than the vendor's own list (Claude on Bedrock takes
Anthropic's ``2026-10-21`` from 4.7 on), and ``api_version`` the one the gateway uses for
it unless the deployment names one (``gateway.providers.base.Provider.api_version``).

``tiers`` are the prices of a tier other than the standard one, each a ``TierPrices``
(input, output, cache_read, cache_write; one a tier leaves out is the standard price):
``batch`` (a native batch job), ``flex`` and ``priority`` (the request's service tier),
``long_context`` (a prompt of more than ``long_context_above`` tokens) and
``long_context_batch`` / ``_flex`` / ``_priority`` (both at once). ``tier_for`` says
which one a request pays (``gateway.base.entries.tier_for``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.base.types import SERVICE_TIERS
from gateway.catalog.rules import ParamRule, RuleError, rules_from_json

# Capabilities a catalog entry may list.
CAPABILITIES = frozenset(
    {
        "tools",  # function / tool calling
        "parallel_tools",  # several tool calls in one turn
        "vision",  # image input
        "pdf",  # PDF / document input
        "reasoning",  # thinks before answering (see ``reasoning_control``)
        "reasoning_echo",  # wants its reasoning_content sent back on later turns
        "json_schema",  # structured output against a JSON schema
        "top_k",  # accepts the top_k sampling parameter
        "prompt_caching",  # caches prompts (cache-read tokens priced apart)
    }
)
# How reasoning is steered: an effort level, a token budget, on/off, or always on.
REASONING_CONTROLS = frozenset({"effort", "budget", "toggle", "always"})
# image_generation, audio_transcription, audio_speech: priced per unit in catalog/media
MODES = frozenset(
    {
        "chat",
        "embedding",
        "completion",
        "rerank",
        "realtime",
        "image_generation",
        "audio_transcription",
        "audio_speech",
    }
)
PRICE_KEYS = ("input", "output", "cache_read", "cache_write", "reasoning")
# Prices besides the token prices above: realtime audio and image tokens (per 1M) and
# rerank search units (per unit).
EXTRA_PRICE_KEYS = (
    "audio_input",
    "audio_cache_read",
    "audio_output",
    "image_input",
    "image_cache_read",
    "search_unit",
)
# Price tiers besides the standard one (see the module's docstring and ``tier_for``).
TIERS = (*SERVICE_TIERS, "long_context", *(f"long_context_{name}" for name in SERVICE_TIERS))
TIER_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")
# The largest price per 1M tokens a deployment's price field holds (12 digits, 6 decimals).
MAX_PRICE = Decimal("999999.999999")


class CatalogError(ValueError):
    """A catalog file or entry is malformed; the message names where."""


@dataclass(frozen=True, slots=True)
class TierPrices:
    """One tier's prices per 1M tokens; None: the standard price."""

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            name: _number(value)
            for name in TIER_PRICE_KEYS
            if (value := getattr(self, name)) is not None
        }


@dataclass(frozen=True, slots=True)
class Entry:
    vendor: str  # catalog provider key: openai, anthropic, gemini, bedrock, ...
    model: str
    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None  # reasoning tokens, when priced apart from output
    audio_input: Decimal | None = None  # realtime audio tokens in, per 1M
    audio_cache_read: Decimal | None = None  # realtime audio tokens in from the cache
    audio_output: Decimal | None = None  # realtime audio tokens out, per 1M
    image_input: Decimal | None = None  # realtime image tokens in, per 1M
    image_cache_read: Decimal | None = None  # realtime image tokens in from the cache
    search_unit: Decimal | None = None  # one rerank search unit
    context_window: int | None = None
    max_output_tokens: int | None = None
    caps: frozenset[str] = frozenset()
    reasoning_control: str | None = None
    rejects: frozenset[str] = frozenset()
    rules: tuple[ParamRule, ...] = ()
    api_versions: tuple[str, ...] = ()  # empty: the vendor's every version
    api_version: str | None = None  # the version used unless the deployment names one
    tiers: tuple[tuple[str, TierPrices], ...] = ()  # (tier name, its prices), by TIERS
    long_context_above: int | None = None  # prompt tokens past which long_context applies
    mode: str = "chat"
    as_of: str = ""  # the date the provider's figures were read

    @property
    def key(self) -> str:
        return f"{self.vendor}/{self.model}"

    def has(self, capability: str) -> bool:
        return capability in self.caps

    def prices(self) -> dict[str, Decimal | None]:
        return {name: getattr(self, name) for name in PRICE_KEYS}

    def tier(self, name: str) -> TierPrices | None:
        return next((prices for tier, prices in self.tiers if tier == name), None)

    def same_facts(self, other: Entry) -> bool:
        """Equal in everything but the date the figures were read."""
        return replace(self, as_of="") == replace(other, as_of="")

    def to_json(self) -> dict[str, Any]:
        """The entry as the catalog file writes it (without vendor and name)."""
        out: dict[str, Any] = {}
        for name in PRICE_KEYS + EXTRA_PRICE_KEYS:
            value = getattr(self, name)
            if value is not None:
                out[name] = _number(value)
        if self.context_window is not None:
            out["context"] = self.context_window
        if self.max_output_tokens is not None:
            out["max_output"] = self.max_output_tokens
        if self.caps:
            out["caps"] = sorted(self.caps)
        if self.reasoning_control:
            out["reasoning_control"] = self.reasoning_control
        if self.rejects:
            out["rejects"] = sorted(self.rejects)
        if self.rules:
            out["rules"] = {rule.name: rule.to_json() for rule in self.rules}
        if self.api_versions:
            out["api_versions"] = list(self.api_versions)
        if self.api_version:
            out["api_version"] = self.api_version
        if self.tiers:
            out["tiers"] = {name: prices.to_json() for name, prices in self.tiers}
        if self.long_context_above is not None:
            out["long_context_above"] = self.long_context_above
        if self.mode != "chat":
            out["mode"] = self.mode
        if self.as_of:
            out["as_of"] = self.as_of
        return out


def _number(value: Decimal) -> int | float:
    return float(value) if value != value.to_integral() else int(value)


# Equal prices and name sets of different entries as one object each: the bundled
# catalog's 648 entries hold 3,037 prices (their tiers' too) of 237 values and 1,296
# capability and rejected-parameter sets of 81, most of them empty, and an empty
# frozenset is an object of its own each time (#67: the catalog, which every worker
# keeps for passthrough pricing, 1.25 -> 0.47 MB). Keyed by the price's text, so a
# price keeps the digits it was read with.
_shared: dict[object, Any] = {}


def _one(key: object, value: Any) -> Any:
    return _shared.setdefault(key, value)


def plain(price: Decimal) -> Decimal:
    """``price`` without trailing zeros and without an exponent (10, not 1E+1)."""
    price = price.normalize()
    return price.quantize(Decimal(1)) if price == price.to_integral_value() else price


def _price(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CatalogError(f"{where}: a price must be a number, got {value!r}")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise CatalogError(f"{where}: a price must be a number, got {value!r}") from None
    if not price.is_finite() or price < 0:
        raise CatalogError(f"{where}: a price must be zero or more, got {value!r}")
    if price > MAX_PRICE:
        raise CatalogError(f"{where}: a price must be at most {MAX_PRICE} per 1M tokens")
    price = plain(price)
    shared: Decimal = _one(("price", str(price)), price)
    return shared


def _whole(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CatalogError(f"{where}: must be a positive whole number, got {value!r}")
    return value


def _names(value: Any, where: str, allowed: frozenset[str] | None) -> frozenset[str]:
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogError(f"{where}: must be a list of names")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise CatalogError(f"{where}: unknown capability {', '.join(unknown)}")
    names = frozenset(value)
    shared: frozenset[str] = _one(names, names)
    return shared


def entry_from_json(vendor: str, model: str, data: Any, as_of: str) -> Entry:
    """An ``Entry`` from one ``providers.<vendor>.models.<model>`` object."""
    where = f"providers.{vendor}.models.{model}"
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: must be an object")
    known = (
        set(PRICE_KEYS)
        | set(EXTRA_PRICE_KEYS)
        | {"context", "max_output", "caps", "reasoning_control"}
    )
    known |= {"rejects", "mode", "aliases", "note", "as_of", "rules"}
    known |= {"api_versions", "api_version", "tiers", "long_context_above"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CatalogError(f"{where}: unknown field {', '.join(unknown)}")
    control = data.get("reasoning_control")
    if control is not None and control not in REASONING_CONTROLS:
        raise CatalogError(f"{where}.reasoning_control: one of {sorted(REASONING_CONTROLS)}")
    mode = data.get("mode", "chat")
    if mode not in MODES:
        raise CatalogError(f"{where}.mode: one of {sorted(MODES)}")
    try:
        rules = rules_from_json(data.get("rules"), f"{where}.rules")
    except RuleError as exc:
        raise CatalogError(str(exc)) from None
    versions = _names(data.get("api_versions"), f"{where}.api_versions", None)
    version = data.get("api_version")
    if version is not None and not isinstance(version, str):
        raise CatalogError(f"{where}.api_version: must be a version name")
    if version and versions and version not in versions:
        raise CatalogError(f"{where}.api_version: {version} is not in its api_versions")
    tiers = _tiers(data.get("tiers"), f"{where}.tiers")
    above = _whole(data.get("long_context_above"), f"{where}.long_context_above")
    if above is None and any(name.startswith("long_context") for name, _ in tiers):
        raise CatalogError(f"{where}.long_context_above: a long_context tier needs it")
    return Entry(
        vendor=vendor,
        model=model,
        **{
            name: _price(data.get(name), f"{where}.{name}")
            for name in PRICE_KEYS + EXTRA_PRICE_KEYS
        },
        context_window=_whole(data.get("context"), f"{where}.context"),
        max_output_tokens=_whole(data.get("max_output"), f"{where}.max_output"),
        caps=_names(data.get("caps"), f"{where}.caps", CAPABILITIES),
        reasoning_control=control,
        rejects=_names(data.get("rejects"), f"{where}.rejects", None),
        rules=rules,
        api_versions=tuple(sorted(versions)),
        api_version=version or None,
        tiers=tiers,
        long_context_above=above,
        mode=mode,
        as_of=str(data.get("as_of") or as_of),
    )


def _tiers(value: Any, where: str) -> tuple[tuple[str, TierPrices], ...]:
    """An entry's ``tiers`` object (tier name -> prices), in ``TIERS`` order."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: must be an object of tier -> prices")
    unknown = sorted(set(value) - set(TIERS))
    if unknown:
        raise CatalogError(
            f"{where}: unknown tier {', '.join(unknown)} (one of {', '.join(TIERS)})"
        )
    out = []
    for name in TIERS:
        if name not in value:
            continue
        prices = value[name]
        if not isinstance(prices, dict) or not prices:
            raise CatalogError(f"{where}.{name}: must be an object of prices")
        extra = sorted(set(prices) - set(TIER_PRICE_KEYS))
        if extra:
            raise CatalogError(f"{where}.{name}: unknown field {', '.join(extra)}")
        out.append(
            (
                name,
                TierPrices(
                    **{k: _price(prices.get(k), f"{where}.{name}.{k}") for k in TIER_PRICE_KEYS}
                ),
            )
        )
    return tuple(out)
