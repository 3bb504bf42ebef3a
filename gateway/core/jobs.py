"""Each endpoint's part in the pipeline (``gateway.core.service._serve``): a ``Job``
per endpoint (chat in every dialect, count tokens, embeddings, legacy completions,
rerank), ``RoutedJob`` for those an upstream answers through ``routing`` (retries,
fallbacks), and the response cache's lookup and replay. ``JOBS`` maps an endpoint to
its job; features add theirs through ``gateway.base.hooks`` (``endpoint_jobs``: the
Responses API's compact, input_tokens and prepare, media's; ``extra_jobs`` the chat job
asks: hosted MCP tools; ``call_states``: what a chat request of a dialect with stored
state keeps, as ``call.state``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar, cast

import orjson

from gateway.access import registry
from gateway.base import hooks
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry
from gateway.base.errors import (
    ConfigurationError,
    InvalidRequest,
    PermissionDenied,
    UpstreamError,
)
from gateway.base.hot_settings import hot
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Text,
    Usage,
)
from gateway.codecs.base import PassthroughCodec, StreamEditor
from gateway.core import (
    cache,
    capabilities,
    lossiness,
    mediation,
    prompt_cache,
    realtime_secrets,
    reasoning_ledger,
    tokens,
)
from gateway.core.call import (
    Call,
    Reply,
    StreamReply,
    service_tier_of,
)
from gateway.core.prompt_size import prompt_tokens
from gateway.core.pumps import (
    close_quietly,
    keep_in_cache,
    model_rewriter,
    prompt_count,
    pump_passthrough,
    pump_translated,
)
from gateway.core.upstream import UpstreamCall
from gateway.limits import budget_estimate
from gateway.providers import kinds, passthrough_body
from gateway.providers.base import Exchange, Provider, adapter_for
from gateway.providers.codec_provider import CodecProvider
from gateway.routing import prefix_affinity, routing
from gateway.telemetry import tags, tracing

log = logging.getLogger(__name__)
T = TypeVar("T")


def apply_defaults(body: dict[str, Any], route: RouteEntry) -> None:
    """The route's default parameters, where the body sets none."""
    for name, value in route.default_params.items():
        body.setdefault(name, value)


def check_unmapped_params(
    request: ChatRequest, route: RouteEntry, adapter: Provider, deployment: DeploymentEntry
) -> None:
    """Refuse (400) the parameters the request carries that the upstream cannot take,
    unless the route drops them (``drop_params``)."""
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


def _passes_through(adapter: Provider, call: Call, stream: bool = False) -> bool:
    """Whether the inbound body goes upstream untouched: the upstream speaks the very
    codec the caller speaks (the same object, not a name), and its adapter forwards
    bodies (codecs without passthrough translate even their own). A stream a guardrail
    reads passes through only checked in its own bytes (``_stream_editor``); a whole
    answer it reads is parsed from the passed-through one (``_checked``)."""
    guard = call.guard
    return _forwards(adapter, call) and (
        guard is None or not (guard.translates or (stream and guard.checks_answer))
    )


def _forwards(adapter: Provider | type[Provider], call: Call) -> bool:
    """Whether an adapter (or its class) sends the caller's own body: its upstream
    speaks the very codec the caller speaks and its adapter forwards bodies."""
    return adapter.passes_through and adapter.speaks is call.codec


def _reads_past_reasoning(call: Call, route: RouteEntry, request: ChatRequest) -> bool:
    """Whether an attempt of this request may send the reasoning of its earlier turns
    upstream, so what the reasoning ledger restores is read: a deployment the request is
    rendered for whose format carries past reasoning (``Codec.past_reasoning``), or a
    fallback route to go on to. A request is rendered for another codec, and for its own
    when a guardrail may rewrite it or the gateway runs hosted MCP tools (each turn is
    rendered); otherwise the caller's own body goes up. An OpenAI chat upstream takes
    reasoning back only when echoed, Gemini never."""
    if route.fallbacks or route.context_window_fallbacks:
        return True
    rendered = call.guard is not None or bool(
        request.mcp_servers or route.mcp_servers or call.caller.mcp_servers
    )
    for deployment in route.deployments:
        try:
            adapter = kinds.adapter_class(deployment.provider.kind)
        except Exception:  # its module does not load: the attempt says so, not this
            return True
        codec = None if adapter is None else adapter.speaks
        if adapter is None or codec is None:
            return True  # a provider of no wire format: rendered its own way
        if not rendered and _forwards(adapter, call):
            continue  # the caller's body goes up as it came
        carried = codec.past_reasoning
        if carried == "always" or (carried == "echoed" and deployment.echo_reasoning):
            return True
    return False


