"""New semantic cache entries told to every process at once through Redis (when
``REDIS_URL`` is set): the process that keeps an answer publishes the entry on
``CHANNEL``; each process listening adds it to its index of that (route, scope) if it
has one (one it has not loaded yet reads the entry from the store when it does). Without
Redis, or while it is away, the indexes' refresh from the store (``index``) is how other
processes see new entries: this only makes it sooner.

A process starts listening when it first builds an index (``ensure_listening``): one
that serves no route with a semantic cache holds no subscription."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from array import array
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings

from gateway.base import lifecycle
from gateway.features.semantic_cache import index

log = logging.getLogger(__name__)

CHANNEL = "switchyard:semantic-cache:news"
RETRY_SECONDS = 5.0

_client: Any = None
_client_loop: asyncio.AbstractEventLoop | None = None
_listening: asyncio.AbstractEventLoop | None = None


def url() -> str:
    return str(getattr(settings, "REDIS_URL", "") or "")


def client() -> Any:
    """One client per event loop (tests run several)."""
    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client_loop is not loop:
        import redis.asyncio as aioredis

        _client = aioredis.Redis.from_url(url(), socket_connect_timeout=2)
        _client_loop = loop
    return _client


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
    """Tell the other processes (nothing without Redis; a failure is logged)."""
    if not url():
        return
    try:
        await client().publish(CHANNEL, encode(route, scope, entry))
    except Exception as exc:  # the refresh from the store still brings it
        log.warning("semantic cache: announcing an entry failed (%s)", exc)


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
    global _listening
    if not url():
        return
    loop = asyncio.get_running_loop()
    if _listening is loop:
        return
    _listening = loop
    lifecycle.spawn(listen(), "semantic-cache-news")


async def listen() -> None:
    """Subscribe and add what is announced, resubscribing after a failure."""
    while True:
        news = None
        try:
            news = client().pubsub()
            await news.subscribe(CHANNEL)
            while True:
                message = await news.get_message(ignore_subscribe_messages=True, timeout=30)
                if message is not None and isinstance(message.get("data"), bytes):
                    heard(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("semantic cache: listening for new entries failed (%s)", exc)
            await asyncio.sleep(RETRY_SECONDS)
        finally:
            if news is not None:
                with contextlib.suppress(Exception):  # already gone with the connection
                    await news.aclose()


def reset() -> None:
    """Forget the client and the listener (tests switch loops and settings)."""
    global _client, _client_loop, _listening
    _client = _client_loop = _listening = None
