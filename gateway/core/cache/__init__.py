"""Exact-match response cache, enabled per route (``Route.cache_ttl`` seconds).

The key is the route name plus the canonical request (``codec.request_key``: messages,
tools and model parameters; not the API key unless the route's ``cache_scope`` is
``key``), the value the canonical ``ChatResponse``, so an answer cached for an OpenAI
client is served to an Anthropic one too, streamed or not (``replay``). Entries live in
this process's memory (``SWITCHYARD_CACHE_MAX_ENTRIES`` / ``_MAX_BYTES``, LRU) or, with
``REDIS_URL``, in Redis where every process and instance shares them.

Identical requests that miss together make one upstream call (``flights``): the first
leads, the others wait for its answer and are journaled as hits.

The client's ``Cache-Control: no-cache`` skips the lookup (the fresh answer is still
stored); ``no-store`` skips both. Errors are never stored. Whether a key may use the
route is checked before the lookup (``limits.admit``), so a shared entry only reaches
keys allowed on the route.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gateway.base.entries import KeyEntry, RouteEntry
from gateway.base.types import ChatRequest, ChatResponse
from gateway.core.cache import codec, flights, replay  # noqa: F401  (replay: service renders hits)
from gateway.core.cache.stores import MemoryStore, RedisStore

HIT, MISS = b"hit", b"miss"


@dataclass(slots=True)
class Ticket:
    """A cacheable request: where its answer goes and for how long."""

    key: str
    ttl: int
    flight: asyncio.Future[bytes | None] | None = None  # when this request leads
    lock: str = ""  # the token of its lock in Redis, when it holds one


_store: MemoryStore | RedisStore | None = None
_pending: set[asyncio.Task[None]] = set()


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
    if raw:
        return ticket, codec.decode(raw)
    if flights.wait_seconds() <= 0:
        return ticket, None
    raw = await _single_flight(ticket)
    return (None, codec.decode(raw)) if raw else (ticket, None)


async def _single_flight(ticket: Ticket) -> bytes | None:
    """After a miss: the answer of the request already fetching it (here or, through
    Redis, on another instance), or None when this request calls the upstream itself
    (leading, when none is under way; on its own, when the leader had no answer)."""
    flight = flights.joinable(ticket.key)
    if flight is not None:
        return await flights.follow(flight)
    ticket.flight = flights.lead(ticket.key)
    try:
        token = uuid.uuid4().hex
        if await store().lead(ticket.key, token, flights.wait_seconds()):
            ticket.lock = token if isinstance(store(), RedisStore) else ""
            return None
        raw = await store().await_answer(ticket.key, flights.wait_seconds())
    except BaseException:  # its client left while it waited: nobody must wait on it
        abandon(ticket)
        raise
    if raw:  # another instance's leader answered: so are this process's followers
        flights.land(ticket.key, ticket.flight, raw)
        flights.leave(ticket.key, ticket.flight)
        ticket.flight = None
    return raw


def keep(ticket: Ticket, response: ChatResponse) -> None:
    """Store ``response`` under ``ticket`` in the background (the reply does not wait);
    the requests waiting on it are answered at once."""
    if response.finish_reason == "error":
        abandon(ticket)
        return
    value = codec.encode(response)
    flights.land(ticket.key, ticket.flight, value)
    _in_background(_store_then_let_go(ticket, value))


def abandon(ticket: Ticket) -> None:
    """The request that ``ticket`` belongs to ended without an answer to keep: the
    requests waiting on it go on their own."""
    if ticket.flight is None and not ticket.lock:
        return
    flights.land(ticket.key, ticket.flight, None)
    flights.leave(ticket.key, ticket.flight)
    ticket.flight = None
    if ticket.lock:
        token, ticket.lock = ticket.lock, ""
        _in_background(store().release(ticket.key, token))


async def _store_then_let_go(ticket: Ticket, value: bytes) -> None:
    try:
        await store().set(ticket.key, value, ticket.ttl)
    finally:  # stored first: a later request (or a polling instance) finds the answer
        flights.leave(ticket.key, ticket.flight)
        if ticket.lock:
            await store().release(ticket.key, ticket.lock)


def _in_background(coroutine: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def settle() -> None:
    """Wait for background writes (tests)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
