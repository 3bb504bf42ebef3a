"""A list change an upstream MCP server announces, heard by one process, told to the
listening streams of every process through Redis (when ``REDIS_URL`` is set).

Each process's pool hears its own connections' changes (``pool.on_list_changed``): a
2026-07-28 server's listen stream, an older one's notices. Some reach one process only:
a server that says so on a call's response stream (the handshake era lets it) tells
the process that made the call, and a process whose connection to a server is not up
yet hears nothing. So what a process hears is delivered to its own streams at once
(``streams.relay``; the pool's cached tool list dropped) and published on ``CHANNEL``; each process with an open stream
(``subscriptions/listen``, a session's ``GET``) listens there and delivers what other
processes heard to its streams, each filtered by its key's grants as ever. A change this
process delivered itself within ``ECHO_SECONDS`` is not delivered again when another
process's copy arrives (both connections heard the same change).

Without Redis, or while it is away, each process delivers what it hears (as before):
this only makes changes reach every stream. A process with no stream open holds no
subscription; one with no MCP server connected publishes nothing."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import orjson

from gateway.base import pubsub
from gateway.features.mcp import pool, streams

log = logging.getLogger(__name__)

CHANNEL = "switchyard:mcp:list-changed"
ECHO_SECONDS = 1.0  # another process's copy of a change delivered here this recently
ORIGIN = uuid.uuid4().hex  # this process, so that it ignores its own announcements

_delivered: dict[tuple[str, str], float] = {}  # (server, what) -> when delivered here
_publishing: set[asyncio.Task[None]] = set()


def client() -> Any:
    return RELAY.client()


def _deliver(server: str, what: str) -> None:
    if what == "tools":
        pool.drop_tools(server)  # the streams' clients list again: not the old list
    streams.relay(server, what)


def heard(server: str, what: str) -> None:
    """What this process heard (``pool.on_list_changed``, an upstream session bound to
    a client's, ``relay``; in the loop, never blocking): delivered here, and published
    for the others."""
    _delivered[(server, what)] = time.monotonic()
    _deliver(server, what)
    if pubsub.url():
        task = asyncio.get_running_loop().create_task(publish(server, what), name="mcp-change")
        _publishing.add(task)
        task.add_done_callback(_publishing.discard)


async def publish(server: str, what: str, origin: str | None = None) -> None:
    """Tell the other processes (a failure is logged: each still hears its own)."""
    await RELAY.publish(CHANNEL, orjson.dumps({"o": origin or ORIGIN, "s": server, "w": what}))


def arrived(raw: bytes) -> None:
    """A change another process heard: to this process's streams, unless it is this
    process's own, or this process delivered the same change a moment ago."""
    try:
        data = orjson.loads(raw)
        origin, server, what = str(data["o"]), str(data["s"]), str(data["w"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        log.warning("MCP: a list change announcement could not be read")
        return
    if origin == ORIGIN or what not in streams.LISTS:
        return
    if time.monotonic() - _delivered.get((server, what), float("-inf")) < ECHO_SECONDS:
        return
    _deliver(server, what)


def ensure_listening() -> None:
    """Start listening on this event loop (once) when Redis is configured: called when
    a stream opens."""
    RELAY.ensure_listening(CHANNEL)


def reset() -> None:
    """Forget the client, the listener and what was delivered (tests)."""
    RELAY.reset()
    _delivered.clear()


RELAY = pubsub.Relay("MCP list changes", "mcp-list-changes", lambda raw: arrived(raw))
