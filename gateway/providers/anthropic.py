"""Anthropic's Messages API upstream (``{base_url}/v1/messages``): where it is
(base URL, a LiteLLM-style ``/v1`` suffix dropped), how it is authenticated
(``x-api-key``, ``anthropic-version``, the caller's ``anthropic-beta``), and its token
counting and model list. Posting, streaming, passthrough and error mapping are the
shared path's (``codec_provider``); what is said is ``gateway.codecs.anthropic``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.base.entries import DeploymentEntry
from gateway.codecs import CODECS
from gateway.codecs.anthropic import outbound
from gateway.errors import UpstreamError
from gateway.providers import wire
from gateway.providers.base import Exchange
from gateway.providers.codec_provider import CodecProvider, target_of
from gateway.providers.kinds import BATCH_SETTINGS, FormHelp, Setting
from gateway.providers.passthrough_body import for_deployment
from gateway.types import ChatRequest

DEFAULT_BASE_URL = "https://api.anthropic.com"
# A LiteLLM-style api_base may name the API path; the adapter wants the host root.
_API_PATH = re.compile(r"/v1(/messages)?$")
DEFAULT_VERSION = "2023-06-01"


def build_body(request: ChatRequest, deployment: DeploymentEntry) -> dict[str, Any]:
    """The Messages API body for ``request`` on ``deployment`` (no ``stream`` key)."""
    return outbound.build_body(request, target_of(deployment))


class AnthropicProvider(CodecProvider):
    kind = "anthropic"
    needs_base_url = False
    default_base_url = DEFAULT_BASE_URL
    form_help = FormHelp(
        base_url="The host root; empty: https://api.anthropic.com.",
        secret="The Anthropic API key (stored encrypted) or os.environ/NAME.",
    )
    settings_taken: tuple[Setting, ...] = BATCH_SETTINGS  # gateway/batches/upstreams
    speaks = CODECS["anthropic"]
    reasoning_families = frozenset({"claude"})
    counts_tokens = True  # POST /v1/messages/count_tokens

    def url(self, path: str) -> str:
        base = wire.base_url(self.provider) or DEFAULT_BASE_URL
        if self.provider.base_url.startswith("os.environ/"):  # read now: normalise like import
            base = _API_PATH.sub("", base)
        return base.rstrip("/") + path

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return self.url("/v1/messages")

    def forwarded(self, caller: Mapping[str, str]) -> dict[str, str]:
        headers = {"anthropic-version": caller.get("anthropic-version") or DEFAULT_VERSION}
        if caller.get("anthropic-beta"):
            headers["anthropic-beta"] = caller["anthropic-beta"]
        return headers

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        secret, extra = wire.credentials(self.provider)
        headers["x-api-key"] = secret
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        headers.update(extra)

    async def count_tokens(
        self,
        request: ChatRequest,
        deployment: DeploymentEntry,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> int | None:
        source = (
            for_deployment(body, deployment)
            if body and "messages" in body
            else build_body(request, deployment)
        )
        counted = {name: source[name] for name in outbound.COUNT_FIELDS if name in source}
        url = self.url("/v1/messages/count_tokens")
        content, sent = await self._signed(url, counted, headers or request.headers)
        data = await self._post_json(url, content, sent, Exchange())
        value = data.get("input_tokens") if isinstance(data, dict) else None
        if not isinstance(value, int):
            raise UpstreamError("Anthropic count_tokens answer has no input_tokens")
        return value

    def models_url(self, page: str) -> str:
        return self.url("/v1/models?limit=1000")


__all__ = ["AnthropicProvider", "build_body"]
