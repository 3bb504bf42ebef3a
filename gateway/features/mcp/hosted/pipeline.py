"""Hosted MCP tools in the request pipeline: the chat job (``gateway.core.jobs``) asks
the registered extra jobs (``gateway.base.hooks.extra_jobs``) whether one answers its
request; this is the hosted MCP tools' answer. ``takes`` checks the key's grants on the
MCP servers the request names, attaches the route's and the caller's registered servers
and says whether the gateway runs the tools (the request has some, and its route does
not hand them to an upstream that runs them); ``toolset`` is then their part of the
gateway's tool loop (``gateway.core.tool_runner``), beside any other feature's.

A feature module: it imports the pipeline (core) and registers into it
(``gateway.features.mcp.plugin``); core never imports it."""

from __future__ import annotations

from django.conf import settings

from gateway.access import authorization
from gateway.base.entries import KeyEntry, RouteEntry
from gateway.base.errors import ConfigurationError, PermissionDenied
from gateway.base.types import ChatRequest, McpServer
from gateway.core.call import Call
from gateway.core.jobs import ChatJob
from gateway.features.mcp import hosted
from gateway.features.mcp import rules as mcp_rules
from gateway.features.mcp.oauth import caller as oauth_caller
from gateway.providers.base import adapter_for
from gateway.telemetry import tracing


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


def toolset(job: ChatJob, route: RouteEntry) -> hosted.McpTools | None:
    """The hosted MCP tools of ``job``'s request in the gateway's tool loop, if it runs
    them (``takes``)."""
    if not takes(job, route):
        return None
    call = job.call
    oauth_caller.act_for(job.key)  # registered OAuth servers: the owner's token if they minted it
    return hosted.McpTools(
        job.request,
        max_calls=settings.SWITCHYARD_MCP_HOSTED_MAX_CALLS,
        timeout=settings.SWITCHYARD_MCP_HOSTED_TIMEOUT,
        allow=settings.SWITCHYARD_MCP_HOSTED_ALLOW,
        observe=(lambda note: tracing.tool_call(call, note)) if call.span is not None else None,
        key=job.key,
        vouched=call.caller.mcp_servers,
        call=call,
        route=route,
    )
