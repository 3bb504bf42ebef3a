"""New semantic cache entries told to every process at once through Redis (when
``REDIS_URL`` is set): the process that keeps an answer publishes the entry on
``CHANNEL``; each process listening adds it to its index of that (route, scope) if it
has one (one it has not loaded yet reads the entry from the store when it does). Without
Redis, or while it is away, the indexes' refresh from the store (``index``) is how other
processes see new entries: this only makes it sooner.

A process starts listening when it first builds an index (``ensure_listening``): one
that serves no route with a semantic cache holds no subscription."""

from __future__ import annotations

import base64
import logging
from array import array
from decimal import Decimal

import orjson

from gateway.base import pubsub
from gateway.features.semantic_cache import index

log = logging.getLogger(__name__)

CHANNEL = "switchyard:semantic-cache:news"


def encode(route: str, scope: str, entry: index.Entry) -> bytes:
    return orjson.dumps(
        {
            "route": route,
            "scope": scope,
            "id": entry.id,
            "expires_at": entry.expires_at,
            "cost_usd": str(entry.cost_usd),
            "vector": base64.b64encode(entry.vector.tobytes()).decode(),
            "answer": base64.b64encode(entry.answer).decode(),
        }
    )


def decode(raw: bytes) -> tuple[str, str, index.Entry]:
    data = orjson.loads(raw)
    vector = array("f")
    vector.frombytes(base64.b64decode(data["vector"]))
    entry = index.Entry(
        id=int(data["id"]),
        vector=vector,
        expires_at=float(data["expires_at"]),
        answer=base64.b64decode(data["answer"]),
        cost_usd=Decimal(data["cost_usd"]),
    )
    return str(data["route"]), str(data["scope"]), entry


async def publish(route: str, scope: str, entry: index.Entry) -> None:
    """Tell the other processes (nothing without Redis; a failure is logged: the
    refresh from the store still brings it)."""
    await RELAY.publish(CHANNEL, encode(route, scope, entry))


def heard(raw: bytes) -> None:
    """An entry another process kept: into this process's index of its (route, scope),
    if this process has one."""
    try:
        route, scope, entry = decode(raw)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("semantic cache: an announcement could not be read")
        return
    found = index.peek(route, scope)
    if found is not None and entry.expires_at > index.now():
        found.add(entry)


def ensure_listening() -> None:
    """Start listening on this event loop (once) when Redis is configured."""
    RELAY.ensure_listening(CHANNEL)


RELAY = pubsub.Relay("semantic cache news", "semantic-cache-news", lambda raw: heard(raw))
reset = RELAY.reset  # forget the client and the listener (tests switch loops and settings)
