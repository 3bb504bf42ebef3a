"""News between processes through Redis pub/sub (``gateway.base.pubsub``): without Redis
nothing is sent nor listened to; with it a message published on a channel reaches the
relay's ``arrived`` in a listener started once per event loop; a Redis away is logged,
never raised (publishing loses the news, listening subscribes again later)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.base import lifecycle, pubsub
from tests.gateway.conftest import REDIS_URL

CLOSED = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
async def relay() -> AsyncIterator[tuple[pubsub.Relay, list[bytes]]]:
    heard: list[bytes] = []
    made = pubsub.Relay("test news", f"test-news-{uuid.uuid4().hex[:8]}", heard.append)
    made.retry_seconds = 0.05
    yield made, heard
    for task in [t for t in lifecycle._tasks if t.get_name() == made.task]:
        task.cancel()
        lifecycle._tasks.remove(task)
        await asyncio.gather(task, return_exceptions=True)
    client = made._client
    made.reset()
    if client is not None:
        await client.aclose()


def listeners(relay: pubsub.Relay) -> int:
    return sum(t.get_name() == relay.task and not t.done() for t in lifecycle._tasks)


async def test_without_redis_nothing_is_sent_nor_listened_to(settings, relay) -> None:
    made, heard = relay
    settings.REDIS_URL = ""
    await made.publish("chan", b"x")
    made.ensure_listening("chan")
    assert made._client is None and listeners(made) == 0 and pubsub.url() == ""


async def test_a_published_message_arrives_at_a_listener_started_once(settings, relay) -> None:
    made, heard = relay
    settings.REDIS_URL = REDIS_URL
    try:
        await made.client().ping()
    except Exception:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    channel = f"sy-test-{uuid.uuid4().hex}"
    made.ensure_listening(channel)
    made.ensure_listening(channel)  # the same loop: one listener
    assert listeners(made) == 1
    for _ in range(100):  # the subscription is up once a message reaches it
        await made.publish(channel, b"news")
        await asyncio.sleep(0.02)
        if heard:
            break
    assert heard and set(heard) == {b"news"}


async def test_a_redis_away_is_logged_not_raised(settings, relay, caplog) -> None:
    made, heard = relay
    settings.REDIS_URL = CLOSED
    await made.publish("chan", b"lost")
    assert "test news: announcing failed" in caplog.text
    made.ensure_listening("chan")
    for _ in range(100):
        await asyncio.sleep(0.02)
        if caplog.text.count("test news: listening failed") >= 2:
            break
    assert caplog.text.count("test news: listening failed") >= 2  # and tried again
    assert listeners(made) == 1 and heard == []


async def test_a_client_is_made_per_event_loop(settings, relay) -> None:
    made, _ = relay
    settings.REDIS_URL = CLOSED
    first = made.client()
    assert made.client() is first
    made._client_loop = object()  # type: ignore[assignment]  # as if another loop made it
    assert made.client() is not first
    await first.aclose()
