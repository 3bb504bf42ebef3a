"""Fixtures shared by the MCP tests."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from gateway.access import keys, registry, roles
from gateway.base import http
from gateway.base.counters import SOCKET_ENV
from gateway.base.entries import MASTER, Snapshot
from gateway.features.mcp import endpoint, mailbox, pool, sessions
from gateway.limits import limits
from gateway.models import McpServer, Membership, Team
from gateway.server.counter_service import CounterService
from tests.gateway.features.mcp.test_capped_hosted import LIMIT
from tests.gateway.features.mcp.test_sessions import MASTER_RAW, OTHER, RAW
from tests.live import free_port


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


@pytest.fixture
def world(transactional_db, snapshot_reset, monkeypatch) -> dict[str, Any]:
    """The OAuth server's people (oauth_server/ and the retention tests): alice (member of alpha) holds a key granting ``web__add``; bob (member of beta)
    one granting all of ``local``; both servers registered. (Django's test host is
    ``testserver`` over http: Authlib wants https or a loopback address otherwise.)"""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    for name in ("web", "local"):
        McpServer.objects.create(name=name, transport="streamable_http", url=f"http://x/{name}")
    alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
    users = {}
    for name, team, grant in (("alice", alpha, ["web__add"]), ("bob", beta, ["local"])):
        user = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(user, "member")
        Membership.objects.create(user=user, team=team, role="member")
        keys.create_key(name=f"{name}-key", team=team.pk, user=user.pk, mcp_allowed=grant)
        users[name] = user
    registry.rebuild()
    return {"users": users, "alpha": alpha, "beta": beta}


# --- a server whose answers are big (the capped tests) ---

SERVER = """
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("big-answers")


@server.tool()
def big(size: int) -> str:
    return "x" * size


app = server.streamable_http_app(json_response=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@pytest.fixture(scope="module")
def big_url() -> Iterator[str]:
    """The server in a process of its own: this process's memory is the gateway's."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the test MCP server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def capped(settings):  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_MAX_ANSWER_BYTES = LIMIT
    yield
    http._answer_limit.clear()


# --- /mcp in process (the sessions and endpoint tests) ---


@pytest.fixture
def fresh_memory():
    sessions.forget()
    yield
    sessions.forget()


@pytest.fixture
async def app(monkeypatch, settings, snapshot_reset, fresh_memory):
    settings.SWITCHYARD_MASTER_KEY = MASTER_RAW
    monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", "auto")
    keys = {
        hashlib.sha256(raw.encode()).hexdigest(): dataclasses.replace(
            MASTER, id=n, name=f"k{n}", prefix=raw[:8], mcp_allowed=frozenset(["*"])
        )
        for n, raw in ((1, RAW), (2, OTHER))
    }
    registry.install(Snapshot(version=1, keys=keys))
    yield endpoint.app
    await endpoint.aclose()
    await pool.aclose()
