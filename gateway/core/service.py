"""The one place that spans layers: parse -> route -> limit -> call upstream -> render ->
journal. The ASGI endpoints and the console playground both call ``handle``, so every
request is authenticated, limited, routed, retried and journaled the same way.

Every endpoint runs one pipeline (``_serve``: route, admit, cache, respond); what an
endpoint does at each step is its ``_Job``. The caller's dialect is a client codec
(``gateway.edge.dialects``), chosen by the endpoint table; the upstream's is its adapter's.
What differs between dialects is read from the codec: the service never asks which
dialect it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from gateway import journal
from gateway.codecs.base import Dialect
from gateway.codecs.openai_chat import inputs as openai_inputs
from gateway.core import (
    cache,
    capabilities,
    context_windows,
    prompt_cache,
    reasoning_ledger,
    responses_state,
    shadow,
    tokens,
)
from gateway.core.ready_batches import ready_batches
from gateway.edge import dialects
from gateway.errors import (
    AuthenticationFailed,
    ConfigurationError,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    ShuttingDown,
    UpstreamError,
)
from gateway.mcp import hosted as hosted_mcp
from gateway.policy import budget_estimate, limits, prefix_affinity, registry, routing
from gateway.policy.registry import DeploymentEntry, KeyEntry, RouteEntry
from gateway.providers import passthrough_body, wire
from gateway.providers.base import Exchange, Provider, adapter_for
from gateway.server import background, runtime
from gateway.streaming import StreamFolder
from gateway.telemetry import attribution, tracing
from gateway.types import (
    ChatRequest,
    ChatResponse,
    ModelInfo,
    StreamEvent,
    Text,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    Usage,
)

log = logging.getLogger(__name__)
# How long a translated stream's first rendered event may wait for the ones ready
# behind it before they go on together (gateway.core.ready_batches).
BATCH_WINDOW = 0.0001

Headers = list[tuple[bytes, bytes]]
SHUTDOWN_CUT = "ended by the server's shutdown after its grace period"
CONTENT_EVENTS = (TextDelta, ToolArgsDelta, ThinkingDelta)


class _RandomIds:
    """Request ids: 16 bytes of the kernel's randomness each, as uuid4's, read 4 KiB
    at a time (one getrandom call per 256 ids instead of one per request); a forked
    child starts with none of its parent's."""

    __slots__ = ("buffer", "offset")

    def __init__(self) -> None:
        self.buffer, self.offset = b"", 0

    def next(self) -> str:
        offset = self.offset
        if offset + 16 > len(self.buffer):
            self.buffer, offset = os.urandom(4096), 0
        self.offset = offset + 16
        return self.buffer[offset : offset + 16].hex()

    def forget(self) -> None:
        self.buffer, self.offset = b"", 0


_ids = _RandomIds()
os.register_at_fork(after_in_child=_ids.forget)


def new_request_id() -> str:
    """32 random hex digits."""
    return _ids.next()


def key_refusal(key: KeyEntry) -> str | None:
    """Why ``key`` may not be used now (revoked, expired), or None."""
    if key.revoked:
        return "this API key has been revoked"
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return "this API key has expired"
    return None


@dataclass(slots=True)
class Caller:
    """Who is calling: the key resolved by the endpoint (None: no or unknown key)."""

    key: KeyEntry | None
    request_id: str = field(default_factory=lambda: new_request_id())
    user_agent: str = ""
    from_playground: bool = False
    started: float = field(default_factory=time.perf_counter)
    key_error: str = "missing or invalid API key"
    # a Responses WebSocket's memory of its latest responses (gateway.core.responses_state)
    responses_memory: Any = None
    shadow_of: str = ""  # the request this one mirrors (gateway/core/shadow)


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: Headers


@dataclass(slots=True)
class StreamReply:
    status: int
    headers: Headers
    chunks: AsyncIterator[bytes]


# Statuses a retry cannot fix. The OpenAI and Anthropic SDKs and Claude Code obey
# ``x-should-retry`` over their own rules; without "false", Claude Code retried a 401
# (a wrong key) with backoff for minutes instead of saying the key is wrong.
RETRY_CANNOT_HELP = frozenset({400, 401, 403, 404, 405, 413, 415, 422})


def retry_headers(status: int) -> list[tuple[bytes, bytes]]:
    """``x-should-retry: false`` for an error a retry cannot fix; nothing otherwise
    (the clients' own rules for 408, 409, 429 and 5xx stand)."""
    return [(b"x-should-retry", b"false")] if status in RETRY_CANNOT_HELP else []


def client_status(error: GatewayError, dialect: str = "openai") -> int:
    """The HTTP status a caller of ``dialect`` gets for ``error`` (its codec decides:
    an upstream's server failure is the gateway's 502, its timeout 504; Anthropic
    callers get 529 for an overloaded upstream, which their SDKs retry)."""
    return dialects.client(dialect).client_status(error)


def protocol(dialect: str) -> Dialect:
    """The client codec of ``dialect`` (``gateway.edge.dialects``)."""
    return dialects.client(dialect)


# --- the per-request state ----------------------------------------------------------------


