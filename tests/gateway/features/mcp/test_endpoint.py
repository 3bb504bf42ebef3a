"""``/mcp`` in the 2026-07-28 era beside the 2025-11-25 one: the ``Mcp-Method`` /
``Mcp-Name`` headers a 2026-07-28 request must carry (checked against the JSON-RPC body,
a mismatch refused with -32020 HeaderMismatch and HTTP 400), ``server/discover``, and
sessionless requests that carry their version, capabilities and client in ``_meta``.
The checks are the SDK's (``mcp.shared.inbound``) on the gateway's server: these tests
hold that the gateway's own front (keys, sessions, the body replay) leaves them in
place and that a 2025-11-25 client is not asked for the new headers."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import HEADER_MISMATCH

from .test_sessions import http

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
}


def rpc(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": method,
        "params": {**(params or {}), "_meta": META},
    }


def modern(method: str, name: str | None = None) -> dict[str, str]:
    headers = {"mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    return headers


def refused_as_mismatch(response: httpx2.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == HEADER_MISMATCH == -32020
    assert response.json()["id"] == 7
    return str(error["message"])


@pytest.mark.django_db(transaction=True)
async def test_a_modern_request_needs_headers_that_match_its_body(app):
    async with http(app) as client:
        listed = await client.post("/mcp", json=rpc("tools/list"), headers=modern("tools/list"))
        assert listed.status_code == 200, listed.text
        assert listed.json()["result"]["tools"] == []
        assert "mcp-session-id" not in listed.headers  # sessionless: _meta says it all

        # Mcp-Method missing, or naming another method
        missing = await client.post(
            "/mcp", json=rpc("tools/list"), headers={"mcp-protocol-version": MODERN}
        )
        assert "mcp-method" in refused_as_mismatch(missing)
        other = await client.post("/mcp", json=rpc("tools/list"), headers=modern("prompts/list"))
        assert "mcp-method" in refused_as_mismatch(other)

        # Mcp-Name: the tool, the prompt, the resource the body names
        for method, params, header in (
            ("tools/call", {"name": "probe__echo", "arguments": {}}, "probe__other"),
            ("prompts/get", {"name": "probe__greet"}, "probe__other"),
            ("resources/read", {"uri": "file:///a"}, "file:///b"),
        ):
            body = rpc(method, params)
            wrong = await client.post("/mcp", json=body, headers=modern(method, header))
            assert "mcp-name" in refused_as_mismatch(wrong), method
            absent = await client.post("/mcp", json=body, headers=modern(method))
            assert "mcp-name" in refused_as_mismatch(absent), method

        # a name that matches passes the check and reaches the gateway's own answer
        named = {"name": "nowhere__tool", "arguments": {}}
        called = await client.post(
            "/mcp", json=rpc("tools/call", named), headers=modern("tools/call", "nowhere__tool")
        )
        # (the gateway's own error: the 2026-07-28 transport answers -32602 with a 400)
        assert called.json()["error"] == {"code": -32602, "message": "unknown MCP server: nowhere"}


@pytest.mark.django_db(transaction=True)
async def test_a_2025_11_25_client_sends_no_new_headers(app):
    async with http(app) as client:
        init = {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "old", "version": "1"}},
        }  # fmt: skip
        opened = await client.post("/mcp", json=init)
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        headers = {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        listed = await client.post("/mcp", json=body, headers=headers)
        assert listed.status_code == 200, listed.text
        assert "tools" in listed.text and "-32020" not in listed.text


@pytest.mark.django_db(transaction=True)
async def test_server_discover_answers_a_modern_client(app):
    async with http(app) as client:
        found = await client.post(
            "/mcp", json=rpc("server/discover"), headers=modern("server/discover")
        )
    assert found.status_code == 200, found.text
    result = found.json()["result"]
    assert MODERN in result["supportedVersions"]
    # no server registered: the gateway's own tool list only (``test_endpoint_eras``
    # holds the aggregate of the servers a key reaches)
    assert set(result["capabilities"]) == {"tools"}
    assert result["cacheScope"] == "private"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "switchyard"


@pytest.mark.django_db(transaction=True)
async def test_the_sdk_client_speaks_2026_07_28_with_the_headers(app):
    seen: list[tuple[str, dict[str, str]]] = []

    async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            seen.append((json.loads(body).get("method", ""), headers))
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)
            return
        await app(scope, receive, send)

    async with Client(
        streamable_http_client("http://gateway/mcp", http_client=http(recording))
    ) as mcp:
        assert mcp.protocol_version == MODERN
        assert (await mcp.list_tools()).tools == []
        with pytest.raises(MCPError, match="unknown MCP server: nowhere"):
            await mcp.call_tool("nowhere__tool", {})  # past the header check, to the gateway

    methods = {method: headers for method, headers in seen}
    assert methods["tools/list"]["mcp-method"] == "tools/list"
    assert methods["tools/list"]["mcp-protocol-version"] == MODERN
    assert methods["tools/call"]["mcp-method"] == "tools/call"
    assert methods["tools/call"]["mcp-name"] == "nowhere__tool"


@pytest.mark.django_db(transaction=True)
async def test_lists_are_byte_identical_for_the_same_key_with_cache_hints(app, monkeypatch):
    """Two servers whose lists come back in another order each time: the aggregated
    list is the same bytes for the same key, in both eras, with ttlMs/cacheScope."""
    import dataclasses

    import mcp_types as types

    from gateway.access import registry
    from gateway.features.mcp import endpoint, pool

    from .test_pool import entry

    snapshot = registry.current()
    servers = {name: entry(name) for name in ("beta", "alpha")}
    registry.install(dataclasses.replace(snapshot, mcp_servers=servers))
    turn = {"n": 0}

    async def list_tools(server: str) -> list[types.Tool]:
        turn["n"] += 1
        names = ["zeta", "eta", "alpha"] if turn["n"] % 3 else ["alpha", "zeta", "eta"]
        tools = [types.Tool(name=n, input_schema={"type": "object"}) for n in names]
        return tools if turn["n"] % 2 else tools[::-1]

    monkeypatch.setattr(pool, "list_tools", list_tools)
    monkeypatch.setattr(endpoint.pool, "list_tools", list_tools)
    async with http(app) as client:
        answers = [
            (await client.post("/mcp", json=rpc("tools/list"), headers=modern("tools/list")))
            for _ in range(3)
        ]
    assert all(a.status_code == 200 for a in answers), answers[0].text
    assert answers[0].content == answers[1].content == answers[2].content
    result = answers[0].json()["result"]
    assert [t["name"] for t in result["tools"]] == [
        "alpha__alpha", "alpha__eta", "alpha__zeta", "beta__alpha", "beta__eta", "beta__zeta",
    ]  # fmt: skip
    assert result["ttlMs"] == int(pool.TOOLS_TTL * 1000)
    assert result["cacheScope"] == "private"
