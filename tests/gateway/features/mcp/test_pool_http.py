"""The pool over the network transports: streamable HTTP with a bearer token (the
token sent, a wrong one refused without leaking it) and legacy SSE, against test
servers written with the SDK on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import httpx
import pytest

from gateway.access import registry
from gateway.base.entries import Snapshot
from gateway.features.mcp import pool
from gateway.features.mcp.errors import ServerUnavailable
from tests.live import free_port

from .test_pool import SCRIPT, entry

TOKEN = "http-bearer-Unmistakable-2718"


def _serve(*args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SCRIPT, args[0], str(port), *args[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the test MCP server did not start")


@pytest.fixture(scope="module")
def upstreams():
    http, http_port = _serve("http", "--token", TOKEN)
    sse, sse_port = _serve("sse")
    yield http_port, sse_port
    for process in (http, sse):
        process.terminate()
        process.wait(10)


@pytest.fixture
async def servers(upstreams):
    http_port, sse_port = upstreams
    before = registry.current()

    def net(name: str, transport: str, url: str, bearer: str = ""):
        return dataclasses.replace(
            entry(name), transport=transport, url=url, bearer=bearer, command="", args=(), env=()
        )

    registry.install(
        Snapshot(
            version=1,
            mcp_servers={
                "web": net("web", "streamable_http", f"http://127.0.0.1:{http_port}/mcp", TOKEN),
                "wrong": net(
                    "wrong",
                    "streamable_http",
                    f"http://127.0.0.1:{http_port}/mcp",
                    "nope-token-1234",
                ),
                "legacy": net("legacy", "sse", f"http://127.0.0.1:{sse_port}/sse"),
            },
        )
    )
    yield
    await pool.aclose()
    registry.install(before)


async def test_streamable_http_with_a_bearer_token(servers) -> None:
    assert "add" in {t.name for t in await pool.list_tools("web")}
    assert (await pool.call_tool("web", "add", {"a": 4, "b": 5})).content[0].text == "9"
    with pytest.raises(ServerUnavailable) as refused:
        await pool.list_tools("wrong")
    assert "nope-token-1234" not in refused.value.message and "wrong" in refused.value.message


async def test_legacy_sse(servers) -> None:
    assert "echo" in {t.name for t in await pool.list_tools("legacy")}
    result = await pool.call_tool("legacy", "echo", {"text": "over sse"})
    assert result.content[0].text.startswith("echo:over sse")
