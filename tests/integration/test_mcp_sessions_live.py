"""MCP sessions on a running ``manage.py serve``: ``--workers 1`` issues sessions (as the
README promises), and with ``--workers 2`` a session opened through one worker is used
through the other, survives that worker being killed, and ends everywhere on DELETE."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

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
