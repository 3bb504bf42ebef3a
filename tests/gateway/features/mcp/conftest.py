"""Fixtures shared by the MCP tests."""

from __future__ import annotations

import pytest

from gateway.base.counters import SOCKET_ENV
from gateway.features.mcp import mailbox
from gateway.limits import limits
from gateway.server.counter_service import CounterService


@pytest.fixture
def counter_service(socket_path, settings, monkeypatch):
    """A real counter service on a Unix socket, the store the mailbox shares."""
    running = CounterService(socket_path)
    running.start()
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    limits.reset()
    mailbox._watchers.clear()
    yield running
    limits.reset()
    mailbox._watchers.clear()
    running.stop()
