"""Server tools in the request pipeline: the chat job (``gateway.core.jobs``) asks the
registered extra jobs (``gateway.base.hooks.extra_jobs``) whether one answers its
request; this is the server tools' answer. ``takes`` says whether the gateway runs the
request's server tools, refusing what it cannot run; ``toolset`` is then their part of
the gateway's tool loop (``gateway.core.tool_runner``), beside any other feature's, its
searches charged as they run."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from gateway.base.entries import RouteEntry
from gateway.base.errors import ConfigurationError, InvalidRequest
from gateway.base.types import ChatRequest, ServerTool
from gateway.core.call import Call
from gateway.core.jobs import ChatJob
from gateway.features.server_tools import loop as tool_loop
from gateway.features.server_tools.backends import KINDS, Backend
from gateway.providers.base import adapter_for


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
    if route.web_search_backend not in KINDS or not route.web_search_url:
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


def toolset(job: ChatJob, route: RouteEntry) -> tool_loop.ServerTools | None:
    """The request's server tools in the gateway's tool loop, if it runs them (``takes``);
    each search charged as it runs (a stream the client leaves still pays)."""
    if not takes(job, route):
        return None
    call, backend = job.call, backend_of(route)
    price = Decimal(backend.price) if backend is not None and backend.price else None

    def charge() -> None:
        if price is not None:
            call.extra_cost += price

    return tool_loop.ServerTools(job.request, backend, on_search=charge, key=job.key)
