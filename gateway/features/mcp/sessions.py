"""MCP sessions that every worker of every instance serves, with no sticky routing.

The ``Mcp-Session-Id`` the gateway issues is the session itself: a token encrypted and
authenticated with a key derived from SECRET_KEY (``base.secrets.crypto.sealer``, which
every instance shares already), carrying what a worker needs to serve the session's
next request: a random session id, the key it belongs to (its id and a hash prefix,
never the key), the negotiated protocol version and the client's declared
capabilities; Fernet stamps the creation time. No process holds a session, so any
worker reads it, a killed or restarted worker ends none, and there is nothing to
replicate or to lose. Why this rather than sessions kept in Redis or the database:
it needs neither on the request path (one cached lookup, below), works the same on
one machine and on many, and the alternative would still need the token's checks.

What makes a session unusable, each answered 404 as the MCP spec says for an ended
session (the client initializes again): a token this gateway did not issue or that was
changed (authentication fails), one older than ``SWITCHYARD_MCP_SESSION_SECONDS``
(default a day; a session cannot be kept alive by use, since nothing records use), one
used with another key than the one that opened it, and one its client ended.

Ending (``DELETE``) is the one shared state, kept in two places:

- a tombstone in the store the key limits share (``limits.shared_backend``: the
  supervisor's counter service for the workers of one ``serve``, Redis across
  instances), set before the DELETE is answered and asked on every request of a
  session (one round trip: ``EXISTS`` in Redis, one counter-service call), so the
  request that follows a DELETE answered by any worker of any instance is refused
  (before, each process trusted for ``CHECK_SECONDS`` that a session it had seen was
  live, and the instance that had served it a moment before served it again 0.3 s
  after the DELETE elsewhere);
- a row (``McpSessionEnd``) in the database every instance shares, kept until the
  session would have expired and pruned then (``prune_expired``, a ``hooks.pruners``
  entry): what outlives a restarted store, and what a process that shares no store
  (one worker, no Redis) reads. Each process remembers for ``CHECK_SECONDS`` that the
  database listed a session as not ended (and for good that it was), so that check
  costs one indexed lookup per session, process and second at most.

When neither can be read the session is served: it is no credential (every request
carries and checks its key), so an ended session served during an outage grants
nothing the key does not.

``SWITCHYARD_MCP_SESSIONS``: ``auto`` (the default) and ``on`` issue sessions; ``off``
serves every request without one (no ``Mcp-Session-Id``, no notification stream)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

from gateway.base import db_work
from gateway.base.secrets import crypto
from gateway.limits import limits, redis_counters, subjects
from gateway.models.mcp import McpSessionEnd

log = logging.getLogger(__name__)

PURPOSE = "mcp-session"
FORMAT = 1  # the token's payload layout
DEFAULT_SECONDS = 24 * 3600
CHECK_SECONDS = 1.0  # how long a process trusts the database's word that a session lives
REDIS_PREFIX = f"{subjects.REDIS_PREFIX}:mcp:ended"  # + session id: the shared tombstone
MAX_CAPABILITIES_BYTES = 2048  # larger: only the capabilities' names are kept
CLOCK_SKEW_SECONDS = 60  # Fernet accepts tokens stamped this far ahead of the clock


def enabled() -> bool:
    """Whether ``/mcp`` issues sessions (``SWITCHYARD_MCP_SESSIONS``: auto, on or off)."""
    mode = os.environ.get("SWITCHYARD_MCP_SESSIONS", "auto").strip().lower()
    return mode not in ("off", "false", "0", "no")


def lifetime() -> int:
    """Seconds a session lasts from its creation (``SWITCHYARD_MCP_SESSION_SECONDS``)."""
    try:
        seconds = int(os.environ.get("SWITCHYARD_MCP_SESSION_SECONDS") or DEFAULT_SECONDS)
    except ValueError:
        return DEFAULT_SECONDS
    return max(seconds, 60)


def fingerprint(raw_key: str) -> str:
    """What a session keeps of its key: enough to tell it from another, nothing to use."""
    return hashlib.sha256(raw_key.encode()).hexdigest()[:16]


def negotiate(requested: object) -> str:
    """The protocol version an ``initialize`` asking for ``requested`` gets (as the SDK
    answers it: the requested one when served, else the latest)."""
    if isinstance(requested, str) and requested in HANDSHAKE_PROTOCOL_VERSIONS:
        return requested
    return LATEST_HANDSHAKE_VERSION


@dataclass(frozen=True)
class Session:
    id: str  # random, what an end is recorded under
    key_id: int | None  # None: the master key
    key_fingerprint: str
    protocol_version: str
    capabilities: dict[str, Any]
    created: float  # wall clock, seconds
    token: str = field(repr=False)  # the Mcp-Session-Id header's value

    @property
    def expires(self) -> float:
        return self.created + lifetime()


def _kept(capabilities: object) -> dict[str, Any]:
    if not isinstance(capabilities, dict):
        return {}
    if len(json.dumps(capabilities)) <= MAX_CAPABILITIES_BYTES:
        return capabilities
    return {str(name)[:64]: {} for name in list(capabilities)[:32]}


def issue(
    key_id: int | None, raw_key: str, requested_version: object, capabilities: object
) -> Session:
    """A new session for the key, as ``initialize`` asked for it."""
    payload = {
        "f": FORMAT,
        "s": secrets.token_hex(12),
        "k": key_id,
        "h": fingerprint(raw_key),
        "v": negotiate(requested_version),
        "c": _kept(capabilities),
    }
    now = int(time.time())
    token = crypto.sealer(PURPOSE).encrypt_at_time(json.dumps(payload).encode(), now).decode()
    return _session(payload, now, token)


def _session(payload: dict[str, Any], created: float, token: str) -> Session:
    return Session(
        id=payload["s"],
        key_id=payload["k"],
        key_fingerprint=payload["h"],
        protocol_version=payload["v"],
        capabilities=payload["c"],
        created=created,
        token=token,
    )


def read(token: str, raw_key: str) -> Session | None:
    """The session ``token`` holds when this gateway issued it, unchanged, to this key,
    and it has not expired; else None. Whether it was ended is ``ended``'s question."""
    from cryptography.fernet import InvalidToken

    if not token or len(token) > 8192:
        return None
    sealer = crypto.sealer(PURPOSE)
    try:
        data = sealer.decrypt(token.encode("ascii"), ttl=lifetime())
        created = sealer.extract_timestamp(token.encode("ascii"))
        payload = json.loads(data)
        if not isinstance(payload, dict) or payload.get("f") != FORMAT:
            return None
        session = _session(payload, created, token)
    except (InvalidToken, UnicodeEncodeError, ValueError, KeyError, TypeError):
        return None
    if not secrets.compare_digest(session.key_fingerprint, fingerprint(raw_key)):
        return None  # another key's session: as if it did not exist
    return session


