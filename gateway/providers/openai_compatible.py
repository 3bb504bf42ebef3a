"""OpenAI-compatible Chat Completions upstreams (OpenAI, DeepSeek, vLLM, Ollama, Groq,
Gemini's OpenAI endpoint, ...) and Azure OpenAI: URL, auth headers, posting and
streaming, passthrough of chat, legacy completions and embeddings. What is said is
``gateway.codecs.openai_chat``'s.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .. import errors, http
from ..codecs.openai_chat import maps, outbound
from ..codecs.openai_chat.outbound import ChunkTranslator, chunk_error, parse_response
from ..errors import MissingSecret
from ..registry import DeploymentEntry
from ..secret_refs import resolve_secret
from ..streaming import SSEMessage, iter_sse, sse_bytes
from ..types import ChatRequest, ChatResponse, ErrorEvent, StreamEvent, UsageEvent
from . import wire
from .base import Exchange, Provider, register
from .codec_provider import target_of

AZURE_DEFAULT_API_VERSION = "2024-10-21"


def _known_host(deployment: DeploymentEntry) -> str:
    """The upstream's host name when it can be known now: an unset ``os.environ/NAME``
    gives "" here (the request itself then fails naming the variable, in ``url``)."""
    try:
        base = resolve_secret(deployment.provider.base_url)
    except MissingSecret:
        return ""
    return (urlsplit(base).hostname or "").lower()


def build_body(request: ChatRequest, deployment: DeploymentEntry) -> dict[str, Any]:
    """The upstream Chat Completions body for ``request`` on ``deployment``."""
    return outbound.build_body(request, target_of(deployment, host=_known_host(deployment)))


def upstream_error(response: httpx.Response, raw: bytes) -> errors.UpstreamError:
    """A non-2xx upstream answer -> UpstreamError with the upstream's message and its
    Retry-After."""
    error = outbound.parse_error(response.status_code, raw)
    error.retry_after = wire.retry_after(response)
    return error


async def _lines(response: httpx.Response, exchange: Exchange) -> AsyncIterator[str]:
    """Text lines of the response body, recording raw bytes in the exchange."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in response.aiter_bytes():
        exchange.received(chunk)
        pending += decoder.decode(chunk)
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line.rstrip("\r")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.rstrip("\r")


_HOP_HEADERS = frozenset(
    {
        "authorization",
        "api-key",
        "x-api-key",
        "host",
        "content-length",
        "content-type",
        "connection",
    }
)


