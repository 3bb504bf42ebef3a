"""Where cached answers live: this process's memory (bounded LRU by entries and bytes,
each entry with its own expiry) or Redis (shared by every process and instance, expiry
by Redis itself). Both store opaque bytes under string keys.

Redis also elects one leader per cache key among instances (``lead``: a lock with a
time to live) and lets the others wait for its answer (``await_answer``); see
``gateway.core.cache.flights``. In memory one process is all there is: it always leads."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from gateway.base.owned_bytes import owned

log = logging.getLogger(__name__)

LEAD_SUFFIX = ":lead"  # the single-flight lock of a cache key
# Delete the lock only if it is still ours (it may have expired and been retaken).
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class MemoryStore:
    """Least-recently-used entries, at most ``max_entries`` and ``max_bytes`` (values'
    sizes); expired entries are dropped when read or when they reach the LRU end."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        if len(value) > self.max_bytes or ttl <= 0:
            return
        self._drop(key)
        value = owned(value)  # an encoded answer sits in orjson's 4 KiB block
        self._entries[key] = (time.monotonic() + ttl, value)
        self.bytes += len(value)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    async def lead(self, key: str, token: str, seconds: float) -> bool:
        return True

    async def release(self, key: str, token: str) -> None:
        return None

    async def await_answer(self, key: str, seconds: float) -> bytes | None:
        return None

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= len(entry[1])


class RedisStore:
    """Entries in Redis with ``SET ... EX ttl``. A Redis failure is a miss (and a
    warning at most once a minute), never a failed request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._warned = 0.0

    def client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one client per event loop (tests run several)
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=2
            )
            self._loop = loop
        return self._client

    async def get(self, key: str) -> bytes | None:
        try:
            value: bytes | None = await self.client().get(key)
            return value
        except Exception as exc:
            self._warn(exc)
            return None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        if ttl <= 0:
            return
        try:
            await self.client().set(key, value, ex=ttl)
        except Exception as exc:
            self._warn(exc)

    async def lead(self, key: str, token: str, seconds: float) -> bool:
        """Whether this caller leads for ``key`` (the lock lasts ``seconds`` at most);
        True too when Redis fails: then everyone calls on their own."""
        try:
            taken = await self.client().set(
                key + LEAD_SUFFIX, token, nx=True, px=max(1, int(seconds * 1000))
            )
        except Exception as exc:
            self._warn(exc)
            return True
        return bool(taken)

    async def release(self, key: str, token: str) -> None:
        """Drop the lock ``token`` holds (after the answer is stored, or on failure)."""
        try:
            await self.client().eval(RELEASE_SCRIPT, 1, key + LEAD_SUFFIX, token)
        except Exception as exc:
            self._warn(exc)

    async def await_answer(self, key: str, seconds: float) -> bytes | None:
        """Poll for another instance's leader's answer: the value once stored; None when
        the leader let go without one, after ``seconds``, or when Redis fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        pause = 0.01
        value: bytes | None
        try:
            while loop.time() < deadline:
                await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
                pause = min(pause * 2, 0.1)
                async with self.client().pipeline(transaction=False) as pipe:
                    # lock first: the leader stores the answer before it lets go
                    leading, value = await pipe.exists(key + LEAD_SUFFIX).get(key).execute()
                if value is not None:
                    return value
                if not leading:
                    return None
        except Exception as exc:
            self._warn(exc)
        return None

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            log.warning("response cache: Redis unavailable (%s); answering without it", exc)
