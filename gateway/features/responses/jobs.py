"""The Responses API's own endpoints in the pipeline, registered as the jobs of their
endpoints (``hooks.endpoint_jobs``, by this feature's plugin): ``prepare`` (a WebSocket
turn with ``generate: false``, stored without generating), ``input_tokens``
(``POST /v1/responses/input_tokens``, counted as ``count_tokens`` is) and ``compact``
(``POST /v1/responses/compact``). Each reads the turn's stored state (``state.begin``:
``previous_response_id``, ``conversation``) as a create does; only ``prepare`` keeps
anything."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.types import ChatRequest, ChatResponse, Text, Usage
from gateway.codecs.openai_responses.maps import parse_usage, usage_body
from gateway.core import tokens
from gateway.core.call import Reply
from gateway.core.jobs import (
    CountTokensJob,
    Job,
    RoutedJob,
    apply_defaults,
    check_allowed,
    check_texts,
)
from gateway.core.upstream import UpstreamCall
from gateway.features.responses import compaction, state
from gateway.features.responses.items import as_input, normalize_input
from gateway.providers import passthrough_body
from gateway.providers.base import Provider

log = logging.getLogger(__name__)


# --- Responses WebSocket mode: generate false -----------------------------------------------


class PrepareJob(Job):
    """A Responses request with ``generate: false`` (WebSocket mode; Codex warms up
    with it): validated and stored with no output and no upstream call, so its id can
    be a later turn's ``previous_response_id``. Admitted as a request for the rpm."""

    async def prepare(self, route: RouteEntry) -> None:
        check_allowed(self.key, route)

    def guard_request(self) -> ChatRequest:
        """The turn's own input as sent (what it stores is read when a turn sends it)."""
        return self.call.client.parse_request(self._checked(self.body), self.headers)

    @staticmethod
    def _checked(body: dict[str, Any]) -> dict[str, Any]:
        # A warm-up may carry no input yet (only instructions and tools): nothing to
        # generate from is fine here, so an empty input is validated as an empty turn.
        empty = {"type": "message", "role": "user", "content": ""}
        return body if body.get("input") not in ([], "", None) else {**body, "input": [empty]}

    async def respond(self, route: RouteEntry) -> Reply:
        call, body = self.call, self.body
        apply_defaults(body, route)
        call.state = await state.begin(body, self.key, call.caller.responses_memory)
        call.state.route = route.name
        request = call.client.parse_request(self._checked(body), self.headers)
        rendered = call.client.render_response(ChatResponse("", request.model), request)
        rendered["output"] = []
        await call.state.keep(rendered)
        payload = orjson.dumps(rendered)
        call.capture_outbound(payload)
        call.finish(status=200, usage=Usage(), finish_reason="stop")
        return Reply(200, payload, call.headers())


# --- input_tokens -----------------------------------------------------------------------------


class InputTokensJob(CountTokensJob):
    """``POST /v1/responses/input_tokens`` (the OpenAI SDK's
    ``responses.input_tokens.count``): counted as ``count_tokens`` is, by the first
    upstream with a counter (a Responses API upstream's own ``/responses/input_tokens``,
    Anthropic's ``count_tokens``, Gemini's ``countTokens``), else by the gateway's
    tokenizer; answered ``{"object": "response.input_tokens", "input_tokens": N}``. A
    ``previous_response_id`` or ``conversation`` counts the stored items before the new
    input, as the response it stands for would have them; nothing is stored."""

    async def prepare(self, route: RouteEntry) -> None:
        await super().prepare(route)
        body = self.body
        body["store"] = False  # a count keeps nothing
        if "previous_response_id" in body or "conversation" in body:
            await state.begin(body, self.key, self.call.caller.responses_memory)
        for name in ("store", "previous_response_id", "conversation"):
            body.pop(name, None)  # resolved here: the upstream never sees the gateway's ids

    def guard_request(self) -> ChatRequest:
        if self.parsed is None:
            self.parsed = self.call.client.parse_request(self.body, self.headers)
        return self.parsed


# --- compaction (POST /v1/responses/compact) ------------------------------------------------


