"""A passthrough request's part in the pipeline (``gateway.core.service._serve``).

The pipeline does what it does for every endpoint: the key (401 in the vendor's error
format), the route that admits it (``route.call``: its list, its teams), rpm and tpm,
the budgets (a hold before, the cost after), tags (the key's and the header's: the
body is the vendor's, its ``metadata`` is never read or taken out), the guardrails
(declared in ``gateway.base.endpoints``: ``passthrough`` for a body of a known shape,
whose texts are read; ``passthrough_opaque`` for any other, which a pre_call guardrail
applying refuses), one journal row and the trace span. This job does the rest:

- ``check``: the path (``paths.checked``) and the provider, route and deployment
  (``selection.choose``), before the route's decision;
- ``prepare``: the provider's ``passthrough_paths`` and its kind's scope (Vertex AI's
  project), once the key may call the route;
- ``respond``: one request (never retried: a vendor call may not be idempotent) to the
  provider's API root, the caller's body as it came (a pre_call guardrail's masking
  carried into it, the texts read back to check every change landed), signed with the
  provider's credentials (``Provider.sign_api_call``: a key, Vertex AI's token, SigV4);
  the answer's status and headers passed on, its body relayed chunk by chunk as it
  arrives and read on the way for its usage (``shapes.AnswerReader``), priced for the
  model it names (``pricing``). An upstream error status is read whole and passed on
  with the provider's credentials taken out of it; an upstream that breaks off a
  stream ends the caller's body unfinished (``StreamCut``), never as a short answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from gateway.access import registry
from gateway.base import endpoints, http, lifecycle
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry
from gateway.base.errors import (
    GatewayError,
    GuardrailBlocked,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ShuttingDown,
    UpstreamError,
)
from gateway.base.pooled_transport import body_chunks
from gateway.base.secrets import provider_credentials
from gateway.base.types import ChatRequest, Usage
from gateway.core.call import SHUTDOWN_CUT, Call, Reply, StreamCut, StreamReply
from gateway.core.jobs import Job, begin_attempt
from gateway.core.pumps import close_quietly
from gateway.features.passthrough import paths, pricing, selection, shapes
from gateway.features.passthrough.paths import TARGET, Target
from gateway.providers import wire
from gateway.providers.base import ApiCall
from gateway.routing.attempts import Attempt
from gateway.telemetry import tracing

READABLE, OPAQUE = "passthrough", "passthrough_opaque"  # the two declarations
assert READABLE in endpoints.ENDPOINTS and OPAQUE in endpoints.ENDPOINTS
# bodies the journal keeps as they came (others: their size and type only)
_TEXTUAL = ("json", "text/", "x-www-form-urlencoded", "xml")


class PassthroughJob(Job):
    declared_as = READABLE
    reach: selection.Reach  # the provider reached (``check``)
    deployment: DeploymentEntry  # its deployment on the admitting route

    def __init__(
        self, call: Call, key: KeyEntry, body: dict[str, Any], headers: Mapping[str, str]
    ) -> None:
        target = body.pop(TARGET, None)
        super().__init__(call, key, {}, headers)
        if not isinstance(target, Target):
            raise InvalidRequest("a passthrough request names no vendor path")
        self.target = target
        self.path = ""
        self.content = bytes(call.raw)
        kind = headers.get("content-type", "")
        self.vendor_body = shapes.json_object(self.content, kind)
        call.logged_request = self.content if _textual(kind) else _summary(self.content, kind)
        call.logged_upstream = b""  # what went up is the caller's body: not twice
        self.readable: ChatRequest | None = None
        if registry.current().guardrails:  # what one would read; without any, nothing
            self.declared_as = self._declaration()

    def _declaration(self) -> str:
        if not self.content:
            self.readable = ChatRequest(model="passthrough")  # carries no text
        else:
            self.readable = shapes.readable(
                self.vendor_body, self.call.dialect, self.target.path or ""
            )
        return READABLE if self.readable is not None else OPAQUE

    # --- the pipeline's steps -----------------------------------------------------------
    def check(self) -> None:
        target = self.target
        if target.method not in paths.METHODS:
            raise InvalidRequest(
                f"{target.method} is not passed through (only {', '.join(sorted(paths.METHODS))})",
                code="method_not_allowed",
            )
        self.path = paths.checked(target.path)
        chosen = selection.choose(self.key, target.prefix, target.provider)
        if not chosen.open_to_key:  # told of no route or provider; the row names one
            self.call.record.route = chosen.route.name
            raise PermissionDenied(
                f"this API key may use no provider answering /{target.prefix}/ passthrough "
                "(it needs a route with a deployment on one)"
            )
        self.reach, self.deployment = chosen.reach, chosen.deployment
        self.body = {"model": chosen.route.name}  # the route the pipeline admits it on

    def max_output(self) -> int | None:
        return shapes.max_output(self.vendor_body)

    async def prepare(self, route: RouteEntry) -> None:
        provider = self.reach.provider
        allowed = selection.allowed_paths(provider)
        if allowed and not paths.under(self.path, allowed):
            raise PermissionDenied(
                f"provider {provider.name!r} passes through only {', '.join(allowed)}",
                code="path_not_allowed",
            )
        self.estimate = len(self.content) // 4 if self.vendor_body is not None else 0

    def guard_request(self) -> ChatRequest | None:
        return self.readable

    def rewritten(self, carry: Callable[[Any], Any]) -> None:
        """A pre_call guardrail masked texts: they are carried into the body as
        received, and the body is read again: every text must now be the checked one,
        or the request is refused (a text the codec assembled from pieces cannot be
        carried, and the original must not go up)."""
        checked = self.readable
        assert checked is not None and checked.messages is not None  # REQUEST: read
        body = carry(self.vendor_body) if self.vendor_body is not None else None
        again = shapes.readable(body, self.call.dialect, self.path)
        if body is None or again is None or not shapes.same_texts(again, checked):
            raise GuardrailBlocked(
                "a guardrail rewrote texts of this request that cannot be carried into "
                "the body passed through as it came; the request is refused rather than "
                "sent unchecked",
                guardrail="",
                code="guardrail_not_applicable",
            )
        self.vendor_body = body
        self.content = orjson.dumps(body)
        self.call.logged_request = self.content

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        call, deployment, target = self.call, self.deployment, self.target
        adapter = begin_attempt(call, route, deployment)
        provider = deployment.provider
        if call.span is not None:  # the request's span and its attempt's say what it did
            tracing.annotate(
                call,
                {
                    "http.request.method": target.method,
                    "url.path": self.path,
                    "switchyard.passthrough.provider": provider.name,
                },
            )
        root = await adapter.api_root(deployment)
        if root is None:
            raise ModelNotFound(
                f"{provider.kind} providers take no passthrough", code="unknown_url"
            )
        scope = await adapter.api_scope(deployment)
        if scope and not paths.under(self.path, scope):
            raise PermissionDenied(
                f"provider {provider.name!r} passes through only under "
                f"{', '.join(scope)} (its project and location)",
                code="path_not_allowed",
            )
        url = paths.url(root, self.path, target.query)
        headers = paths.forwarded(self.headers, provider.extra_headers)
        await adapter.sign_api_call(deployment, ApiCall(target.method, url, self.content, headers))
        headers = paths.one_each(headers)
        exchange = call.attempt_exchange
        exchange.begin(wire.safe_url(url), self.content)
        started = time.perf_counter()
        client = http.client()
        timeout = http.default_timeout(read=provider.timeout)
        try:
            request = client.build_request(
                target.method, url, content=self.content, headers=headers, timeout=timeout
            )
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            exchange.end()
            error = wire.transport_error(exc, provider, url)
            self._attempt(route, 0, started, error.message)
            raise error from exc
        status = response.status_code
        exchange.status = status
        self._attempt(route, status, started, "" if status < 400 else f"HTTP {status}")
        kind = response.headers.get("content-type", "application/octet-stream")
        ours = call.headers(kind.encode("latin-1"))
        headers_out = ours + paths.returned(response.headers.raw, ours)
        if status >= 400:
            return await self._refusal(response, headers_out, deployment)
        call.record.stream = kind.startswith("text/event-stream")
        chunks = Relay(self, response, shapes.AnswerReader(kind), url)
        return StreamReply(status, headers_out, chunks, keepalive=False)

    # --- the answer ----------------------------------------------------------------------
    def _attempt(self, route: RouteEntry, status: int, started: float, error: str) -> None:
        deployment = self.deployment
        self.call.record.attempts.append(
            Attempt(
                deployment.id,
                deployment.label,
                route.name,
                status,
                (time.perf_counter() - started) * 1000,
                error,
            )
        )

    async def _refusal(
        self,
        response: httpx.Response,
        headers: list[tuple[bytes, bytes]],
        deployment: DeploymentEntry,
    ) -> Reply:
        """An upstream error status, passed on: its body read whole (at most the answer
        cap) with the provider's credentials taken out, as every upstream error is."""
        call = self.call
        exchange = call.attempt_exchange
        limit = http.max_answer_bytes()
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    break
                parts.append(chunk)
        except httpx.TransportError:
            pass  # what arrived is what the caller gets
        finally:
            await response.aclose()
            exchange.end()
        raw = b"".join(parts).decode("utf-8", "replace")
        body = provider_credentials.scrub_text(raw, deployment.provider).encode()
        exchange.received(body)
        call.capture_outbound(body)
        status = response.status_code
        call.finish(
            status=status, error=UpstreamError(f"the upstream answered {status}", status=status)
        )
        return Reply(status, body, headers)

    def finish(
        self,
        status: int,
        usage: Usage | None,
        model: str,
        error: GatewayError | None,
        disconnected: bool,
    ) -> None:
        """The call's one end: priced for the model named, its status (the upstream's;
        499 when the client left, the error's when one ended it)."""
        call = self.call
        names = [*shapes.models_named(self.vendor_body, self.path), model]
        call.deployment = pricing.priced(self.deployment, names)
        if error is not None:
            status = error.status
        elif disconnected:
            status, error = 499, GatewayError("client disconnected")
        call.finish(status=status, usage=usage, error=error, disconnected=disconnected)


