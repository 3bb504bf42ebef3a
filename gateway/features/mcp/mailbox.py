"""Messages between the processes that serve one MCP client session.

A client session is served by any worker of any instance (``endpoint``): the client's
answer to a request the gateway relayed to it (sampling, elicitation) may reach a
worker other than the one whose tool call waits for it. That worker ``put``s the
answer in the box named after the session and the request id; the waiting worker
``take``s it. The store is the one key limits share (``limits.shared_backend``): the
supervisor's counter service for the workers of one ``serve`` (book ``mcp``,
``mailbox_book``), Redis (``RPUSH``/``BLPOP``) across instances. A process that shares
nothing (one worker, no Redis) has nothing to put: every answer reaches it.

Nothing here is on a path that needs none of it: only a relayed request waits on a
box, only an answer no process-local waiter took is put."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from gateway.base.counters import CounterClient
from gateway.limits import limits, redis_counters, subjects

log = logging.getLogger(__name__)

TTL_SECONDS = 300.0  # an answer no one takes is dropped after this
TAKE_SECONDS = 10.0  # one long poll of a box; the waiter polls again until it is done
REDIS_PREFIX = f"{subjects.REDIS_PREFIX}:mcp:box"

_watchers: dict[str, CounterClient] = {}  # socket path -> the long polls' connection
# a client for blocking pops (not the limits pool's), per event loop
_redis: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}


def shared() -> bool:
    """Whether other processes serve this process's sessions too."""
    return limits.shared_backend() is not None


async def put(box: str, message: dict[str, Any]) -> bool:
    """Leave ``message`` in ``box`` for whichever process takes it; False when nothing
    is shared (or the store cannot be reached: logged)."""
    backend = limits.shared_backend()
    if backend is None:
        return False
    text = json.dumps(message, separators=(",", ":"))
    try:
        if isinstance(backend, redis_counters.RedisCounters):
            client = backend.client()
            key = f"{REDIS_PREFIX}:{box}"
            async with client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, text)
                pipe.expire(key, int(TTL_SECONDS))
                await pipe.execute()
        else:
            await backend.ask("mcp_put", box, text, TTL_SECONDS)
    except Exception as exc:  # noqa: BLE001 - the store is away: the answer is lost
        log.warning("MCP: cannot hand a client's answer to another worker (%s)", exc)
        return False
    return True


async def take(box: str) -> dict[str, Any] | None:
    """The oldest message in ``box``, waiting at most ``TAKE_SECONDS``; None when none
    came (or nothing is shared)."""
    wait = TAKE_SECONDS
    backend = limits.shared_backend()
    if backend is None:
        await asyncio.sleep(wait)
        return None
    if isinstance(backend, redis_counters.RedisCounters):
        client = _redis_client(backend.url)
        found = await client.blpop([f"{REDIS_PREFIX}:{box}"], timeout=max(1, round(wait)))
        text = found[1] if found else None
    else:
        watcher = _watchers.get(backend.path)
        if watcher is None:
            watcher = _watchers[backend.path] = CounterClient(backend.path, timeout=wait + 5)
        reply = await watcher.call("mcp_take", box, time.time(), wait)
        text = reply[1] if len(reply) > 1 else None
    if text is None:
        return None
    message: dict[str, Any] = json.loads(text)
    return message


def _redis_client(url: str) -> Any:
    loop = asyncio.get_running_loop()
    held = _redis.get(id(loop))
    if held is None or held[0] is not loop:
        import redis.asyncio as aioredis

        held = _redis[id(loop)] = (loop, aioredis.Redis.from_url(url, socket_connect_timeout=2))
    return held[1]
