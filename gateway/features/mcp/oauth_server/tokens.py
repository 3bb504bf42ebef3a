"""The check of an OAuth access token on ``/mcp``: which user, team and client it is
for, whether it still holds, and the key entry the request then acts with.

Tokens are opaque (``sy-mcp-at-`` + 43 random characters) and stored hashed. A token
seen before is answered from memory: its row is read once, then kept ``CACHE_SECONDS``;
lookups of unknown tokens run one at a time per process, so a flood of bad tokens costs
one small indexed query at a time, never one per request (as unknown virtual keys do,
``registry.refresh_on_miss``). Revoking a token touches its managed key, a registry
row: every process's snapshot is rebuilt (the channel layer announces it; the version
poll catches up within a second without one), and a rebuild empties this cache, so a
revoked token is refused everywhere at once. Expiry is checked on every request.

A virtual key never comes here (``endpoint`` sends only tokens with the prefix): ``/v1``
and ``/mcp`` with a key pay nothing for OAuth."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from gateway.access import registry
from gateway.base import db_work
from gateway.base.entries import KeyEntry
from gateway.features.mcp.oauth_server import identity, resources
from gateway.models.mcp import McpAccessToken, token_hash

ACCESS_PREFIX = "sy-mcp-at-"
REFRESH_PREFIX = "sy-mcp-rt-"
CACHE_SECONDS = 30.0
CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What a token's row says, as the request path needs it."""

    user_id: int
    key_hash: str  # the managed key's (``identity``)
    resource: str
    expires_at: float
    revoked: bool
    user_active: bool


@dataclass(slots=True)
class Checked:
    """A token's verdict: the entry to act with, or why not (safe to show)."""

    key: KeyEntry | None
    problem: str = ""


_cache: dict[str, tuple[float, TokenFacts | None]] = {}
_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def is_access_token(raw: str) -> bool:
    return raw.startswith(ACCESS_PREFIX)


def forget(snapshot: Any = None) -> None:
    """Drop what is remembered of tokens (on every registry rebuild: a revocation)."""
    _cache.clear()


registry.on_change(forget)


def _read(digest: str) -> TokenFacts | None:
    """The token's row (sync, one query)."""

    row = (
        McpAccessToken.objects.select_related("api_key", "user").filter(access_hash=digest).first()
    )
    if row is None:
        return None
    return TokenFacts(
        user_id=row.user_id,
        key_hash=row.api_key.key_hash,
        resource=row.resource,
        expires_at=row.expires_at.timestamp(),
        revoked=row.revoked_at is not None or row.api_key.revoked_at is not None,
        user_active=bool(row.user.is_active),
    )


async def facts(raw: str) -> TokenFacts | None:
    """The token's facts: from memory when read in the last ``CACHE_SECONDS``."""

    digest = token_hash(raw)
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        _locks.clear()  # a new event loop (tests): the old one's lock is of no use
        lock = _locks[loop] = asyncio.Lock()
    async with lock:
        cached = _cache.get(digest)  # read meanwhile by the request before this one
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        found = await db_work.arun(_read, digest)
    if len(_cache) >= CACHE_MAX:
        _cache.clear()
    _cache[digest] = (time.monotonic(), found)
    return found


async def check(raw: str, path: str) -> Checked:
    """The entry a request to ``path`` with access token ``raw`` acts with, or the
    reason it is refused (unknown, revoked, expired, for another resource, its user
    gone or its managed key revoked)."""
    found = await facts(raw)
    if found is None:
        return Checked(None, "invalid access token")
    if found.revoked:
        return Checked(None, "this access token has been revoked")
    if found.expires_at <= time.time():
        return Checked(None, "this access token has expired")
    if not found.user_active:
        return Checked(None, "the account of this access token is no longer active")
    if not resources.covers(found.resource, path):
        return Checked(None, f"this access token is for {found.resource}, not {path}")
    entry = identity.acting_entry(found.key_hash, found.user_id)
    if entry is None:  # made a moment ago through another process
        await registry.refresh_on_miss()
        entry = identity.acting_entry(found.key_hash, found.user_id)
    if entry is None or entry.revoked:
        return Checked(None, "the sign-in key of this access token has been revoked")
    return Checked(entry)
