"""One request with both hosted MCP tools and a server tool (web search) on an upstream
that runs neither: the gateway's one tool loop (``gateway.core.tool_runner``) offers the
model both, runs both calls of the same turn and answers with what each returned; the
journal row notes both calls. The MCP pool is a fake with ``gateway.features.mcp.pool``'s
interface (``test_pipeline``'s); the upstream and the search backend answer through
``httpx.MockTransport``."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from tests.gateway.entries import route, snapshot
from tests.gateway.features.mcp.hosted.test_pipeline import answer, gateway  # noqa: F401 - the fixture

SEARCH = "https://search.example/search"


def call(n: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


class Upstream:
    """The search backend, and a model that calls the MCP tool and web search in one
    turn when offered both, then answers with their results."""

    def __init__(self) -> None:
        self.offered: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(SEARCH):
            hit = {"url": "https://llamas.example", "title": "Llamas", "content": "they hum"}
            return httpx.Response(200, json={"results": [hit]})
        body = orjson.loads(request.content)
        names = [t["function"]["name"] for t in body.get("tools") or []]
        self.offered.append(names)
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if results or "web_search" not in names or "docs__lookup" not in names:
            said = {"role": "assistant", "content": "Found: " + " / ".join(results)}
            return httpx.Response(200, json=answer(said, "stop"))
        calls = [
            call(1, "docs__lookup", {"q": "llamas"}),
            call(2, "web_search", {"query": "llamas"}),
        ]
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": calls}
        return httpx.Response(200, json=answer(message, "tool_calls"))


@pytest.fixture
def both(gateway):  # type: ignore[no-untyped-def]  # noqa: F811
    """``gateway`` (a fake pool with the ``docs`` server's ``lookup`` tool), its route
    searching the web too."""
    _, recorded, _ = gateway
    registry.install(
        snapshot(
            dataclasses.replace(
                route("docs-gpt", "up-1", max_attempts=1),
                mcp_servers=("docs",),
                web_search_backend="searxng",
                web_search_url=SEARCH,
            )
        )
    )
    upstream = Upstream()
    http.use_transport(httpx.MockTransport(upstream))
    return upstream, recorded


async def test_hosted_mcp_tools_and_web_search_run_in_one_request(both) -> None:  # type: ignore[no-untyped-def]
    upstream, recorded = both
    body = {
        "model": "docs-gpt",
        "input": "llamas?",
        "tools": [{"type": "web_search"}],
        "store": False,
    }
    reply = await service.handle(
        "chat", "responses", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert isinstance(reply, service.Reply) and reply.status == 200, reply
    data = orjson.loads(reply.body)
    assert upstream.offered[0] == ["docs__lookup", "web_search"]
    kinds = [item["type"] for item in data["output"]]
    assert kinds == ["mcp_list_tools", "mcp_call", "web_search_call", "message"]
    text = data["output"][-1]["content"][0]["text"]
    assert "llamas hum" in text and "they hum" in text
    (row,) = recorded
    assert [(c["server"], c["tool"], c["status"]) for c in row.mcp_calls] == [
        ("docs", "lookup", "ok"),
        ("server tool", "web_search", "ok"),
    ]
    assert row.status == 200 and len(row.attempts) == 2


async def test_a_streamed_anthropic_client_gets_both_kinds_of_blocks(both) -> None:  # type: ignore[no-untyped-def]
    upstream, recorded = both
    body = {
        "model": "docs-gpt",
        "max_tokens": 200,
        "stream": True,
        "messages": [{"role": "user", "content": "llamas?"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
    }
    reply = await service.handle(
        "chat", "anthropic", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert isinstance(reply, service.StreamReply)
    raw = b"".join([chunk async for chunk in reply.chunks])
    events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
    blocks = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert blocks == [
        "mcp_tool_use",
        "mcp_tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert b"llamas hum" in raw and b"they hum" in raw
    assert upstream.offered[0] == ["docs__lookup", "web_search"]
    (row,) = recorded
    assert [c["tool"] for c in row.mcp_calls] == ["lookup", "web_search"]
