"""The browser round trip that connects one person to one server (authorization code
with PKCE, RFC 8707 resource), and its undoing.

``connect`` discovers the server's authorization server, gets a client (registered or
pre-registered), keeps a pending authorization (``store``: the state's hash, the PKCE
verifier sealed, the person, a ``STATE_SECONDS`` life) and returns the authorization URL
the console sends the browser to. ``complete`` is the callback: the state is taken (so a
replay, another person's state or an expired one finds nothing), the ``iss`` answer
checked (RFC 9207), the code exchanged with the verifier (Authlib), the tokens saved
sealed. ``disconnect`` revokes both tokens at the server (RFC 7009) and deletes them.

Every failure is a ``FlowError`` whose message is safe to show (no code, state or token)
and leaves no tokens stored. Connect, disconnect and a refused callback are audited."""

from __future__ import annotations

import logging
import re

from asgiref.sync import sync_to_async
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from mcp.client.auth import OAuthFlowError
from mcp.client.auth.utils import validate_authorization_response_iss

from gateway.access import registry
from gateway.base.entries import McpServerEntry, OAuthTarget
from gateway.features.mcp.oauth import clients, discovery, guarded_http, store, targets, tokens
from gateway.features.mcp.oauth.targets import FIELD, Target, Where
from gateway.telemetry import audit

log = logging.getLogger(__name__)

STATE_SECONDS = 600.0  # how long the browser has to come back
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class FlowError(Exception):
    """Connecting failed; ``str()`` is safe to show the person."""


def _entry(server_id: int) -> McpServerEntry:
    for entry in registry.current().mcp_servers.values():
        if entry.id == server_id:
            if entry.oauth != "per_user":
                raise FlowError(f"{targets.label(entry)} does not take per-person OAuth")
            if not entry.enabled:
                raise FlowError(f"{targets.label(entry)} is disabled")
            return entry
    raise FlowError("unknown MCP server")


def _target(where: Where) -> Target:
    """The server or other target (``targets.other``) a pending authorization names."""
    for kind, field in FIELD.items():
        if field in where:
            target = targets.other(kind, where[field])
            if target is None or not target.enabled:
                raise FlowError(f"unknown or disabled {kind}")
            return target
    return _entry(where["server_id"])


async def connect(server_id: int, user_id: int, redirect_uri: str) -> str:
    """The authorization URL to send ``user_id``'s browser to."""
    await registry.ensure_loaded()
    return await connect_target(_entry(server_id), user_id, redirect_uri)


async def connect_target(entry: Target, user_id: int, redirect_uri: str) -> str:
    """``connect`` for a server's or another target's entry."""
    url = targets.home_url(entry)
    try:
        async with guarded_http.client(url) as http:
            found = await discovery.discover(entry, http, url)
            client = await clients.client_for(entry, found, redirect_uri, http)
    except (discovery.DiscoveryFailed, clients.RegistrationFailed) as exc:
        raise FlowError(str(exc)) from None
    verifier, state = generate_token(64), generate_token(43)
    oauth = clients.oauth_client(url, client, redirect_uri=redirect_uri)
    extra = {"resource": found.resource}
    scope = entry.oauth_scopes or found.scopes
    if scope:
        extra["scope"] = scope
    location, _ = oauth.create_authorization_url(
        str(found.metadata.authorization_endpoint), state=state, code_verifier=verifier, **extra
    )
    await oauth.aclose()
    pending = store.Pending(targets.where(entry), user_id, verifier, redirect_uri, found.issuer)
    await store.save_pending(state, pending, STATE_SECONDS)
    return str(location)


async def complete(params: dict[str, str], user_id: int) -> str:
    """Finish the authorization the callback's ``params`` answer; the server's name."""
    return (await complete_target(params, user_id)).name


