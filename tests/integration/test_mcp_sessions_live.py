"""MCP sessions on a running ``manage.py serve``: ``--workers 1`` issues sessions (as the
README promises), and with ``--workers 2`` a session opened through one worker is used
through the other, survives that worker being killed, and ends everywhere on DELETE."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.live import MASTER_KEY, running_gateway

VERSION = "2025-06-18"
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
ACCEPT = {"accept": "application/json, text/event-stream"}


def rpc(
    url: str,
    method: str,
    params: dict | None = None,
    *,
    session: str | None = None,
    key: str = MASTER_KEY,
    id: int | None = 1,
) -> httpx.Response:
    """One JSON-RPC POST to ``/mcp`` on a new connection (``Connection: close``, so the
    kernel hands each to whichever worker accepts first)."""
    body: dict = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        body["id"] = id
    if params is not None:
        body["params"] = params
    headers = {"authorization": f"Bearer {key}", **ACCEPT, "connection": "close"}
    if session is not None:
        headers |= {"mcp-session-id": session, "mcp-protocol-version": VERSION}
    return httpx.post(url + "/mcp", json=body, headers=headers, timeout=30)


def result(response: httpx.Response) -> dict:
    """The JSON-RPC result of a POST answered as JSON or as an SSE stream."""
    assert response.status_code == 200, (response.status_code, response.text)
    if response.headers["content-type"].startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                message = json.loads(line[5:])
                if "id" in message:
                    return message["result"]
        raise AssertionError(f"no answer in {response.text!r}")
    return response.json()["result"]


def initialize(url: str, key: str = MASTER_KEY) -> str:
    opened = rpc(
        url,
        "initialize",
        {
            "protocolVersion": VERSION,
            "capabilities": {"roots": {"listChanged": True}},
            "clientInfo": {"name": "sessions-test", "version": "1"},
        },
        key=key,
    )
    assert result(opened)["protocolVersion"] == VERSION
    session = opened.headers.get("mcp-session-id")
    assert session, "initialize opens a session"
    assert (
        rpc(url, "notifications/initialized", session=session, key=key, id=None).status_code == 202
    )
    return session


def test_one_worker_serves_sessions(tmp_path: Path) -> None:
    """``serve --workers 1`` sets the metrics folder like any ``serve``: that used to read
    as "several workers" and turned sessions off."""
    with running_gateway(tmp_path / "one", seed=False, workers=1) as gw:
        session = initialize(gw.url)
        assert result(rpc(gw.url, "tools/list", {}, session=session))["tools"] == []
        assert rpc(gw.url, "tools/list", {}, session="made-up").status_code == 404


WORKER_SERVER = Path(__file__).resolve().parent / "mcp_worker_server.py"
# calls on new connections before both workers must have answered one: which worker
# accepts a connection is the kernel's choice, and a worker busy for a moment (starting
# the stdio server on its first call) leaves the other to accept every one meanwhile
CALLS = 200
REGISTER = """
import json, sys
from gateway.models import McpServer
from gateway.access import keys
McpServer.objects.create(name='probe', transport='stdio', command=sys.executable,
                         args=[%r], from_operator=True, connect_timeout=20)
print(json.dumps({'other': keys.create_key(name='other', mcp_allowed=['*']).raw}))
"""


def call_worker(
    client: httpx.Client | None, url: str, session: str | None, key: str = MASTER_KEY
) -> httpx.Response:
    """``probe__worker`` with the session, on ``client``'s connection (kept alive: one
    worker) or, without one, on a new connection (whichever worker accepts it)."""
    body = {
        "jsonrpc": "2.0",
        "id": 5,
        "method": "tools/call",
        "params": {"name": "probe__worker", "arguments": {}},
    }
    headers = {"authorization": f"Bearer {key}", **ACCEPT}
    if session is not None:
        headers |= {"mcp-session-id": session, "mcp-protocol-version": VERSION}
    if client is None:
        return httpx.post(
            url + "/mcp", json=body, headers={**headers, "connection": "close"}, timeout=60
        )
    return client.post(url + "/mcp", json=body, headers=headers, timeout=60)


def worker_of(response: httpx.Response) -> int:
    answer = result(response)
    assert not answer.get("isError"), answer
    return int(answer["content"][0]["text"])


def pinned(url: str, session: str, avoid: set[int] = frozenset()) -> tuple[httpx.Client, int]:
    """A kept-alive connection to one worker (not one of ``avoid``), and that worker's pid."""
    for _ in range(60):
        client = httpx.Client()
        pid = worker_of(call_worker(client, url, session))
        if pid not in avoid:
            return client, pid
        client.close()
    raise AssertionError(f"no connection reached a worker other than {avoid}")


