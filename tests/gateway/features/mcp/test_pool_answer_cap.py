"""A registered MCP server's answer is read at most ``SWITCHYARD_MAX_ANSWER_BYTES`` far
(M10), as a server given by URL is: over streamable HTTP (a JSON answer, an answer sent as
events) and legacy SSE, a result past it is a clear ``ResultTooLarge`` (the JSON-RPC error
on ``/mcp``, the error item of a hosted tool) and the process never holds it. Real SDK
servers on 127.0.0.1, each in a process of its own (this process's memory is the pool's)."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import Snapshot
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    McpServer,
    Message,
    Text,
    ToolCall,
    ToolResult,
)
from gateway.features.mcp import pool
from gateway.features.mcp.capped import ResultTooLarge
from gateway.features.mcp.hosted import Loop
from tests.live import free_port

from .test_pool import entry

LIMIT = 256 * 1024  # under the SDK's own 1 MiB per legacy SSE event
BIG = 32 * LIMIT

SERVER = """
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("big-answers")


@server.tool()
def big(size: int) -> str:
    return "x" * size


mode, port = sys.argv[1], int(sys.argv[2])
if mode == "sse":
    app = server.sse_app()
else:
    app = server.streamable_http_app(json_response=mode == "json")
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""

MODES = {
    "json": ("streamable_http", "/mcp"),
    "events": ("streamable_http", "/mcp"),
    "sse": ("sse", "/sse"),
}


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, int]]:
    started = {mode: (free_port(), None) for mode in MODES}
    processes = []
    try:
        ports = {}
        for mode, (port, _) in started.items():
            processes.append(subprocess.Popen([sys.executable, "-c", SERVER, mode, str(port)]))
            ports[mode] = port
        deadline = time.monotonic() + 30
        for port in ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the test MCP servers did not start"
                    time.sleep(0.05)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
async def registered(upstreams, settings):  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_MAX_ANSWER_BYTES = LIMIT
    before = registry.current()
    servers = {}
    for mode, (transport, path) in MODES.items():
        url = f"http://127.0.0.1:{upstreams[mode]}{path}"
        servers[mode] = dataclasses.replace(
            entry(mode), transport=transport, url=url, command="", args=(), env=()
        )
    registry.install(Snapshot(version=1, mcp_servers=servers))
    yield
    await pool.aclose()
    registry.install(before)
    http._answer_limit.clear()


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_result_past_the_limit_is_refused_and_not_held(registered, mode):
    await pool.call_tool(mode, "big", {"size": 10})  # connected, the SDK's schemas loaded
    tracemalloc.start()
    try:
        with pytest.raises(ResultTooLarge) as raised:
            await pool.call_tool(mode, "big", {"size": BIG}, timeout=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "SWITCHYARD_MAX_ANSWER_BYTES" in raised.value.message
    assert str(LIMIT) in raised.value.message and mode in raised.value.message
    assert peak < 4 * LIMIT  # the answer was never read whole
    # the server stays usable: the next call within the limit answers
    result = await pool.call_tool(mode, "big", {"size": 1000}, timeout=10)
    assert result.content[0].text == "x" * 1000


def model(size: int):  # type: ignore[no-untyped-def]
    async def answer(request: ChatRequest) -> ChatResponse:
        if any(isinstance(p, ToolResult) for m in request.messages for p in m.parts):
            return ChatResponse("r", "m", [Text("done")])
        return ChatResponse("r", "m", [ToolCall("c1", "json__big", {"size": size})], "tool_calls")

    return answer


async def hosted(size: int) -> ChatResponse:
    request = ChatRequest(
        model="m",
        messages=[Message("user", [Text("hi")])],
        mcp_servers=[McpServer("json", registered="json", approval="never")],
    )
    return await Loop(request, model(size), max_calls=2, timeout=10).run()


async def test_a_registered_hosted_tool_gets_an_error_item_and_does_not_hold_it(registered):
    await hosted(10)  # connected, the SDK's schemas loaded
    tracemalloc.start()
    try:
        response = await hosted(BIG)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMIT  # checked after the read before: the result was held whole
    (call,) = [item for item in response.hosted if item.kind == "call"]
    assert call.output is None
    assert "SWITCHYARD_MAX_ANSWER_BYTES" in call.error and str(LIMIT) in call.error