# --- ending, shared by every process ------------------------------------------------------
_ended: dict[str, float] = {}  # session id -> when it would have expired (wall)
_not_ended: dict[str, float] = {}  # session id -> when a lookup found it live (monotonic)
_outage = db_work.Outage("MCP session ends", log)
_store_outage = db_work.Outage("MCP session ends", log, service="the shared store")


def _forget_stale() -> None:
    now, wall = time.monotonic(), time.time()
    for sid, seen in list(_not_ended.items()):
        if now - seen >= CHECK_SECONDS:
            del _not_ended[sid]
    for sid, expires in list(_ended.items()):
        if expires <= wall:
            del _ended[sid]


def _recorded(ids: list[str]) -> set[str]:

    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            McpSessionEnd.objects.filter(session__in=chunk).values_list("session", flat=True)
        )
    return found


async def _store_ended(backend: Any, ids: list[str]) -> set[str]:
    """Those of ``ids`` the shared store holds a tombstone for (one round trip)."""
    if isinstance(backend, redis_counters.RedisCounters):
        client = backend.client()
        async with client.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.exists(f"{REDIS_PREFIX}:{sid}")
            found = await pipe.execute()
        return {sid for sid, hit in zip(ids, found, strict=True) if hit}
    reply = await backend.ask("mcp_ended", *ids)
    return {str(sid) for sid in reply[1:]}


