"""What one process tells the others at once through Redis pub/sub (when ``REDIS_URL``
is set): a ``Relay`` per kind of news (an MCP server's list change, a new semantic cache
entry). ``publish`` sends; ``ensure_listening`` starts, once per event loop, a task that
hands each message of the channel to the relay's ``arrived``. A failure is logged and
never raised: publishing, the news is lost (each process still has its own, and what
relies on a relay has a slower way too); listening, the task subscribes again after
``retry_seconds``, so a relay outlives a Redis restart. One client per event loop (tests
run several)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from gateway.base import lifecycle

log = logging.getLogger(__name__)


def url() -> str:
    return str(getattr(settings, "REDIS_URL", "") or "")


class Relay:
    """One kind of news: ``label`` names it in the log, ``task`` the listener's task."""

    retry_seconds = 5.0
    _client: Any
    _client_loop: asyncio.AbstractEventLoop | None
    _listening: asyncio.AbstractEventLoop | None  # the loop a listener runs on

    def __init__(self, label: str, task: str, arrived: Callable[[bytes], None]) -> None:
        self.label, self.task, self.arrived = label, task, arrived
        self.reset()

    def client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client_loop is not loop:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(url(), socket_connect_timeout=2)
            self._client_loop = loop
        return self._client

    async def publish(self, channel: str, body: bytes) -> None:
        """Tell the other processes (nothing without Redis)."""
        if not url():
            return
        try:
            await self.client().publish(channel, body)
        except Exception as exc:  # noqa: BLE001 - Redis away: the news is lost
            log.warning("%s: announcing failed (%s)", self.label, exc)

    def ensure_listening(self, channel: str) -> None:
        """Start listening to ``channel`` on this event loop (once) when Redis is set."""
        loop = asyncio.get_running_loop()
        if not url() or self._listening is loop:
            return
        self._listening = loop
        lifecycle.spawn(self.listen(channel), self.task)

    async def listen(self, channel: str) -> None:
        """Subscribe and hand on what is announced, subscribing again after a failure."""
        while True:
            news = None
            try:
                news = self.client().pubsub()
                await news.subscribe(channel)
                while True:
                    message = await news.get_message(ignore_subscribe_messages=True, timeout=30)
                    if message is not None and isinstance(message.get("data"), bytes):
                        self.arrived(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: subscribe again later
                log.warning("%s: listening failed (%s)", self.label, exc)
                await asyncio.sleep(self.retry_seconds)
            finally:
                if news is not None:
                    with contextlib.suppress(Exception):  # already gone with the connection
                        await news.aclose()

    def reset(self) -> None:
        """Forget the client and the listener (tests switch loops and settings)."""
        self._client = self._client_loop = self._listening = None
