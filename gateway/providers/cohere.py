"""Cohere as an upstream: ``POST {base}/v2/chat`` with ``Authorization: Bearer``.

HTTP and auth only; what is said is ``gateway.codecs.cohere``. ``base_url`` is the host
root (default ``https://api.cohere.com``); a base ending in ``/v2``, ``/v2/chat``,
``/v1`` or ``/v1/chat`` (LiteLLM configs carry these) is taken as that host root: the
gateway speaks only v2 chat. The provider secret is
the Cohere API key; an empty or unset one is a ``ConfigurationError`` (no request made).
"""

from __future__ import annotations

import httpx
import orjson

from .. import errors, http
from ..codecs.cohere import codec, outbound
from ..registry import DeploymentEntry
from ..types import ChatRequest
from . import wire
from .codec_provider import CodecProvider
from .kinds import FormHelp

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
    needs_base_url = False
    form_help = FormHelp(
        base_url="Empty: https://api.cohere.com (requests go to /v2/chat).",
        secret="The Cohere API key (stored encrypted) or os.environ/NAME.",
    )
    codec = codec

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return f"{api_root(self.provider.base_url)}/v2/chat"

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

    async def list_models(self) -> list[str]:
        """Chat-capable model names (``GET /v1/models?endpoint=chat``)."""
        url = f"{api_root(self.provider.base_url)}/v1/models"
        try:
            response = await http.client().get(
                url,
                params={"endpoint": "chat", "page_size": 1000},
                headers={"Accept": "application/json", **self._auth()},
                timeout=self.timeout(),
            )
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        if response.status_code >= 400:
            raise self._error(response, response.content)
        try:
            models = orjson.loads(response.content).get("models") or []
        except (orjson.JSONDecodeError, AttributeError):
            raise errors.UpstreamError("Cohere answered with invalid JSON", status=502) from None
        return [m["name"] for m in models if isinstance(m, dict) and m.get("name")]