async def _shared_ended(ids: list[str]) -> set[str] | None:
    """The tombstones the shared store holds among ``ids``; None when nothing is shared
    or the store cannot be asked (the database then decides alone)."""
    backend = limits.shared_backend()
    if backend is None or not ids:
        return None
    try:
        found = await _store_ended(backend, ids)
    except Exception as exc:  # noqa: BLE001 - the store is away: the database decides
        _store_outage.failed(exc)
        return None
    _store_outage.recovered()
    return found


async def ended_among(sessions: list[Session]) -> set[str]:
    """The ids of those of ``sessions`` their client ended (on any worker or instance):
    the shared store's tombstones, asked on every call (so an end anywhere holds from
    the next request on), and the database's rows, asked again when this process
    looked ``CHECK_SECONDS`` ago or more."""
    if len(_not_ended) + len(_ended) > 10_000:
        _forget_stale()
    now = time.monotonic()
    found = {s.id for s in sessions if s.id in _ended}
    live = [s for s in sessions if s.id not in found]
    shared = await _shared_ended([s.id for s in live])
    for session in live:
        if shared and session.id in shared:
            _ended[session.id] = session.expires + CLOCK_SKEW_SECONDS
            _not_ended.pop(session.id, None)
            found.add(session.id)
    due = [
        s
        for s in live
        if s.id not in found and now - _not_ended.get(s.id, -CHECK_SECONDS) >= CHECK_SECONDS
    ]
    if not due:
        return found
    try:
        recorded = await db_work.arun(_recorded, [s.id for s in due])
    except Exception as exc:  # noqa: BLE001 - the database is away: serve (see above)
        _outage.failed(exc)
        return found
    _outage.recovered()
    for session in due:
        if session.id in recorded:
            _ended[session.id] = session.expires
            _not_ended.pop(session.id, None)
            found.add(session.id)
        else:
            _not_ended[session.id] = now
    return found


async def ended(session: Session) -> bool:
    return session.id in await ended_among([session])


def _record(session_id: str, expires: float) -> None:

    McpSessionEnd.objects.get_or_create(
        session=session_id,
        defaults={"expires_at": datetime.fromtimestamp(expires, UTC)},
    )


async def _mark(session_id: str, expires: float) -> None:
    """Leave the tombstone in the shared store (when one is shared) until ``expires``."""
    backend = limits.shared_backend()
    if backend is None:
        return
    ttl = max(1, int(expires - time.time()) + 1)
    try:
        if isinstance(backend, redis_counters.RedisCounters):
            await backend.client().set(f"{REDIS_PREFIX}:{session_id}", b"1", ex=ttl)
        else:
            await backend.ask("mcp_end", session_id, float(ttl))
    except Exception as exc:  # noqa: BLE001 - the store is away: the database still says
        _store_outage.failed(exc)


async def end(session: Session) -> None:
    """End the session everywhere: a tombstone in the shared store (every process asks
    it on every request), a row in the database (what outlives the store; processes
    that share no store see it within ``CHECK_SECONDS``), at once for this one."""
    expires = session.expires + CLOCK_SKEW_SECONDS
    _ended[session.id] = expires
    _not_ended.pop(session.id, None)
    await _mark(session.id, expires)
    await db_work.arun(_record, session.id, expires)


def forget() -> None:
    """Drop this process's memory of ends (tests)."""
    _ended.clear()
    _not_ended.clear()
