"""OpenAI Responses API upstreams (``kind = "openai_responses"``): for models offered
only there (o3-pro, codex-mini, gpt-5-pro). HTTP and auth only; what is said is the
``openai_responses`` codec's.

``base_url`` includes the version path like the OpenAI kind
(``https://api.openai.com/v1``; requests go to ``{base_url}/responses``); the secret is
sent as a Bearer token; ``extra_headers`` (e.g. ``OpenAI-Organization``) go along.

OpenAI refuses reasoning summaries (a 400 on ``reasoning.summary``) to organizations it
has not verified. Rather than fail every reasoning request, the provider retries once
without a summary and, for an hour, asks none of that provider (per process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from gateway.base import errors
from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.types import ChatRequest, ChatResponse, StreamEvent
from gateway.catalog.matching import KindVendor
from gateway.codecs import CODECS
from gateway.codecs.openai_responses import codec as responses_codec
from gateway.codecs.openai_responses import maps
from gateway.providers import wire
from gateway.providers.base import Exchange
from gateway.providers.codec_provider import CodecProvider, target_of
from gateway.providers.kinds import PASSTHROUGH_SETTINGS, FormHelp

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"  # an empty base_url means OpenAI's
SUMMARY_PAUSE_SECONDS = 3600.0
# The body fields ``POST /responses/input_tokens`` takes (InputTokenCountParams), less the
# gateway's own state (previous_response_id, conversation: resolved before counting).
COUNT_FIELDS = (
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
    "reasoning", "text", "truncation", "personality",
)  # fmt: skip
# provider id -> monotonic time until which its requests ask for no reasoning summary
_NO_SUMMARY_UNTIL: dict[int, float] = {}


class OpenAIResponsesProvider(CodecProvider):
    kind = "openai_responses"
    documents = Accepts()  # any
    catalog_vendor = KindVendor("openai")
    keyless = None
    trace_name = "openai"
    needs_base_url = False
    default_base_url = DEFAULT_BASE_URL
    form_help = FormHelp(
        base_url="Include the version path; empty: https://api.openai.com/v1 "
        "(requests go to /responses).",
        secret="The OpenAI API key (stored encrypted) or os.environ/NAME.",
    )
    settings_taken = PASSTHROUGH_SETTINGS  # gateway/features/passthrough
    speaks = CODECS["responses"]
    reasoning_families = frozenset({"openai"})
    counts_tokens = True  # POST /responses/input_tokens

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return f"{self.base()}/responses"

    def base(self) -> str:
        return (self.provider.base_url or DEFAULT_BASE_URL).rstrip("/")

    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        """The base URL without its version path, as for the OpenAI kind."""
        return (wire.base_url(self.provider) or DEFAULT_BASE_URL).removesuffix("/v1")

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        secret, extra = wire.credentials(self.provider)
        headers.update(extra)
        if secret:
            headers["Authorization"] = f"Bearer {secret}"

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        return list(responses_codec.unsupported_params(request, target_of(deployment)))

    # -- reasoning summaries for unverified organizations ----------------------------
    def _summaries_paused(self) -> bool:
        until = _NO_SUMMARY_UNTIL.get(self.provider.id)
        return until is not None and until > time.monotonic()

    def _deployment(self, deployment: DeploymentEntry) -> DeploymentEntry:
        if not self._summaries_paused():
            return deployment
        return replace(deployment, params={**deployment.params, "reasoning_summary": "none"})

    def _retry_without_summary(self, error: errors.UpstreamError, exchange: Exchange) -> bool:
        """Whether ``error`` is the unverified-organization refusal met with a summary
        asked for; if so, pause summaries for this provider and reset ``exchange``."""
        if not maps.summary_refused(error) or self._summaries_paused():
            return False
        log.warning(
            "provider %r: OpenAI refuses reasoning summaries to this organization (not "
            "verified); sending reasoning requests without a summary for %d s",
            self.provider.name,
            SUMMARY_PAUSE_SECONDS,
        )
        _NO_SUMMARY_UNTIL[self.provider.id] = time.monotonic() + SUMMARY_PAUSE_SECONDS
        exchange.response_body.clear()
        exchange.status, exchange.first_byte, exchange.ended = 0, None, None
        return True

    async def complete(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> ChatResponse:
        try:
            return await super().complete(request, self._deployment(deployment), exchange)
        except errors.UpstreamError as exc:
            if not self._retry_without_summary(exc, exchange):
                raise
        return await super().complete(request, self._deployment(deployment), exchange)

    async def stream(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[StreamEvent]:
        # The base raises only before its first event; later failures are ErrorEvents.
        try:
            async for event in super().stream(request, self._deployment(deployment), exchange):
                yield event
            return
        except errors.UpstreamError as exc:
            if not self._retry_without_summary(exc, exchange):
                raise
        async for event in super().stream(request, self._deployment(deployment), exchange):
            yield event

    def models_url(self, page: str) -> str:
        return f"{self.base()}/models"

    async def count_tokens(
        self, request: ChatRequest, deployment: DeploymentEntry, body: dict[str, Any]
    ) -> int | None:
        """The upstream's own count (``/responses/input_tokens``): of the caller's body
        when it is a Responses body, else of the request written in its format."""
        source = (
            body
            if body and "input" in body
            else self.codec.build_request(request, self.target(deployment))
        )
        counted = {name: source[name] for name in COUNT_FIELDS if name in source}
        counted["model"] = deployment.model
        url = f"{self.base()}/responses/input_tokens"
        data = await self.post_json(url, counted, Exchange(), request.headers)
        value = data.get("input_tokens") if isinstance(data, dict) else None
        if not isinstance(value, int) or isinstance(value, bool):
            raise errors.UpstreamError("the upstream's input_tokens answer has no count")
        return value
