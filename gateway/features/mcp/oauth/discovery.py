"""Where a server's OAuth lives, found as the MCP authorization spec says, with the SDK's
helpers (``mcp.client.auth.utils``): an unauthenticated request to the server answers 401
with ``WWW-Authenticate: Bearer resource_metadata=...`` (else the well-known URLs), the
protected resource metadata (RFC 9728) names the authorization server, whose metadata
(RFC 8414, or OpenID discovery) names its endpoints. The metadata must name this server
as its resource and the authorization server's ``issuer`` must be the one named.

Every URL is fetched through ``guarded_http`` (the hosted MCP URLs' rules). Results are
kept in memory for ``TTL`` seconds per server URL: a refresh needs the token endpoint,
and asking for it again each time would double the refresh's cost."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx2
from mcp.client.auth import OAuthFlowError
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
    create_oauth_metadata_request,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    get_client_metadata_scopes,
    handle_auth_metadata_response,
    handle_protected_resource_response,
    issuers_match,
)
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url

from gateway.features.mcp.oauth import targets
from gateway.features.mcp.oauth.guarded_http import Refused
from gateway.features.mcp.oauth.targets import Target

TTL = 600.0


class DiscoveryFailed(Exception):
    """The server's OAuth could not be found or is not acceptable; safe to show."""


@dataclass(frozen=True, slots=True)
class Discovered:
    resource: str  # the RFC 8707 resource indicator to ask tokens for
    issuer: str
    metadata: OAuthMetadata
    scopes: str | None  # what to ask for when the server's entry names none

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata.token_endpoint)

    @property
    def revocation_endpoint(self) -> str | None:
        endpoint = self.metadata.revocation_endpoint
        return str(endpoint) if endpoint else None


_found: dict[str, tuple[float, Discovered]] = {}


def forget(url: str) -> None:
    _found.pop(url, None)


async def discover(entry: Target, http: httpx2.AsyncClient, url: str) -> Discovered:
    """The OAuth facts of the server at ``url`` (its entry's URL, secrets resolved)."""
    cached = _found.get(url)
    if cached is not None and time.monotonic() - cached[0] < TTL:
        return cached[1]
    try:
        found = await _discover(entry, http, url)
    except Refused as exc:
        raise DiscoveryFailed(f"{targets.label(entry)}: OAuth refused: {exc}") from None
    except OAuthFlowError as exc:
        raise DiscoveryFailed(f"{targets.label(entry)}: {exc}") from None
    except httpx2.HTTPError as exc:
        raise DiscoveryFailed(
            f"{targets.label(entry)}: OAuth discovery failed ({type(exc).__name__})"
        ) from None
    _found[url] = (time.monotonic(), found)
    return found


async def _discover(entry: Target, http: httpx2.AsyncClient, url: str) -> Discovered:
    configured = targets.issuer(entry)
    if configured:  # the operator named the authorization server: no probe, no PRM
        return await _metadata(entry, http, url, configured, resource_url_from_server_url(url))
    probe = await http.post(
        url,
        json={"jsonrpc": "2.0", "id": 0, "method": "ping"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    await probe.aread()
    if probe.status_code not in (401, 403):
        raise DiscoveryFailed(
            f"{targets.label(entry)}: asked without a token it answered {probe.status_code}, "
            "not 401: it does not ask for OAuth"
        )
    www_scope = extract_scope_from_www_auth(probe)
    prm: ProtectedResourceMetadata | None = None
    for candidate in build_protected_resource_metadata_discovery_urls(
        extract_resource_metadata_from_www_auth(probe), url
    ):
        prm = await handle_protected_resource_response(
            await http.send(create_oauth_metadata_request(candidate))
        )
        if prm is not None:
            break
    resource = resource_url_from_server_url(url)
    if prm is not None:
        named = str(prm.resource)
        if not check_resource_allowed(requested_resource=resource, configured_resource=named):
            raise DiscoveryFailed(
                f"{targets.label(entry)}: its resource metadata names another resource"
            )
        resource = named
        if not prm.authorization_servers:
            raise DiscoveryFailed(f"{targets.label(entry)}: no authorization server named")
    issuer = str(prm.authorization_servers[0]) if prm is not None else None
    return await _metadata(entry, http, url, issuer, resource, www_scope, prm)


async def _metadata(
    entry: Target,
    http: httpx2.AsyncClient,
    url: str,
    issuer: str | None,
    resource: str,
    www_scope: str | None = None,
    prm: ProtectedResourceMetadata | None = None,
) -> Discovered:
    """The authorization server's metadata (``issuer``'s, or found from ``url``)."""
    metadata: OAuthMetadata | None = None
    for candidate in build_oauth_authorization_server_metadata_discovery_urls(issuer, url):
        go_on, metadata = await handle_auth_metadata_response(
            await http.send(create_oauth_metadata_request(candidate))
        )
        if metadata is not None or not go_on:
            break
    if metadata is None:
        raise DiscoveryFailed(f"{targets.label(entry)}: no authorization server metadata")
    if issuer is not None and not issuers_match(str(metadata.issuer), issuer):
        raise DiscoveryFailed(
            f"{targets.label(entry)}: the authorization server's metadata names another issuer"
        )
    if "S256" not in (metadata.code_challenge_methods_supported or ["S256"]):
        raise DiscoveryFailed(f"{targets.label(entry)}: the authorization server lacks PKCE S256")
    scopes = get_client_metadata_scopes(
        www_scope, prm, metadata, ["authorization_code", "refresh_token"]
    )
    return Discovered(
        resource=resource, issuer=str(metadata.issuer), metadata=metadata, scopes=scopes
    )
