"""Server tools in the request pipeline: the chat job (``gateway.core.jobs``) asks the
registered extra jobs (``gateway.base.hooks.extra_jobs``) whether one answers its
request; this is the server tools' answer. ``takes`` says whether the gateway runs the
request's server tools, refusing what it cannot run; ``respond`` runs the loop
(``loop``), each upstream turn routed and retried like any call, and charges the
searches it ran."""

from __future__ import annotations

from decimal import Decimal

import orjson
from django.conf import settings

from gateway.access import registry
from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.core import cache
from gateway.core.call import Call, Reply, StreamReply
from gateway.core.jobs import ChatJob, check_unmapped_params
from gateway.core.pumps import pump_translated
from gateway.core.upstream import UpstreamCall
from gateway.errors import ConfigurationError, InvalidRequest
from gateway.features.server_tools import loop as tool_loop
from gateway.features.server_tools.backends import BACKENDS, Backend
from gateway.providers.base import adapter_for
from gateway.routing import routing
from gateway.types import ChatRequest, ChatResponse, ServerTool


def native(route: RouteEntry, call: Call) -> bool:
    """Whether every deployment of the route speaks the caller's own API (Anthropic's
    Messages for an Anthropic client, the Responses API for a Responses client): its
    upstream runs the server tools, the body goes as sent."""
    try:
        return bool(route.deployments) and all(
            adapter_for(d.provider).speaks is call.codec for d in route.deployments
        )
    except ConfigurationError:
        return False


def backend_of(route: RouteEntry) -> Backend | None:
    if route.web_search_backend not in BACKENDS or not route.web_search_url:
        return None
    return Backend(
        route.web_search_backend,
        route.web_search_url,
        route.web_search_key,
        route.web_search_price,
    )


def runnable(route: RouteEntry, request: ChatRequest) -> list[ServerTool]:
    """The server tools the gateway runs for ``request`` on ``route`` (a code execution
    tool is a 400 naming it: no sandbox is configured). Web search without a backend is
    not run: it stays what it was, a tool the upstream cannot take (per drop_params)."""
    for tool in request.server_tools:
        if tool.kind == "code_execution":
            raise InvalidRequest(
                f"tools: {tool.type} ({tool.name}) runs only on an upstream that runs code "
                f"execution, and no sandbox is configured for route {route.name!r}: "
                "remove the tool or use an Anthropic upstream",
                param="tools",
            )
    fetching = settings.SWITCHYARD_WEB_FETCH
    searching = backend_of(route) is not None
    return [
        tool
        for tool in request.server_tools
        if (tool.kind == "web_search" and searching) or (tool.kind == "web_fetch" and fetching)
    ]


def takes(job: ChatJob, route: RouteEntry) -> bool:
    request = job.request
    if request is None or native(route, job.call):
        return False
    tools = runnable(route, request)
    if not tools:
        return False
    request.server_tools = tools
    # what the parse noted as lost is not: the gateway runs it
    types = {tool.type for tool in tools}
    request.unmapped = [
        name
        for name in request.unmapped
        if name not in types and not any(name.endswith(f"({t})") for t in types)
    ]
    return True


async def respond(job: ChatJob, route: RouteEntry) -> Reply | StreamReply:
    """Answer with the server tool loop; one journal row with every turn's usage, the
    searches' price in its cost."""
    call, snapshot = job.call, registry.current()
    if call.cache is not None:  # an answer made with fresh searches is not replayed
        cache.abandon(call.cache)
        call.cache = None
    call.answer_keeper = None

    async def turn(request: ChatRequest) -> ChatResponse:
        async def attempt(route: RouteEntry, deployment: DeploymentEntry) -> ChatResponse:
            adapter = job.begin(route, deployment)
            check_unmapped_params(request, route, adapter, deployment)
            prepared = UpstreamCall.prepare(
                request, adapter, route, deployment, held_ceiling=job.held_ceiling(deployment)
            )
            if prepared.notes:
                call.record.translation = prepared.notes
            return await prepared.complete(call.attempt_exchange)

        return await routing.run(snapshot, job.plan(route), attempt, call.record.attempts, job.key)

    assert job.request is not None
    backend = backend_of(route)
    price = Decimal(backend.price) if backend is not None and backend.price else None

    def charge() -> None:  # each search as it runs: a stream the client leaves still pays
        if price is not None:
            call.extra_cost += price

    loop = tool_loop.Loop(
        job.request, turn, backend, inline_text=not call.client.renders_hosted, on_search=charge
    )

    call.record.mcp_calls = loop.notes  # the tool calls it ran, filled as it runs
    guard = call.guard
    if job.stream:
        events = tool_loop.events(loop, job.request)
        if guard is not None:
            events = guard.stream(events)
        first = await anext(events)
        if guard is not None:
            await guard.gate()
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
