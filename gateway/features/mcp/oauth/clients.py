"""Who the gateway is to a server's authorization server: the pre-registered client the
server's entry names (id and secret), or one made by dynamic client registration
(RFC 7591, with the SDK's request and answer helpers) on first use and kept per server
(``store``), bound to the issuer and redirect URI it was made for. ``oauth_client``
builds Authlib's client for the token endpoint's exchanges."""

from __future__ import annotations

from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client
from mcp.client.auth import OAuthRegistrationError
from mcp.client.auth.oauth2 import check_registration_usable
from mcp.client.auth.utils import create_client_registration_request, handle_registration_response
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from gateway.features.mcp.oauth import guarded_http, store, targets
from gateway.features.mcp.oauth.discovery import Discovered
from gateway.features.mcp.oauth.targets import Target

CLIENT_NAME = "Switchyard gateway"


class RegistrationFailed(Exception):
    """No client could be had; safe to show."""


def _preregistered(entry: Target, discovered: Discovered | None) -> store.Client:
    secret = entry.oauth_client_secret
    method = "none"
    if secret:
        supported = (
            discovered.metadata.token_endpoint_auth_methods_supported if discovered else None
        ) or []
        method = (
            "client_secret_post"
            if "client_secret_post" in supported and "client_secret_basic" not in supported
            else "client_secret_basic"
        )
    return store.Client(entry.oauth_client_id, secret, method)


async def client_for(
    entry: Target,
    discovered: Discovered,
    redirect_uri: str,
    http: httpx2.AsyncClient,
) -> store.Client:
    """The client to use with ``discovered``'s authorization server: the entry's own, the
    one registered before, or a new registration (``redirect_uri`` empty: a refresh,
    which takes whichever was registered)."""
    if entry.oauth_client_id:
        return _preregistered(entry, discovered)
    known = await store.registered_client(targets.where(entry), discovered.issuer, redirect_uri)
    if known is not None:
        return known
    if not redirect_uri:
        raise RegistrationFailed(f"{targets.label(entry)}: no client registered")
    endpoint = discovered.metadata.registration_endpoint
    if endpoint is None:
        raise RegistrationFailed(
            f"{targets.label(entry)}: its authorization server offers no dynamic client "
            "registration; give the server a pre-registered client id"
        )
    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(redirect_uri)],
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        client_name=CLIENT_NAME,
        scope=entry.oauth_scopes or discovered.scopes,
    )
    request = create_client_registration_request(discovered.metadata, metadata, discovered.issuer)
    try:
        registered = await handle_registration_response(await http.send(request))
        check_registration_usable(registered)
    except OAuthRegistrationError:
        raise RegistrationFailed(
            f"{targets.label(entry)}: its authorization server refused to register the gateway"
        ) from None
    except guarded_http.Refused as exc:
        raise RegistrationFailed(f"{targets.label(entry)}: OAuth refused: {exc}") from None
    except httpx2.HTTPError as exc:
        raise RegistrationFailed(
            f"{targets.label(entry)}: registration failed ({type(exc).__name__})"
        ) from None
    client = store.Client(
        registered.client_id,
        registered.client_secret or "",
        registered.token_endpoint_auth_method or "client_secret_basic",
    )
    await store.save_client(targets.where(entry), discovered.issuer, redirect_uri, client)
    return client


def oauth_client(url: str, client: store.Client, **kwargs: Any) -> AsyncOAuth2Client:
    """Authlib's client for ``client``'s exchanges (PKCE S256), through ``guarded_http``."""
    return AsyncOAuth2Client(
        client_id=client.client_id,
        client_secret=client.client_secret or None,
        token_endpoint_auth_method=client.auth_method or "none",
        revocation_endpoint_auth_method=client.auth_method or "none",
        code_challenge_method="S256",
        **guarded_http.client_kwargs(url),
        **kwargs,
    )
