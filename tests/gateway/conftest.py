"""Fixtures shared by the gateway tests."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from gateway.policy import limits


@pytest.fixture
def socket_path():
    """Where a counter service may listen: a short path (Unix socket paths must fit in
    108 bytes; tmp_path may not)."""
    folder = tempfile.mkdtemp(prefix="sy-", dir="/tmp")
    yield os.path.join(folder, "limits.sock")
    shutil.rmtree(folder, ignore_errors=True)


REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
async def redis_limits(settings):
    """A Redis database of its own for the limits counters (``settings.REDIS_URL``
    points at it), emptied before and after; skipped when Redis is not running."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    await client.flushdb()
    settings.REDIS_URL = REDIS_URL
    limits.reset()
    yield client
    await client.flushdb()
    await client.aclose()
    limits.reset()
