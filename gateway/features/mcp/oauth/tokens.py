"""The access token a call to an OAuth server sends: one person's (``user_id``) or the
server's service token (``user_id`` None, client credentials).

Held in memory per (server, user) and read again from the database at most every
``RECHECK_SECONDS`` (a disconnect on another worker is seen within that), refreshed
``REFRESH_MARGIN`` seconds before it expires, under one lock per pair so that concurrent
calls refresh once. A service token is fetched anew with client credentials when it
nears its end. A person without a row, or whose refresh the authorization server
refuses (``invalid_grant``: revoked, expired), gets ``AuthorizationRequired`` naming the
console page to connect (the dead row is deleted); a refresh that fails for another
reason (the server unreachable) keeps the row and is ``ServerUnavailable``.

Each refresh is audited (``oauth_refresh``, no token in it); tokens live only in this
module's memory and sealed in the database, never in a message (``live_secrets`` feeds
the redaction of upstream error texts)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from authlib.integrations.base_client.errors import OAuthError

from gateway.features.mcp import secrets as mcp_secrets
from gateway.features.mcp.errors import AuthorizationRequired, ServerUnavailable
from gateway.features.mcp.oauth import clients, discovery, guarded_http, store, targets
from gateway.features.mcp.oauth.targets import Target
from gateway.telemetry import audit

log = logging.getLogger(__name__)

REFRESH_MARGIN = 60.0  # seconds before expiry a token is refreshed
RECHECK_SECONDS = 30.0  # how long a held token is trusted without reading its row
DEAD_GRANT = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})

Pair = tuple[str, int | None]


@dataclass(slots=True)
class _Held:
    tokens: store.Tokens
    checked_at: float


_held: dict[Pair, _Held] = {}
_generation: dict[Pair, int] = {}
_locks: dict[Pair, asyncio.Lock] = {}
_refused: dict[Pair, str] = {}  # the access token the server last answered 401 to
_loop: asyncio.AbstractEventLoop | None = None


def live_secrets() -> list[str]:
    """The tokens held in this process (for redaction)."""
    out = []
    for held in list(_held.values()):
        out += [t for t in (held.tokens.access, held.tokens.refresh) if t]
    return out


mcp_secrets.also_redact(live_secrets)


def generation(server: str, user_id: int | None) -> int:
    """Bumped whenever the pair's tokens are forgotten (connected again, disconnected):
    a pool connection made under an older generation is replaced."""
    return _generation.get((server, user_id), 0)


def forget(server: str, user_id: int | None) -> None:
    pair = (server, user_id)
    _held.pop(pair, None)
    _generation[pair] = _generation.get(pair, 0) + 1


def expire(server: str, user_id: int | None, token: str) -> None:
    """The server refused ``token`` (401): the next use refreshes it, whatever its row
    says of its expiry (it may have been revoked at the server)."""
    pair = (server, user_id)
    _refused[pair] = token
    held = _held.get(pair)
    if held is not None and held.tokens.access == token:
        held.checked_at = 0.0


def _usable(tokens: store.Tokens, now: float) -> bool:
    return tokens.expires_at is None or tokens.expires_at - REFRESH_MARGIN > now


def _lock(pair: Pair) -> asyncio.Lock:
    global _loop
    loop = asyncio.get_running_loop()
    if _loop is not loop:  # a new event loop (tests): the old locks are bound to the old one
        _locks.clear()
        _loop = loop
    return _locks.setdefault(pair, asyncio.Lock())


async def bearer(entry: Target, user_id: int | None) -> str:
    """The access token to send now (see the module)."""
    pair = (targets.cache_name(entry), user_id)
    held = _held.get(pair)
    now = time.time()
    if held is not None and now - held.checked_at < RECHECK_SECONDS and _usable(held.tokens, now):
        return held.tokens.access
    async with _lock(pair):
        held = _held.get(pair)
        now = time.time()
        if (
            held is not None
            and now - held.checked_at < RECHECK_SECONDS
            and _usable(held.tokens, now)
        ):
            return held.tokens.access
        tokens = await store.load_tokens(targets.where(entry), user_id)
        if tokens is None and user_id is not None:
            _held.pop(pair, None)
            raise AuthorizationRequired(entry.name, "you have not connected your account yet")
        if tokens is not None and _refused.get(pair) == tokens.access:
            tokens.expires_at = 0.0  # refused by the server: refresh it
        if tokens is None or not _usable(tokens, now):
            tokens = await _renew(entry, user_id, tokens)
            _refused.pop(pair, None)
        _held[pair] = _Held(tokens, time.time())
        return tokens.access


async def _renew(entry: Target, user_id: int | None, tokens: store.Tokens | None) -> store.Tokens:
    """A refreshed token (person) or a new service token; saved and audited."""
    url = targets.home_url(entry)
    if user_id is not None and (tokens is None or not tokens.refresh):
        await _drop(entry, user_id, "expired, no refresh token")
        raise AuthorizationRequired(entry.name, "your authorization expired")
    try:
        async with guarded_http.client(url) as probe:
            found = await discovery.discover(entry, probe, url)
            client = await clients.client_for(entry, found, "", probe)
        async with clients.oauth_client(url, client) as oauth:
            if user_id is None:
                answer = await oauth.fetch_token(
                    found.token_endpoint,
                    grant_type="client_credentials",
                    scope=entry.oauth_scopes or found.scopes,
                    resource=found.resource,
                )
                new = store.tokens_of(answer, found.issuer)
            else:
                assert tokens is not None
                answer = await oauth.refresh_token(
                    found.token_endpoint, refresh_token=tokens.refresh, resource=found.resource
                )
                new = store.tokens_of(answer, found.issuer, keep_refresh=tokens.refresh)
    except OAuthError as exc:
        if user_id is not None and exc.error in DEAD_GRANT:
            await _drop(entry, user_id, f"refresh refused ({exc.error})")
            raise AuthorizationRequired(
                entry.name, f"the authorization server refused to refresh your token ({exc.error})"
            ) from None
        raise ServerUnavailable(
            f"{targets.label(entry)}: the authorization server refused a token ({exc.error})"
        ) from None
    except AuthorizationRequired:
        raise
    except (discovery.DiscoveryFailed, clients.RegistrationFailed) as exc:
        raise ServerUnavailable(str(exc)) from None
    except Exception as exc:
        log.info("%s: token refresh failed: %s", targets.label(entry), type(exc).__name__)
        raise ServerUnavailable(
            f"{targets.label(entry)}: could not refresh its OAuth token ({type(exc).__name__})"
        ) from None
    await store.save_tokens(targets.where(entry), user_id, new)
    await _audit(entry, user_id, "oauth_refresh", "service token" if user_id is None else "")
    return new


async def _drop(entry: Target, user_id: int, why: str) -> None:
    await store.delete_tokens(targets.where(entry), user_id)
    forget(targets.cache_name(entry), user_id)
    await _audit(entry, user_id, "oauth_expired", why)


@sync_to_async
def _audit(entry: Target, user_id: int | None, action: str, detail: str) -> None:

    audit.record(
        action,
        object_type=targets.object_type(entry),
        object_id=entry.id,
        object_name=entry.name,
        changes={"user": user_id} if user_id is not None else {"service": True},
        detail=detail,
    )
