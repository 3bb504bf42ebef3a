"""The hosted-tool loop of one request (see the package docstring).

Upstream turns are non-streamed canonical calls (``complete``, given by the service:
routed, retried and counted like any call); a streamed client gets each step as a
``HostedItem`` event when it happens, then the answer replayed as canonical events, so
its codec's own stream renderer writes every event. The loop runs in a task of its
own (the SDK's sessions must open and close in one task) and reports through a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from gateway.access.authorization import decide
from gateway.base import http
from gateway.base.entries import KeyEntry
from gateway.core.cache import replay
from gateway.errors import GatewayError, GuardrailBlocked, GuardrailUnavailable
from gateway.features.mcp import guarded
from gateway.features.mcp.hosted import approvals
from gateway.types import (
    ChatRequest,
    ChatResponse,
    ErrorEvent,
    FinishReason,
    HostedItem,
    McpItem,
    McpServer,
    Message,
    Start,
    StreamEvent,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
    mcp_tool_name,
)

if TYPE_CHECKING:
    from gateway.features.mcp.hosted.servers import Connections

log = logging.getLogger(__name__)

Complete = Callable[[ChatRequest], Awaitable[ChatResponse]]
Emit = Callable[[McpItem], Awaitable[None]]

DECLINED = "The user declined this tool call."
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def applies(request: ChatRequest | None, passthrough: bool) -> bool:
    """Whether the gateway runs the request's MCP tools (it has some, and its route
    does not hand them to an upstream that runs them itself)."""
    return request is not None and bool(request.mcp_servers) and not passthrough


def attach(request: ChatRequest | None, registered: tuple[str, ...]) -> None:
    """Add the route's registered servers (its ``mcp_servers`` setting: how Chat
    Completions and Gemini clients, whose APIs have no MCP tool, get MCP tools) to the
    request's own, their tools run without approval."""
    if request is None or not registered:
        return
    have = {server.label for server in request.mcp_servers}
    request.mcp_servers += [
        McpServer(label=name, registered=name, approval="never")
        for name in registered
        if name not in have
    ]


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _tool_entry(tool: Any) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.input_schema or EMPTY_SCHEMA,
        "annotations": tool.annotations.model_dump(mode="json", exclude_none=True)
        if getattr(tool, "annotations", None) is not None
        else None,
    }


def _result_text(result: Any) -> str:
    """A ``CallToolResult``'s content as text for the model and the client."""
    pieces = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        if isinstance(text, str):
            pieces.append(text)
        else:
            pieces.append(orjson.dumps(block.model_dump(mode="json", exclude_none=True)).decode())
    structured = getattr(result, "structured_content", None)
    if not pieces and structured is not None:
        pieces.append(orjson.dumps(structured).decode())
    return "\n".join(pieces)


@dataclasses.dataclass(slots=True)
class Note:
    """One tool call, for the journal row."""

    server: str
    tool: str
    status: str  # ok | error | approval | declined | refused | blocked (by a guardrail)
    duration_ms: float = 0.0
    error: str = ""


