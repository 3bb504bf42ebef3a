"""``/mcp`` while the process drains (SIGHUP reload, SIGTERM): a new request gets a 503
with a JSON-RPC error, ``Retry-After`` and ``Connection: close``, as the /v1 endpoints
do, while a tool call under way finishes and the drain waits for it. The official
``mcp`` client talks to the ``/mcp`` ASGI app in process."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.mcp import endpoint, pool
from gateway.policy import limits, registry
from gateway.policy.registry import Snapshot
from gateway.server import runtime

from .test_pool import entry

MASTER = "sy-master-mcp-drain-test"


@pytest.fixture
async def app(monkeypatch, settings):
    settings.SWITCHYARD_MASTER_KEY = MASTER
    monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", "off")
    monkeypatch.setattr(runtime, "_closing", False)  # restored: the drain sets them
    monkeypatch.setattr(runtime, "_draining", False)
    before = registry.current()
    registry.install(Snapshot(version=1, mcp_servers={"local": entry("local")}))
    limits.reset()
    yield endpoint.app
    await endpoint.aclose()
    await pool.aclose()
    registry.install(before)
    limits.reset()


def http(app, **headers: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {MASTER}", **headers},
        timeout=20,
    )


async def test_new_requests_are_refused_while_a_call_under_way_finishes(app) -> None:
    async with Client(streamable_http_client("http://gateway/mcp", http_client=http(app))) as mcp:
        assert "local__sleep" in {t.name for t in (await mcp.list_tools()).tools}
        call = asyncio.create_task(mcp.call_tool("local__sleep", {"seconds": 1.0}))
        for _ in range(200):  # until the call is in flight
            if runtime.activity()[1] > 0:
                break
            await asyncio.sleep(0.01)
        assert runtime.activity()[1] == 1
        loop = asyncio.get_running_loop()
        began = loop.time()
        drain = asyncio.create_task(runtime.drain(grace=20, refuse=False, settled=lambda: True))
        await asyncio.sleep(0)
        assert runtime.draining()

        async with http(app, Accept="application/json, text/event-stream") as raw:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
            refused = await raw.post("/mcp", json=body)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1" and refused.headers["connection"] == "close"
        error = json.loads(refused.content)
        assert error["jsonrpc"] == "2.0" and error["error"]["code"] == -32000
        assert "shutting down" in error["error"]["message"]

        result = await call  # the call under way finishes with its result
        assert not result.is_error and result.content[0].text == "slept"
        await drain  # and the drain ended as soon as it had, not at its deadline
        assert loop.time() - began < 10
        assert runtime.closing() and runtime.activity()[1] == 0