@register
class OpenAICompatibleProvider(Provider):
    kind = "openai"
    dialect = "openai"

    # -- addressing --
    def url(self, path: str, deployment: DeploymentEntry | None = None) -> str:
        return f"{wire.base_url(self.provider)}/{path}"

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def headers(self, forwarded: dict[str, str] | None = None) -> dict[str, str]:
        """Request headers: the provider secret (never the caller's key), the provider's
        extra headers, and any caller headers worth forwarding."""
        secret, extra = wire.credentials(self.provider)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for name, value in (forwarded or {}).items():
            if name.lower() not in _HOP_HEADERS:
                headers[name] = value
        headers.update(extra)
        headers.update(self.auth_headers(secret))
        return headers

    def _timeout(self) -> httpx.Timeout:
        return http.default_timeout(read=self.provider.timeout)

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        """Chat Completions has no top_k; only servers marked ``supports_top_k`` take it."""
        return ["top_k"] if request.top_k is not None and not deployment.supports_top_k else []

    # -- plumbing --
    async def _post_json(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        forwarded: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url, headers = self.url(path, deployment), self.headers(forwarded)
        content = orjson.dumps(body)
        exchange.begin(url, content)
        try:
            response = await http.client().post(
                url, content=content, headers=headers, timeout=self._timeout()
            )
        except httpx.TransportError as exc:
            exchange.end()
            raise wire.transport_error(exc, self.provider, url) from exc
        exchange.status = response.status_code
        exchange.received(response.content)
        exchange.end()
        if response.status_code >= 400:
            raise upstream_error(response, response.content)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise errors.UpstreamError("upstream answered with invalid JSON", status=502) from None
        if not isinstance(data, dict):
            raise errors.UpstreamError("upstream answered with unexpected JSON", status=502)
        if data.get("error") and not data.get("choices") and "data" not in data:
            raise chunk_error(data)
        return data

    async def _sse(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        forwarded: dict[str, str] | None = None,
    ) -> AsyncIterator[SSEMessage]:
        """Upstream SSE messages; non-2xx and wire failures raise UpstreamError. The
        response is closed when the consumer stops (client gone)."""
        url, headers = self.url(path, deployment), self.headers(forwarded)
        headers["Accept"] = "text/event-stream"
        content = orjson.dumps(body)
        exchange.begin(url, content)
        try:
            async with http.client().stream(
                "POST", url, content=content, headers=headers, timeout=self._timeout()
            ) as response:
                exchange.status = response.status_code
                if response.status_code >= 400:
                    raw = await response.aread()
                    exchange.received(raw)
                    raise upstream_error(response, raw)
                async for message in iter_sse(_lines(response, exchange)):
                    yield message
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        finally:
            exchange.end()

    # -- translated calls --
    async def complete(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> ChatResponse:
        body = build_body(request, deployment)
        body.pop("stream", None)
        body.pop("stream_options", None)
        data = await self._post_json("chat/completions", body, deployment, exchange)
        response = parse_response(data)
        exchange.usage = response.usage
        return response

    async def stream(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[StreamEvent]:
        """Canonical events as chunks arrive. Fails by raising until the first event is
        out (routing may retry elsewhere), by yielding ErrorEvent after."""
        body = build_body(request, deployment)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        translator = ChunkTranslator()
        yielded = False
        try:
            async for events in self._translate(body, deployment, exchange, translator):
                for event in events:
                    if isinstance(event, ErrorEvent) and not yielded:
                        raise event.error
                    if isinstance(event, UsageEvent):
                        exchange.usage.merge(event.usage)
                    yielded = True
                    yield event
        except errors.GatewayError as exc:
            if not yielded:
                raise
            yield ErrorEvent(exc)

    async def _translate(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        translator: ChunkTranslator,
        forwarded: dict[str, str] | None = None,
    ) -> AsyncIterator[list[StreamEvent]]:
        async for message in self._sse("chat/completions", body, deployment, exchange, forwarded):
            yield self._events_of(message, translator)
            if translator.failed:
                return
        yield self._end_events(translator)

    @staticmethod
    def _events_of(message: SSEMessage, translator: ChunkTranslator) -> list[StreamEvent]:
        data = message.data.strip()
        if data == "[DONE]":
            return translator.finish()
        if not data:
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []  # keep-alive noise some proxies inject
        if message.event == "error" and isinstance(chunk, dict) and "error" not in chunk:
            chunk = {"error": chunk}
        return translator.feed(chunk) if isinstance(chunk, dict) else []

    @staticmethod
    def _end_events(translator: ChunkTranslator) -> list[StreamEvent]:
        """The body ended: normal after ``[DONE]`` or a finish_reason, else a cut."""
        if translator.done:
            return []
        if not translator.saw_finish_reason:
            translator.done = translator.failed = True
            return [ErrorEvent(outbound.stream_cut())]
        return translator.finish()

    # -- same-dialect passthrough --
    async def passthrough(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        return await self._relay("chat/completions", body, deployment, exchange, headers)

    async def _relay(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Post ``body`` as is and hand back the upstream JSON, usage read for the journal."""
        data = await self._post_json(path, body, deployment, exchange, headers)
        exchange.usage = maps.usage(data.get("usage"))
        return data

    async def passthrough_stream(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Forward upstream SSE events as they come, each with its canonical meaning.
        Usage is always requested upstream; a caller who did not ask for it does not
        get the usage-only chunk."""
        async for item in self._forward("chat/completions", body, deployment, exchange, headers):
            yield item

    async def _forward(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str] | None,
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        body = dict(body)
        options = dict(body.get("stream_options") or {})
        caller_wants_usage = bool(options.get("include_usage"))
        options["include_usage"] = True
        body["stream"], body["stream_options"] = True, options
        translator = ChunkTranslator()
        held: list[StreamEvent] = []  # events of chunks not forwarded
        yielded = False
        try:
            async for message in self._sse(path, body, deployment, exchange, headers):
                events = self._events_of(message, translator)
                for event in events:
                    if isinstance(event, UsageEvent):
                        exchange.usage.merge(event.usage)
                    if isinstance(event, ErrorEvent) and not yielded:
                        raise event.error
                if not caller_wants_usage and _usage_only(message):
                    held += events
                    continue
                yielded = True
                yield sse_bytes(message.data, message.event), held + events
                held = []
                if translator.failed:
                    return
            tail = self._end_events(translator)
            if tail or held:
                if any(isinstance(e, ErrorEvent) for e in tail) and not yielded:
                    raise next(e.error for e in tail if isinstance(e, ErrorEvent))
                yield _error_bytes(tail), held + tail
        except errors.GatewayError as exc:
            if not yielded:
                raise
            yield _error_bytes([ErrorEvent(exc)]), [ErrorEvent(exc)]

    # -- legacy and embeddings (OpenAI-compatible upstreams only; passthrough) --
    async def embeddings(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        return await self._relay("embeddings", body, deployment, exchange)

    async def text_completion(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        return await self._relay("completions", body, deployment, exchange)

    async def text_completion_stream(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Raw SSE events of a legacy completions stream, each with its canonical meaning
        (usage, finish, an in-stream error) for the journal."""
        async for item in self._forward("completions", body, deployment, exchange, None):
            yield item

    async def list_models(self) -> list[str]:
        url = self.url("models")
        try:
            response = await http.client().get(url, headers=self.headers(), timeout=self._timeout())
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        if response.status_code >= 400:
            raise upstream_error(response, response.content)
        data = orjson.loads(response.content)
        return [m["id"] for m in data.get("data") or [] if isinstance(m, dict) and m.get("id")]


def _usage_only(message: SSEMessage) -> bool:
    try:
        chunk = orjson.loads(message.data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


def _error_bytes(events: list[StreamEvent]) -> bytes:
    for event in events:
        if isinstance(event, ErrorEvent):
            return maps.stream_error(event.error)
    return b""


@register
class AzureOpenAIProvider(OpenAICompatibleProvider):
    """Azure OpenAI: the deployment name is in the path, the key in ``api-key``."""

    kind = "azure"
    dialect = "openai"

    def url(self, path: str, deployment: DeploymentEntry | None = None) -> str:
        base = wire.base_url(self.provider)
        version = (
            wire.setting(self.provider, self.provider.api_version, "api version")
            or AZURE_DEFAULT_API_VERSION
        )
        if deployment is None:
            return f"{base}/openai/{path}?api-version={version}"
        return f"{base}/openai/deployments/{deployment.model}/{path}?api-version={version}"

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"api-key": secret} if secret else {}