class Call:
    """State of one request while it runs; becomes one journal record at the end."""

    def __init__(self, endpoint: str, dialect: str, raw: bytes, caller: Caller) -> None:
        self.endpoint, self.dialect, self.raw, self.caller = endpoint, dialect, raw, caller
        self.speaks = dialects.codec(dialect)  # the wire format the caller speaks
        self.codec = dialects.client(dialect)  # its client half
        self.record = journal.Record(
            request_id=caller.request_id,
            dialect=dialect,
            endpoint=endpoint,
            user_agent=caller.user_agent[:300],
            from_playground=caller.from_playground,
            shadow_of=caller.shadow_of,
        )
        self.headers_in: Mapping[str, str] = {}  # for the shadow routes' mirrors
        self.path_fields: Mapping[str, Any] | None = None
        self.route: RouteEntry | None = None
        self.deployment: DeploymentEntry | None = None
        self.exchange: Exchange | None = None
        self.exchange_attempt = 0  # index in record.attempts the exchange's attempt gets
        self.reservation: limits.Reservation | None = None
        self.first_token: float | None = None
        self.outbound = bytearray()
        self.done = False
        self.release_deployment: Callable[[], None] | None = None  # least_busy in-flight hold
        self.stream_outcome: routing.StreamOutcome | None = None  # its deployment's verdict
        self.cache: cache.Ticket | None = None  # where a cacheable answer goes
        self.cache_status: bytes | None = None  # x-switchyard-cache: hit | miss
        self.span: Any = None  # the request's trace span (gateway/telemetry/tracing), when tracing
        self.state: responses_state.Turn | None = None  # Responses API store / chaining

    async def keep_response(self, chunk: bytes) -> None:
        """Store the response a final Responses stream event carries, before the event
        goes out (so the next turn finds it, on any worker)."""
        if self.state is not None and self.state.keeps:
            final = responses_state.final_response(chunk)
            if final is not None:
                await self.state.keep(final)

    # headers every reply carries
    def headers(self, content_type: bytes = b"application/json") -> Headers:
        rid = self.caller.request_id.encode()
        out: Headers = [(b"content-type", content_type), (b"x-request-id", rid)]
        if self.codec.request_id_header:
            out.append((self.codec.request_id_header, rid))
        if self.route is not None:
            out.append((b"x-switchyard-route", self.route.name.encode()))
        if self.deployment is not None:
            out.append((b"x-switchyard-deployment", self.deployment.label.encode()))
        out.append((b"x-switchyard-attempts", str(len(self.record.attempts)).encode()))
        if self.cache_status is not None:
            out.append((b"x-switchyard-cache", self.cache_status))
        return out

    def capture_outbound(self, chunk: bytes) -> None:
        room = settings.SWITCHYARD_LOG_BODY_MAX_BYTES - len(self.outbound)
        if room > 0:
            self.outbound += chunk[:room]

    def error_reply(self, error: GatewayError) -> Reply:
        body = orjson.dumps(self.codec.render_error(error))
        headers = self.headers()
        if error.retry_after is not None:
            headers.append((b"retry-after", str(max(1, round(error.retry_after))).encode()))
        self.capture_outbound(body)
        status = self.codec.client_status(error)
        headers += retry_headers(status)
        self.finish(status=status, error=error)
        return Reply(status, body, headers)

    def finish(
        self,
        *,
        status: int,
        usage: Usage | None = None,
        finish_reason: str = "",
        error: BaseException | None = None,
        disconnected: bool = False,
    ) -> None:
        """Complete the record and hand it to the journal (exactly once)."""
        if self.done:
            return
        self.done = True
        if self.cache is not None:  # no answer kept: identical requests waiting go on
            cache.abandon(self.cache)
            self.cache = None
        rec = self.record
        now = time.perf_counter()
        rec.status = status
        rec.latency_ms = (now - self.caller.started) * 1000
        rec.finish_reason = finish_reason or ""
        rec.client_disconnected = disconnected
        if self.first_token is not None:
            rec.ttft_ms = (self.first_token - self.caller.started) * 1000
        if self.route is not None:
            rec.route = self.route.name
        if self.deployment is not None:
            d = self.deployment
            rec.deployment_id, rec.provider, rec.upstream_model = d.id, d.provider.name, d.model
        if self.exchange is not None and self.exchange.started:
            self.exchange.end()
            # Routing timed a streamed attempt only until its first event; the exchange
            # ran until the stream ended. Its attempt takes the exchange's time, and
            # upstream time is the sum of the attempts, so the log's figures agree.
            exchange_ms = self.exchange.upstream_ms or 0.0
            attempts = rec.attempts
            if len(attempts) > self.exchange_attempt:
                attempts[self.exchange_attempt].duration_ms = exchange_ms
                rec.upstream_ms = sum(a.duration_ms for a in attempts)
            else:  # cut short (the client left) before routing recorded the attempt
                rec.upstream_ms = sum(a.duration_ms for a in attempts) + exchange_ms
            rec.overhead_ms = max(0.0, rec.latency_ms - rec.upstream_ms)
        if self.release_deployment is not None:
            self.release_deployment()
            self.release_deployment = None
        if self.stream_outcome is not None:  # a stream cut by its upstream is a failure
            self.stream_outcome.ended(error)
        if usage is not None:
            if self.deployment is not None:
                routing.observe_tokens(self.deployment, usage.total_tokens)
            rec.input_tokens = usage.input_tokens
            rec.output_tokens = usage.output_tokens
            rec.cache_read_tokens = usage.cache_read_tokens
            rec.cache_write_tokens = usage.cache_write_tokens
            if self.deployment is not None:
                rec.cost_usd = self.deployment.cost(usage)
                if usage.cache_read_tokens or usage.cache_write_tokens:
                    rec.cache_saved_usd = self.deployment.cache_saved(usage)
        if error is not None:
            if isinstance(error, GatewayError):
                rec.error_kind, rec.error_message = error.kind, error.log_message[:2000]
            else:
                rec.error_kind, rec.error_message = type(error).__name__, str(error)[:2000]
        if settings.SWITCHYARD_LOG_BODIES:
            rec.inbound_request = self.raw
            if self.exchange is not None:
                rec.upstream_request = self.exchange.request_body
                rec.upstream_response = bytes(self.exchange.response_body)
            rec.outbound_response = bytes(self.outbound)
        if self.span is not None:
            tracing.end_request(self)
        if self.reservation is not None:
            tokens = rec.input_tokens + rec.output_tokens + rec.cache_read_tokens
            settle = self.reservation.settle(tokens, rec.cost_usd)
            if asyncio.iscoroutine(settle):
                background.in_background(settle)
        journal.record(rec)
        route = self.route
        if route is not None and route.shadow_routes and not self.caller.shadow_of:
            primary = shadow.Primary(
                rec.request_id, self.endpoint, self.dialect, self.raw, self.headers_in,
                self.path_fields, status,
            )  # fmt: skip
            shadow.consider(route, primary, _mirror)


# --- entry point --------------------------------------------------------------------------