def _stream_editor(adapter: Provider, call: Call, body: dict[str, Any]) -> StreamEditor | None:
    """The editor of a stream post_call guardrails check that may still pass through,
    checked in the upstream's own bytes (``gateway.features.guardrails.passed``); None when it
    is translated (a rewrite the body lacks, or a stream the codec cannot check so)."""
    guard = call.guard
    if guard is None or guard.translates or not guard.checks_answer:
        return None
    upstream = call.codec.upstream
    if not _forwards(adapter, call) or upstream is None:
        return None
    return cast("PassthroughCodec", upstream).stream_editor(body)


# --- the pipeline: route -> admit -> cache -> call upstream -> finish ----------------------


class Job:
    """One endpoint's part in the request pipeline (``_serve``): the steps are the same
    for every endpoint, each endpoint fills in its own. Nothing here asks which dialect
    the caller speaks: what differs between dialects is read from ``call.client``."""

    # Tokens reserved at admission; a parsed chat request, when the answer is cacheable.
    estimate = 0
    request: ChatRequest | None = None
    prefix_key: int | None = None  # the prompt prefix's key, for cache-aware routing
    priced: Decimal | None = None  # USD the job priced itself (else the token prices)
    # the endpoint declaration (gateway.base.endpoints) the job answers for, when it is
    # not its call's endpoint (a Gemini client's request answered by an image model)
    declared_as = ""
    # The budget hold assumed each deployment's max output (the request named no
    # ceiling): every attempt sends it (``held_ceiling``). Set by ``_serve``.
    caps_output = False

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

    def held_ceiling(self, deployment: DeploymentEntry) -> int | None:
        """The output ceiling to send ``deployment`` for the budget hold's sake: the one
        the hold assumed (``caps_output``: a key or team with a budget, a request naming
        no ceiling), else None (nothing added). An upstream left to its own default
        could answer longer than what was held."""
        return budget_estimate.assumed_ceiling(deployment) if self.caps_output else None

    async def prepare(self, route: RouteEntry) -> None:
        """After routing, before admission: parse, apply the route's defaults, estimate."""

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        """After admission (and a cache miss): answer, and finish the call."""
        raise NotImplementedError

    # What the guardrail plane reads (asked only when a guardrail applies), by the
    # endpoint's declaration: the parsed request, or the body's declared fields.
    def guard_request(self) -> ChatRequest | None:
        """The parsed request a guardrail checks (and rewrites in place)."""
        return self.request

    def guarded_body(self) -> dict[str, Any]:
        """The body whose declared fields a guardrail checks (and rewrites in place)."""
        return self.body

    def rewritten(self, carry: Callable[[Any], Any]) -> None:
        """A pre_call guardrail rewrote texts (after ``check`` and ``prepare``): carry
        the rewrite into what the job made of its body before (``carry(node)``: the node
        with each rewritten text replaced), so the upstream never gets the original."""


