"""The authorization server's machine endpoints (Django views, served by the console
role with the rest of Django): the metadata documents, registration, token and
revocation. The authorize page, where a person signs in and consents, is a console page
(``consent``).

These endpoints take no cookie (CSRF-exempt: a browser-based client such as the MCP
Inspector calls them cross-origin, so they answer CORS) and authenticate by what they
are sent: the code with its PKCE verifier, the refresh token. Errors are RFC 6749 JSON
(``{"error", "error_description"}``); each issuance and revocation is one audit row."""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gateway.features.mcp.oauth_server import resources
from gateway.telemetry import audit

log = logging.getLogger(__name__)

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, MCP-Protocol-Version",
    "Access-Control-Max-Age": "600",
}
FORM_BYTES = 16 * 1024  # a token or registration request is small


def _cors(response: HttpResponse) -> HttpResponse:
    for name, value in CORS.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def _error(status: int, error: str, description: str) -> HttpResponse:
    return _cors(JsonResponse({"error": error, "error_description": description}, status=status))


def _preflight_or(methods: tuple[str, ...], request: HttpRequest) -> HttpResponse | None:
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204))
    if request.method not in methods:
        return _error(405, "invalid_request", f"use {' or '.join(methods)}")
    return None


@csrf_exempt  # type: ignore[untyped-decorator]
def protected_resource(request: HttpRequest, server_name: str = "") -> HttpResponse:
    """RFC 9728: ``/.well-known/oauth-protected-resource/mcp[/<server>]``."""
    refused = _preflight_or(("GET",), request)
    if refused is not None:
        return refused
    path = resources.MCP_PATH + (f"/{server_name}" if server_name else "")
    if resources.mcp_path(path) is None:
        return _error(404, "invalid_request", "not an MCP resource of this gateway")
    base = resources.base_from_request(request)
    return _cors(JsonResponse(resources.protected_resource(base, path)))


@csrf_exempt  # type: ignore[untyped-decorator]
def authorization_server_metadata(request: HttpRequest) -> HttpResponse:
    """RFC 8414: ``/.well-known/oauth-authorization-server``."""
    refused = _preflight_or(("GET",), request)
    if refused is not None:
        return refused
    base = resources.base_from_request(request)
    return _cors(JsonResponse(resources.authorization_server(base)))


def _post_refused(request: HttpRequest, error: str) -> HttpResponse | None:
    """The answer to a preflight, another method or a body over ``FORM_BYTES`` (``error``
    its OAuth error code), or None: the POST is read."""
    refused = _preflight_or(("POST",), request)
    if refused is not None:
        return refused
    try:
        too_large = int(request.headers.get("content-length") or 0) > FORM_BYTES
    except ValueError:
        too_large = True
    return _error(413, error, f"at most {FORM_BYTES} bytes") if too_large else None


@csrf_exempt  # type: ignore[untyped-decorator]
def register(request: HttpRequest) -> HttpResponse:
    """RFC 7591: a public client registers its name and redirect URIs."""
    from gateway.features.mcp.oauth_server import server  # Authlib: on first use

    refused = _post_refused(request, "invalid_client_metadata")
    if refused is not None:
        return refused
    try:
        json.loads(request.body or b"null")
    except ValueError:
        return _error(400, "invalid_client_metadata", "the body is not JSON")
    with transaction.atomic():
        response: HttpResponse = server.server().create_endpoint_response(
            "client_registration", request
        )
        if response.status_code >= 400:
            transaction.set_rollback(True)
        else:
            body = json.loads(response.content)
            audit.record(
                "mcp_oauth_register",
                object_type="mcp_oauth_client",
                object_id=body.get("client_id", "")[:16],
                object_name=str(body.get("client_name", ""))[:200],
                detail="an MCP client registered itself (RFC 7591)",
            )
    return _cors(response)


@csrf_exempt  # type: ignore[untyped-decorator]
def token(request: HttpRequest) -> HttpResponse:
    """RFC 6749 token endpoint: a code (with its PKCE verifier) or a refresh token for
    a new pair. Nothing is stored unless it succeeds; a replayed code or refresh token
    revokes what it led to."""
    from gateway.features.mcp.oauth_server import server  # Authlib: on first use

    refused = _post_refused(request, "invalid_request")
    if refused is not None:
        return refused
    with transaction.atomic():
        response: HttpResponse = server.server().create_token_response(request)
        if response.status_code >= 400:
            transaction.set_rollback(True)
    oauth_request = getattr(request, server.OAUTH_REQUEST, None)  # what the grant saw
    replayed_code = getattr(oauth_request, "replayed_code", None)
    replayed_family = getattr(oauth_request, "replayed_family", None)
    if replayed_code is not None or replayed_family is not None:
        count = (
            server.revoke(code=replayed_code)
            if replayed_code is not None
            else server.revoke(family=replayed_family)
        )
        what = "code" if replayed_code is not None else "refresh token"
        log.warning("mcp oauth: a spent %s was presented again; %d token(s) revoked", what, count)
        audit.record(
            "mcp_oauth_replay",
            object_type="mcp_oauth_token",
            detail=f"a spent {what} was presented again: {count} token(s) of it revoked",
        )
    elif response.status_code == 200 and not request.POST.get("grant_type", "").startswith("urn:"):
        grant_type = request.POST.get("grant_type", "")
        audit.record(
            "mcp_oauth_token",
            object_type="mcp_oauth_token",
            object_name=str(getattr(getattr(oauth_request, "user", None), "username", ""))[:200],
            detail=f"tokens issued to an MCP client ({grant_type})",
        )
    return _cors(response)


@csrf_exempt  # type: ignore[untyped-decorator]
def revoke(request: HttpRequest) -> HttpResponse:
    """RFC 7009: a client revokes its token (answered 200 for an unknown one)."""
    from gateway.features.mcp.oauth_server import server  # Authlib: on first use

    refused = _post_refused(request, "invalid_request")
    if refused is not None:
        return refused
    with transaction.atomic():
        response: HttpResponse = server.server().create_endpoint_response("revocation", request)
        if response.status_code >= 400:
            transaction.set_rollback(True)
        else:
            audit.record(
                "mcp_oauth_revoke",
                object_type="mcp_oauth_token",
                detail="an MCP client revoked its token (RFC 7009)",
            )
    return _cors(response)
