"""The server tools of one request in the gateway's tool loop (``gateway.core.tool_runner``,
see the package docstring): the model is offered web search and web fetch as function
tools under the names the client gave them, for ``MAX_TURNS`` upstream turns (then it is
asked once more without them). Each call is a ``ServerToolItem`` step the client's codec
renders in its own shapes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from gateway.base.entries import KeyEntry
from gateway.base.types import (
    ChatRequest,
    Message,
    ServerTool,
    ServerToolItem,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)
from gateway.core.tool_runner import Step, Toolset
from gateway.features.server_tools import backends, fetch

MAX_TURNS = 12  # upstream turns with the tools offered; then one more without
MAX_QUERY = 500  # characters of a search query

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "The search query"}},
    "required": ["query"],
}
FETCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"url": {"type": "string", "description": "The URL to fetch"}},
    "required": ["url"],
}


def offered(tool: ServerTool) -> Tool:
    """The function tool the model is given in place of a server tool."""
    if tool.kind == "web_search":
        text = "Search the web. Returns the results' titles, URLs and snippets."
        schema = SEARCH_SCHEMA
    else:
        text = (
            "Fetch a web page or text document by URL and return its text. Only URLs "
            "given in the conversation or found by a search may be fetched."
        )
        schema = FETCH_SCHEMA
    if tool.allowed_domains:
        text += " Only these domains: " + ", ".join(tool.allowed_domains) + "."
    if tool.blocked_domains:
        text += " Never these domains: " + ", ".join(tool.blocked_domains) + "."
    return Tool(name=tool.name, description=text, parameters=schema)


def _id() -> str:
    return "srvtoolu_" + secrets.token_hex(12)


def _conversation_text(messages: list[Message]) -> str:
    """Every text of the conversation (where a URL to fetch must have appeared)."""
    pieces: list[str] = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, Text):
                pieces.append(part.text)
            elif isinstance(part, ToolResult):
                pieces += [p.text for p in part.content if isinstance(p, Text)]
    return "\n".join(pieces)


class ServerTools(Toolset):
    """The request's server tools in the loop: searches go to ``backend`` (none: an
    error the model reads), fetches through ``fetch``; offered for ``MAX_TURNS`` turns."""

    cleared = "server_tools"

    def __init__(
        self,
        request: ChatRequest,
        backend: backends.Backend | None,
        *,
        on_search: Callable[[], None] | None = None,
        key: KeyEntry | None = None,
    ) -> None:
        self.backend, self.on_search = backend, on_search  # told of each search run
        self.key = key  # the caller's: a route backend is asked under it (``route_search``)
        self.tools = {tool.name: tool for tool in request.server_tools}
        self.used: dict[str, int] = {}  # calls per tool name
        self.searches = self.fetches = 0
        self.seen = _conversation_text(request.messages)  # where a URL to fetch appeared

    async def offer(self, step: Step) -> tuple[list[Tool], list[Message]]:
        return [offered(tool) for tool in self.tools.values()], []

    def owns(self, name: str) -> bool:
        return name in self.tools

    def withdrawn(self, turn: int) -> bool:
        return turn >= MAX_TURNS

    def count(self, usage: Usage) -> None:
        usage.web_search_requests += self.searches
        usage.web_fetch_requests += self.fetches

    async def run(self, call: ToolCall, step: Step) -> ToolResult:
        tool = self.tools[call.name]
        item = ServerToolItem(tool.kind, _id(), tool.name, input=dict(call.arguments))  # type: ignore[arg-type]
        started = time.perf_counter()
        used = self.used.get(tool.name, 0)
        if tool.max_uses is not None and used >= tool.max_uses:
            item.error = "max_uses_exceeded"
            item.detail = f"this tool may be used {tool.max_uses} times per request"
        elif call.raw_arguments is not None and not call.arguments:
            item.error, item.detail = "invalid_tool_input", "the arguments are not valid JSON"
        else:
            self.used[tool.name] = used + 1
            if tool.kind == "web_search":
                await self._search(item, tool)
            else:
                self.fetches += 1
                await fetch.run(item, tool, self.seen)
        took = round((time.perf_counter() - started) * 1000, 1)
        error = f"{item.error}: {item.detail}" if item.detail else item.error
        self.notes.append(
            {
                "server": "server tool",
                "tool": tool.name,
                "status": "error" if item.error else "ok",
                "duration_ms": took,
                "error": error or "",
            }
        )
        await step(item)
        result = item.for_model()
        self.seen += "\n" + result
        return ToolResult(item.id, [Text(result)], is_error=item.error is not None)

    async def _search(self, item: ServerToolItem, tool: ServerTool) -> None:
        query = item.input.get("query")
        if not isinstance(query, str) or not query.strip():
            item.error, item.detail = "invalid_tool_input", "query must be a non-empty string"
            return
        if len(query) > MAX_QUERY:
            item.error, item.detail = "query_too_long", f"longer than {MAX_QUERY} characters"
            return
        if self.backend is None:
            item.error, item.detail = "unavailable", "no search backend is configured"
            return
        self.searches += 1
        if self.on_search is not None:
            self.on_search()
        try:
            if self.backend.kind == backends.ROUTE:
                if self.key is None:
                    raise backends.SearchFailed("a search route is asked under a key")
                from gateway.features.server_tools import route_search

                results = await route_search.search(
                    self.backend.url, query.strip(), self.key, backends.MAX_RESULTS
                )
            else:
                results = await backends.search(self.backend, query.strip())
        except backends.SearchFailed as exc:
            item.error, item.detail = exc.code, str(exc)
            return
        item.results = [r for r in results if fetch.domain_allowed(r.url, tool)]
