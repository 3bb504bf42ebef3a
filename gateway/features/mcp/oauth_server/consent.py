"""The authorize page of the gateway's OAuth server (``gateway.features.mcp.oauth_server``): an
MCP client sends a person here; signed out, they sign in first (password or single
sign-on, both come back here through ``next``); then they see which client asks, where
the answer goes, the team it acts under and the MCP servers and tools it will reach
(their own keys' grants: ``mcp.rules.user_grant``), and approve or deny.

Authlib checks the request (client, exact redirect URI, PKCE S256, scope) on both the
page and the answer; ``resource`` (RFC 8707) is checked here. A request whose client or
redirect URI does not check out is an error page, never a redirect; after that, errors
and a denial go back to the client's redirect URI with ``error`` and the ``state`` it
sent. The answer is a POST with the CSRF token; the page may not be framed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpResponse
from django.shortcuts import render

from gateway.access import authorization, registry
from gateway.features.mcp.oauth_server import identity, resources
from gateway.telemetry import audit
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import CONTENT_SECURITY_POLICY, HtmxHttpRequest

if TYPE_CHECKING:
    from authlib.oauth2 import OAuth2Error

TEMPLATE = "mcp/oauth_authorize.html"


def _problem(request: HtmxHttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, TEMPLATE, {"problem": message}, status=status)


def _refused(request: HtmxHttpRequest, error: OAuth2Error) -> HttpResponse:
    """Back to the client when its redirect URI was checked; else an error page."""
    from gateway.features.mcp.oauth_server import server

    if getattr(error, "redirect_uri", None):
        error.state = request.GET.get("state")
        response: HttpResponse = server.server().handle_error_response(request, error)
        return with_issuer(response, resources.base_from_request(request))
    detail = error.description or error.error
    return _problem(request, f"This sign-in request is not valid: {detail}.")


def with_issuer(response: HttpResponse, issuer: str) -> HttpResponse:
    """RFC 9207: an authorization response (a code, or an error sent back to the
    client) names its issuer in ``iss``, so a client talking to several authorization
    servers can tell which one answered (a mix-up attack otherwise). The issuer is the
    one the metadata names (``resources.authorization_server``)."""
    location = response.get("Location") if response.status_code in (301, 302, 303) else None
    if not location:
        return response
    parts = urlsplit(location)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    query.append(("iss", issuer))
    response["Location"] = urlunsplit(parts._replace(query=urlencode(query)))
    return response


def _team(value: str | None, options: list[identity.TeamOption]) -> identity.TeamOption | None:
    """The option picked (``""``: no team), the first one when none is."""
    if value is None:
        return options[0] if options else None
    for option in options:
        if (str(option.id) if option.id is not None else "") == value:
            return option
    return None


@staff_required
def authorize(request: HtmxHttpRequest) -> HttpResponse:
    from authlib.oauth2 import OAuth2Error

    from gateway.features.mcp.oauth_server import server  # Authlib: on first use, not with the URLs

    auth = server.server()
    try:
        grant = auth.get_consent_grant(request, end_user=request.user)
    except OAuth2Error as error:
        return _refused(request, error)
    base = resources.base_from_request(request)
    resource = resources.checked_resource(request.GET.get("resource"), base)
    if resource is None:
        target = server.InvalidTargetError(
            f"the resource must be this gateway's MCP endpoint ({base}/mcp)",
            redirect_uri=grant.request.payload.redirect_uri,
        )
        return _refused(request, target)
    actor = actor_of(request)
    if registry.current().version < 0:
        registry.rebuild()
    snapshot = registry.current()
    options = identity.options(actor.user_id or 0, snapshot.keys.values())
    picked = request.POST.get("team") if request.method == "POST" else request.GET.get("team")
    option = _team(picked, options)
    client = grant.client
    if request.method == "POST":
        if request.POST.get("decision") != "approve":
            denied: HttpResponse = auth.create_authorization_response(
                request, grant_user=None, grant=grant
            )
            return with_issuer(denied, base)
        problem = ""
        if option is None:
            problem = "Pick a team whose keys grant MCP servers."
        else:
            decision = authorization.decide(actor, "mcp.oauth.consent", option.id)
            if not decision:
                problem = decision.reason
        if not problem and option is not None:
            try:
                key = identity.signin_key(request.user, option.id)
            except identity.SignInRefused as exc:
                problem = str(exc)
            else:
                grant.request.signin_key = key
                grant.request.resource = resource
                response: HttpResponse = auth.create_authorization_response(
                    request, grant_user=request.user, grant=grant
                )
                audit.record(
                    "mcp_oauth_consent",
                    object_type="mcp_oauth_client",
                    object_id=client.client_id[:16],
                    object_name=client.display_name[:200],
                    detail=f"signed in an MCP client as {key.name} for {resource}",
                )
                return with_issuer(response, base)
        context = _context(request, client, resource, options, option, snapshot)
        page = render(request, TEMPLATE, {**context, "error": problem}, status=400)
        return _answering_to(page, grant.request.payload.redirect_uri)
    context = _context(request, client, resource, options, option, snapshot)
    template = TEMPLATE + "#grant" if request.htmx else TEMPLATE
    return _answering_to(render(request, template, context), grant.request.payload.redirect_uri)


def _answering_to(response: HttpResponse, redirect_uri: str | None) -> HttpResponse:
    """The console's CSP with the client's redirect URI allowed as a form's target: the
    answer (a POST here) is a redirect there, which ``form-action 'self'`` would stop."""
    parts = urlsplit(redirect_uri or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        source = f"{parts.scheme}://{parts.netloc}"
    elif parts.scheme:
        source = f"{parts.scheme}:"
    else:
        return response
    if any(c in source for c in " ;,'\"\n"):  # checked at registration; never widen the policy
        return response
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {source}"
    )
    return response


def _context(
    request: HtmxHttpRequest,
    client: Any,
    resource: str,
    options: list[identity.TeamOption],
    option: identity.TeamOption | None,
    snapshot: Any,
) -> dict[str, Any]:
    from gateway.features.mcp.oauth_server import server

    redirect = request.GET.get("redirect_uri") or client.get_default_redirect_uri() or ""
    return {
        "client": client,
        "redirect_host": urlsplit(redirect).netloc or urlsplit(redirect).scheme + ":",
        "client_host": urlsplit(client.client_uri).netloc if client.client_uri else "",
        # a client known by its metadata document: the host that serves it (verified)
        "document_host": (
            urlsplit(client.client_id).netloc if client.metadata_fetched_at is not None else ""
        ),
        "resource": resource,
        "options": options,
        "option": option,
        "servers": option.servers(snapshot) if option is not None else [],
        "team_value": "" if option is None or option.id is None else str(option.id),
        "hours": server.ACCESS_SECONDS // 3600,
        "days": server.REFRESH_DAYS,
    }