async def handle(
    endpoint: str,
    dialect: str,
    raw: bytes,
    headers: Mapping[str, str],
    caller: Caller,
    path_fields: Mapping[str, Any] | None = None,
) -> Reply | StreamReply:
    """Serve one request. ``endpoint``: chat | completions | embeddings | count_tokens |
    prepare (a Responses request stored without generating, WebSocket mode).
    ``path_fields`` are set on the parsed body (Gemini names the model and asks for a
    stream in the URL). Never raises: every failure becomes an error reply in the
    caller's dialect."""
    call = Call(endpoint, dialect, raw, caller)
    call.headers_in, call.path_fields = headers, path_fields
    if tracing.ENABLED:
        call.span = tracing.start_request(call, headers)
    wire.current_request_id.set(caller.request_id)  # adapters name it in their errors
    try:
        key = _authorize(call)
        body = _parse_json(raw)
        if path_fields:
            body.update(path_fields)
        job = JOBS.get(endpoint)
        if job is None:
            raise ModelNotFound(f"unknown endpoint {endpoint!r}")
        return await _serve(job(call, key, body, headers))
    except GatewayError as error:
        return call.error_reply(error)
    except asyncio.CancelledError:
        if runtime.was_cut():
            call.finish(status=503, error=ShuttingDown(SHUTDOWN_CUT))
        else:
            call.finish(status=499, error=GatewayError("client disconnected"), disconnected=True)
        raise
    except Exception as exc:  # a bug: log it, answer cleanly, never a traceback
        log.exception("request %s failed", caller.request_id)
        return call.error_reply(GatewayError(f"internal error ({type(exc).__name__})"))


async def _mirror(
    endpoint: str,
    dialect: str,
    raw: bytes,
    headers: Mapping[str, str],
    shadow_of: str,
    path_fields: Mapping[str, Any] | None,
) -> Reply | StreamReply:
    """One shadow route's copy of a finished request (gateway/core/shadow)."""
    caller = Caller(key=shadow.SHADOW_KEY, user_agent="switchyard-shadow", shadow_of=shadow_of)
    return await handle(endpoint, dialect, raw, headers, caller, path_fields)


def record_abandoned(endpoint: str, dialect: str, caller: Caller) -> None:
    """Journal a request whose client left before sending its whole body (status 499,
    as for any request the client abandoned)."""
    call = Call(endpoint, dialect, b"", caller)
    with contextlib.suppress(AuthenticationFailed):
        _authorize(call)  # names the key, when there is a valid one
    call.finish(status=499, disconnected=True)


def refuse_unauthorized(endpoint: str, dialect: str, caller: Caller) -> Reply | None:
    """The 401 (journaled) for a caller without a usable key, or None for a good key.
    Decided from the headers alone, so the endpoint answers before reading the body."""
    call = Call(endpoint, dialect, b"", caller)
    try:
        _authorize(call)
    except AuthenticationFailed as error:
        return call.error_reply(error)
    return None


def reject(endpoint: str, dialect: str, error: GatewayError, caller: Caller) -> Reply:
    """Answer (and journal) a request refused before its body was read (e.g. 413)."""
    return Call(endpoint, dialect, b"", caller).error_reply(error)


def _authorize(call: Call) -> KeyEntry:
    key = call.caller.key
    if key is None:
        raise AuthenticationFailed(call.caller.key_error)
    rec = call.record
    rec.key_id, rec.key_name, rec.key_prefix = key.id, key.name, key.prefix
    refusal = key_refusal(key)
    if refusal:
        raise AuthenticationFailed(refusal)
    return key