class Relay:
    """The answer's body, chunk by chunk as it arrives, read on the way (``reader``);
    the call finished once with what was read: the whole answer, or what arrived before
    the client left (``aclose``, which the edge calls whether or not it read any) or
    the upstream broke off (``StreamCut``: the caller's body ends unfinished)."""

    def __init__(
        self, job: PassthroughJob, response: httpx.Response, reader: shapes.AnswerReader, url: str
    ) -> None:
        self.job, self.response, self.reader, self.url = job, response, reader, url
        self.source = aiter(body_chunks(response))
        self.done = False

    def __aiter__(self) -> Relay:
        return self

    async def __anext__(self) -> bytes:
        if self.done:
            raise StopAsyncIteration
        call = self.job.call
        try:
            chunk = await anext(self.source)
        except StopAsyncIteration:
            await self._end(None, disconnected=False)
            raise
        except httpx.TransportError as exc:
            error = wire.transport_error(exc, self.job.deployment.provider, self.url)
            await self._end(error, disconnected=False)
            raise StreamCut(error.message) from exc
        except asyncio.CancelledError:
            cut = lifecycle.was_cut()
            await self._end(ShuttingDown(SHUTDOWN_CUT) if cut else None, disconnected=not cut)
            raise
        if call.first_token is None:
            call.first_token = time.perf_counter()
        call.attempt_exchange.received(chunk)
        call.capture_outbound(chunk)
        self.reader.feed(chunk)
        return chunk

    async def aclose(self) -> None:
        """The client's reading ended (all of it, or it left): finish if not done."""
        await self._end(None, disconnected=True)

    async def _end(self, error: GatewayError | None, disconnected: bool) -> None:
        if self.done:
            return
        self.done = True
        await close_quietly(self.response)
        self.job.call.attempt_exchange.end()
        usage, model = self.reader.end()
        self.job.finish(self.response.status_code, usage, model, error, disconnected)


def _textual(content_type: str) -> bool:
    kind = content_type.partition(";")[0].strip().lower()
    return not kind or any(part in kind for part in _TEXTUAL)


def _summary(content: bytes, content_type: str) -> bytes:
    """What the journal keeps of a body that is not text: its size and type."""
    return orjson.dumps({"passthrough": f"{len(content)} bytes", "content_type": content_type})