class RoutedJob(Job):
    """A job answered by an upstream through ``routing`` (retries, fallbacks): the
    non-streamed attempt and the stream's opening, written once for every endpoint."""

    stream = False

    def plan(self, route: RouteEntry) -> RouteEntry:
        """The routes ``routing.run`` tries, in order."""
        return route

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        """Start an attempt on ``deployment``; refuse one that cannot serve the job."""
        return begin_attempt(self.call, route, deployment)

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
            deployment = self.call.deployment
            assert deployment is not None  # the attempt that opened the stream chose it
            rewrite = model_rewriter(deployment.model, self.public_model())
            return pump_passthrough(self.call, first, iterator, rewrite)
        assert self.request is not None  # a translated answer's request was parsed
        return pump_translated(self.call, self.request, first, iterator)

    def public_model(self) -> str:
        """The model name the client reads in a passed-through answer."""
        assert self.request is not None  # jobs without a parsed request override this
        return self.request.model

    async def routed(self, route: RouteEntry, attempt: routing.Call[T], stream: bool = False) -> T:
        """``attempt`` on the deployments of this job's plan for ``route`` until one
        succeeds (``routing.run``: retries, fallbacks, each try recorded on the call); a
        stream's outcome, settled when it ends, is kept on the call."""
        call = self.call
        outcome = None
        if stream:
            outcome = call.stream_outcome = routing.StreamOutcome()
        return await routing.run(
            registry.current(),
            self.plan(route),
            attempt,
            call.record.attempts,
            self.key,
            outcome,
            prefix=self.prefix_key,
        )

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        if self.stream:
            return await self.respond_streamed(route)
        return await self.respond_whole(route)

    async def respond_whole(self, route: RouteEntry) -> Reply:
        """The non-streamed answer, from the first attempt that succeeds."""
        call = self.call

        async def attempt(
            route: RouteEntry, deployment: DeploymentEntry
        ) -> tuple[bytes, Usage, str]:
            return await self.answer(self.begin(route, deployment), route, deployment)

        payload, usage, reason = await self.routed(route, attempt)
        if call.state is not None and call.state.keeps:
            await call.state.keep(orjson.loads(payload))
        call.capture_outbound(payload)
        call.finish(status=200, usage=usage, finish_reason=reason, cost=self.priced)
        return Reply(200, payload, call.headers())

    async def respond_streamed(self, route: RouteEntry) -> StreamReply:
        """The streamed answer, from the first attempt whose stream opens."""
        call = self.call

        async def open_stream(
            route: RouteEntry, deployment: DeploymentEntry
        ) -> tuple[bool, Any, Any]:
            passthrough, source = self.open(self.begin(route, deployment), route, deployment)
            iterator = aiter(source)
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                raise UpstreamError("the upstream closed the stream before answering") from None
            try:
                await self.opened(passthrough)
            except BaseException:  # refused (a guardrail's verdict): the upstream is let go
                await close_quietly(iterator)
                raise
            return passthrough, first, iterator

        passthrough, first, iterator = await self.routed(route, open_stream, stream=True)
        assert call.deployment is not None  # the attempt that opened the stream chose it
        call.release_deployment = routing.hold(call.deployment.id)  # in flight until finish
        chunks = self.pump(passthrough, first, iterator)
        return StreamReply(200, call.headers(b"text/event-stream"), chunks)


# --- chat (every client dialect's chat endpoint) -------------------------------------------


