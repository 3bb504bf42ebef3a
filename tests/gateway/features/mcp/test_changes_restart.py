"""The relay of MCP list changes (``changes``, on ``gateway.base.pubsub``) outlives a
Redis restart: a private ``redis-server`` on a free port is stopped and started again
on that port, and a change another process announces after it still arrives (the
listener subscribes again; the publishing client connects again)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from gateway.base import lifecycle
from gateway.features.mcp import changes
from tests.live import free_port


@pytest.fixture
def private_redis() -> Iterator[tuple[str, Callable[[], None]]]:
    """The URL of a Redis of this test's own, and a function that restarts it."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed here")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if redis.Redis(port=port, socket_timeout=1).ping():
                    return server
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("the private Redis did not start")

    servers = [start()]

    def restart() -> None:
        servers[-1].terminate()
        servers[-1].wait(10)
        servers.append(start())

    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        servers[-1].terminate()
        servers[-1].wait(10)


async def test_a_change_announced_after_a_redis_restart_still_arrives(  # type: ignore[no-untyped-def]
    private_redis, settings, monkeypatch
) -> None:
    url, restart = private_redis
    settings.REDIS_URL = url
    got: list[tuple[str, str]] = []
    monkeypatch.setattr(changes, "_deliver", lambda server, what: got.append((server, what)))
    monkeypatch.setattr(changes.RELAY, "retry_seconds", 0.05)
    changes.reset()

    async def arrives(server: str) -> bool:
        for _ in range(100):  # the subscription is up once an announcement reaches it
            await changes.publish(server, "tools", origin="another-instance")
            await asyncio.sleep(0.05)
            if (server, "tools") in got:
                return True
        return False

    changes.ensure_listening()
    try:
        assert await arrives("docs")
        await asyncio.to_thread(restart)
        assert await arrives("wiki")
    finally:
        for task in list(lifecycle._tasks):
            if task.get_name() == "mcp-list-changes":
                task.cancel()
                lifecycle._tasks.remove(task)
        await asyncio.sleep(0)
        changes.reset()
