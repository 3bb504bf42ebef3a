"""Each person's OAuth connections to the MCP servers that act for each person
(``gateway.features.mcp.oauth``): the list with Connect / Disconnect, the connect that sends the
browser to the server's authorization server, and the callback it comes back to.

Every role may open these (ability ``mcp.connect``) and each view also asks the rule
``mcp.oauth.connect`` for the server; a person only ever sees, starts, finishes or ends
their own connections (the pending authorization is bound to who started it). The
connect answers htmx with a client-side redirect to the authorization server and a
plain form post with a link to it: the console's Content-Security-Policy has
``form-action 'self'``, which a form's redirect to another origin would break. The
callback is a GET that changes state, as OAuth has it: the single-use state it carries is
its protection against forgery, and a failure stores nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from gateway.base.entries import OAuthTarget
from gateway.base.env import env_str
from gateway.features.mcp.oauth import store
from gateway.models import McpServer
from gateway.web.decorators import acting_on, staff_required
from gateway.web.http import HtmxHttpRequest

TEMPLATE = "mcp/connections.html"


def _context(request: HtmxHttpRequest, **extra: Any) -> dict[str, Any]:
    servers = list(McpServer.objects.filter(oauth=McpServer.OAuth.PER_USER, enabled=True))
    connected = store.connected_servers(request.user.pk)
    for server in servers:
        server.connected = server.pk in connected
        server.expires_at = connected.get(server.pk)
    return {"servers": servers, **extra}


def _page(request: HtmxHttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    template = TEMPLATE + "#connections" if request.htmx else TEMPLATE
    return render(request, template, _context(request, **extra), status=status)


def _server(pk: int) -> McpServer:
    """An enabled server that acts for each person (any other: 404, as on the list)."""
    server: McpServer = get_object_or_404(
        McpServer, pk=pk, oauth=McpServer.OAuth.PER_USER, enabled=True
    )
    return server


def redirect_uri(request: HtmxHttpRequest) -> str:
    """Where the authorization server sends the browser back: the operator's
    ``SWITCHYARD_MCP_OAUTH_REDIRECT_URI`` (behind a proxy that rewrites the host) or this
    console's callback URL as the request reached it."""
    return env_str("SWITCHYARD_MCP_OAUTH_REDIRECT_URI").strip() or request.build_absolute_uri(
        reverse("console:mcp-oauth-callback")
    )


@staff_required
def connections(request: HtmxHttpRequest) -> HttpResponse:
    return _page(request)


@staff_required
@require_POST
@acting_on(_server, "mcp.oauth.connect")
def connect(request: HtmxHttpRequest, server: McpServer) -> HttpResponse:
    from gateway.features.mcp.oauth import flow  # the MCP SDK and Authlib: on first use

    try:
        location = async_to_sync(flow.connect)(server.pk, request.user.pk, redirect_uri(request))
    except flow.FlowError as exc:
        return _page(request, status=502, error=str(exc))
    if request.htmx:  # a navigation, not a form's redirect: the console's CSP has
        return HttpResponseClientRedirect(location)  # form-action 'self'
    return _page(request, continue_to=location, continue_host=urlsplit(location).hostname)


@staff_required
@require_safe
def callback(request: HtmxHttpRequest) -> HttpResponse:
    from gateway.features.mcp.oauth import flow  # the MCP SDK and Authlib: on first use

    params = {k: v for k, v in request.GET.items() if isinstance(v, str)}
    try:
        target = async_to_sync(flow.complete_target)(params, request.user.pk)
    except flow.FlowError as exc:
        return _page(request, status=400, error=str(exc))
    if isinstance(target, OAuthTarget) and target.page:  # an agent's: back to its page
        return redirect(f"{target.page}?{urlencode({'connected': target.name})}")
    return _page(request, message=f"Connected to {target.name}.")


@staff_required
@require_POST
@acting_on(_server, "mcp.oauth.connect")
def disconnect(request: HtmxHttpRequest, server: McpServer) -> HttpResponse:
    from gateway.features.mcp.oauth import flow  # the MCP SDK and Authlib: on first use

    revoked = async_to_sync(flow.disconnect)(server.pk, request.user.pk)
    note = "your tokens were revoked at the server" if revoked else "your tokens were deleted"
    return _page(request, message=f"Disconnected from {server.name}: {note}.")