async def complete_target(params: dict[str, str], user_id: int) -> Target:
    """``complete``: the server or other target connected."""
    state = params.get("state", "")
    if not state or len(state) > 200:
        raise FlowError("the authorization server's answer carries no state")
    pending = await store.take_pending(state, user_id)
    if pending is None:
        await _audit_refusal(None, user_id, "unknown, used, expired or another person's state")
        raise FlowError(
            "this authorization is unknown, already used or expired: press Connect again"
        )
    await registry.ensure_loaded()
    entry = _target(pending.where)
    error = params.get("error", "")
    if error:
        code = error if _ERROR_CODE.match(error) else "error"
        await _audit_refusal(entry, user_id, f"the authorization server answered {code}")
        raise FlowError(f"{targets.label(entry)}: the authorization was refused ({code})")
    code = params.get("code", "")
    if not code or len(code) > 2000:
        raise FlowError(f"{targets.label(entry)}: the answer carries no authorization code")
    url = targets.home_url(entry)
    try:
        async with guarded_http.client(url) as http:
            found = await discovery.discover(entry, http, url)
            if found.issuer != pending.issuer:
                raise FlowError(f"{targets.label(entry)}: its authorization server changed")
            validate_authorization_response_iss(params.get("iss"), found.metadata)
            client = await clients.client_for(entry, found, pending.redirect_uri, http)
        async with clients.oauth_client(url, client, redirect_uri=pending.redirect_uri) as oauth:
            answer = await oauth.fetch_token(
                found.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.verifier,
                resource=found.resource,
            )
    except OAuthFlowError:
        await _audit_refusal(entry, user_id, "iss mismatch")
        raise FlowError(
            f"{targets.label(entry)}: the answer came from another authorization server"
        ) from None
    except OAuthError as exc:
        code = exc.error if _ERROR_CODE.match(exc.error or "") else "error"
        await _audit_refusal(entry, user_id, f"code exchange refused ({code})")
        raise FlowError(f"{targets.label(entry)}: the code was refused ({code})") from None
    except (discovery.DiscoveryFailed, clients.RegistrationFailed) as exc:
        raise FlowError(str(exc)) from None
    except FlowError:
        raise
    except Exception as exc:
        log.info("%s: code exchange failed: %s", targets.label(entry), type(exc).__name__)
        raise FlowError(
            f"{targets.label(entry)}: the token exchange failed ({type(exc).__name__})"
        ) from None
    try:
        held = store.tokens_of(answer, found.issuer)
    except (KeyError, TypeError, ValueError):
        raise FlowError(f"{targets.label(entry)}: the token answer has no access token") from None
    await store.save_tokens(targets.where(entry), user_id, held)
    tokens.forget(targets.cache_name(entry), user_id)
    await _audit(entry, user_id, "oauth_connect", "connected from the console")
    return entry


async def disconnect(server_id: int, user_id: int) -> bool:
    """Revoke (at the server, when it offers revocation) and delete ``user_id``'s tokens
    for the server; whether the server confirmed the revocation."""
    await registry.ensure_loaded()
    entry = next((e for e in registry.current().mcp_servers.values() if e.id == server_id), None)
    return await _disconnect({"server_id": server_id}, entry, user_id)


async def disconnect_target(entry: OAuthTarget, user_id: int) -> bool:
    """``disconnect`` for another target (an agent)."""
    return await _disconnect(targets.where(entry), entry, user_id)


async def _disconnect(where: Where, entry: Target | None, user_id: int) -> bool:
    held = await store.load_tokens(where, user_id)
    revoked = False
    if entry is not None and held is not None:
        revoked = await _revoke(entry, held)
    await store.delete_tokens(where, user_id)
    if entry is not None:
        tokens.forget(targets.cache_name(entry), user_id)
        await _audit(
            entry,
            user_id,
            "oauth_disconnect",
            "revoked at the server"
            if revoked
            else "deleted (the server did not confirm a revocation)",
        )
    return revoked


async def _revoke(entry: Target, held: store.Tokens) -> bool:
    url = targets.home_url(entry)
    try:
        async with guarded_http.client(url) as http:
            found = await discovery.discover(entry, http, url)
            client = await clients.client_for(entry, found, "", http)
        endpoint = found.revocation_endpoint
        if endpoint is None:
            return False
        async with clients.oauth_client(url, client) as oauth:
            for token, hint in ((held.refresh, "refresh_token"), (held.access, "access_token")):
                if token:
                    answer = await oauth.revoke_token(endpoint, token=token, token_type_hint=hint)
                    if answer.status_code != 200:
                        return False
        return True
    except Exception as exc:  # the person asked to be disconnected: the rows go anyway
        log.info("%s: revocation failed: %s", targets.label(entry), type(exc).__name__)
        return False


@sync_to_async
def _audit(entry: Target, user_id: int, action: str, detail: str) -> None:

    audit.record(
        action,
        object_type=targets.object_type(entry),
        object_id=entry.id,
        object_name=entry.name,
        changes={"user": user_id},
        detail=detail,
    )


async def _audit_refusal(entry: Target | None, user_id: int, why: str) -> None:
    if entry is None:
        await sync_to_async(_audit_unknown)(user_id, why)
    else:
        await _audit(entry, user_id, "oauth_refused", why)


def _audit_unknown(user_id: int, why: str) -> None:

    audit.record("oauth_refused", object_type="mcp_server", changes={"user": user_id}, detail=why)
