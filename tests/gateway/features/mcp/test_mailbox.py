"""Answers of MCP clients handed between processes (``mailbox``): a take waits for the
put, through a real counter service on a Unix socket and through Redis."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.features.mcp import mailbox
from gateway.limits import limits
from tests.gateway.conftest import REDIS_URL


@pytest.fixture
async def redis_box(settings, own_redis, redis_prefix, monkeypatch):
    client = await own_redis(REDIS_URL)
    settings.REDIS_URL = REDIS_URL
    monkeypatch.setattr(mailbox, "REDIS_PREFIX", f"{redis_prefix}:limits:mcp:box")
    limits.reset()
    mailbox._redis.clear()
    yield client
    limits.reset()
    mailbox._redis.clear()


async def _round_trip() -> None:
    assert mailbox.shared()
    taking = asyncio.ensure_future(mailbox.take("sess:sy-abc"))
    await asyncio.sleep(0.2)
    assert not taking.done()  # waits for the answer
    started = time.monotonic()
    assert await mailbox.put("sess:sy-abc", {"jsonrpc": "2.0", "id": "sy-abc", "result": {}})
    assert await asyncio.wait_for(taking, 5) == {"jsonrpc": "2.0", "id": "sy-abc", "result": {}}
    assert time.monotonic() - started < 1.0


async def test_through_the_counter_service(counter_service) -> None:
    await _round_trip()


async def test_through_redis(redis_box) -> None:
    await _round_trip()