def _parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidRequest("the request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if _nests_deeper(body, MAX_JSON_DEPTH):
        raise InvalidRequest(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    return body


# orjson reads deeper JSON than it writes (255 levels): a body nested deeper than this
# would fail later, when re-encoded for the upstream or the token estimate.
MAX_JSON_DEPTH = 128


def _nests_deeper(value: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _route_for(call: Call, key: KeyEntry, model: Any) -> RouteEntry:
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required and must be a string", param="model")
    route = registry.current().route(model)
    if route is None or not route.enabled:
        raise ModelNotFound(f"model {model!r} not found", param="model", code="model_not_found")
    call.route = route
    return route


async def _fresh_route_for(call: Call, key: KeyEntry, model: Any) -> RouteEntry:
    """``_route_for``, looking once more after a registry check when the model is
    unknown here: its route may have been created a moment ago in another process."""
    try:
        return _route_for(call, key, model)
    except ModelNotFound:
        # look again whatever the check found: the watcher may have installed the
        # snapshot with the route while this request waited
        await registry.refresh_on_miss()
    return _route_for(call, key, model)


def _apply_defaults(body: dict[str, Any], route: RouteEntry) -> None:
    for name, value in route.default_params.items():
        body.setdefault(name, value)


def _check_unmapped(
    request: ChatRequest, route: RouteEntry, adapter: Provider, deployment: DeploymentEntry
) -> None:
    if route.drop_params:
        return
    names = sorted({*request.unmapped, *adapter.unsupported_params(request, deployment)})
    if not names:
        return
    raise InvalidRequest(
        f"parameter(s) {', '.join(names)} cannot be sent to this model's "
        f"{adapter.provider.kind} upstream; enable drop_params on route {route.name!r} "
        "to drop them",
        param=names[0],
    )


def _passes_through(adapter: Provider, call: Call) -> bool:
    """Whether the inbound body goes upstream untouched: the upstream speaks the very
    codec the caller speaks (the same object, not a name), and its adapter forwards
    bodies (codecs without passthrough translate even their own)."""
    return adapter.passes_through and adapter.speaks is call.speaks


# --- the pipeline: route -> admit -> cache -> call upstream -> finish ----------------------


class _Job:
    """One endpoint's part in the request pipeline (``_serve``): the steps are the same
    for every endpoint, each endpoint fills in its own. Nothing here asks which dialect
    the caller speaks: what differs between dialects is read from ``call.codec``."""

    # Tokens reserved at admission; a parsed chat request, when the answer is cacheable.
    estimate = 0
    request: ChatRequest | None = None
    prefix_key: int | None = None  # the prompt prefix's key, for cache-aware routing
    billable = True  # may cost money: holds part of a key's budget while it runs

    def __init__(
        self, call: Call, key: KeyEntry, body: dict[str, Any], headers: Mapping[str, str]
    ) -> None:
        self.call, self.key, self.body, self.headers = call, key, body, headers

    def check(self) -> None:
        """Before routing: refuse a body the endpoint cannot take, whatever the model."""

    def max_output(self) -> int | None:
        """The request's own output ceiling for its budget hold (None: not given, 0: the
        endpoint generates nothing)."""
        value = self.body.get("max_tokens") or self.body.get("max_completion_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    async def prepare(self, route: RouteEntry) -> None:
        """After routing, before admission: parse, apply the route's defaults, estimate."""

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        """After admission (and a cache miss): answer, and finish the call."""
        raise NotImplementedError


async def _serve(job: _Job) -> Reply | StreamReply:
    """The one request pipeline: route, prepare, admit (rate limits and budget), serve
    from the response cache if it may, else respond (upstream, through ``routing``)."""
    call, key = job.call, job.key
    job.check()
    route = await _fresh_route_for(call, key, job.body.get("model"))
    await job.prepare(route)
    attribution.attribute(call.record, job.request, job.headers)
    hold = (
        budget_estimate.hold_for(key, route, job.estimate, job.max_output())
        if job.billable
        else None
    )
    call.reservation = await limits.admit(
        key, route.name, job.estimate, hold, end_user=call.record.end_user, route_teams=route.teams
    )
    request = job.request
    if (
        request is not None
        and route.cache_ttl  # off, this check is all the cache costs
        and not request.mcp_servers
        and not route.mcp_servers  # an answer made with MCP tools is never replayed
    ):
        cached = await _cache_lookup(call, route, request, key, job.headers)
        if cached is not None:
            return await _cached_reply(call, request, cached)
    return await job.respond(route)


class _Routed(_Job):
    """A job answered by an upstream through ``routing`` (retries, fallbacks): the
    non-streamed attempt and the stream's opening, written once for every endpoint."""

    stream = False

    def plan(self, route: RouteEntry) -> RouteEntry:
        """The routes ``routing.run`` tries, in order."""
        return route

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        """Start an attempt on ``deployment``; refuse one that cannot serve the job."""
        return _begin_attempt(self.call, route, deployment)

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        """A non-streamed attempt: the reply body, its usage and its finish reason."""
        raise NotImplementedError

    def open(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bool, Any]:
        """A streamed attempt: (passed through unparsed, the upstream's async iterable)."""
        raise NotImplementedError

    async def opened(self, passthrough: bool) -> None:
        """The stream's first event arrived (before routing calls the attempt a success)."""

    def pump(self, passthrough: bool, first: Any, iterator: Any) -> AsyncIterator[bytes]:
        """The chunks the client reads."""
        if passthrough:
            rewrite = _model_rewriter(self.call.deployment.model, self.public_model())
            return _pump_passthrough(self.call, first, iterator, rewrite)
        return _pump_translated(self.call, self.request, first, iterator)

    def public_model(self) -> str:
        """The model name the client reads in a passed-through answer."""
        return self.request.model

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        call = self.call
        snapshot = registry.current()
        if not self.stream:

            async def attempt(
                route: RouteEntry, deployment: DeploymentEntry
            ) -> tuple[bytes, Usage, str]:
                return await self.answer(self.begin(route, deployment), route, deployment)

            payload, usage, reason = await routing.run(
                snapshot,
                self.plan(route),
                attempt,
                call.record.attempts,
                self.key.allows,
                prefix=self.prefix_key,
            )
            if call.state is not None and call.state.keeps:
                await call.state.keep(orjson.loads(payload))
            call.capture_outbound(payload)
            call.finish(status=200, usage=usage, finish_reason=reason)
            return Reply(200, payload, call.headers())

        async def open_stream(route: RouteEntry, deployment: DeploymentEntry):
            passthrough, source = self.open(self.begin(route, deployment), route, deployment)
            iterator = aiter(source)
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                raise UpstreamError("the upstream closed the stream before answering") from None
            await self.opened(passthrough)
            return passthrough, first, iterator

        outcome = call.stream_outcome = routing.StreamOutcome()
        passthrough, first, iterator = await routing.run(
            snapshot,
            self.plan(route),
            open_stream,
            call.record.attempts,
            self.key.allows,
            outcome,
            prefix=self.prefix_key,
        )
        call.release_deployment = routing.hold(call.deployment.id)  # in flight until finish
        chunks = self.pump(passthrough, first, iterator)
        return StreamReply(200, call.headers(b"text/event-stream"), chunks)


# --- chat (every client dialect's chat endpoint) -------------------------------------------


class _Chat(_Routed):
    """A chat request in the caller's dialect: translated to the upstream's, or passed
    through untouched when both speak the same format."""

    counting: asyncio.Future[int] | None = None  # the prompt's token count, started once
    prompt_size = 0  # the prompt's tokens against context windows (context_windows)

    async def prepare(self, route: RouteEntry) -> None:
        call, body = self.call, self.body
        _apply_defaults(body, route)
        if call.codec.stores_responses:
            call.state = await responses_state.begin(body, self.key, call.caller.responses_memory)
            call.state.route = route.name
        request = self.request = call.codec.parse_request(body, self.headers)
        if call.state is not None:
            call.state.request = request  # what a passed-through response echoes
        await reasoning_ledger.restore(self.key, request)  # what the client could not carry
        call.record.stream = self.stream = request.stream
        if call.span is not None:
            tracing.describe_request(call, request)
        self.estimate = tokens.estimate_tokens(request)
        # the tokenizer's count when the prompt may be near a window (context_windows)
        self.prompt_size = await context_windows.prompt_tokens(
            request, self.estimate, registry.current(), route
        )
        if len(route.deployments) > 1:  # one deployment: nowhere else to go
            self.prefix_key = prefix_affinity.prefix_key(request, self.estimate)

    def max_output(self) -> int | None:
        return self.request.max_tokens if self.request is not None else None

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        if self.request is not None and self.request.mcp_servers:
            _check_mcp_permissions(self.key, self.request)
        hosted_mcp.attach(self.request, route.mcp_servers)
        if hosted_mcp.applies(self.request, _mcp_passes(route, self.call)):
            return await _hosted_mcp(self, route)
        return await super().respond(route)

    def plan(self, route: RouteEntry) -> RouteEntry:
        return capabilities.fitting(capabilities.readers(route, self.request), self.prompt_size)

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        adapter = _begin_attempt(self.call, route, deployment)
        capabilities.check(self.request, route, deployment, self.prompt_size)
        return adapter

    def passthrough_body(self, route: RouteEntry, deployment: DeploymentEntry) -> dict[str, Any]:
        # the model id and output ceiling are the adapter's (providers.passthrough_body)
        self.call.record.prompt_cache_breakpoints = prompt_cache.passed_through(self.request)
        return capabilities.adapt_body(self.body, self.request, route, deployment)

    def translated(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> ChatRequest:
        _check_unmapped(self.request, route, adapter, deployment)
        upstream = capabilities.adapt(self.request, route, deployment)
        upstream, plan = prompt_cache.for_upstream(
            upstream, adapter.dialect, auto=route.auto_cache_breakpoints, estimate=self.estimate
        )
        self.call.record.prompt_cache_breakpoints = plan.describe()
        return upstream

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        call, request = self.call, self.request
        if _passes_through(adapter, call):
            data = await adapter.passthrough(
                self.passthrough_body(route, deployment),
                deployment,
                call.exchange,
                request.headers,
            )
            reason = call.codec.finish_reason_of(data)
            if call.cache is not None:
                upstream = call.speaks.upstream  # the same codec as the adapter's
                assert upstream is not None  # it passes through, so it has one
                _cache_keep(call, upstream.parse_response(data))
            if "model" in data:  # the public name, as translated paths answer
                data["model"] = request.model
            if call.state is not None:
                call.state.patch(data)
            return orjson.dumps(data), call.exchange.usage, reason
        upstream = self.translated(adapter, route, deployment)
        response = await adapter.complete(upstream, deployment, call.exchange)
        reasoning_ledger.record_response(self.key, response)
        rendered = orjson.dumps(call.codec.render_response(response, request))
        if call.cache is not None:
            _cache_keep(call, response)
        return rendered, response.usage, response.finish_reason

    def open(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bool, Any]:
        call, request = self.call, self.request
        if _passes_through(adapter, call):
            body = self.passthrough_body(route, deployment)
            return True, adapter.passthrough_stream(
                body, deployment, call.exchange, request.headers
            )
        upstream = self.translated(adapter, route, deployment)
        source = adapter.stream(upstream, deployment, call.exchange)
        if self.counting is None and call.codec.counts_prompt_in_stream:
            self.counting = tokens.start_count(request, self.estimate)  # runs meanwhile
        return False, source

    def pump(self, passthrough: bool, first: Any, iterator: Any) -> AsyncIterator[bytes]:
        state = self.call.state
        if not passthrough or state is None:
            return super().pump(passthrough, first, iterator)
        # a Responses upstream's events: the gateway's state and the spec's fields echoed
        rename = _model_rewriter(self.call.deployment.model, self.public_model())
        patch = state.patch_events
        rewrite = patch if rename is None else (lambda raw: patch(rename(raw)))
        return _pump_passthrough(self.call, first, iterator, rewrite)

    async def opened(self, passthrough: bool) -> None:
        if self.counting is not None and not passthrough:
            self.request.prompt_tokens = await _prompt_count(self.counting)


def _check_mcp_permissions(key: KeyEntry, request: ChatRequest) -> None:
    """A registered MCP server the caller names (not one its route attaches) is used
    as the key's MCP permissions allow, as on ``/mcp``: a server it may not see is a
    403, a server it may use some tools of offers only those."""
    from gateway.errors import PermissionDenied
    from gateway.mcp import permissions

    for server in request.mcp_servers:
        if server.url is not None:
            continue  # the caller's own server, reached with the caller's headers
        name = server.registered or server.label
        if not permissions.allows_server(key, name):
            raise PermissionDenied(f"this API key may not use the MCP server {name!r}")
        tools = permissions.tools_allowed(key, name)
        if tools is not None:
            server.allowed = [t for t in (server.allowed or tools) if t in tools]


def _mcp_passes(route: RouteEntry, call: Call) -> bool:
    """Hosted MCP tools go upstream only when the route says so and every deployment
    speaks the caller's API (an OpenAI Responses or Anthropic upstream runs them)."""
    if not route.mcp_passthrough:
        return False
    try:
        return all(adapter_for(d.provider).speaks is call.speaks for d in route.deployments)
    except ConfigurationError:
        return False


async def _hosted_mcp(job: _Chat, route: RouteEntry) -> Reply | StreamReply:
    """Answer with the gateway's hosted MCP loop (gateway/mcp/hosted): each upstream
    turn routed and retried like any call; one journal row with the tool calls."""
    call, snapshot = job.call, registry.current()
    if call.cache is not None:  # an answer made with tools is not replayed from cache
        cache.abandon(call.cache)
        call.cache = None

    async def turn(request: ChatRequest) -> ChatResponse:
        async def attempt(route: RouteEntry, deployment: DeploymentEntry) -> ChatResponse:
            adapter = job.begin(route, deployment)
            _check_unmapped(request, route, adapter, deployment)
            upstream = capabilities.adapt(request, route, deployment)
            return await adapter.complete(upstream, deployment, call.exchange)

        plan = job.plan(route)
        return await routing.run(snapshot, plan, attempt, call.record.attempts, job.key.allows)

    loop = hosted_mcp.Loop(
        job.request,
        turn,
        max_calls=settings.SWITCHYARD_MCP_HOSTED_MAX_CALLS,
        timeout=settings.SWITCHYARD_MCP_HOSTED_TIMEOUT,
        allow=settings.SWITCHYARD_MCP_HOSTED_ALLOW,
        observe=(lambda note: tracing.tool_call(call, note)) if call.span is not None else None,
    )
    call.record.mcp_calls = loop.notes  # filled as the loop runs, read at finish
    if job.stream:
        events = hosted_mcp.events(loop, job.request)
        first = await anext(events)
        chunks = _pump_translated(call, job.request, first, events)
        return StreamReply(200, call.headers(b"text/event-stream"), chunks)
    response = await loop.run()
    rendered = call.codec.render_response(response, job.request)
    if call.state is not None and call.state.keeps:
        await call.state.keep(rendered)
    payload = orjson.dumps(rendered)
    call.capture_outbound(payload)
    call.finish(status=200, usage=response.usage, finish_reason=response.finish_reason)
    return Reply(200, payload, call.headers())


async def _prompt_count(counting: asyncio.Future[int]) -> int | None:
    """The prompt count started before the upstream call; None if counting failed (the
    stream goes on without it)."""
    try:
        return await counting
    except Exception:
        log.warning("counting the prompt's tokens failed", exc_info=True)
        return None


def _begin_attempt(call: Call, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
    call.route, call.deployment = route, deployment
    call.exchange = Exchange(capture_limit=settings.SWITCHYARD_LOG_BODY_MAX_BYTES)
    call.exchange_attempt = len(call.record.attempts)
    if call.span is not None:
        tracing.start_attempt(call)
    return adapter_for(deployment.provider)


def _model_rewriter(upstream: str, public: str) -> Callable[[bytes], bytes] | None:
    """Rewrite the upstream model id to the public name in passthrough stream events
    (a substring test per event; only events naming the model are touched)."""
    if upstream == public:
        return None
    old, new = orjson.dumps(upstream), orjson.dumps(public)
    pairs = [(b'"model":' + old, b'"model":' + new), (b'"model": ' + old, b'"model": ' + new)]

    def rewrite(raw: bytes) -> bytes:
        if old in raw:
            for before, after in pairs:
                raw = raw.replace(before, after)
        return raw

    return rewrite


class _Tap:
    """Watches canonical events on their way out: first-token time, usage, finish."""

    def __init__(self, call: Call) -> None:
        self.call = call
        # text is folded only for the response cache, and only so much of it
        keep = settings.SWITCHYARD_MAX_ANSWER_BYTES if call.cache is not None else 0
        self.folder = StreamFolder(max_chars=keep)
        self.rendered_first_token = False  # the renderer is past the first content event
        # signed reasoning and tool-call ids, for the ledger (translated streams only)
        self.reasoning: reasoning_ledger.StreamReasoning | None = None

    def see(self, event: StreamEvent) -> None:
        if self.call.first_token is None and isinstance(event, CONTENT_EVENTS):
            self.call.first_token = time.perf_counter()
        self.folder.feed(event)
        if self.reasoning is not None and isinstance(event, reasoning_ledger.FED_EVENTS):
            self.reasoning.feed(event)  # (25 calls a stream saved: most events are text)

    def close(self, disconnected: bool) -> None:
        folder = self.folder
        error = folder.error
        status = 200
        if disconnected and error is None and runtime.was_cut():
            error, disconnected = ShuttingDown(SHUTDOWN_CUT), False  # ended by the drain
        if error is not None:
            status = getattr(error, "status", 502)
        elif disconnected:
            status = 499
        elif self.call.cache is not None and folder.finished and not folder.truncated:
            _cache_keep(self.call, folder.result())
        if error is None and self.reasoning is not None and self.call.caller.key is not None:
            self.reasoning.record(self.call.caller.key)
        self.call.finish(
            status=status,
            usage=folder.response.usage,
            finish_reason=folder.response.finish_reason if folder.finished else "",
            error=error
            if error is not None
            else (GatewayError("client disconnected") if disconnected else None),
            disconnected=disconnected,
        )


async def _events(tap: _Tap, first: StreamEvent, iterator: AsyncIterator[StreamEvent]):
    tap.see(first)
    yield first
    tap.rendered_first_token = tap.call.first_token is not None
    async for event in iterator:
        tap.see(event)
        yield event
        # asked for the next event: everything up to this one has been rendered
        tap.rendered_first_token = tap.call.first_token is not None


async def _pump_translated(
    call: Call, request: ChatRequest, first: StreamEvent, iterator: AsyncIterator[StreamEvent]
) -> AsyncIterator[bytes]:
    tap = _Tap(call)
    tap.reasoning = reasoning_ledger.StreamReasoning()
    disconnected = True
    rendered = call.codec.render_stream(_events(tap, first, iterator), request)
    # What the renderer makes of one upstream read goes on as one chunk (one capture,
    # one send), not an event at a time; a long burst in pieces of at most 100 us, and
    # the first token (the tap saw it) at once.
    batches = ready_batches(
        rendered, window=BATCH_WINDOW, hand_on_when=lambda: tap.rendered_first_token
    )
    try:
        async for chunks in batches:
            chunk = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            call.capture_outbound(chunk)
            await call.keep_response(chunk)
            yield chunk
        disconnected = False
    except GatewayError as error:  # a renderer refusing mid-stream: tell the client
        tap.folder.error = error
        chunk = call.codec.render_stream_error(error)
        call.capture_outbound(chunk)
        disconnected = False
        yield chunk
    finally:
        await _close_quietly(batches)
        await _close_quietly(rendered)
        await _close_quietly(iterator)
        tap.close(disconnected)


async def _pump_passthrough(
    call: Call,
    first: tuple[bytes, list[StreamEvent]],
    iterator,
    rewrite: Callable[[bytes], bytes] | None,
) -> AsyncIterator[bytes]:
    tap = _Tap(call)
    disconnected = True
    try:
        raw, events = first
        for event in events:
            tap.see(event)
        raw = rewrite(raw) if rewrite else raw
        call.capture_outbound(raw)
        await call.keep_response(raw)
        yield raw
        async for raw, events in iterator:
            for event in events:
                tap.see(event)
            if raw:  # a hidden usage-only chunk leaves only its events
                raw = rewrite(raw) if rewrite else raw
                call.capture_outbound(raw)
                await call.keep_response(raw)
                yield raw
        disconnected = False
    finally:
        await _close_quietly(iterator)
        tap.close(disconnected)


async def _close_quietly(iterator: Any) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


# --- response cache (gateway/core/cache) ---------------------------------------------------------


async def _cache_lookup(
    call: Call, route: RouteEntry, request: ChatRequest, key: KeyEntry, headers: Mapping[str, str]
) -> ChatResponse | None:
    call.cache, cached = await cache.lookup(route, request, key, headers)
    call.cache_status = cache.MISS if cached is None else cache.HIT
    if cached is not None:
        call.cache = None
        call.record.cache_hit = True
    return cached


def _cache_keep(call: Call, response: ChatResponse) -> None:
    """Store a successful answer; the ticket is used up (one answer per request)."""
    ticket, call.cache = call.cache, None
    if ticket is not None:
        cache.keep(ticket, response)


async def _cached_reply(
    call: Call, request: ChatRequest, response: ChatResponse
) -> Reply | StreamReply:
    """Serve a cached answer in the caller's dialect: no upstream, no deployment, no cost
    (the journal row says ``cache_hit``; usage is what the answer reports)."""
    response.id = ""  # each dialect's renderer makes an id of its own kind
    if request.stream:
        events = cache.replay.events(response)
        iterator = cache.replay.aiter_events(events[1:])
        chunks = _pump_translated(call, request, events[0], iterator)
        return StreamReply(200, call.headers(b"text/event-stream"), chunks)
    rendered = call.codec.render_response(response, request)
    if call.state is not None:
        await call.state.keep(rendered)
    payload = orjson.dumps(rendered)
    call.capture_outbound(payload)
    call.finish(status=200, usage=response.usage, finish_reason=response.finish_reason)
    return Reply(200, payload, call.headers())


# --- Responses WebSocket mode: generate false -----------------------------------------------


def _check_allowed(key: KeyEntry, route: RouteEntry) -> None:
    """Refuse a route the key may not use (``routing.run`` does it for routed jobs)."""
    if not key.allows(route.name):
        from gateway.errors import PermissionDenied

        raise PermissionDenied(f"this API key may not use model {route.name!r}")


class _Prepare(_Job):
    """A Responses request with ``generate: false`` (WebSocket mode; Codex warms up
    with it): validated and stored with no output and no upstream call, so its id can
    be a later turn's ``previous_response_id``. Admitted as a request for the rpm."""

    billable = False

    async def prepare(self, route: RouteEntry) -> None:
        _check_allowed(self.key, route)

    async def respond(self, route: RouteEntry) -> Reply:
        call, body = self.call, self.body
        _apply_defaults(body, route)
        call.state = await responses_state.begin(body, self.key, call.caller.responses_memory)
        call.state.route = route.name
        # A warm-up may carry no input yet (only instructions and tools): nothing to
        # generate from is fine here, so an empty input is validated as an empty turn.
        empty = {"type": "message", "role": "user", "content": ""}
        checked = body if body.get("input") not in ([], "", None) else {**body, "input": [empty]}
        request = call.codec.parse_request(checked, self.headers)
        rendered = call.codec.render_response(ChatResponse("", request.model), request)
        rendered["output"] = []
        await call.state.keep(rendered)
        payload = orjson.dumps(rendered)
        call.capture_outbound(payload)
        call.finish(status=200, usage=Usage(), finish_reason="stop")
        return Reply(200, payload, call.headers())


# --- count_tokens ---------------------------------------------------------------------------


class _CountTokens(_Job):
    """The prompt's token count: from the first deployment whose upstream has a counting
    endpoint, else counted here (``x-switchyard-token-count`` says which). Not through
    ``routing``: an upstream that cannot count is skipped, not retried, and a failed
    count falls back to the local one instead of failing the request. A request like
    any other for the key's rpm and budget (it may reach the upstream)."""

    billable = False

    async def prepare(self, route: RouteEntry) -> None:
        _check_allowed(self.key, route)

    async def respond(self, route: RouteEntry) -> Reply:
        call, body = self.call, self.body
        counted = dict(body)
        counted.setdefault("max_tokens", 1)  # count_tokens bodies carry none
        request = call.codec.parse_request(counted, self.headers)
        estimate = True
        count: int | None = None
        for deployment in route.deployments:
            try:
                adapter = adapter_for(deployment.provider)
            except ConfigurationError:
                continue
            if not adapter.counts_tokens:
                continue  # no counting endpoint upstream (Anthropic and Gemini have one)
            call.deployment = deployment
            try:  # the adapter takes what it counts from the caller's body
                count = await adapter.count_tokens(request, deployment, body, request.headers)
            except (UpstreamError, ConfigurationError) as exc:
                log.info("count_tokens upstream failed (%s); counting locally", exc.message)
                count = None
            if count is not None:
                estimate = False
                break
        if count is None:
            count = await asyncio.to_thread(tokens.count_request_tokens, request)
        payload = orjson.dumps(call.codec.render_count_tokens(count))
        headers_out = call.headers()
        headers_out.append((b"x-switchyard-token-count", b"estimate" if estimate else b"upstream"))
        call.capture_outbound(payload)
        call.finish(status=200, usage=Usage(input_tokens=0))
        return Reply(200, payload, headers_out)


# --- embeddings and legacy completions (OpenAI-compatible upstreams only) ------------------


class _OpenAIOnly(_Routed):
    """An OpenAI endpoint beyond chat: the body goes to an upstream that speaks the
    caller's format (or an adapter that also serves the endpoint), the model renamed."""

    what = ""  # the endpoint, as its refusal names it

    public = ""  # the model name the client reads in the answer

    async def prepare(self, route: RouteEntry) -> None:
        _apply_defaults(self.body, route)
        self.estimate = _rough_tokens(self.call.raw)
        self.public = self.body.get("model") or route.name

    def public_model(self) -> str:
        return self.public

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        call = self.call
        adapter = _begin_attempt(call, route, deployment)
        if adapter.speaks is not call.speaks and call.endpoint not in adapter.also_serves:
            raise InvalidRequest(
                f"model {route.name!r} cannot serve {self.what}: its upstream provider "
                f"({adapter.provider.kind}) offers chat only",
                param="model",
            )
        return adapter

    async def fetch(
        self, adapter: Provider, body: dict[str, Any], deployment: DeploymentEntry
    ) -> dict[str, Any]:
        raise NotImplementedError

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        # the adapter writes the deployment's model id (providers.passthrough_body)
        data = await self.fetch(adapter, self.body, deployment)
        if "model" in data:  # the public name, as the chat paths answer
            data["model"] = self.public_model()
        usage = data.get("usage") or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        output = int(usage.get("completion_tokens") or 0)
        return orjson.dumps(data), Usage(input_tokens=prompt, output_tokens=output), ""

    def pump(self, passthrough: bool, first: Any, iterator: Any) -> AsyncIterator[bytes]:
        self.call.first_token = time.perf_counter()  # legacy chunks carry text, not events
        return super().pump(passthrough, first, iterator)


class _Embeddings(_OpenAIOnly):
    what = "embeddings"

    def max_output(self) -> int | None:
        return 0

    def check(self) -> None:
        openai_inputs.check_embeddings(self.body)

    async def fetch(
        self, adapter: Provider, body: dict[str, Any], deployment: DeploymentEntry
    ) -> dict[str, Any]:
        return await adapter.embeddings(body, deployment, self.call.exchange)


class _Completions(_OpenAIOnly):
    what = "text completions"

    def check(self) -> None:
        openai_inputs.check_completions(self.body)

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        self.stream = self.call.record.stream = bool(self.body.get("stream"))
        return await super().respond(route)

    async def fetch(
        self, adapter: Provider, body: dict[str, Any], deployment: DeploymentEntry
    ) -> dict[str, Any]:
        return await adapter.text_completion(body, deployment, self.call.exchange)

    def open(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bool, Any]:
        return True, adapter.text_completion_stream(self.body, deployment, self.call.exchange)


class _Rerank(_OpenAIOnly):
    """``POST /v1/rerank`` (Cohere v2 body; the Jina / Voyage shape too) to Cohere, or to
    an OpenAI-compatible rerank server (vLLM, Infinity, text-embeddings-inference with
    ``"rerank_api": "tei"`` in the deployment's params); answered in Cohere's v2 shape
    (``gateway.core.rerank``). Priced by the tokens the upstream reports."""

    what = "rerank"

    def check(self) -> None:
        from gateway.core import rerank

        self.parsed = rerank.parse(self.body)

    def max_output(self) -> int | None:
        return 0

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        from gateway.core import rerank

        if adapter.provider.kind in ("cohere", "bedrock"):
            api = adapter.provider.kind
        else:
            api = "tei" if deployment.params.get("rerank_api") == "tei" else "openai"
        body = rerank.upstream_body(self.parsed, deployment.model, api)
        ranked = rerank.read(
            await adapter.rerank(body, deployment, self.call.exchange), self.parsed
        )
        payload = rerank.render(ranked, self.parsed, self.public_model())
        return orjson.dumps(payload), ranked.usage, ""


# --- Responses compaction (POST /v1/responses/compact) --------------------------------------


class _Compact(_Routed):
    """``POST /v1/responses/compact`` on any route: the upstream's own compaction when
    it speaks the Responses API (the body passed through, ``previous_response_id``
    resolved here first), else the route's model summarises the conversation and the
    gateway answers the compacted window (``gateway.core.compaction``). Nothing is
    stored; one journal row, priced like any call of the deployment."""

    # the fields of a compact body (CompactResponseMethodPublicBody) an upstream gets
    FIELDS = ("model", "input", "instructions", "prompt_cache_key")

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
        await responses_state.begin(probe, self.key, call.caller.responses_memory)
        self.items = responses_state.normalize_input(probe.get("input"))
        if not self.items:
            raise InvalidRequest("input must contain at least one item", param="input")
        upstream_input = [responses_state.as_input(item) for item in self.items]
        self.upstream_body = {k: body[k] for k in self.FIELDS if body.get(k) is not None}
        self.upstream_body["input"] = upstream_input
        parsed = {**self.upstream_body, "model": body.get("model")}
        self.request = call.codec.parse_request(parsed, self.headers)
        self.estimate = tokens.estimate_tokens(self.request)

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        from gateway.codecs.openai_responses.maps import parse_usage, usage_body
        from gateway.core import compaction

        call, request = self.call, self.request
        assert request is not None  # prepare parsed it
        if adapter.speaks is call.speaks:  # a Responses API upstream compacts natively
            url = adapter.endpoint(deployment, False) + "/compact"  # type: ignore[attr-defined]
            body = passthrough_body.for_deployment(self.upstream_body, deployment)
            data = await adapter.post_json(url, body, call.exchange, request.headers)  # type: ignore[attr-defined]
            if not isinstance(data, dict) or data.get("object") != "response.compaction":
                raise UpstreamError("upstream answered compact with unexpected JSON", status=502)
            usage = parse_usage(data.get("usage"))
            call.exchange.usage = usage
            return orjson.dumps(data), usage, "stop"
        summary = compaction.summary_request(request)
        upstream = capabilities.adapt(summary, route, deployment)
        response = await adapter.complete(upstream, deployment, call.exchange)
        text = "".join(part.text for part in response.parts if isinstance(part, Text)).strip()
        if not text:
            raise UpstreamError("the model returned an empty summary", status=502)
        payload = compaction.resource(self.items, text, usage_body(response.usage))
        return orjson.dumps(payload), response.usage, response.finish_reason


# endpoint -> its part in the pipeline
JOBS: dict[str, type[_Job]] = {
    "chat": _Chat,
    "compact": _Compact,
    "count_tokens": _CountTokens,
    "prepare": _Prepare,
    "embeddings": _Embeddings,
    "completions": _Completions,
    "rerank": _Rerank,
}


def _rough_tokens(raw: bytes) -> int:
    """About four bytes a token, from the body as received (re-encoding the parsed
    input fails on nesting deeper than orjson writes)."""
    return max(1, len(raw) // 4)


# --- models -------------------------------------------------------------------------------


def list_models(key: KeyEntry) -> list[ModelInfo]:
    """The routes ``key`` may use, as model entries (no query: the snapshot)."""
    snapshot = registry.current()
    return [
        ModelInfo(id=name, created=route.created, owned_by="switchyard", display_name=name)
        for name, route in sorted(snapshot.routes.items())
        if route.enabled and key.allows(name)
    ]


def cost_of(deployment: DeploymentEntry | None, usage: Usage) -> Decimal:
    return deployment.cost(usage) if deployment is not None else Decimal("0")
