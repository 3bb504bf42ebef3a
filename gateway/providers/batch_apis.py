"""Upstreams' own batch APIs: OpenAI's Files + Batch API (``/files`` with purpose
``batch``, ``/batches``) and Anthropic's Message Batches (``/v1/messages/batches``).

Which providers take a native batch (``native_api``): Anthropic providers (unless their
``native_batches`` setting says ``off``); OpenAI-compatible providers whose upstream is
api.openai.com, or any other whose ``native_batches`` setting is ``on`` (vLLM and most
compatible servers have no ``/batches``); Azure OpenAI providers whose setting is ``on``
(their deployments must be Global Batch ones; Azure names the endpoint without ``/v1``:
``/chat/completions``). Each call is signed by the provider's adapter
(its secret and extra headers), through a short-lived client: these are a handful of
background calls per batch, never on the request path. Failures raise
``UpstreamError`` with the upstream's status and a message free of secrets.

Batch price: both upstreams bill a batch's tokens at half their standard price
(OpenAI: "Batch API ... 50% discount" on https://platform.openai.com/docs/guides/batch;
Anthropic: "Batch usage is charged at 50% of the standard API prices" on
https://docs.anthropic.com/en/docs/build-with-claude/batch-processing). A provider's
``batch_discount`` setting (a fraction, e.g. ``0.5``) overrides the rule."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson

from gateway.errors import UpstreamError
from gateway.policy.registry import ProviderEntry
from gateway.providers import wire
from gateway.providers.base import adapter_for

BATCH_DISCOUNT = {"openai": Decimal("0.5"), "anthropic": Decimal("0.5")}
ON = ("on", "true", "yes", "1")
OFF = ("off", "false", "no", "0")
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def native_api(provider: ProviderEntry) -> str:
    """The batch API the provider's upstream has: "openai", "anthropic" or ""."""
    flag = str(provider.settings.get("native_batches", "")).strip().lower()
    if flag in OFF:
        return ""
    if provider.kind == "anthropic":
        return "anthropic"
    if provider.kind == "azure":  # only Global Batch deployments take batches: opt in
        return "openai" if flag in ON else ""
    if provider.kind == "openai":
        if flag in ON:
            return "openai"
        try:
            host = urlparse(wire.base_url(provider)).hostname or ""
        except Exception:  # an unset os.environ/ reference: not native
            return ""
        return "openai" if host == "api.openai.com" else ""
    return ""


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
    return 1 - BATCH_DISCOUNT.get(api, Decimal(0))


class NativeBatches:
    """One provider's batch API."""

    def __init__(self, provider: ProviderEntry) -> None:
        self.provider = provider
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
        target = url or self.url(path)
        headers: dict[str, str] = {"Accept": "application/json"}
        content = b""
        if json is not None:
            content = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        await self.adapter.sign(method, target, content, headers)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                if files is not None:
                    headers.pop("Content-Type", None)
                    response = await client.request(
                        method, target, headers=headers, files=files, data=data
                    )
                else:
                    response = await client.request(
                        method, target, headers=headers, content=content or None
                    )
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, target) from exc
        if response.status_code >= 400:
            error = UpstreamError(
                f"upstream provider {self.provider.name!r} answered {response.status_code} "
                f"to {method} {urlparse(target).path}: {_message(response)}"
            )
            error.status = response.status_code if response.status_code < 500 else 502
            raise error
        if raw:
            return response.content
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(
                f"upstream provider {self.provider.name!r} answered {method} "
                f"{urlparse(target).path} with no JSON"
            ) from None


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:500]
    return str(data)[:300]


class OpenAIBatches(NativeBatches):
    """``POST /files`` (purpose batch), ``POST /batches``, ``GET /batches/{id}``,
    ``POST /batches/{id}/cancel``, ``GET /files/{id}/content`` (Azure: under
    ``/openai/`` with its api-version, which the adapter's ``url`` adds)."""

    def url(self, path: str) -> str:
        return str(self.adapter.url(path.lstrip("/")))

    def endpoint(self, endpoint: str) -> str:
        """The batch endpoint as this upstream names it (Azure: without ``/v1``)."""
        return endpoint.removeprefix("/v1") if self.provider.kind == "azure" else endpoint

    async def upload(self, content: bytes, filename: str) -> str:
        answer = await self.call(
            "POST",
            "files",
            files={"file": (filename, content, "application/jsonl")},
            data={"purpose": "batch"},
        )
        return str(answer["id"])

    async def create(self, file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        body = {
            "input_file_id": file_id,
            "endpoint": self.endpoint(endpoint),
            "completion_window": "24h",
            "metadata": metadata,
        }
        answer: dict[str, Any] = await self.call("POST", "batches", json=body)
        return answer

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("GET", f"batches/{batch_id}")
        return answer

    async def find(self, file_id: str) -> str:
        """The id of a batch already made from ``file_id`` among the newest 100 ("" :
        none), so a creation whose answer was lost is not made twice."""
        answer = await self.call("GET", "batches?limit=100")
        for item in answer.get("data") or [] if isinstance(answer, dict) else []:
            if isinstance(item, dict) and item.get("input_file_id") == file_id:
                return str(item.get("id") or "")
        return ""

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("POST", f"batches/{batch_id}/cancel")
        return answer

    async def content(self, file_id: str) -> bytes:
        answer: bytes = await self.call("GET", f"files/{file_id}/content", raw=True)
        return answer

    async def delete_file(self, file_id: str) -> None:
        await self.call("DELETE", f"files/{file_id}")


class AnthropicBatches(NativeBatches):
    """``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
    ``POST /v1/messages/batches/{id}/cancel``, and the results at ``results_url``."""

    def url(self, path: str) -> str:
        return str(self.adapter.url(path))

    async def create(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call(
            "POST", "/v1/messages/batches", json={"requests": requests}
        )
        return answer

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("GET", f"/v1/messages/batches/{batch_id}")
        return answer

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("POST", f"/v1/messages/batches/{batch_id}/cancel")
        return answer

    async def results(self, results_url: str) -> bytes:
        if urlparse(results_url).netloc != urlparse(self.url("/")).netloc:
            raise UpstreamError(  # the provider's key goes to its own host only
                f"upstream provider {self.provider.name!r} gave a results_url on another host"
            )
        answer: bytes = await self.call("GET", "", url=results_url, raw=True)
        return answer


def client_for(provider: ProviderEntry) -> OpenAIBatches | AnthropicBatches:
    api = native_api(provider)
    if api == "anthropic":
        return AnthropicBatches(provider)
    if api == "openai":
        return OpenAIBatches(provider)
    raise UpstreamError(f"provider {provider.name!r} has no batch API")
