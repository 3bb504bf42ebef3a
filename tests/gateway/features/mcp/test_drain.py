"""``/mcp`` while the process drains (SIGHUP reload, SIGTERM): a new request gets a 503
with a JSON-RPC error, ``Retry-After`` and ``Connection: close``, as the /v1 endpoints
do, journaled as they are (one row, dialect ``mcp``, status 503), while a tool call
under way finishes and the drain waits for it; a session's notification stream (GET)
ends at the drain, its last chunk sent. The official ``mcp`` client talks to the
``/mcp`` ASGI app in process; the notification stream is driven through raw ASGI, so
every message the app sends is seen as it is sent."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway import journal
from gateway.access import registry
from gateway.base import entries, lifecycle
from gateway.base.entries import Snapshot
from gateway.features.mcp import endpoint, pool
from gateway.limits import limits

from .test_pool import entry

MASTER = "sy-master-mcp-drain-test"


@pytest.fixture
def rows():
    seen: list[journal.Record] = []
    journal.subscribe(seen.append)
    yield seen
    journal.unsubscribe(seen.append)


@pytest.fixture
async def app(monkeypatch, settings):
    settings.SWITCHYARD_MASTER_KEY = MASTER
    monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", "off")
    monkeypatch.setattr(lifecycle, "_closing", False)  # restored: the drain sets them
    monkeypatch.setattr(lifecycle, "_draining", False)
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


async def test_new_requests_are_refused_while_a_call_under_way_finishes(app, rows) -> None:
    async with Client(streamable_http_client("http://gateway/mcp", http_client=http(app))) as mcp:
        assert "local__sleep" in {t.name for t in (await mcp.list_tools()).tools}
        call = asyncio.create_task(mcp.call_tool("local__sleep", {"seconds": 1.0}))
        for _ in range(200):  # until the call is in flight
            if lifecycle.activity()[1] > 0:
                break
            await asyncio.sleep(0.01)
        assert lifecycle.activity()[1] == 1
        loop = asyncio.get_running_loop()
        began = loop.time()
        drain = asyncio.create_task(lifecycle.drain(grace=20, refuse=False, settled=lambda: True))
        await asyncio.sleep(0)
        assert lifecycle.draining()

        async with http(app, Accept="application/json, text/event-stream") as raw:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
            refused = await raw.post("/mcp", json=body)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1" and refused.headers["connection"] == "close"
        error = json.loads(refused.content)
        assert error["jsonrpc"] == "2.0" and error["error"]["code"] == -32000
        assert "shutting down" in error["error"]["message"]
        refusals = [r for r in rows if r.status == 503]
        assert len(refusals) == 1, "the refusal is journaled once, as on /v1"
        row = refusals[0]
        assert (row.dialect, row.endpoint, row.provider) == ("mcp", "POST /mcp", "mcp")
        assert row.error_kind == "overloaded_error" and "shutting down" in row.error_message
        assert row.key_name == entries.MASTER.name and row.request_id.startswith("mcp_")

        result = await call  # the call under way finishes with its result
        assert not result.is_error and result.content[0].text == "slept"
        await drain  # and the drain ended as soon as it had, not at its deadline
        assert loop.time() - began < 10
        assert lifecycle.closing() and lifecycle.activity()[1] == 0


async def test_a_refusal_on_a_server_path_names_the_key_and_the_server(app, rows) -> None:
    lifecycle._draining = True  # the fixture restores it
    async with http(app, Accept="application/json, text/event-stream") as raw:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        refused = await raw.post("/mcp/local", json=body, headers={"User-Agent": "probe/1"})
        assert refused.status_code == 503
        anonymous = await raw.post("/mcp", json=body, headers={"Authorization": ""})
        assert anonymous.status_code == 503  # no key: refused all the same, no 401
    first, second = rows
    assert (first.endpoint, first.route, first.user_agent) == ("POST /mcp", "local", "probe/1")
    assert first.status == 503 and first.key_name == entries.MASTER.name
    assert second.status == 503 and second.key_id is None and second.key_name == ""
    assert MASTER not in repr(rows), "the key itself is never journaled"


class Stream:
    """The ASGI side of one GET: what the app sent, as it sends it."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.started = asyncio.Event()
        self.disconnect = asyncio.Event()
        self.requested = False

    async def send(self, message: dict) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.start":
            self.started.set()

    async def receive(self) -> dict:
        if not self.requested:  # the (empty) request body, as a server hands it over
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnect.wait()  # the client stays until the test lets it go
        return {"type": "http.disconnect"}


async def test_a_notification_stream_ends_at_the_drain(app, monkeypatch, rows) -> None:
    monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", "on")  # a GET stream needs a session
    async with http(app, Accept="application/json, text/event-stream") as raw:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "drain-test", "version": "1"},
            },
        }
        opened = await raw.post("/mcp", json=init)
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        ack = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        headers = {"mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
        assert (await raw.post("/mcp", json=ack, headers=headers)).status_code == 202

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "query_string": b"",
        "root_path": "",
        "server": ("gateway", 80),
        "client": ("127.0.0.1", 5000),
        "headers": [
            (b"host", b"gateway"),
            (b"authorization", f"Bearer {MASTER}".encode()),
            (b"accept", b"text/event-stream"),
            (b"mcp-session-id", session.encode()),
            (b"mcp-protocol-version", b"2025-06-18"),
        ],
    }
    stream = Stream()
    serving = asyncio.create_task(endpoint.app(scope, stream.receive, stream.send))
    try:
        await asyncio.wait_for(stream.started.wait(), 10)
        start = stream.messages[0]
        assert start["status"] == 200
        assert dict(start["headers"])[b"content-type"].startswith(b"text/event-stream")
        await asyncio.sleep(2 * endpoint.DRAIN_POLL_SECONDS)
        assert not serving.done(), "an open stream stays open until the drain"

        loop = asyncio.get_running_loop()
        began = loop.time()
        drain = asyncio.create_task(lifecycle.drain(grace=20, refuse=False, settled=lambda: True))
        await asyncio.wait_for(serving, 5)  # the stream ended without its client leaving
        assert loop.time() - began < 4 * endpoint.DRAIN_POLL_SECONDS + 1
        assert not stream.disconnect.is_set()
        last = stream.messages[-1]
        assert last["type"] == "http.response.body" and not last.get("more_body")
        assert sum(m["type"] == "http.response.start" for m in stream.messages) == 1
        await asyncio.wait_for(drain, 5)
        assert not [r for r in rows if r.status == 503], "a stream ended is no refusal"

        # a GET arriving now is refused (and journaled) like any new request
        late = Stream()
        await asyncio.wait_for(endpoint.app(scope, late.receive, late.send), 5)
        assert late.messages[0]["status"] == 503
        assert [r.endpoint for r in rows if r.status == 503] == ["GET /mcp"]
    finally:
        stream.disconnect.set()
        if not serving.done():
            serving.cancel()
