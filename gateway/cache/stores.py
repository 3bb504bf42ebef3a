"""Where cached answers live: this process's memory (bounded LRU by entries and bytes,
each entry with its own expiry) or Redis (shared by every process and instance, expiry
by Redis itself). Both store opaque bytes under string keys."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)


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
        self._entries[key] = (time.monotonic() + ttl, value)
        self.bytes += len(value)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

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
            return await self.client().get(key)
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

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            log.warning("response cache: Redis unavailable (%s); answering without it", exc)
