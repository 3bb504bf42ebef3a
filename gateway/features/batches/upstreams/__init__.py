"""Upstreams' own batch APIs, one module each behind one protocol (``base``):
OpenAI's Files + Batch API, also Azure OpenAI's (``openai``), Anthropic's Message
Batches (``anthropic``), the Gemini API's batch mode (``gemini``) and Bedrock batch
inference (``bedrock``).

Which providers take a native batch (``native_api``): none whose ``native_batches``
setting says ``off``; else the one API whose class ``takes`` the provider (each says
which, from the provider's kind and settings). Batch price (``price_factor``): a
provider's ``batch_discount`` setting (a fraction, e.g. ``0.5``) or the API's own
``discount``; every API here bills a batch's tokens at half the standard price.

Part of the batches feature (not of ``providers``, which are HTTP and auth for one
request): these reach an upstream through the provider's adapter (its signing, its
credentials) and drive a whole batch there."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import UpstreamError
from gateway.features.batches.upstreams.anthropic import AnthropicBatches
from gateway.features.batches.upstreams.base import OFF, UpstreamBatches, flag
from gateway.features.batches.upstreams.bedrock import BedrockBatches
from gateway.features.batches.upstreams.gemini import GeminiBatches
from gateway.features.batches.upstreams.openai import OpenAIBatches

# Every batch API, by its name (``Batch.native``).
UPSTREAMS: dict[str, type[UpstreamBatches]] = {
    cls.api: cls for cls in (OpenAIBatches, AnthropicBatches, GeminiBatches, BedrockBatches)
}


def native_api(provider: ProviderEntry) -> str:
    """The batch API the provider's upstream has: "openai", "anthropic", "gemini",
    "bedrock" or ""."""
    if flag(provider) in OFF:
        return ""
    return next((name for name, cls in UPSTREAMS.items() if cls.takes(provider)), "")


def why_not(provider: ProviderEntry) -> str:
    """Why a provider of a kind that may have a batch API has none here ("" : it has
    one, was turned off, or its kind has none at all)."""
    if native_api(provider) or flag(provider) in OFF:
        return ""
    return next((r for cls in UPSTREAMS.values() if (r := cls.why_not(provider))), "")


def min_lines(provider: ProviderEntry) -> int:
    """The fewest lines a native batch to this provider may have."""
    upstream = UPSTREAMS.get(native_api(provider))
    return upstream.min_lines(provider) if upstream is not None else 1


def price_factor(provider: ProviderEntry, api: str) -> Decimal:
    """What share of the standard price a native batch's tokens cost."""
    setting = provider.settings.get("batch_discount")
    if setting not in (None, ""):
        try:
            value = Decimal(str(setting))
        except InvalidOperation:
            value = Decimal(-1)
        if 0 <= value <= 1:
            return 1 - value
    upstream = UPSTREAMS.get(api)
    return 1 - (upstream.discount if upstream is not None else Decimal(0))


def client(api: str, deployment: DeploymentEntry) -> UpstreamBatches:
    """The client of the batch API ``api`` on the deployment (of a batch submitted to it)."""
    provider = deployment.provider
    upstream = UPSTREAMS.get(api)
    if upstream is None or (upstream.needs_the_api_still and native_api(provider) != api):
        raise UpstreamError(f"provider {provider.name!r} has no batch API")
    return upstream(provider, deployment)


__all__ = [
    "UPSTREAMS",
    "UpstreamBatches",
    "client",
    "min_lines",
    "native_api",
    "price_factor",
    "why_not",
]
