"""The batch APIs reached by signed HTTP calls (OpenAI's and Azure's, Anthropic's, the
Gemini API's): ``HttpBatches``, their common client. Each call is signed by the
provider's adapter (its secret and extra headers), through a short-lived client: these
are a handful of background calls per batch, never on the request path. Failures raise
``UpstreamError`` with the upstream's status and a message free of secrets."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import httpx
import orjson

from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import UpstreamError
from gateway.features.batches.upstreams.base import UpstreamBatches
from gateway.providers import wire
from gateway.providers.base import adapter_for

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class HttpBatches(UpstreamBatches):
    """One provider's batch API over signed HTTP calls."""

    def __init__(self, provider: ProviderEntry, deployment: DeploymentEntry | None = None) -> None:
        super().__init__(provider, deployment)
        self.adapter: Any = adapter_for(provider)

    def url(self, path: str) -> str:
        raise NotImplementedError

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        raw: bool = False,
        url: str = "",
    ) -> Any:
        """A signed call to ``path`` (or ``url``): its JSON, or its bytes (``raw``)."""
        target = url or self.url(path)
        headers: dict[str, str] = {"Accept": "application/json"}
        content = b""
        if json is not None:
            content = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        response = await self.send(method, target, content, headers, files=files, data=data)
        if raw:
            return response.content
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(
                f"upstream provider {self.provider.name!r} answered {method} "
                f"{urlparse(target).path} with no JSON"
            ) from None

    async def object_call(self, method: str, path: str, *, json: Any = None) -> dict[str, Any]:
        """``call`` whose answer is a JSON object: a batch as created, read or cancelled."""
        answer: dict[str, Any] = await self.call(method, path, json=json)
        return answer

    async def send(
        self,
        method: str,
        url: str,
        content: bytes,
        headers: dict[str, str],
        *,
        files: Any = None,
        data: Any = None,
    ) -> httpx.Response:
        """A signed call whose whole answer the caller reads (headers, bytes); an
        answer of 400 or more raises ``UpstreamError`` (5xx as a 502)."""
        await self.adapter.sign(method, url, content, headers)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                if files is not None:
                    headers.pop("Content-Type", None)
                    response = await client.request(
                        method, url, headers=headers, files=files, data=data
                    )
                else:
                    response = await client.request(
                        method, url, headers=headers, content=content or None
                    )
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        if response.status_code >= 400:
            error = UpstreamError(
                f"upstream provider {self.provider.name!r} answered {response.status_code} "
                f"to {method} {urlparse(url).path}: {_message(response)}"
            )
            error.status = response.status_code if response.status_code < 500 else 502
            raise error
        return response


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:500]
    return str(data)[:300]
