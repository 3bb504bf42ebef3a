"""Exact-match response cache, enabled per route (``Route.cache_ttl`` seconds).

The key is the route name plus the canonical request (``codec.request_key``: messages,
tools and model parameters; not the API key unless the route's ``cache_scope`` is
``key``), the value the canonical ``ChatResponse``, so an answer cached for an OpenAI
client is served to an Anthropic one too, streamed or not (``replay``). Entries live in
this process's memory (``SWITCHYARD_CACHE_MAX_ENTRIES`` / ``_MAX_BYTES``, LRU) or, with
``REDIS_URL``, in Redis where every process and instance shares them.

The client's ``Cache-Control: no-cache`` skips the lookup (the fresh answer is still
stored); ``no-store`` skips both. Errors are never stored. Whether a key may use the
route is checked before the lookup (``limits.admit``), so a shared entry only reaches
keys allowed on the route.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from ..registry import KeyEntry, RouteEntry
from ..types import ChatRequest, ChatResponse
from . import codec, replay  # noqa: F401  (replay: service renders hits)
from .stores import MemoryStore, RedisStore

HIT, MISS = b"hit", b"miss"


@dataclass(slots=True)
class Ticket:
    """A cacheable request: where its answer goes and for how long."""

    key: str
    ttl: int


_store: MemoryStore | RedisStore | None = None
_pending: set[asyncio.Task] = set()


def store() -> MemoryStore | RedisStore:
    """The store in force: Redis when ``REDIS_URL`` is set, else this process's memory."""
    global _store
    if _store is None:
        url = getattr(settings, "REDIS_URL", "")
        _store = (
            RedisStore(url)
            if url
            else MemoryStore(
                settings.SWITCHYARD_CACHE_MAX_ENTRIES, settings.SWITCHYARD_CACHE_MAX_BYTES
            )
        )
    return _store


def reset() -> None:
    """Forget the store (tests switch settings)."""
    global _store
    _store = None


def directives(headers: Mapping[str, str]) -> tuple[bool, bool]:
    """(may read, may write) from the client's ``Cache-Control`` (and HTTP/1.0 ``Pragma``)."""
    control = headers.get("cache-control", "").lower()
    if "no-store" in control:
        return False, False
    if "no-cache" in control or "no-cache" in headers.get("pragma", "").lower():
        return False, True
    return True, True


def scope_of(route: RouteEntry, key: KeyEntry) -> str:
    if route.cache_scope != "key":
        return ""
    return "master" if key.id is None else str(key.id)


async def lookup(
    route: RouteEntry, request: ChatRequest, key: KeyEntry, headers: Mapping[str, str]
) -> tuple[Ticket | None, ChatResponse | None]:
    """(where to store the answer or None, the cached answer or None)."""
    if request.n is not None and request.n > 1:  # one canonical answer holds one choice
        return None, None
    read, write = directives(headers)
    if not read and not write:
        return None, None
    upstreams = " ".join(d.label for d in route.deployments)
    cache_key = codec.request_key(route.name, request, scope_of(route, key), upstreams)
    ticket = Ticket(cache_key, route.cache_ttl)
    if not read:
        return ticket, None
    raw = await store().get(ticket.key)
    return ticket, (codec.decode(raw) if raw else None)


def keep(ticket: Ticket, response: ChatResponse) -> None:
    """Store ``response`` under ``ticket`` in the background (the reply does not wait)."""
    if response.finish_reason == "error":
        return
    value = codec.encode(response)
    task = asyncio.get_running_loop().create_task(store().set(ticket.key, value, ticket.ttl))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def settle() -> None:
    """Wait for background writes (tests)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
