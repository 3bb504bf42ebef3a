"""The OAuth rows (``gateway.models.mcp``): clients, tokens and pending authorizations,
every secret sealed with the registry's secrets key (``base.secrets.crypto``) and opened
only here. Async (Django's async ORM): callers are the call path and the console's flow.

What leaves this module is plain values (``Tokens``); a row is never handed out with its
ciphertexts, so nothing else can put one in a message or a log by mistake."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError
from django.utils import timezone

from gateway.base.secrets import crypto
from gateway.features.mcp.oauth.targets import FIELD, Where
from gateway.models.mcp import McpOAuthState, McpOAuthToken, McpUpstreamClient


@dataclass(slots=True)
class Tokens:
    """One person's (``user_id``) or the service's (None) tokens for a server."""

    access: str
    refresh: str
    expires_at: float | None  # epoch seconds; None: the server did not say
    scopes: str
    issuer: str


@dataclass(frozen=True, slots=True)
class Client:
    """The gateway as an OAuth client of one authorization server."""

    client_id: str
    client_secret: str
    auth_method: str  # client_secret_basic | client_secret_post | none


@dataclass(frozen=True, slots=True)
class Pending:
    where: Where  # the server's or the agent's (``targets.where``)
    user_id: int
    verifier: str
    redirect_uri: str
    issuer: str


def _named(where: Where | int) -> Where:
    """The rows' filter (``targets.where``; a bare id: an MCP server's)."""
    return {"server_id": where} if isinstance(where, int) else where


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


# --- tokens ------------------------------------------------------------------------------


async def load_tokens(where: Where | int, user_id: int | None) -> Tokens | None:
    row = await McpOAuthToken.objects.filter(**_named(where), user_id=user_id).afirst()
    if row is None:
        return None
    return Tokens(
        access=crypto.decrypt(row.access_token_ciphertext),
        refresh=crypto.decrypt(row.refresh_token_ciphertext),
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
        scopes=row.scopes,
        issuer=row.issuer,
    )


def tokens_of(answer: dict[str, Any], issuer: str, keep_refresh: str = "") -> Tokens:
    """Tokens from a token endpoint's answer as Authlib parsed it (``expires_at`` made
    from ``expires_in``); a refresh that sends no new refresh token keeps the old one."""
    expires = answer.get("expires_at")
    return Tokens(
        access=str(answer["access_token"]),
        refresh=str(answer.get("refresh_token") or keep_refresh),
        expires_at=float(expires) if expires else None,
        scopes=str(answer.get("scope") or ""),
        issuer=issuer,
    )


async def save_tokens(where: Where | int, user_id: int | None, tokens: Tokens) -> None:
    expires = dt.datetime.fromtimestamp(tokens.expires_at, tz=dt.UTC) if tokens.expires_at else None
    values = {
        "access_token_ciphertext": crypto.encrypt(tokens.access),
        "refresh_token_ciphertext": crypto.encrypt(tokens.refresh) if tokens.refresh else "",
        "expires_at": expires,
        "scopes": tokens.scopes[:500],
        "issuer": tokens.issuer[:500],
    }
    try:
        await McpOAuthToken.objects.aupdate_or_create(
            **_named(where), user_id=user_id, defaults=values
        )
    except IntegrityError:  # another process saved the same pair a moment ago: overwrite
        await McpOAuthToken.objects.filter(**_named(where), user_id=user_id).aupdate(**values)


async def delete_tokens(where: Where | int, user_id: int | None) -> bool:
    deleted, _ = await McpOAuthToken.objects.filter(**_named(where), user_id=user_id).adelete()
    return bool(deleted)


def connected_servers(user_id: int) -> dict[int, dt.datetime | None]:
    """Server id -> the access token's expiry, for the servers ``user_id`` connected
    (sync: the console's page)."""
    return connected("server_id", user_id)


def connected(field: str, user_id: int) -> dict[int, dt.datetime | None]:
    """Id -> the access token's expiry, for the targets (``field``: "server_id",
    "agent_id") ``user_id`` connected (sync: the console's pages)."""
    rows = McpOAuthToken.objects.filter(user_id=user_id, **{f"{field}__isnull": False})
    return dict(rows.values_list(field, "expires_at"))


# --- clients -----------------------------------------------------------------------------


async def registered_client(where: Where | int, issuer: str, redirect_uri: str) -> Client | None:
    """The client dynamic registration made for this server at ``issuer`` (None when it
    was made at another issuer or for another redirect URI: register anew)."""
    row = await McpUpstreamClient.objects.filter(**_named(where)).afirst()
    if row is None or row.issuer != issuer:
        return None
    if redirect_uri and row.redirect_uri != redirect_uri:
        return None
    return Client(
        row.client_id, crypto.decrypt(row.client_secret_ciphertext), row.token_endpoint_auth_method
    )


async def save_client(where: Where | int, issuer: str, redirect_uri: str, client: Client) -> None:
    await McpUpstreamClient.objects.aupdate_or_create(
        **_named(where),
        defaults={
            "issuer": issuer[:500],
            "client_id": client.client_id[:300],
            "client_secret_ciphertext": (
                crypto.encrypt(client.client_secret) if client.client_secret else ""
            ),
            "token_endpoint_auth_method": client.auth_method[:40],
            "redirect_uri": redirect_uri[:500],
        },
    )


# --- authorizations under way --------------------------------------------------------------


async def save_pending(state: str, pending: Pending, seconds: float) -> None:
    await McpOAuthState.objects.acreate(
        state_hash=state_hash(state),
        **pending.where,
        user_id=pending.user_id,
        verifier_ciphertext=crypto.encrypt(pending.verifier),
        redirect_uri=pending.redirect_uri[:500],
        issuer=pending.issuer[:500],
        expires_at=timezone.now() + dt.timedelta(seconds=seconds),
    )


async def take_pending(state: str, user_id: int) -> Pending | None:
    """The authorization ``state`` names, started by ``user_id``, removed as it is read
    (a second callback with the same state finds nothing, on any worker); None for an
    unknown, used, expired or another person's state (that one is left alone)."""
    row = await McpOAuthState.objects.filter(state_hash=state_hash(state)).afirst()
    if row is None or row.user_id != user_id:
        return None
    deleted, _ = await McpOAuthState.objects.filter(pk=row.pk).adelete()
    if not deleted or row.expires_at <= timezone.now():
        return None
    if row.agent_id is not None:
        where: Where = {FIELD["agent"]: row.agent_id}
    else:
        assert row.server_id is not None
        where = {"server_id": row.server_id}
    return Pending(
        where=where,
        user_id=row.user_id,
        verifier=crypto.decrypt(row.verifier_ciphertext),
        redirect_uri=row.redirect_uri,
        issuer=row.issuer,
    )
