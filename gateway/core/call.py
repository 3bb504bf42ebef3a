"""One request while it runs (``Call``: its journal record, its timings, the headers
every reply carries, ``finish`` exactly once) and what the pipeline hands back
(``Reply``, ``StreamReply``), with who is calling (``Caller``, resolved from a request's
headers by ``gateway.web.callers``). A finished request whose
route shadows is handed to ``gateway.core.shadow`` with the service's entry point,
which ``gateway.core.service`` registers here (``mirror_handler``): the service imports
this module, never the reverse."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from django.utils import timezone

from gateway import codecs, journal
from gateway.base import background, hooks, json_layout
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry
from gateway.base.errors import (
    AuthenticationFailed,
    GatewayError,
)
from gateway.base.hot_settings import hot
from gateway.base.types import (
    ChatResponse,
    Usage,
)
from gateway.codecs.base import Dialect
from gateway.core import (
    cache,
    shadow,
)
from gateway.limits import limits
from gateway.providers.base import Exchange
from gateway.routing import routing
from gateway.telemetry import tracing

log = logging.getLogger(__name__)
# The service's entry point for a shadow route's copy of a finished request, set by
# gateway.core.service when it loads (a hook: the service imports this module).
mirror_handler: Callable[..., Awaitable[Any]] | None = None

Headers = list[tuple[bytes, bytes]]
SHUTDOWN_CUT = "ended by the server's shutdown after its grace period"


class _TimeOrderedIds:
    """Request ids: UUIDv7 (RFC 9562) in 32 hex digits, the milliseconds since the epoch
    first, then 74 bits of the kernel's randomness, read 4 KiB at a time (one getrandom
    call per 409 ids instead of one per request, their version and variant bits set in
    two passes over the whole read); a forked child starts with none of its parent's.

    Time first, because the log's index on request_id takes every row: random ids put
    each row of a journal batch in a different leaf of a large index, so each one read
    a page and wrote a whole page to the WAL (55 us a row in a 300,000-row table against
    30 with ids in time order, SQLite, bench rows)."""

    __slots__ = ("buffer", "offset")

    def __init__(self) -> None:
        self.buffer, self.offset = b"", 0

    def next(self) -> str:
        offset = self.offset
        if offset + 10 > len(self.buffer):
            self.buffer, offset = _random_tails(), 0
        self.offset = offset + 10
        millis = (time.time_ns() // 1_000_000).to_bytes(6, "big")
        return (millis + self.buffer[offset : offset + 10]).hex()

    def forget(self) -> None:
        self.buffer, self.offset = b"", 0


# A UUIDv7's last ten bytes: version 7 in the high half of the first, variant 0b10 in the
# top bits of the third, the rest random.
_VERSION = bytes(0x70 | (b & 0x0F) for b in range(256))
_VARIANT = bytes(0x80 | (b & 0x3F) for b in range(256))


def _random_tails() -> bytes:
    tails = bytearray(os.urandom(4090))
    tails[0::10] = tails[0::10].translate(_VERSION)
    tails[2::10] = tails[2::10].translate(_VARIANT)
    return bytes(tails)


_ids = _TimeOrderedIds()
os.register_at_fork(after_in_child=_ids.forget)


def new_request_id() -> str:
    """A UUIDv7 as 32 hex digits: unique, unguessable (74 random bits), in time order."""
    return _ids.next()


def service_tier_of(fields: Mapping[str, Any]) -> str:
    """The service tier a request body (or a deployment's params) asks for: OpenAI's
    ``service_tier`` (``flex``, ``priority``; ``auto`` and ``default`` are the standard
    tier), Gemini's ``serviceTier``; lower-cased, "" when none is named."""
    tier = fields.get("service_tier") or fields.get("serviceTier")
    return tier.lower().removeprefix("service_tier_") if isinstance(tier, str) else ""


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
    # a Responses WebSocket's memory of its latest responses
    # (gateway.features.responses.state.SocketMemory)
    responses_memory: Any = None
    shadow_of: str = ""  # the request this one mirrors (gateway/core/shadow)
    # registered MCP servers the caller attaches to its request (the console playground,
    # whose user's role was checked) and who hears of each hosted MCP step as it happens
    mcp_servers: tuple[str, ...] = ()
    watch_mcp: Any = None  # Callable[[McpItem], None]
    # the session its journal row names even when it fails before attribution (a batch
    # line: its batch id; gateway/features/batches/runner)
    session: str = ""
    # a background response's id (gateway/features/responses/background): its run's
    # response is stored under the id the client was given
    background_id: str = ""


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: Headers


class StreamCut(Exception):
    """Raised by a ``StreamReply``'s chunks when the upstream broke off bytes that have
    no in-band error (speech audio): the reply ends without the end of its body (the
    chunked encoding's last chunk), so the client's download fails instead of ending
    as a short file."""


@dataclass(slots=True)
class StreamReply:
    status: int
    headers: Headers
    chunks: AsyncIterator[bytes]
    keepalive: bool = True  # False: bytes that are not events (audio) take no pings


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
    return codecs.client(dialect).client_status(error)


def protocol(dialect: str) -> Dialect:
    """The client codec of ``dialect`` (``gateway.codecs.client``)."""
    return codecs.client(dialect)


# --- the per-request state ----------------------------------------------------------------


class Call:
    """State of one request while it runs; becomes one journal record at the end."""

    # the spans of a traced request's attempts, with their exchanges: set by
    # gateway.telemetry.tracing when the request is traced (tracing.TracedCall)
    attempt_spans: list[tracing.AttemptTrace]
    # the upstream's id of its answer and the model it names, set by the pipeline only
    # when the request is traced (its span's gen_ai.response.id and .model)
    response_id = ""
    response_model = ""

    def __init__(self, endpoint: str, dialect: str, raw: bytes, caller: Caller) -> None:
        self.endpoint, self.dialect, self.raw, self.caller = endpoint, dialect, raw, caller
        self.codec = codecs.codec(dialect)  # the wire format the caller speaks
        self.client = codecs.client(dialect)  # its client half
        self.record = journal.Record(
            request_id=caller.request_id,
            dialect=dialect,
            endpoint=endpoint,
            user_agent=caller.user_agent[:300],
            from_playground=caller.from_playground,
            shadow_of=caller.shadow_of,
            session=caller.session,
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
        # an answer cache's (hooks.answer_caches) hand for the final answer, after a miss
        self.answer_keeper: Callable[[ChatResponse], None] | None = None
        self.span: Any = None  # the request's trace span (gateway/telemetry/tracing), when tracing
        # what a feature keeps of the request (hooks.call_states: stored Responses and
        # interactions, their chaining)
        self.state: hooks.CallState | None = None
        # Media endpoints (gateway.features.media): what costs beyond tokens (per image, per
        # second of audio, per character), and the bodies the journal keeps instead of
        # the ones sent (image and audio bytes are never journaled: a summary is).
        self.extra_cost: Decimal = Decimal(0)
        # What the request cost that holds of its own already charged to the budgets (the
        # priced MCP tools its tool loop called, each held and charged as ``/mcp`` calls
        # are): in its journal row's cost, answered or not, never charged again when its
        # reservation settles.
        self.charged_cost: Decimal = Decimal(0)
        # The service tier the request asked for (``service_tier``: flex, priority), whose
        # catalog prices it pays where the model has them (DeploymentEntry.cost).
        self.service_tier = ""
        self.logged_request: bytes | None = None
        # where a long body's members lie in ``raw`` (``service._parse_json``), when its
        # text is orjson's: a body passed through is sent as views of them
        self.layout: json_layout.Layout | None = None
        self.logged_upstream: bytes | None = None
        self.guard: hooks.GuardRun | None = None  # the request's guardrails, when any apply

    @property
    def attempt_exchange(self) -> Exchange:
        """The exchange of the attempt under way (``jobs.begin_attempt`` opened it)."""
        assert self.exchange is not None, "no attempt under way"
        return self.exchange

    async def keep_response(self, chunk: bytes) -> None:
        """Store the response a final stream event carries (Responses, Interactions),
        before the event goes out (so the next turn finds it, on any worker)."""
        if self.state is not None and self.state.keeps:
            final = self.state.final_response(chunk)
            if final is not None:
                await self.state.keep(final)

    # headers every reply carries
    def headers(self, content_type: bytes = b"application/json") -> Headers:
        rid = self.caller.request_id.encode()
        out: Headers = [(b"content-type", content_type), (b"x-request-id", rid)]
        if self.client.request_id_header:
            out.append((self.client.request_id_header, rid))
        if self.route is not None:
            out.append((b"x-switchyard-route", self.route.name.encode()))
        if self.deployment is not None:
            out.append((b"x-switchyard-deployment", self.deployment.label.encode()))
        out.append((b"x-switchyard-attempts", str(len(self.record.attempts)).encode()))
        if self.cache_status is not None:
            out.append((b"x-switchyard-cache", self.cache_status))
        return out

    def capture_outbound(self, chunk: bytes) -> None:
        room = hot.SWITCHYARD_LOG_BODY_MAX_BYTES - len(self.outbound)
        if room > 0:
            self.outbound += chunk[:room]

    def error_reply(self, error: GatewayError) -> Reply:
        body = orjson.dumps(self.client.render_error(error))
        headers = self.headers()
        if error.retry_after is not None:
            headers.append((b"retry-after", str(max(1, round(error.retry_after))).encode()))
        self.capture_outbound(body)
        status = self.client.client_status(error)
        headers += retry_headers(status)
        # a guardrail's refusal of an answer, a tool loop cut short: the upstream's usage
        # so far still counts
        usage = getattr(error, "usage", None)
        self.finish(status=status, error=error, usage=usage)
        return Reply(status, body, headers)

    def finish(
        self,
        *,
        status: int,
        usage: Usage | None = None,
        finish_reason: str = "",
        error: BaseException | None = None,
        disconnected: bool = False,
        cost: Decimal | None = None,
    ) -> None:
        """Complete the record and hand it to the journal (exactly once). ``cost``: the
        USD the endpoint priced itself (realtime audio, rerank search units), else the
        deployment's token prices apply.

        Its times are taken now; the rest (the record's fields and bodies, the cost, the
        budget's settlement, the mirror) waits until the reply is written when the edge
        holds the request's records (``journal.when_written``): at c=1 what runs before
        the last byte is the client's wait."""
        if self.done:
            return
        self.done = True
        now = time.perf_counter()
        if self.cache is not None:  # no answer kept: identical requests waiting go on
            cache.abandon(self.cache)
            self.cache = None
        if self.exchange is not None and self.exchange.started:
            self.exchange.end()
        if self.release_deployment is not None:
            self.release_deployment()
            self.release_deployment = None
        journal.when_written(
            lambda: self._complete(now, status, usage, finish_reason, error, disconnected, cost)
        )

    @property
    def keeps_answer(self) -> bool:
        """Whether a cache waits for this request's final answer (its text is kept)."""
        return self.cache is not None or self.answer_keeper is not None

    def _time_exchange(self, rec: journal.Record, exchange: Exchange) -> None:
        """The upstream and overhead times of a call whose exchange ran."""
        # Routing timed a streamed attempt only until its first event; the exchange
        # ran until the stream ended. Its attempt takes the exchange's time, and
        # upstream time is the sum of the attempts, so the log's figures agree.
        exchange_ms = exchange.upstream_ms or 0.0
        attempts = rec.attempts
        cut_short = len(attempts) <= self.exchange_attempt
        if not cut_short:
            attempts[self.exchange_attempt].duration_ms = exchange_ms
        # the retry backoff slept between attempts is neither the upstream's time
        # nor the gateway's work: each attempt says how long it waited
        upstream = waited = 0.0
        for attempt in attempts:  # one pass, no generator a sum (a plain request's one)
            upstream += attempt.duration_ms
            waited += attempt.waited_ms
        if cut_short:  # (the client left) before routing recorded the attempt
            upstream += exchange_ms
        rec.upstream_ms = upstream
        rec.overhead_ms = max(0.0, rec.latency_ms - upstream - waited)

    def _complete(
        self,
        now: float,
        status: int,
        usage: Usage | None,
        finish_reason: str,
        error: BaseException | None,
        disconnected: bool,
        cost: Decimal | None,
    ) -> None:
        rec = self.record
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
            self._time_exchange(rec, self.exchange)
        if self.stream_outcome is not None:  # a stream cut by its upstream is a failure
            self.stream_outcome.ended(error)
        if usage is not None:
            if self.deployment is not None:
                routing.observe_tokens(self.deployment, usage.total_tokens)
            rec.input_tokens = usage.input_tokens
            rec.output_tokens = usage.output_tokens
            rec.cache_read_tokens = usage.cache_read_tokens
            rec.cache_write_tokens = usage.cache_write_tokens
            if cost is not None:
                rec.cost_usd = cost
            elif self.deployment is not None:
                d = self.deployment
                tier = self.service_tier or service_tier_of(d.params)
                rec.cost_usd = d.cost(usage, tier) + self.extra_cost
                if usage.cache_read_tokens or usage.cache_write_tokens:
                    rec.cache_saved_usd = d.cache_saved(usage, tier)
        if self.charged_cost:
            rec.cost_usd += self.charged_cost
        if error is not None:
            if isinstance(error, GatewayError):
                rec.error_kind, rec.error_message = error.outcome, error.log_message[:2000]
            else:
                rec.error_kind, rec.error_message = type(error).__name__, str(error)[:2000]
        if hot.SWITCHYARD_LOG_BODIES:
            logged = self.logged_request
            rec.inbound_request = self.raw if logged is None else logged
            if self.exchange is not None:
                upstream = self.logged_upstream
                rec.upstream_request = self.exchange.request_body if upstream is None else upstream
                rec.upstream_response = bytes(self.exchange.response_body)
            rec.outbound_response = bytes(self.outbound)
        if self.guard is not None:  # after the bodies: it may withhold what it rewrote
            self.guard.finished(rec)
        if self.span is not None:
            tracing.end_request(self, usage)
        if self.reservation is not None:
            tokens = rec.input_tokens + rec.output_tokens + rec.cache_read_tokens
            settle = self.reservation.settlement(tokens, rec.cost_usd - self.charged_cost)
            if settle is not None:
                background.in_background(settle)
        journal.record(rec)
        route = self.route
        if route is not None and route.shadow_routes and not self.caller.shadow_of:
            primary = shadow.Primary(
                rec.request_id, self.endpoint, self.dialect, self.raw, self.headers_in,
                self.path_fields, status, self.caller.key,
            )  # fmt: skip
            if mirror_handler is not None:
                shadow.consider(route, primary, mirror_handler)


def authorize(call: Call) -> KeyEntry:
    """The call's key, named in its journal row; AuthenticationFailed when there is none
    or it is revoked or expired (every way in: HTTP, the Responses and realtime sockets)."""
    key = call.caller.key
    if key is None:
        raise AuthenticationFailed(call.caller.key_error)
    rec = call.record
    rec.key_id, rec.key_name, rec.key_prefix = key.id, key.name, key.prefix
    if key.run is not None:  # an agent acting for this key's caller (access.delegation)
        rec.agent_run = key.run.id
        rec.session = rec.session or key.run.context
    refusal = key_refusal(key)
    if refusal:
        raise AuthenticationFailed(refusal)
    return key
