"""The server tools of one request in the gateway's tool loop: what the model is offered
in their place, each call run (a search through the route's backend, results outside
the tool's domains dropped; a fetch of a URL the conversation showed, results included),
``max_uses`` and bad input as errors the model reads, the notes and the usage counted.
The backends and the fetch are faked (their own tests: ``test_backends.py``,
``test_fetch.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base.types import (
    ChatRequest,
    Message,
    SearchResult,
    ServerTool,
    ServerToolItem,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from gateway.core import url_fetch
from gateway.features.server_tools import backends, loop

SEARCH = ServerTool("web_search", "web_search_20250305", "web_search", max_uses=2,
                    blocked_domains=["spam.example"])  # fmt: skip
FETCH = ServerTool("web_fetch", "web_fetch_20250910", "web_fetch", allowed_domains=["docs.example"])
BACKEND = backends.Backend("brave", "https://api.search.brave.com/res/v1/web/search")


def tools(backend: backends.Backend | None = BACKEND, **kw: Any) -> loop.ServerTools:
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [Text("read https://docs.example/start please")]),
            Message("tool", [ToolResult("c0", [Text("and https://docs.example/later")])]),
        ],
        server_tools=[SEARCH, FETCH],
    )
    toolset = loop.ServerTools(request, backend, **kw)
    toolset.notes = []
    return toolset


@pytest.fixture
def searched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    queries: list[str] = []

    async def search(backend: backends.Backend, query: str, count: int = 10) -> list[SearchResult]:
        queries.append(query)
        if query == "down":
            raise backends.SearchFailed("api.search.brave.com answered 429", "too_many_requests")
        return [SearchResult("https://docs.example/found", "Found"),
                SearchResult("https://spam.example/x", "Spam")]  # fmt: skip

    async def fetched(url: str, accept: frozenset[str], **_: Any) -> url_fetch.Fetched:
        return url_fetch.Fetched(f"page at {url}".encode(), "text/plain")

    monkeypatch.setattr(backends, "search", search)
    monkeypatch.setattr(url_fetch, "fetch", fetched)
    return queries


async def run(
    toolset: loop.ServerTools, name: str, **arguments: Any
) -> tuple[ToolResult, ServerToolItem]:
    steps: list[Any] = []

    async def step(item: Any) -> None:
        steps.append(item)

    result = await toolset.run(ToolCall("c1", name, arguments), step)
    [item] = steps
    return result, item


async def test_the_model_is_offered_function_tools_under_the_client_s_names() -> None:
    offered, extra = await tools().offer(None)  # type: ignore[arg-type]
    assert [t.name for t in offered] == ["web_search", "web_fetch"] and extra == []
    assert offered[0].parameters == loop.SEARCH_SCHEMA
    assert "Never these domains: spam.example." in (offered[0].description or "")
    assert "Only these domains: docs.example." in (offered[1].description or "")
    toolset = tools()
    assert toolset.owns("web_fetch") and not toolset.owns("other")
    assert not toolset.withdrawn(loop.MAX_TURNS - 1) and toolset.withdrawn(loop.MAX_TURNS)


async def test_a_search_runs_and_drops_blocked_results(searched: list[str]) -> None:
    told: list[int] = []
    toolset = tools(on_search=lambda: told.append(1))
    result, item = await run(toolset, "web_search", query="  gateway docs ")
    assert searched == ["gateway docs"] and told == [1]
    assert [r.url for r in item.results] == ["https://docs.example/found"]
    assert not result.is_error and result.call_id == item.id and item.id.startswith("srvtoolu_")
    assert "https://docs.example/found" in result.content[0].text
    assert toolset.notes[0]["tool"] == "web_search" and toolset.notes[0]["status"] == "ok"


async def test_a_fetch_may_follow_a_url_an_earlier_search_gave(searched: list[str]) -> None:
    toolset = tools()
    _, refused = await run(toolset, "web_fetch", url="https://docs.example/found")
    assert refused.error == "url_not_in_prior_context"
    await run(toolset, "web_search", query="q")
    result, item = await run(toolset, "web_fetch", url="https://docs.example/found")
    assert item.error is None and "page at https://docs.example/found" in result.content[0].text
    _, earlier = await run(
        toolset, "web_fetch", url="https://docs.example/later"
    )  # a tool result's
    assert earlier.error is None
    usage = Usage()
    toolset.count(usage)
    assert (usage.web_search_requests, usage.web_fetch_requests) == (1, 3)


async def test_max_uses_is_an_error_the_model_reads(searched: list[str]) -> None:
    toolset = tools()
    await run(toolset, "web_search", query="one")
    await run(toolset, "web_search", query="two")
    result, item = await run(toolset, "web_search", query="three")
    assert item.error == "max_uses_exceeded" and result.is_error
    assert result.content[0].text.startswith("error: max_uses_exceeded")
    assert searched == ["one", "two"] and toolset.notes[-1]["status"] == "error"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"query": ""}, "invalid_tool_input"),
        ({"query": 3}, "invalid_tool_input"),
        ({"query": "x" * 501}, "query_too_long"),
        ({"query": "down"}, "too_many_requests"),
    ],
)
async def test_search_errors(searched: list[str], arguments: dict[str, Any], error: str) -> None:
    result, item = await run(tools(), "web_search", **arguments)
    assert item.error == error and result.is_error


async def test_without_a_backend_a_search_is_unavailable(searched: list[str]) -> None:
    toolset = tools(backend=None)
    _, item = await run(toolset, "web_search", query="q")
    assert item.error == "unavailable" and searched == [] and toolset.searches == 0


async def test_arguments_that_were_not_json_are_invalid_input() -> None:
    toolset, steps = tools(), []

    async def step(item: Any) -> None:
        steps.append(item)

    result = await toolset.run(ToolCall("c1", "web_search", {}, raw_arguments="{oops"), step)
    assert result.is_error and steps[0].error == "invalid_tool_input"
    assert toolset.used == {}  # not counted as a use


async def test_a_route_backend_needs_the_caller_s_key(searched: list[str]) -> None:
    _, item = await run(
        tools(backend=backends.Backend(backends.ROUTE, "search-route")), "web_search", query="q"
    )
    assert item.error == "unavailable" and "under a key" in item.detail
