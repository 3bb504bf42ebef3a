"""Cohere as an upstream: ``POST {base}/v2/chat`` with ``Authorization: Bearer``.

HTTP and auth only; what is said is ``gateway.codecs.cohere``. ``base_url`` is the host
root (default ``https://api.cohere.com``); a base ending in ``/v2``, ``/v2/chat``,
``/v1`` or ``/v1/chat`` (LiteLLM configs carry these) is taken as that host root: the
gateway speaks only v2 chat. The provider secret is
the Cohere API key; an empty or unset one is a ``ConfigurationError`` (no request made).
"""

from __future__ import annotations

from typing import Any

from gateway.base import errors
from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.types import ChatRequest
from gateway.catalog.matching import KindVendor
from gateway.codecs import CODECS
from gateway.codecs.cohere import outbound
from gateway.providers import wire
from gateway.providers.base import Exchange
from gateway.providers.codec_provider import CodecProvider
from gateway.providers.kinds import PASSTHROUGH_SETTINGS, FormHelp

DEFAULT_BASE_URL = "https://api.cohere.com"


def api_root(base_url: str) -> str:
    """The host root (plus any proxy prefix) of a configured base URL."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    for suffix in ("/v2/chat", "/v1/chat", "/v2", "/v1"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


class CohereProvider(CodecProvider):
    kind = "cohere"
    documents = Accepts(frozenset(), why="Cohere reads text documents only")
    catalog_vendor = KindVendor("cohere")
    keyless = None
    trace_name = "cohere"
    rerank_shape = "cohere"  # /v2/rerank
    needs_base_url = False
    default_base_url = DEFAULT_BASE_URL
    form_help = FormHelp(
        base_url="Empty: https://api.cohere.com (requests go to /v2/chat).",
        secret="The Cohere API key (stored encrypted) or os.environ/NAME.",
    )
    settings_taken = PASSTHROUGH_SETTINGS  # gateway/features/passthrough
    speaks = CODECS["cohere"]

    also_serves = frozenset({"rerank"})  # besides chat: /v1/rerank -> /v2/rerank

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return f"{api_root(self.provider.base_url)}/v2/chat"

    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        """The host root: Cohere's SDK given ``{gateway}/cohere`` asks for ``/v2/...``."""
        return api_root(wire.base_url(self.provider))

    async def rerank(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> Any:
        url = f"{api_root(self.provider.base_url)}/v2/rerank"
        return await self.post_json(url, body, exchange, {})

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        return outbound.unsupported(request)

    def _auth(self) -> dict[str, str]:
        secret, extra = wire.credentials(self.provider)
        if not secret:
            raise errors.ConfigurationError(
                f"provider {self.provider.name!r} has no Cohere API key"
            )
        return {**extra, "Authorization": f"Bearer {secret}"}

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        headers.update(self._auth())

    def models_url(self, page: str) -> str:
        """Chat-capable models only."""
        return f"{api_root(self.provider.base_url)}/v1/models?endpoint=chat&page_size=1000"
