"""The gateway's addresses as an OAuth protected resource (``/mcp``, ``/mcp/<server>``)
and as its authorization server: the issuer, the metadata documents (RFC 9728, RFC
8414) and the ``resource`` check (RFC 8707).

The issuer is ``SWITCHYARD_PUBLIC_URL`` when set (a proxy in front changes the address),
else the request's own origin; a ``resource`` must name this origin and ``/mcp`` or
``/mcp/<server>``, so a token is only ever for this gateway's MCP endpoint."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from gateway.base.env import env_str

MCP_PATH = "/mcp"
PRM_PATH = "/.well-known/oauth-protected-resource"
AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token"
REGISTER_PATH = "/oauth/register"
REVOKE_PATH = "/oauth/revoke"
SCOPE = "mcp"
SERVER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_)){0,62}$")  # models.MCP_SERVER_NAME


def configured_base() -> str:
    return env_str("SWITCHYARD_PUBLIC_URL").strip().rstrip("/")


def base_from_scope(scope: dict[str, Any]) -> str:
    """The issuer as an ASGI request reaches it: scheme and ``Host``."""
    configured = configured_base()
    if configured:
        return configured
    host = ""
    for name, value in scope.get("headers") or ():
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme') or 'http'}://{host}"


def base_from_request(request: Any) -> str:
    """The issuer as a Django request reaches it."""
    return configured_base() or request.build_absolute_uri("/").rstrip("/")


def mcp_path(path: str) -> str | None:
    """``/mcp`` or ``/mcp/<server>`` as a resource's path, None for anything else."""
    path = path.rstrip("/") or "/"
    if path == MCP_PATH:
        return path
    if path.startswith(MCP_PATH + "/") and SERVER_NAME.match(path[len(MCP_PATH) + 1 :]):
        return path
    return None


def resource_metadata_url(base: str, path: str) -> str:
    """Where the metadata of the resource at ``path`` (``/mcp``, ``/mcp/<server>``) is."""
    return base + PRM_PATH + (mcp_path(path) or MCP_PATH)


def protected_resource(base: str, path: str) -> dict[str, Any]:
    """RFC 9728 metadata of ``/mcp`` or ``/mcp/<server>``: this gateway is its
    authorization server."""
    return {
        "resource": base + (mcp_path(path) or MCP_PATH),
        "authorization_servers": [base],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": "Switchyard MCP gateway",
    }


def authorization_server(base: str) -> dict[str, Any]:
    """RFC 8414 metadata: authorization code with PKCE (S256) for public clients that
    register themselves or are known by a Client ID Metadata Document, refresh tokens,
    revocation."""
    return {
        "issuer": base,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "registration_endpoint": base + REGISTER_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "scopes_supported": [SCOPE],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",  # an A2A agent's token
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        # RFC 9207: every authorization response carries ``iss`` (``consent.with_issuer``)
        "authorization_response_iss_parameter_supported": True,
        # a client_id may be the https URL of its metadata document
        # (``metadata_documents``), beside registration
        "client_id_metadata_document_supported": True,
    }


def checked_resource(value: str | None, base: str) -> str | None:
    """The ``resource`` asked for (RFC 8707), normalised, if it names this gateway's
    ``/mcp`` or ``/mcp/<server>``; None otherwise. Absent: ``/mcp``."""
    if not value:
        return base + MCP_PATH
    parts = urlsplit(value)
    if parts.query or parts.fragment or f"{parts.scheme}://{parts.netloc}" != base:
        return None
    path = mcp_path(parts.path)
    return base + path if path is not None else None


def covers(resource: str, path: str) -> bool:
    """Whether a token for ``resource`` may be used on ``path``: a token for ``/mcp``
    on every MCP path, one for ``/mcp/<server>`` on that server's only. (Its origin was
    checked when it was issued.)"""
    own = mcp_path(urlsplit(resource).path)
    wanted = mcp_path(path)
    return own is not None and wanted is not None and own in (MCP_PATH, wanted)
