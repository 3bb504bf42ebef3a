"""Hosted MCP tools in the request pipeline: the chat job (``gateway.core.jobs``) asks
the registered extra jobs (``gateway.base.hooks.extra_jobs``) whether one answers its
request; this is the hosted MCP tools' answer. ``takes`` checks the key's grants on the
MCP servers the request names, attaches the route's and the caller's registered servers
and says whether the gateway runs the tools (the request has some, and its route does
not hand them to an upstream that runs them); ``respond`` runs the hosted loop
(``gateway.features.mcp.hosted.loop``), each upstream turn routed and retried like any call.

A feature module: it imports the pipeline (core) and registers into it
(``gateway.features.mcp.plugin``); core never imports it."""

from __future__ import annotations

import orjson
from django.conf import settings

from gateway.access import authorization, registry
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry
from gateway.core import cache
from gateway.core.call import Call, Reply, StreamReply
from gateway.core.jobs import ChatJob, check_unmapped_params
from gateway.core.pumps import pump_translated
from gateway.core.upstream import UpstreamCall
from gateway.errors import ConfigurationError, PermissionDenied
from gateway.features.mcp import hosted
from gateway.features.mcp import rules as mcp_rules
from gateway.features.mcp.oauth import caller as oauth_caller
from gateway.providers.base import adapter_for
from gateway.routing import routing
from gateway.telemetry import tracing
from gateway.types import ChatRequest, ChatResponse, McpServer


def takes(job: ChatJob, route: RouteEntry) -> bool:
    """Whether the hosted loop answers ``job``'s request (after checking the key's grants
    on the servers it names, a 403 else, and attaching the route's and the caller's)."""
    request, caller = job.request, job.call.caller
    if request is not None and request.mcp_servers:
        check_permissions(job.key, request)
    _attach_route_servers(job.key, request, route.mcp_servers)
    if caller.mcp_servers:
        hosted.attach(request, caller.mcp_servers)
    return hosted.applies(request, _mcp_passes(route, job.call))


def check_permissions(key: KeyEntry, request: ChatRequest) -> None:
    """A registered MCP server the caller names (not one its route attaches) is used
    as the key's MCP grant allows (``mcp.server.use``, as on ``/mcp``): a server it may
    not see is a 403, a server it may use some tools of offers only those."""
    for server in request.mcp_servers:
        if server.url is not None:
            continue  # the caller's own server, reached with the caller's headers
        name = server.registered or server.label
        decision = authorization.decide(key, "mcp.server.use", name)
        if not decision.allowed:
            raise PermissionDenied(decision.reason)
        _narrow(key, server, name)


def _narrow(key: KeyEntry, server: McpServer, name: str) -> None:
    """Offer only the tools of registered server ``name`` the key's grant names."""
    tools = mcp_rules.tools_granted(key, name)
    if tools is not None:
        asked = tools if server.allowed is None else server.allowed
        server.allowed = [t for t in asked if t in tools]


def _attach_route_servers(
    key: KeyEntry, request: ChatRequest | None, names: tuple[str, ...]
) -> None:
    """Attach the route's registered servers the key has a grant on, offering only the
    tools granted: attaching a server to a route is an editor's act, using it is the
    key's grant, so a key without one gets none of that server's tools."""
    if request is None or not names:
        return
    granted = tuple(n for n in names if authorization.decide(key, "mcp.server.use", n).allowed)
    have = len(request.mcp_servers)
    hosted.attach(request, granted)
    for server in request.mcp_servers[have:]:
        _narrow(key, server, server.registered or server.label)


def _mcp_passes(route: RouteEntry, call: Call) -> bool:
    """Hosted MCP tools go upstream only when the route says so and every deployment
    speaks the caller's API (an OpenAI Responses or Anthropic upstream runs them)."""
    if not route.mcp_passthrough:
        return False
    try:
        return all(adapter_for(d.provider).speaks is call.codec for d in route.deployments)
    except ConfigurationError:
        return False


async def respond(job: ChatJob, route: RouteEntry) -> Reply | StreamReply:
    """Answer with the gateway's hosted MCP loop (gateway/features/mcp/hosted): each upstream
    turn routed and retried like any call; one journal row with the tool calls."""
    call, snapshot = job.call, registry.current()
    oauth_caller.act_for(job.key)  # registered OAuth servers: the owner's token if they minted it
    if call.cache is not None:  # an answer made with tools is not replayed from cache
        cache.abandon(call.cache)
        call.cache = None
    call.answer_keeper = None  # nor kept by an answer cache

    async def turn(request: ChatRequest) -> ChatResponse:
        async def attempt(route: RouteEntry, deployment: DeploymentEntry) -> ChatResponse:
            adapter = job.begin(route, deployment)
            check_unmapped_params(request, route, adapter, deployment)
            prepared = UpstreamCall.prepare(
                request, adapter, route, deployment, held_ceiling=job.held_ceiling(deployment)
            )
            if prepared.notes:  # what any turn lost (the journal's lossiness note)
                call.record.translation = prepared.notes
            return await prepared.complete(call.attempt_exchange)

        plan = job.plan(route)
        return await routing.run(snapshot, plan, attempt, call.record.attempts, job.key)

    loop = hosted.Loop(
        job.request,
        turn,
        max_calls=settings.SWITCHYARD_MCP_HOSTED_MAX_CALLS,
        timeout=settings.SWITCHYARD_MCP_HOSTED_TIMEOUT,
        allow=settings.SWITCHYARD_MCP_HOSTED_ALLOW,
        observe=(lambda note: tracing.tool_call(call, note)) if call.span is not None else None,
        inline_text=not call.client.renders_hosted,
        watch=call.caller.watch_mcp,
        key=job.key,
        vouched=call.caller.mcp_servers,
        call=call,
        route=route,
    )
    call.record.mcp_calls = loop.notes  # filled as the loop runs, read at finish
    guard = call.guard  # the request's guardrails read the loop's answer as any other
    if job.stream:
        events = hosted.events(loop, job.request)
        if guard is not None:
            events = guard.stream(events)
        first = await anext(events)
        if guard is not None:
            await guard.gate()  # during_call's verdict before the answer's head
        chunks = pump_translated(call, job.request, first, events)
        return StreamReply(200, call.headers(b"text/event-stream"), chunks)
    response = await loop.run()
    if guard is not None:
        response = await guard.after(response)
    rendered = call.client.render_response(response, job.request)
    if call.state is not None and call.state.keeps:
        await call.state.keep(rendered)
    payload = orjson.dumps(rendered)
    call.capture_outbound(payload)
    call.finish(status=200, usage=response.usage, finish_reason=response.finish_reason)
    return Reply(200, payload, call.headers())
