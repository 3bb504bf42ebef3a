"""One request's server tool loop (see the package docstring).

The model is offered web search and web fetch as function tools under the names the
client gave them; each upstream turn is a non-streamed canonical call (``complete``:
routed, retried and counted like any call). When the model calls them the gateway runs
them, adds the call and its result to the conversation and asks again, until the model
answers, calls one of the client's own tools (the client's turn), or the turns run out
(then it is asked once more without the tools). Each call is a ``ServerToolItem`` step
the client's codec renders in its own shapes; a streamed client gets each step when it
happens, then the answer replayed as canonical events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway.core.cache import replay
from gateway.errors import GatewayError
from gateway.features.server_tools import backends, fetch
from gateway.types import (
    ChatRequest,
    ChatResponse,
    ErrorEvent,
    FinishReason,
    Hosted,
    HostedItem,
    McpItem,
    Message,
    ServerTool,
    ServerToolItem,
    Start,
    StreamEvent,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)

log = logging.getLogger(__name__)

Complete = Callable[[ChatRequest], Awaitable[ChatResponse]]
Emit = Callable[[Hosted], Awaitable[None]]

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


class Loop:
    """``run`` returns the final canonical response, its steps (``hosted``) in order
    and the usage summed over every upstream turn, searches and fetches counted."""

    def __init__(
        self,
        request: ChatRequest,
        complete: Complete,
        backend: backends.Backend | None,
        *,
        inline_text: bool = False,
        on_search: Callable[[], None] | None = None,
    ) -> None:
        self.request, self.complete, self.backend = request, complete, backend
        self.on_search = on_search  # told of each search run (its price is charged)
        self.inline_text = inline_text  # the client has no place for text between calls
        self.tools = {tool.name: tool for tool in request.server_tools}
        self.used: dict[str, int] = {}  # calls per tool name
        self.items: list[Hosted] = []
        self.said: list[str] = []
        self.usage = Usage()
        # for the journal row (``Record.mcp_calls``: the tool calls the gateway ran)
        self.notes: list[dict[str, Any]] = []

    @property
    def searches(self) -> int:
        return self.usage.web_search_requests

    async def run(self, emit: Emit | None = None) -> ChatResponse:
        async def step(item: Hosted) -> None:
            self.items.append(item)
            if emit is not None:
                await emit(item)

        tools = [*self.request.tools, *(offered(t) for t in self.tools.values())]
        messages = list(self.request.messages)
        seen = _conversation_text(messages)
        for turns in range(MAX_TURNS + 1):
            last = turns == MAX_TURNS
            turn = dataclasses.replace(
                self.request,
                messages=messages,
                tools=[t for t in tools if t.name not in self.tools] if last else tools,
                stream=False,
                server_tools=[],
            )
            if not turn.tools:
                turn.tool_choice = None
            response = await self.complete(turn)
            self._add_usage(response.usage)
            ours = [c for c in response.tool_calls() if c.name in self.tools]
            if not ours:
                return self._final(response, response.parts)
            theirs = [p for p in response.parts if not (isinstance(p, ToolCall) and p in ours)]
            said = "".join(p.text for p in theirs if isinstance(p, Text))
            if said.strip():
                if self.inline_text:
                    self.said.append(said)
                else:
                    await step(McpItem("message", "msg_" + secrets.token_hex(12), "", output=said))
            calls, results = [], []
            for call in ours:
                item = await self._run(call, self.tools[call.name], seen)
                await step(item)
                result = item.for_model()
                seen += "\n" + result
                calls.append(dataclasses.replace(call, id=item.id))
                results.append(ToolResult(item.id, [Text(result)], is_error=item.error is not None))
            if any(isinstance(p, ToolCall) for p in theirs):
                # the client's own tools were called too: its turn (it sends back the
                # whole history, the server tool blocks included)
                kept = [p for p in theirs if not isinstance(p, Text)]
                final = self._final(response, kept)
                final.finish_reason = "tool_calls"
                return final
            spoken = [p for p in theirs if not isinstance(p, ToolCall)]
            messages = [
                *messages,
                Message("assistant", [*spoken, *calls]),
                Message("user", list(results)),
            ]
        raise AssertionError("unreachable: the last turn offers no server tools")

    async def _run(self, call: ToolCall, tool: ServerTool, seen: str) -> ServerToolItem:
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
                self.usage.web_fetch_requests += 1
                await fetch.run(item, tool, seen)
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
        return item

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
        self.usage.web_search_requests += 1
        if self.on_search is not None:
            self.on_search()
        try:
            results = await backends.search(self.backend, query.strip())
        except backends.SearchFailed as exc:
            item.error, item.detail = exc.code, str(exc)
            return
        item.results = [r for r in results if fetch.domain_allowed(r.url, tool)]

    def _add_usage(self, usage: Usage) -> None:
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        ):
            setattr(self.usage, name, getattr(self.usage, name) + getattr(usage, name))

    def _final(self, response: ChatResponse, parts: list[Any]) -> ChatResponse:
        if self.said:  # the text between tool calls, before the answer (inline_text)
            earlier = "\n\n".join(text.strip() for text in self.said)
            first = next((p for p in parts if isinstance(p, Text)), None)
            parts = list(parts)
            if first is None:
                parts.insert(0, Text(earlier))
            else:
                parts[parts.index(first)] = Text(earlier + "\n\n" + first.text)
        reason: FinishReason = response.finish_reason
        return ChatResponse(
            id=response.id,
            model=response.model,
            parts=list(parts),
            finish_reason=reason,
            stop_sequence=response.stop_sequence,
            usage=self.usage,
            created=response.created,
            hosted=list(self.items),
        )


async def events(loop: Loop, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """The loop as canonical stream events: ``Start``, each step as a ``HostedItem``
    when it happens, then the answer's parts, usage and finish (or an ``ErrorEvent``).
    Closing the iterator (the client left) cancels the loop."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def emit(item: Hosted) -> None:
        queue.put_nowait(HostedItem(item))

    async def main() -> None:
        try:
            queue.put_nowait(await loop.run(emit))
        except GatewayError as error:
            queue.put_nowait(ErrorEvent(error))
        except Exception as exc:
            log.exception("the server tool loop failed")
            queue.put_nowait(ErrorEvent(GatewayError(f"internal error ({type(exc).__name__})")))

    task = asyncio.create_task(main())
    try:
        yield Start("", request.model, int(time.time()))
        while True:
            got = await queue.get()
            if isinstance(got, ChatResponse):
                for event in replay.events(got)[1:]:
                    yield event
                return
            yield got
            if isinstance(got, ErrorEvent):
                return
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
