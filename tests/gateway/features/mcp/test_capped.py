"""A registered MCP server's answer is bounded while it is read, as a caller's hosted
server's is (M10, found again by the repeated probe): the pool (``/mcp``, hosted tools on
a registered ``server_label``, route-attached servers, the console's tool calls) read a
100 MB JSON tool result whole and the hosted loop only checked its length afterwards; a
worker went from 159 MB to 1163 MB for one call. Here: a result past
``SWITCHYARD_MAX_ANSWER_BYTES`` must fail the call without being held in the process."""

from __future__ import annotations

import dataclasses
import tracemalloc

import pytest

from gateway.access import registry
from gateway.base.entries import Snapshot
from gateway.features.mcp import pool
from gateway.features.mcp.errors import McpGatewayError
from tests.gateway.features.mcp.test_capped_hosted import BIG, LIMIT
from tests.gateway.features.mcp.test_pool import entry


@pytest.fixture
async def registered(big_url):
    before = registry.current()
    server = dataclasses.replace(
        entry("big"), transport="streamable_http", url=big_url, command="", args=(), env=()
    )
    registry.install(Snapshot(version=1, mcp_servers={"big": server}))
    yield
    await pool.aclose()
    registry.install(before)


async def test_a_registered_servers_result_past_the_limit_is_refused_while_read(registered, capped):
    await pool.call_tool("big", "big", {"size": 10})  # the SDK loaded before measuring
    tracemalloc.start()
    try:
        try:
            result = await pool.call_tool("big", "big", {"size": BIG})
        except McpGatewayError as exc:
            result, refused = None, exc.message
        else:
            refused = result.content[0].text if result.is_error else ""
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "SWITCHYARD_MAX_ANSWER_BYTES" in refused, "the 8 MB result came back whole"
    assert peak < 4 * LIMIT, f"the pool held {peak} bytes for a {LIMIT}-byte limit"


async def test_a_registered_servers_result_within_the_limit_comes_back(registered, capped):
    result = await pool.call_tool("big", "big", {"size": 1000})
    assert not result.is_error and result.content[0].text == "x" * 1000