class ChatJob(RoutedJob):
    """A chat request in the caller's dialect: translated to the upstream's, or passed
    through untouched when both speak the same format."""

    request: ChatRequest  # parsed by prepare (None before it, as Job's)
    counting: asyncio.Future[int] | None = None  # the prompt's token count, started once
    prompt_size = 0  # the prompt's tokens against context windows (prompt_size.py)
    toolsets: Sequence[Any] = ()  # the tools the gateway runs for it (core.tool_runner)

    async def prepare(self, route: RouteEntry) -> None:
        call, body = self.call, self.body
        apply_defaults(body, route)
        keeps_state = hooks.call_states.get(call.dialect)  # stored Responses, interactions
        if keeps_state is not None:
            call.state = await keeps_state(call, self.key, body)
            call.state.route = route.name
        request = self.request = call.client.parse_request(body, self.headers)
        call.service_tier = service_tier_of(request.extra)  # its price tier (catalog)
        if call.state is not None:
            call.state.parsed(request)  # what a response object echoes
        if _reads_past_reasoning(call, route, request):  # what the client could not carry
            await reasoning_ledger.restore(self.key, request)
        call.record.stream = self.stream = request.stream
        if call.span is not None:
            tracing.describe_request(call, request)
        self.estimate = tokens.estimate_tokens(request)
        # the tokenizer's count when the prompt may be near a window (prompt_size.py)
        self.prompt_size = await prompt_tokens(request, self.estimate, registry.current(), route)
        if len(route.deployments) > 1:  # one deployment: nowhere else to go
            self.prefix_key = prefix_affinity.prefix_key(request, self.estimate)

    def max_output(self) -> int | None:
        return self.request.max_tokens if self.request is not None else None

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        state = self.call.state
        detached = None if state is None else state.detach(self, route)
        if detached is not None:  # answered at once, the request runs on (background)
            reply: Reply = await detached
            return reply
        return await self.respond_now(route)

    async def respond_now(self, route: RouteEntry) -> Reply | StreamReply:
        """``respond`` without detaching (what a detached request's task runs)."""
        for extra in hooks.extra_jobs:  # a feature's answer instead (core.tool_runner)
            if await extra.takes(self, route):
                reply: Reply | StreamReply = await extra.respond(self, route)
                return reply
        return await RoutedJob.respond(self, route)

    def plan(self, route: RouteEntry) -> RouteEntry:
        return capabilities.fitting(capabilities.readers(route, self.request), self.prompt_size)

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        adapter = begin_attempt(self.call, route, deployment)
        capabilities.check(self.request, route, deployment, self.prompt_size)
        return adapter

    def passthrough_body(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> dict[str, Any]:
        # the model id and output ceiling are the adapter's (providers.passthrough_body)
        self.call.record.prompt_cache_breakpoints = prompt_cache.passed_through(self.request)
        adapted = capabilities.adapt_body(self.body, self.request, route, deployment)
        if adapted is not self.body:  # keys taken out (the usual body: no note, no copy)
            self.call.record.translation = lossiness.passed_through(
                self.body, adapted, deployment.label
            )
        ceiling = self.held_ceiling(deployment)
        if ceiling and isinstance(adapter, CodecProvider):  # (every adapter passing through)
            codec = cast("PassthroughCodec", adapter.codec)
            target = adapter.target(deployment)
            adapted = passthrough_body.with_held_ceiling(adapted, ceiling, codec, target)
        # the upstream's API version, the model's rules, the deployment's params
        adapted, notes = mediation.for_body(adapted, self.request, adapter, route, deployment)
        if notes:
            self.call.record.translation = lossiness.merged(self.call.record.translation, notes)
        # sent as views of the caller's body where it holds the caller's very values
        # (json_layout), unless a guardrail rewrote the body (encoded whole then)
        if self.call.logged_request is None:
            self.call.attempt_exchange.origin = self.call.layout
        return tags.without_tags(adapted)  # metadata.tags is the gateway's, not a note

    def translated(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> UpstreamCall:
        check_unmapped_params(self.request, route, adapter, deployment)
        prepared = UpstreamCall.prepare(
            self.request,
            adapter,
            route,
            deployment,
            estimate=self.estimate,
            held_ceiling=self.held_ceiling(deployment),
        )
        self.call.record.prompt_cache_breakpoints = prepared.breakpoints.describe()
        self.call.record.translation = prepared.notes  # this attempt's (a fallback's own)
        return prepared

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        call, request = self.call, self.request
        if _passes_through(adapter, call, stream=False):
            data = await adapter.passthrough(
                self.passthrough_body(adapter, route, deployment),
                deployment,
                call.attempt_exchange,
                request.headers,
            )
            if call.guard is not None:
                data = await self._checked(data)
            if call.span is not None:  # the upstream's own names, before the model's rename
                call.response_id = str(data.get("id") or "")
                call.response_model = str(data.get("model") or "")
            reason = call.client.finish_reason_of(data)
            if call.keeps_answer:
                upstream = call.codec.upstream  # the same codec as the adapter's
                assert upstream is not None  # it passes through, so it has one
                keep_in_cache(call, upstream.parse_response(data))
            if "model" in data:  # the public name, as translated paths answer
                data["model"] = request.model
            if call.state is not None:
                call.state.patch(data)
            return orjson.dumps(data), call.attempt_exchange.usage, reason
        response = await self.translated(adapter, route, deployment).complete(call.attempt_exchange)
        if call.span is not None:
            call.response_id, call.response_model = response.id, response.model
        if call.guard is not None:
            response = await call.guard.after(response)  # during_call, then post_call
        await reasoning_ledger.shared(reasoning_ledger.record_response(self.key, response))
        rendered = orjson.dumps(call.client.render_response(response, request))
        if call.keeps_answer:
            keep_in_cache(call, response)
        return rendered, response.usage, response.finish_reason

    async def _checked(self, data: dict[str, Any]) -> dict[str, Any]:
        """A passed-through whole answer after the guardrails: during_call's verdict,
        then post_call's checks of its texts, read by the caller's own codec (parsed
        only for a rewrite); the answer as received unless a check rewrote a text (then
        rendered again)."""
        call = self.call
        guard = call.guard
        assert guard is not None  # the caller checked
        if not guard.checks_answer:
            await guard.gate()
            return data
        codec = call.codec.upstream  # the caller's, which the upstream speaks too
        assert codec is not None  # it passes through, so it has one
        checked = await guard.after_passed(data, codec)
        if checked is None:  # nothing rewritten: the upstream's bytes stand
            return data
        rendered: dict[str, Any] = call.client.render_response(checked, self.request)
        return rendered

    def open(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bool, Any]:
        call, request = self.call, self.request
        if _passes_through(adapter, call, stream=True):
            body = self.passthrough_body(adapter, route, deployment)
            # Skimmed unless the response cache keeps the answer's text.
            return True, adapter.passthrough_stream(
                body, deployment, call.attempt_exchange, request.headers, skim=not call.keeps_answer
            )
        guard = call.guard
        if guard is not None and guard.checks_answer:
            body = self.passthrough_body(adapter, route, deployment)
            editor = _stream_editor(adapter, call, body)
            if editor is not None:  # checked in the upstream's bytes, not translated
                pieces = adapter.passthrough_pieces(
                    body, deployment, call.attempt_exchange, request.headers, editor
                )
                return True, guard.passed(pieces, editor)
        source = self.translated(adapter, route, deployment).stream(call.attempt_exchange)
        if call.guard is not None:
            source = call.guard.stream(source)  # post_call, a few tokens held back
        if self.counting is None and call.client.counts_prompt_in_stream:
            self.counting = tokens.start_count(request, self.estimate)  # runs meanwhile
        return False, source

    def pump(self, passthrough: bool, first: Any, iterator: Any) -> AsyncIterator[bytes]:
        state = self.call.state
        if not passthrough or state is None:
            return super().pump(passthrough, first, iterator)
        # a Responses upstream's events: the gateway's state and the spec's fields echoed
        deployment = self.call.deployment
        assert deployment is not None  # the attempt that opened the stream chose it
        rename = model_rewriter(deployment.model, self.public_model())
        patch = state.patch_events
        rewrite = patch if rename is None else (lambda raw: patch(rename(raw)))
        return pump_passthrough(self.call, first, iterator, rewrite)

    async def opened(self, passthrough: bool) -> None:
        if self.call.guard is not None:  # during_call's verdict, before the answer's head
            await self.call.guard.gate()
        if self.counting is not None and not passthrough:
            self.request.prompt_tokens = await prompt_count(self.counting)


def begin_attempt(call: Call, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
    call.route, call.deployment = route, deployment
    call.exchange = Exchange(capture_limit=hot.SWITCHYARD_LOG_BODY_MAX_BYTES)
    call.exchange_attempt = len(call.record.attempts)
    if call.span is not None:
        tracing.start_attempt(call)
    return adapter_for(deployment.provider)


# --- response cache (gateway/core/cache) ---------------------------------------------------------


async def cache_lookup(
    call: Call, route: RouteEntry, request: ChatRequest, key: KeyEntry, headers: Mapping[str, str]
) -> ChatResponse | None:
    call.cache, cached = await cache.lookup(route, request, key, headers)
    call.cache_status = cache.MISS if cached is None else cache.HIT
    if cached is not None:
        call.cache = None
        call.record.cache_hit = True
        if route.deployments:  # what the answer costs at the route's first deployment
            call.record.cache_hit_saved_usd = route.deployments[0].cost(cached.usage)
    return cached


async def answer_cache_lookup(
    call: Call, route: RouteEntry, request: ChatRequest, key: KeyEntry, headers: Mapping[str, str]
) -> ChatResponse | None:
    """Ask the answer caches (``hooks.answer_caches``: the semantic cache) that apply,
    after the exact cache missed; a hit is journaled with its similarity and saving."""
    for answers in hooks.answer_caches:
        if not answers.applies(call, route):
            continue
        hit = await answers.lookup(call, route, request, key, headers)
        if hit is None:
            call.cache_status = cache.MISS
            continue
        call.cache_status = cache.HIT
        call.answer_keeper = None
        call.record.cache_hit = True
        call.record.cache_similarity = hit.similarity
        call.record.cache_hit_saved_usd = hit.saved_usd
        return cast("ChatResponse", hit.response)
    return None


async def cached_reply(
    call: Call, request: ChatRequest, response: ChatResponse
) -> Reply | StreamReply:
    """Serve a cached answer in the caller's dialect: no upstream, no deployment, no cost
    (the journal row says ``cache_hit``, with the similarity and saving an answer cache
    reports; usage is what the answer reports)."""
    response.id = ""  # each dialect's renderer makes an id of its own kind
    if request.stream:
        events = cache.replay.events(response)
        iterator = cache.replay.aiter_events(events[1:])
        chunks = pump_translated(call, request, events[0], iterator)
        return StreamReply(200, call.headers(b"text/event-stream"), chunks)
    rendered = call.client.render_response(response, request)
    if call.state is not None:
        await call.state.keep(rendered)
    payload = orjson.dumps(rendered)
    call.capture_outbound(payload)
    call.finish(status=200, usage=response.usage, finish_reason=response.finish_reason)
    return Reply(200, payload, call.headers())


# --- count_tokens ---------------------------------------------------------------------------


def check_allowed(key: KeyEntry, route: RouteEntry) -> None:
    """Refuse a route the key may not use (``routing.run`` does it for routed jobs)."""
    if not key.allows(route.name):
        raise PermissionDenied(f"this API key may not use model {route.name!r}")


class CountTokensJob(Job):
    """The prompt's token count: from the first deployment whose upstream has a counting
    endpoint, else counted here (``x-switchyard-token-count`` says which). Not through
    ``routing``: an upstream that cannot count is skipped, not retried, and a failed
    count falls back to the local one instead of failing the request. A request like
    any other for the key's rpm and budget (it may reach the upstream)."""

    parsed: ChatRequest | None = None  # parsed early when a guardrail reads it

    async def prepare(self, route: RouteEntry) -> None:
        check_allowed(self.key, route)

    def guard_request(self) -> ChatRequest:
        if self.parsed is None:
            counted = dict(self.body)
            counted.setdefault("max_tokens", 1)  # count_tokens bodies carry none
            self.parsed = self.call.client.parse_request(counted, self.headers)
        return self.parsed

    async def respond(self, route: RouteEntry) -> Reply:
        call, body = self.call, self.body
        request = self.guard_request()
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
                count = await adapter.count_tokens(request, deployment, body)
            except (UpstreamError, ConfigurationError) as exc:
                log.info("count_tokens upstream failed (%s); counting locally", exc.message)
                count = None
            if count is not None:
                estimate = False
                break
        if count is None:
            count = await asyncio.to_thread(tokens.count_request_tokens, request)
        payload = orjson.dumps(call.client.render_count_tokens(count))
        headers_out = call.headers()
        headers_out.append((b"x-switchyard-token-count", b"estimate" if estimate else b"upstream"))
        call.capture_outbound(payload)
        call.finish(status=200, usage=Usage(input_tokens=0))
        return Reply(200, payload, headers_out)


# --- embeddings and legacy completions (OpenAI-compatible upstreams only) ------------------


async def check_texts(guard: hooks.GuardRun, holders: list[dict[str, Any]], usage: Usage) -> None:
    """The guardrails' verdict (post_call) on an answer no codec parses: the ``"text"``
    of each of ``holders``, read as one answer's parts, written back where a check
    rewrote it."""
    response = ChatResponse("", "", parts=[Text(h["text"]) for h in holders], usage=usage)
    response = await guard.after(response)
    for holder, part in zip(holders, response.parts, strict=False):
        if isinstance(part, Text):
            holder["text"] = part.text


class _OpenAIOnly(RoutedJob):
    """An OpenAI endpoint beyond chat: the body goes to an upstream that speaks the
    caller's format (or an adapter that also serves the endpoint), the model renamed."""

    what = ""  # the endpoint, as its refusal names it

    public = ""  # the model name the client reads in the answer

    def check(self) -> None:
        """The dialect's check of the endpoint's body (``Dialect.body_checks``)."""
        check = self.call.client.body_checks.get(self.call.endpoint)
        if check is not None:
            check(self.body)

    async def prepare(self, route: RouteEntry) -> None:
        apply_defaults(self.body, route)
        self.estimate = _rough_tokens(self.call.raw)
        self.public = self.body.get("model") or route.name

    def public_model(self) -> str:
        return self.public

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        call = self.call
        adapter = begin_attempt(call, route, deployment)
        if adapter.speaks is not call.codec and call.endpoint not in adapter.also_serves:
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
        counted = Usage(input_tokens=prompt, output_tokens=output)
        if self.call.guard is not None:
            await self.check_answer(data, counted)
        return orjson.dumps(data), counted, ""

    async def check_answer(self, data: dict[str, Any], usage: Usage) -> None:
        """The guardrails' verdict on the answer (legacy completions' texts; an
        embedding has none to read)."""
        guard = self.call.guard
        assert guard is not None  # the caller checked
        choices = [
            c
            for c in data.get("choices") or ()
            if isinstance(c, dict) and isinstance(c.get("text"), str)
        ]
        await check_texts(guard, choices, usage)

    def pump(self, passthrough: bool, first: Any, iterator: Any) -> AsyncIterator[bytes]:
        self.call.first_token = time.perf_counter()  # legacy chunks carry text, not events
        return super().pump(passthrough, first, iterator)


class _Embeddings(_OpenAIOnly):
    what = "embeddings"

    def max_output(self) -> int | None:
        return 0

    async def fetch(
        self, adapter: Provider, body: dict[str, Any], deployment: DeploymentEntry
    ) -> dict[str, Any]:
        return await adapter.embeddings(body, deployment, self.call.attempt_exchange)


class _Completions(_OpenAIOnly):
    what = "text completions"

    async def respond(self, route: RouteEntry) -> Reply | StreamReply:
        self.stream = self.call.record.stream = bool(self.body.get("stream"))
        guard = self.call.guard
        if self.stream and guard is not None and guard.checks_answer:
            # a legacy completion streams through unparsed: refuse rather than pass unchecked
            raise InvalidRequest(
                "post_call guardrails apply to this request and cannot read a streamed legacy "
                "completion; send it without stream, or use /v1/chat/completions",
                param="stream",
            )
        return await super().respond(route)

    async def fetch(
        self, adapter: Provider, body: dict[str, Any], deployment: DeploymentEntry
    ) -> dict[str, Any]:
        return await adapter.text_completion(body, deployment, self.call.attempt_exchange)

    def open(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bool, Any]:
        return True, adapter.text_completion_stream(
            self.body, deployment, self.call.attempt_exchange
        )


class _Rerank(_OpenAIOnly):
    """``POST /v1/rerank`` (Cohere v2 body; the Jina / Voyage shape too) to Cohere, or to
    an OpenAI-compatible rerank server (vLLM, Infinity, text-embeddings-inference with
    ``"rerank_api": "tei"`` in the deployment's params); answered in Cohere's v2 shape
    (``gateway.core.rerank``). Priced per search unit where the deployment has a price
    for one (the catalog's or its own), else by the tokens the upstream reports."""

    what = "rerank"

    def check(self) -> None:
        from gateway.core import rerank

        self.parsed = rerank.parse(self.body)

    def rewritten(self, carry: Callable[[Any], Any]) -> None:
        from gateway.core import rerank

        self.parsed = rerank.parse(self.body)  # the query and documents as rewritten

    def max_output(self) -> int | None:
        return 0

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        from gateway.core import rerank

        api = adapter.rerank_shape  # declared by the kind; the deployment may ask for TEI's
        if api == "openai" and deployment.params.get("rerank_api") == "tei":
            api = "tei"
        exchange = self.call.attempt_exchange
        if api == "tei":  # in batches the server takes, made together
            batch = _positive(deployment.params.get("tei_batch_size")) or rerank.TEI_BATCH
            calls = [
                adapter.rerank(body, deployment, exchange)
                for body in rerank.tei_bodies(self.parsed, batch)
            ]
            answers = await asyncio.gather(*calls, return_exceptions=True)
            for answer in answers:  # every call ended before the first failure is raised
                if isinstance(answer, BaseException):
                    raise answer
            data = rerank.join_tei(list(answers), batch)
        else:
            body = rerank.upstream_body(self.parsed, deployment.model, api)
            data = await adapter.rerank(body, deployment, exchange)
        ranked = rerank.read(data, self.parsed)
        if deployment.search_unit_price is not None:
            self.priced = rerank.price(ranked, self.parsed, deployment.search_unit_price)
        payload = rerank.render(ranked, self.parsed, self.public_model())
        return orjson.dumps(payload), ranked.usage, ""


class _RealtimeClientSecret(_OpenAIOnly):
    """``POST /v1/realtime/client_secrets``, ``/transcription_sessions`` (beta) and
    ``/translations/client_secrets``: relayed to the route's deployment, the caller
    answered the gateway's own client secret (``gateway.core.realtime_secrets``)."""

    what = "realtime client secrets"

    def check(self) -> None:

        self.secret = realtime_secrets.read(self.body)
        self.body["model"] = self.secret.model  # the route, where the pipeline reads it

    async def prepare(self, route: RouteEntry) -> None:
        self.public = route.name  # no route defaults: the body is a session's settings

    def max_output(self) -> int | None:
        return 0

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:

        if not (
            isinstance(adapter, CodecProvider)
            and isinstance(adapter, realtime_secrets.SecretUpstream)
        ):
            raise InvalidRequest(
                f"model {route.name!r} cannot serve realtime sessions: its upstream does "
                "not speak the Realtime API",
                param="model",
            )
        body = realtime_secrets.upstream_body(self.body, self.secret, deployment, self.key)
        url = adapter.realtime_secret_url(self.secret.path, deployment)
        data = await adapter.post_json(url, body, self.call.attempt_exchange, {})
        secret = self.secret
        sealed = realtime_secrets.seal(self.key, route, deployment, secret.kind, data, secret.heard)
        return orjson.dumps(sealed), Usage(), ""


# endpoint -> its part in the pipeline
JOBS: dict[str, type[Job]] = {
    "realtime_client_secret": _RealtimeClientSecret,
    "chat": ChatJob,
    "count_tokens": CountTokensJob,
    "embeddings": _Embeddings,
    "completions": _Completions,
    "rerank": _Rerank,
}


def _positive(value: Any) -> int | None:
    """A positive integer setting (a deployment param), else None."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _rough_tokens(raw: bytes) -> int:
    """About four bytes a token, from the body as received (re-encoding the parsed
    input fails on nesting deeper than orjson writes)."""
    return max(1, len(raw) // 4)