class Loop:
    """One request's loop: ``run`` returns the final canonical response, its ``hosted``
    steps in order and its usage summed over every upstream turn."""

    def __init__(
        self,
        request: ChatRequest,
        complete: Complete,
        *,
        max_calls: int,
        timeout: float,
        allow: str = "",
        observe: Callable[[dict[str, Any]], None] | None = None,
        inline_text: bool = False,
        watch: Callable[[McpItem], None] | None = None,
        key: KeyEntry | None = None,
        vouched: tuple[str, ...] = (),
        call: Any = None,
        route: Any = None,
    ) -> None:
        # the chat request (``gateway.core.call.Call``) and its route: the pre_mcp_call
        # guardrails that apply to it check each tool call, noted on its journal row
        self.call, self.route = call, route
        # the caller's key: its approvals are its own, and its MCP grant decides every
        # call to a registered server, except those a console caller attached itself
        # (``vouched``: its role was checked, ``mcp.server.attach``)
        self.key, self.vouched = key, vouched
        # told of each step as it happens (the console playground); with inline_text,
        # also of the text said before calls (a ``message`` item that is no step)
        self.watch = watch
        # the client's API has no place for text between tool calls (Chat Completions,
        # Gemini): it joins the final message, in order, instead of a ``message`` step
        self.inline_text = inline_text
        self.said: list[str] = []
        self.observe = observe  # told of each tool call as it ends (tracing)
        self.request, self.complete = request, complete
        self.max_calls, self.timeout, self.allow = max_calls, timeout, allow
        self.items: list[McpItem] = []
        self.notes: list[dict[str, Any]] = []  # the journal row's mcp_calls
        self.offered: dict[str, tuple[McpServer, str]] = {}  # function name -> server, tool
        self.calls = 0
        self.usage = Usage()

    async def run(self, emit: Emit | None = None) -> ChatResponse:
        async def step(item: McpItem) -> None:
            self.items.append(item)
            self._tell(item)
            if emit is not None:
                await emit(item)

        # the mcp SDK (and the OpenTelemetry it imports) loads on a request's first MCP
        # tool, not with the service: requests without MCP never pay for it
        from gateway.features.mcp.hosted.servers import Connections

        async with Connections(self.timeout, self.allow) as connections:
            tools = list(self.request.tools)
            for server in self.request.mcp_servers:
                tools += await self._list(connections, server, step)
            messages = list(self.request.messages)
            messages += await self._approved(connections, step)
            while True:
                turn = dataclasses.replace(
                    self.request, messages=messages, tools=tools, stream=False, mcp_servers=[]
                )
                if not tools:
                    turn.tool_choice = None
                response = await self.complete(turn)
                self._add_usage(response.usage)
                ours = [c for c in response.tool_calls() if c.name in self.offered]
                if not ours:
                    return self._final(response, response.parts)
                theirs = [p for p in response.parts if not (isinstance(p, ToolCall) and p in ours)]
                said = "".join(p.text for p in theirs if isinstance(p, Text))
                if said.strip():  # what the model said before its calls, in its place
                    if self.inline_text:
                        self.said.append(said)
                        # not a step of the answer (the text goes into it), but the
                        # watcher learns where the calls fall between its paragraphs
                        self._tell(McpItem("message", _id("msg"), "", output=said))
                    else:
                        await step(McpItem("message", _id("msg"), "", output=said))
                calls, results, waiting = [], [], False
                for call in ours:
                    server, tool = self.offered[call.name]
                    arguments = call.raw_arguments or orjson.dumps(call.arguments).decode()
                    if server.needs_approval(tool):
                        waiting = True
                        asked = approvals.issue(self.key, server, tool, arguments)
                        await step(
                            McpItem("approval_request", asked, server.label, tool, arguments)
                        )
                        self._note(Note(server.label, tool, "approval"))
                        continue
                    item = await self._call(connections, server, tool, call, arguments)
                    await step(item)
                    calls.append(dataclasses.replace(call, id=item.id))
                    results.append(_result(item))
                if waiting or any(isinstance(p, ToolCall) for p in theirs):
                    # the client's turn: approve, or run its own function calls
                    reason: FinishReason = (
                        "tool_calls" if any(isinstance(p, ToolCall) for p in theirs) else "stop"
                    )
                    kept = [
                        p
                        for p in theirs
                        if isinstance(p, ToolCall) or not (waiting or isinstance(p, Text))
                    ]
                    final = self._final(response, kept)
                    final.finish_reason = reason
                    return final
                spoken = [p for p in theirs if not isinstance(p, ToolCall)]
                messages = [
                    *messages,
                    Message("assistant", [*spoken, *calls]),
                    Message("user", list(results)),
                ]
                if self.calls >= self.max_calls:  # no more calls: the model must answer
                    tools = [t for t in tools if t.name not in self.offered]

    def _tell(self, item: McpItem) -> None:
        if self.watch is not None:
            try:
                self.watch(item)
            except Exception:
                log.warning("watching a hosted MCP step failed", exc_info=True)

    def _note(self, note: Note) -> None:
        entry = dataclasses.asdict(note)
        self.notes.append(entry)
        if self.observe is not None:
            try:
                self.observe(entry)
            except Exception:
                log.warning("observing a hosted MCP call failed", exc_info=True)

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
            first_text = next((p for p in parts if isinstance(p, Text)), None)
            parts = list(parts)
            if first_text is None:
                parts.insert(0, Text(earlier))
            else:
                parts[parts.index(first_text)] = Text(earlier + "\n\n" + first_text.text)
        return ChatResponse(
            id=response.id,
            model=response.model,
            parts=list(parts),
            finish_reason=response.finish_reason,
            stop_sequence=response.stop_sequence,
            usage=self.usage,
            created=response.created,
            hosted=list(self.items),
        )

    async def _list(self, connections: Connections, server: McpServer, step: Emit) -> list[Tool]:
        """List one server's tools (an error item when it cannot); the allowed ones as
        function tools."""
        from gateway.features.mcp.hosted.servers import ServerFailed

        error = None
        try:
            listed = await connections.list_tools(server)
        except ServerFailed as exc:
            listed, error = [], str(exc)
            self._note(Note(server.label, "tools/list", "error", error=error))
        allowed = [tool for tool in listed if server.allows(tool.name)]
        entries = [_tool_entry(tool) for tool in allowed]
        await step(McpItem("list_tools", _id("mcpl"), server.label, tools=entries, error=error))
        offered = []
        for tool in allowed:
            name = mcp_tool_name(server.label, tool.name)
            self.offered[name] = (server, tool.name)
            schema = tool.input_schema or EMPTY_SCHEMA
            offered.append(Tool(name=name, description=tool.description, parameters=schema))
        return offered

    async def _approved(self, connections: Connections, step: Emit) -> list[Message]:
        """Run the calls the client approved (``mcp_approval_response``); a declined
        one tells the model so. Returns the turns to add to the conversation."""
        pending = {item.id: item for item in self.request.mcp_pending}
        out: list[Message] = []
        servers = {server.label: server for server in self.request.mcp_servers}
        for approval in self.request.mcp_approvals:
            asked = pending.pop(approval.request_id, None)
            if asked is None:
                continue
            server = servers.get(asked.server)
            try:
                arguments = orjson.loads(asked.arguments or "{}")
            except orjson.JSONDecodeError:
                arguments = {}
            call = ToolCall(
                id=_id("mcp"), name=mcp_tool_name(asked.server, asked.name), arguments=arguments
            )
            if not approval.approve:
                self._note(Note(asked.server, asked.name, "declined"))
                result = ToolResult(call.id, [Text(DECLINED)], is_error=True)
            else:
                refusal = await self._refusal(server, asked)
                if refusal is not None:
                    item = McpItem(
                        "call", call.id, asked.server, asked.name, asked.arguments, error=refusal
                    )
                    self._note(Note(asked.server, asked.name, "refused", error=refusal))
                else:
                    assert server is not None
                    item = await self._call(connections, server, asked.name, call, asked.arguments)
                item.approval_request_id = approval.request_id
                call.id = item.id
                await step(item)
                result = _result(item)
            out += [Message("assistant", [call]), Message("user", [result])]
        return out

    async def _refusal(self, server: McpServer | None, asked: McpItem) -> str | None:
        """Why an approved call must not run (None: it may, and its approval is now
        spent): a server not attached, a request the gateway did not issue to this key
        for this call, an expired or reused one, or a tool the key may not call."""
        if server is None:
            return f"MCP server {asked.server!r} is not attached to this request"
        granted = approvals.verify(self.key, server, asked)
        if isinstance(granted, str):
            return f"approval refused: {granted}"
        denied = self._denied(server, asked.name or "")
        if denied is not None:
            return f"approval refused: {denied}"
        if not await approvals.claim(granted):
            return "approval refused: this approval was already used"
        return None

    def _denied(self, server: McpServer, tool: str) -> str | None:
        """Why the key may not call ``tool`` of ``server`` now (None: it may): the
        request's own narrowing, then the key's grant for a registered server."""
        if not server.allows(tool):
            return f"the tool {tool!r} of MCP server {server.label!r} is not offered"
        if server.url is None and self.key is not None and server.label not in self.vouched:
            decision = decide(self.key, "mcp.tool.call", (server.registered or server.label, tool))
            if not decision.allowed:
                return decision.reason
        return None

    async def _call(
        self,
        connections: Connections,
        server: McpServer,
        tool: str,
        call: ToolCall,
        arguments: str,
    ) -> McpItem:
        item = McpItem("call", _id("mcp"), server.label, tool, arguments)
        if self.calls >= self.max_calls:
            item.error = f"the limit of {self.max_calls} MCP tool calls per request was reached"
            self._note(Note(server.label, tool, "error", error=item.error))
            return item
        denied = self._denied(server, tool)
        if denied is not None:
            item.error = denied
            self._note(Note(server.label, tool, "refused", error=denied))
            return item
        self.calls += 1
        if call.raw_arguments is not None and not call.arguments:
            item.error = "the tool call's arguments are not valid JSON"
            self._note(Note(server.label, tool, "error", error=item.error))
            return item
        from gateway.features.mcp.hosted.servers import ServerFailed

        started = time.perf_counter()
        status = "ok"
        try:
            checks = guarded.begin(
                self.key,
                server.registered or server.label,
                tool,
                route=self.route,
                call=self.call,
            )
            sent = call.arguments
            if checks:
                sent = await guarded.arguments(checks, sent)
                if sent is not call.arguments:  # the client sees what the tool got
                    item.arguments = orjson.dumps(sent).decode()
            result = await connections.call_tool(server, tool, sent)
            result = await guarded.result(checks, result)
        except ServerFailed as exc:
            item.error = str(exc)
        except (GuardrailBlocked, GuardrailUnavailable) as refusal:
            item.error = refusal.message  # names the guardrail; the model reads it
            status = "blocked" if isinstance(refusal, GuardrailBlocked) else "error"
        else:
            text = _result_text(result)
            limit = http.max_answer_bytes()
            if len(text) > limit:  # a registered server's (the pool reads them whole)
                item.error = (
                    f"the tool's result is longer than {limit} bytes (SWITCHYARD_MAX_ANSWER_BYTES)"
                )
            elif getattr(result, "is_error", False):
                item.error = text or "the tool reported an error"
            else:
                item.output = text
        took = (time.perf_counter() - started) * 1000
        if item.error and status == "ok":
            status = "error"
        self._note(Note(server.label, tool, status, took, item.error or ""))
        return item


def _result(item: McpItem) -> ToolResult:
    text = item.error if item.error is not None else (item.output or "")
    return ToolResult(item.id, [Text(text)], is_error=item.error is not None)


async def events(loop: Loop, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """The loop as canonical stream events: ``Start``, each step as a ``HostedItem``
    when it happens, then the answer's parts, usage and finish (or an ``ErrorEvent``).
    Closing the iterator (the client left) cancels the loop."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def emit(item: McpItem) -> None:
        queue.put_nowait(HostedItem(item))

    async def main() -> None:
        try:
            queue.put_nowait(await loop.run(emit))
        except GatewayError as error:
            queue.put_nowait(ErrorEvent(error))
        except Exception as exc:
            log.exception("the hosted MCP loop failed")
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