def test_a_session_is_served_by_every_worker(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "two", seed=False, workers=2) as gw:
        other = json.loads(gw.shell(REGISTER % str(WORKER_SERVER)).strip().splitlines()[-1])[
            "other"
        ]
        time.sleep(2.0)  # every worker's registry poll sees the server and the key

        # the official client (initialize, then its GET stream and every call on a new
        # connection): one session, both workers
        session, workers = asyncio.run(official_client(gw.url))
        assert len(workers) == 2, f"every call reached one worker: {workers}"

        # a second client reuses a session opened by the first, on either worker
        session = initialize(gw.url)
        seen: set[int] = set()
        for _ in range(CALLS):
            seen.add(worker_of(call_worker(None, gw.url, session)))
            if seen == workers:
                break
        assert seen == workers, "the session served by each worker"

        # forged, changed or another key's session: 404 on any worker
        for _ in range(6):
            assert call_worker(None, gw.url, "forged-session").status_code == 404
            assert call_worker(None, gw.url, session[:-3] + "AAA").status_code == 404
            assert call_worker(None, gw.url, session, key=other).status_code == 404

        # DELETE answered by one worker ends the session on the other from its next
        # request (the counter service's tombstone; the other served it a moment ago)
        on_a, a = pinned(gw.url, session)
        on_b, b = pinned(gw.url, session, avoid={a})
        deleted = on_a.delete(gw.url + "/mcp", headers={**AUTH, "mcp-session-id": session})
        assert deleted.status_code == 200
        assert call_worker(on_b, gw.url, session).status_code == 404, "the other still serves it"
        assert call_worker(on_a, gw.url, session).status_code == 404
        for client in (on_a, on_b):
            client.close()

        # a worker killed (the supervisor replaces it) ends no session: the one that
        # remains serves it, and so does the replacement, which never saw it
        session = initialize(gw.url)
        victim, pid = pinned(gw.url, session)
        victim.close()
        os.kill(pid, signal.SIGKILL)
        served: set[int] = set()
        deadline = time.monotonic() + 60
        while not (served - workers):
            assert time.monotonic() < deadline, f"no replacement served the session: {served}"
            try:
                response = call_worker(None, gw.url, session)
            except httpx.HTTPError:  # a connection the killed worker had accepted
                time.sleep(0.2)
                continue
            served.add(worker_of(response))
            time.sleep(0.1)
        assert pid not in served


async def official_client(url: str) -> tuple[str, set[int]]:
    """The ``mcp`` client, its session id and the workers that served its calls."""
    opened: list[str] = []

    async def note(response: httpx2.Response) -> None:
        if sid := response.headers.get("mcp-session-id"):
            opened.append(sid)

    http = create_mcp_http_client(headers={**AUTH, "connection": "close"})
    http.event_hooks["response"].append(note)
    workers: set[int] = set()
    async with Client(
        streamable_http_client(url + "/mcp", http_client=http), mode="legacy"
    ) as client:
        assert "probe__worker" in {t.name for t in (await client.list_tools()).tools}
        for _ in range(CALLS):  # until both workers answered (each call a new connection)
            answer = await client.call_tool("probe__worker", {})
            assert not answer.is_error, answer
            workers.add(int(answer.content[0].text))
            if len(workers) == 2:
                break
    assert opened and len(set(opened)) == 1, "one session throughout"
    return opened[0], workers
