"""Anthropic's Messages API upstream (``{base_url}/v1/messages``): reaching it (base
URL, ``x-api-key``, ``anthropic-version``/``anthropic-beta``), posting and streaming,
and same-dialect passthrough. What is said is ``gateway.codecs.anthropic``'s.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from .. import http
from ..codecs.anthropic import maps, outbound
from ..errors import UpstreamError
from ..registry import DeploymentEntry
from ..streaming import iter_sse, sse_bytes
from ..types import ChatRequest, ChatResponse, ErrorEvent, Start, StreamEvent, UsageEvent
from . import wire
from .base import Exchange, Provider, register
from .codec_provider import target_of

DEFAULT_BASE_URL = "https://api.anthropic.com"
# A LiteLLM-style api_base may name the API path; the adapter wants the host root.
_API_PATH = re.compile(r"/v1(/messages)?$")
DEFAULT_VERSION = "2023-06-01"


def build_body(request: ChatRequest, deployment: DeploymentEntry) -> dict[str, Any]:
    """The Messages API body for ``request`` on ``deployment`` (no ``stream`` key)."""
    return outbound.build_body(request, target_of(deployment))


# --- HTTP ------------------------------------------------------------------------------


def _status_error(response: httpx.Response) -> UpstreamError:
    mapped = outbound.parse_error(response.status_code, response.content)
    mapped.retry_after = wire.retry_after(response)
    return mapped


@register
class AnthropicProvider(Provider):
    kind = "anthropic"
    dialect = "anthropic"

    # --- plumbing ---------------------------------------------------------------------

    def url(self, path: str) -> str:
        base = wire.base_url(self.provider) or DEFAULT_BASE_URL
        if self.provider.base_url.startswith("os.environ/"):  # read now: normalise like import
            base = _API_PATH.sub("", base)
        return base.rstrip("/") + path

    def headers(self, caller: dict[str, str]) -> dict[str, str]:
        secret, extra = wire.credentials(self.provider)
        headers = {
            "content-type": "application/json",
            "x-api-key": secret,
            "anthropic-version": caller.get("anthropic-version") or DEFAULT_VERSION,
        }
        if caller.get("anthropic-beta"):
            headers["anthropic-beta"] = caller["anthropic-beta"]
        headers.update(extra)
        return headers

    def timeout(self) -> httpx.Timeout:
        return http.default_timeout(read=self.provider.timeout)

    async def _post(
        self, path: str, body: dict[str, Any], caller: dict[str, str], exchange: Exchange
    ) -> dict[str, Any]:
        url, content = self.url(path), orjson.dumps(body)
        headers = self.headers(caller)
        exchange.begin(url, content)
        try:
            response = await http.client().post(
                url, content=content, headers=headers, timeout=self.timeout()
            )
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        finally:
            exchange.end()
        exchange.status = response.status_code
        exchange.received(response.content)
        if not response.is_success:
            raise _status_error(response)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError("Anthropic upstream sent a body that is not JSON") from exc

    async def _events(
        self, body: dict[str, Any], caller: dict[str, str], exchange: Exchange
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Each upstream SSE event as bytes with its canonical events. Fails by raising
        until a canonical event was produced, by a final ErrorEvent afterwards."""
        url, content = self.url("/v1/messages"), orjson.dumps({**body, "stream": True})
        headers = self.headers(caller)
        exchange.begin(url, content)
        translator = outbound.StreamTranslator()
        began = False
        try:
            async with http.client().stream(
                "POST", url, content=content, headers=headers, timeout=self.timeout()
            ) as response:
                exchange.status = response.status_code
                if not response.is_success:
                    await response.aread()
                    exchange.received(response.content)
                    raise _status_error(response)
                async for message in iter_sse(response.aiter_lines()):
                    raw = sse_bytes(message.data, message.event)
                    exchange.received(raw)
                    try:
                        data = orjson.loads(message.data)
                    except orjson.JSONDecodeError:
                        continue
                    events = translator.feed(data) if isinstance(data, dict) else []
                    for event in events:
                        if (
                            isinstance(event, UsageEvent)
                            or isinstance(event, Start)
                            and event.usage
                        ):
                            exchange.usage.merge(event.usage)
                    failure = next((e for e in events if isinstance(e, ErrorEvent)), None)
                    if failure is not None and not began:
                        raise failure.error
                    began = began or bool(events)
                    yield raw, events
                    if failure is not None:
                        return
                    if translator.done:
                        break
            if not translator.finished:
                raise outbound.stream_cut()
            tail = translator.finish()
            if tail:
                yield b"", tail
        except httpx.TransportError as exc:
            error = wire.transport_error(exc, self.provider, url)
            if not began:
                raise error from exc
            yield maps.stream_error(error), [ErrorEvent(error)]
        except UpstreamError as error:
            if not began:
                raise
            yield maps.stream_error(error), [ErrorEvent(error)]
        finally:
            exchange.end()

    # --- the Provider interface ---------------------------------------------------------

    async def complete(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> ChatResponse:
        data = await self._post(
            "/v1/messages", build_body(request, deployment), request.headers, exchange
        )
        response = outbound.parse_response(data)
        exchange.usage.merge(response.usage)
        return response

    async def stream(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[StreamEvent]:
        body = build_body(request, deployment)
        events = self._events(body, request.headers, exchange)
        try:
            async for _raw, translated in events:
                for event in translated:
                    yield event
        finally:
            await events.aclose()

    async def passthrough(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        data = await self._post("/v1/messages", _rewritten(body, deployment), headers, exchange)
        exchange.usage.merge(maps.usage(data.get("usage")))
        return data

    async def passthrough_stream(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        events = self._events(_rewritten(body, deployment), headers, exchange)
        try:
            async for raw, translated in events:
                if raw:
                    yield raw, translated
        finally:
            await events.aclose()

    async def count_tokens(
        self,
        request: ChatRequest,
        deployment: DeploymentEntry,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> int | None:
        source = (
            _rewritten(body, deployment)
            if body and "messages" in body
            else build_body(request, deployment)
        )
        counted = {name: source[name] for name in outbound.COUNT_FIELDS if name in source}
        data = await self._post(
            "/v1/messages/count_tokens", counted, headers or request.headers, Exchange()
        )
        value = data.get("input_tokens")
        if not isinstance(value, int):
            raise UpstreamError("Anthropic count_tokens answer has no input_tokens")
        return value

    async def list_models(self) -> list[str]:
        url = self.url("/v1/models")
        try:
            response = await http.client().get(
                url, params={"limit": 1000}, headers=self.headers({}), timeout=self.timeout()
            )
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        if not response.is_success:
            raise _status_error(response)
        return [item["id"] for item in response.json().get("data", []) if "id" in item]


def _rewritten(body: dict[str, Any], deployment: DeploymentEntry) -> dict[str, Any]:
    """The caller's body for the deployment: its model id, max_tokens within the ceiling."""
    out = {**body, "model": deployment.model}
    ceiling = deployment.max_output_tokens
    if ceiling and isinstance(out.get("max_tokens"), int) and out["max_tokens"] > ceiling:
        out["max_tokens"] = ceiling
    return out


__all__ = ["AnthropicProvider", "build_body"]
