"""Upstreams' own batch APIs: OpenAI's Files + Batch API (``/files`` with purpose
``batch``, ``/batches``) and Anthropic's Message Batches (``/v1/messages/batches``);
the Gemini API's batch mode has its client in ``batch_gemini``.

Which providers take a native batch (``native_api``): Anthropic providers (unless their
``native_batches`` setting says ``off``); OpenAI-compatible providers whose upstream is
api.openai.com, or any other whose ``native_batches`` setting is ``on`` (vLLM and most
compatible servers have no ``/batches``); Azure OpenAI providers whose setting is ``on``
(their deployments must be Global Batch ones; Azure names the endpoint without ``/v1``:
``/chat/completions``); Gemini API providers (kind ``gemini``) unless their setting says
``off`` (Vertex AI's batch prediction needs Cloud Storage or BigQuery: not native);
Bedrock providers with ``batch_s3_uri`` and ``batch_role_arn`` (batch inference: its
client is ``batch_bedrock``). Each call is signed by the provider's adapter
(its secret and extra headers), through a short-lived client: these are a handful of
background calls per batch, never on the request path. Failures raise
``UpstreamError`` with the upstream's status and a message free of secrets.

Batch price: both upstreams bill a batch's tokens at half their standard price
(OpenAI: "Batch API ... 50% discount" on https://platform.openai.com/docs/guides/batch;
Anthropic: "Batch usage is charged at 50% of the standard API prices" on
https://docs.anthropic.com/en/docs/build-with-claude/batch-processing), and so does
Gemini's batch mode ("at 50% of the standard cost" on
https://ai.google.dev/gemini-api/docs/batch-mode; batch prices on
https://ai.google.dev/gemini-api/docs/pricing); Bedrock bills batch inference at 50 %
of on-demand for the models that support it ("Batch ... 50% cost savings vs on-demand"
on https://docs.aws.amazon.com/bedrock/latest/userguide/capacity-limits-cost-optimization.html,
per-model prices on https://aws.amazon.com/bedrock/pricing/). A provider's
``batch_discount`` setting (a fraction, e.g. ``0.5``) overrides the rule."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson

from gateway.base.entries import ProviderEntry
from gateway.errors import UpstreamError
from gateway.providers import batch_bedrock, wire
from gateway.providers.base import adapter_for

BATCH_DISCOUNT = {
    "openai": Decimal("0.5"),
    "anthropic": Decimal("0.5"),
    "gemini": Decimal("0.5"),
    "bedrock": Decimal("0.5"),
}
ON = ("on", "true", "yes", "1")
OFF = ("off", "false", "no", "0")
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
LIST_LIMIT = 1000  # Anthropic's largest page of listed batches
LIST_PAGES = 20  # at most this many pages are read when looking for a batch


def native_api(provider: ProviderEntry) -> str:
    """The batch API the provider's upstream has: "openai", "anthropic", "gemini" or ""."""
    flag = str(provider.settings.get("native_batches", "")).strip().lower()
    if flag in OFF:
        return ""
    if provider.kind in ("anthropic", "gemini"):
        return provider.kind
    if provider.kind == "bedrock":
        return "" if batch_bedrock.missing_settings(provider) else batch_bedrock.API
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


def why_not(provider: ProviderEntry) -> str:
    """Why a provider of a kind that may have a batch API has none here ("" : it has
    one, was turned off, or its kind has none at all)."""
    if native_api(provider) or str(provider.settings.get("native_batches", "")).lower() in OFF:
        return ""
    if provider.kind == "bedrock":
        missing = " and ".join(batch_bedrock.missing_settings(provider))
        return f"provider {provider.name!r} has no {missing} setting (Bedrock batch inference)"
    return ""


def min_lines(provider: ProviderEntry) -> int:
    """The fewest lines a native batch to this provider may have."""
    return batch_bedrock.min_records(provider) if native_api(provider) == "bedrock" else 1


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

    async def created_since(self, since: datetime) -> list[dict[str, Any]]:
        """The workspace's batches created at or after ``since``: ``GET
        /v1/messages/batches`` lists them newest first, ``limit`` up to 1000 a page,
        the next page ``after_id`` the last id (docs.anthropic.com, "List Message
        Batches"); paging stops at the first batch older than ``since``."""
        found: list[dict[str, Any]] = []
        after = ""
        for _page in range(LIST_PAGES):
            query = f"?limit={LIST_LIMIT}" + (f"&after_id={after}" if after else "")
            answer = await self.call("GET", "/v1/messages/batches" + query)
            items = answer.get("data") if isinstance(answer, dict) else None
            for item in items or []:
                created = parse_moment(item.get("created_at")) if isinstance(item, dict) else None
                if created is None:
                    continue
                if created < since:
                    return found
                found.append(item)
            if not items or not answer.get("has_more") or not answer.get("last_id"):
                return found
            after = str(answer["last_id"])
        return found

    async def results(self, results_url: str) -> bytes:
        if urlparse(results_url).netloc != urlparse(self.url("/")).netloc:
            raise UpstreamError(  # the provider's key goes to its own host only
                f"upstream provider {self.provider.name!r} gave a results_url on another host"
            )
        answer: bytes = await self.call("GET", "", url=results_url, raw=True)
        return answer


def parse_moment(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (None: not one)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def client_for(provider: ProviderEntry) -> OpenAIBatches | AnthropicBatches:
    api = native_api(provider)
    if api == "anthropic":
        return AnthropicBatches(provider)
    if api == "openai":
        return OpenAIBatches(provider)
    raise UpstreamError(f"provider {provider.name!r} has no batch API")
