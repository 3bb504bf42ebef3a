"""OpenAI Responses API upstreams (``kind = "openai_responses"``): for models offered
only there (o3-pro, codex-mini, gpt-5-pro). HTTP and auth only; what is said is the
``openai_responses`` codec's.

``base_url`` includes the version path like the OpenAI kind
(``https://api.openai.com/v1``; requests go to ``{base_url}/responses``); the secret is
sent as a Bearer token; ``extra_headers`` (e.g. ``OpenAI-Organization``) go along.
"""

from __future__ import annotations

import httpx
import orjson

from .. import errors, http
from ..codecs.openai_responses import CODEC
from ..registry import DeploymentEntry
from ..types import ChatRequest
from . import wire
from .base import register
from .codec_provider import CodecProvider, target_of


@register
class OpenAIResponsesProvider(CodecProvider):
    kind = "openai_responses"
    codec = CODEC

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return f"{self.provider.base_url.rstrip('/')}/responses"

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        secret, extra = wire.credentials(self.provider)
        headers.update(extra)
        if secret:
            headers["Authorization"] = f"Bearer {secret}"

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        return CODEC.unsupported_params(request, target_of(deployment))

    async def list_models(self) -> list[str]:
        """``GET {base_url}/models`` (the console's "test connection")."""
        url = f"{self.provider.base_url.rstrip('/')}/models"
        headers = {"Accept": "application/json"}
        await self.sign("GET", url, b"", headers)
        try:
            response = await http.client().get(url, headers=headers, timeout=self.timeout())
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, url) from exc
        if response.status_code >= 400:
            raise self._error(response, response.content)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise errors.UpstreamError("upstream answered with invalid JSON", status=502) from None
        models = data.get("data") if isinstance(data, dict) else None
        return [m["id"] for m in models or [] if isinstance(m, dict) and m.get("id")]
