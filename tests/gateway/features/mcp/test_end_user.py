"""``/mcp``'s end user: the ``x-switchyard-user`` header the model endpoints take names
whom a tool call is for (MCP defines no field for it, 2026-07-28's ``_meta`` included),
so a priced server's calls are held and charged in that end user's budget under a key
with ``max_budget_per_user``, journaled with the end user, and a spent end user is
refused with the JSON-RPC error ``-32029`` while another end user of the key is not.
In process: raw 2026-07-28 requests through httpx2's ASGI transport to the tests' SDK
server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base.entries import MASTER, McpServerEntry, Snapshot
from gateway.features.mcp import calls, endpoint, pool
from gateway.limits import limits, spend
from tests.mcp_test_server import running_mcp_server

MODERN = "2026-07-28"
RAW = "sy-end-user-mcp-key"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with running_mcp_server() as url:
        yield url


@pytest.fixture
async def records(upstream, settings, monkeypatch, snapshot_reset):  # type: ignore[no-untyped-def]
    async def nothing_spent_before(*args: object, **kwargs: object) -> Decimal:
        return Decimal(0)

    settings.REDIS_URL = ""
    monkeypatch.setattr(spend, "load_spend", nothing_spent_before)
    limits.reset()
    server = McpServerEntry(
        id=9, name="tools", transport="streamable_http", url=upstream, headers=(), bearer="",
        command="", args=(), env=(), enabled=True, connect_timeout=10, call_timeout=10,
        price_usd=Decimal("0.10"),
    )  # fmt: skip
    key = dataclasses.replace(
        MASTER, id=3, name="per-user", prefix=RAW[:8], mcp_allowed=frozenset({"tools"}),
        max_budget_per_user=Decimal("0.15"), budget_period="total",
    )  # fmt: skip
    digest = hashlib.sha256(RAW.encode()).hexdigest()
    registry.install(Snapshot(version=1, keys={digest: key}, mcp_servers={"tools": server}))
    seen: list[journal.Record] = []
    journal.subscribe(seen.append)
    yield seen
    journal.unsubscribe(seen.append)
    await endpoint.aclose()
    await pool.aclose()
    limits.reset()


async def _call(end_user: str | None) -> dict[str, Any]:
    """One sessionless ``tools/call`` of ``tools__add``, naming ``end_user`` in the header."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "end-user-test", "version": "1"},
    }
    body = {
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "tools__add", "arguments": {"a": 2, "b": 3}, "_meta": meta},
    }  # fmt: skip
    headers = {
        "authorization": f"Bearer {RAW}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "tools__add",
    }
    if end_user is not None:
        headers["x-switchyard-user"] = end_user
    transport = httpx2.ASGITransport(app=endpoint.app)  # type: ignore[arg-type]
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as client:
        reply = await client.post("/mcp", json=body, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


async def test_the_end_users_budget_holds_a_priced_call_on_mcp(records) -> None:  # type: ignore[no-untyped-def]
    first = await _call("alice")
    assert first["result"]["content"][0]["text"] == "5", first
    spent = await _call("alice")  # $0.10 of $0.15 spent: no room for another $0.10
    assert spent["error"]["code"] == calls.RATE_LIMITED, spent
    assert "this end user's budget on this API key" in spent["error"]["message"]
    other = await _call("bob")  # a budget of his own
    assert other["result"]["content"][0]["text"] == "5", other
    anonymous = await _call(None)  # no end user: the key's budgets only (it has none)
    assert "result" in anonymous, anonymous
    assert [(r.end_user, r.status, r.cost_usd) for r in records] == [
        ("alice", 200, Decimal("0.10")),
        ("alice", 429, Decimal(0)),
        ("bob", 200, Decimal("0.10")),
        ("", 200, Decimal("0.10")),
    ]


async def test_the_header_is_cleaned_as_the_model_endpoints_clean_it(records) -> None:  # type: ignore[no-untyped-def]
    await _call("  carol\x07 ")
    await _call("d" * 500)
    assert [r.end_user for r in records] == ["carol", "d" * 200]