class CompactJob(RoutedJob):
    """``POST /v1/responses/compact`` on any route: the upstream's own compaction when
    it speaks the Responses API (the body passed through, ``previous_response_id``
    resolved here first) and has one (a 404 / 405 / 501 there: it has not), else the
    route's model summarises the conversation and the
    gateway answers the compacted window (``compaction``). Nothing is
    stored; one journal row, priced like any call of the deployment."""

    # the fields of a compact body (CompactResponseMethodPublicBody) an upstream gets
    FIELDS = ("model", "input", "instructions", "prompt_cache_key")
    # what a Responses API upstream without /responses/compact answers it
    NO_NATIVE_COMPACTION = frozenset({404, 405, 501})

    def check(self) -> None:
        body = self.body
        if body.get("input") is None and body.get("previous_response_id") is None:
            raise InvalidRequest(
                "input or previous_response_id is required: the conversation to compact",
                param="input",
            )

    def max_output(self) -> int | None:
        return None

    async def prepare(self, route: RouteEntry) -> None:
        call, body = self.call, self.body
        probe = {**body, "store": False}  # compaction stores nothing
        await state.begin(probe, self.key, call.caller.responses_memory)
        self.items = normalize_input(probe.get("input"))
        if not self.items:
            raise InvalidRequest("input must contain at least one item", param="input")
        upstream_input = [as_input(item) for item in self.items]
        self.upstream_body = {k: body[k] for k in self.FIELDS if body.get(k) is not None}
        self.upstream_body["input"] = upstream_input
        parsed = {**self.upstream_body, "model": body.get("model")}
        self.request = call.client.parse_request(parsed, self.headers)
        self.estimate = tokens.estimate_tokens(self.request)

    def rewritten(self, carry: Callable[[Any], Any]) -> None:
        self.items = carry(self.items)
        self.upstream_body = carry(self.upstream_body)

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        call, request = self.call, self.request
        assert request is not None  # prepare parsed it
        guard = call.guard
        # a Responses API upstream compacts natively, unless a guardrail rewrote a text
        # the body does not hold as is (then the rewritten request is summarised)
        if adapter.speaks is call.codec and (guard is None or not guard.translates):
            url = adapter.endpoint(deployment, False) + "/compact"  # type: ignore[attr-defined]
            body = passthrough_body.for_deployment(self.upstream_body, deployment)
            try:
                data = await adapter.post_json(url, body, call.attempt_exchange, request.headers)  # type: ignore[attr-defined]
            except UpstreamError as refused:
                # a Responses API server without compaction (vLLM's, Ollama's, ...): the
                # route's model summarises, as on any other upstream
                if refused.status not in self.NO_NATIVE_COMPACTION:
                    raise
                log.info(
                    "%s: no /responses/compact (%s), summarising", deployment.label, refused.status
                )
            else:
                if not isinstance(data, dict) or data.get("object") != "response.compaction":
                    raise UpstreamError(
                        "upstream answered compact with unexpected JSON", status=502
                    )
                usage = parse_usage(data.get("usage"))
                call.attempt_exchange.usage = usage
                if guard is not None:
                    await self.check_output(data, usage)
                return orjson.dumps(data), usage, "stop"
        summary = compaction.summary_request(request)
        prepared = UpstreamCall.prepare(
            summary, adapter, route, deployment, held_ceiling=self.held_ceiling(deployment)
        )
        response = await prepared.complete(call.attempt_exchange)
        if guard is not None:  # the summary is the answer post_call reads
            response = await guard.after(response)
        text = "".join(part.text for part in response.parts if isinstance(part, Text)).strip()
        if not text:
            raise UpstreamError("the model returned an empty summary", status=502)
        payload = compaction.resource(self.items, text, usage_body(response.usage))
        return orjson.dumps(payload), response.usage, response.finish_reason

    async def check_output(self, data: dict[str, Any], usage: Usage) -> None:
        """The guardrails' verdict on a native compaction: the text of its output
        messages (its compaction items are encrypted, as reasoning is: not read)."""
        guard = self.call.guard
        assert guard is not None  # the caller checked
        found = [
            part
            for item in data.get("output") or ()
            if isinstance(item, dict) and item.get("type") == "message"
            for part in item.get("content") or ()
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        await check_texts(guard, found, usage)


# endpoint -> its job (registered by the plugin, ``hooks.endpoint_jobs``)
JOBS: dict[str, type[Job]] = {
    "prepare": PrepareJob,
    "input_tokens": InputTokensJob,
    "compact": CompactJob,
}
