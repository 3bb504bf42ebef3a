"""The hosted MCP tools of one request (see the package docstring): ``McpTools``, their
part of the gateway's tool loop (``gateway.core.tool_runner``), which holds the
servers' connections open while it runs; ``Loop``, the loop with these tools alone."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from gateway.access import registry
from gateway.access.authorization import decide
from gateway.base import http
from gateway.base.entries import KeyEntry
from gateway.base.errors import GatewayError, GuardrailBlocked, GuardrailUnavailable
from gateway.base.types import (
    ChatRequest,
    Hosted,
    McpItem,
    McpServer,
    Message,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    mcp_tool_name,
)
from gateway.core.tool_runner import Complete, Runner, Step, Toolset, events
from gateway.features.mcp import guarded, pricing
from gateway.features.mcp.hosted import approvals
from gateway.features.mcp.hosted.servers import Connections, ServerFailed
from gateway.limits import subjects

if TYPE_CHECKING:
    from gateway.features.mcp.hosted.servers import Connections

log = logging.getLogger(__name__)

__all__ = ["Loop", "McpTools", "applies", "attach", "events"]

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
    cost_usd: str = ""  # the server's price, charged when it answered (a priced server)

    def entry(self) -> dict[str, Any]:
        entry = dataclasses.asdict(self)
        if not self.cost_usd:
            del entry["cost_usd"]
        return entry


class McpTools(Toolset):
    """The attached servers' tools in the loop (``gateway.core.tool_runner``): listed,
    offered as ``server__tool`` functions, each call checked against the key's grant and
    the guardrails; withdrawn when the per-request call limit is reached."""

    cleared = "mcp_servers"
    connections: Connections  # while the loop runs (``opened``)

    def __init__(
        self,
        request: ChatRequest,
        *,
        max_calls: int,
        timeout: float,
        allow: str = "",
        observe: Callable[[dict[str, Any]], None] | None = None,
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
        self.observe = observe  # told of each tool call as it ends (tracing)
        self.request = request
        self.max_calls, self.timeout, self.allow = max_calls, timeout, allow
        self.offered: dict[str, tuple[McpServer, str]] = {}  # function name -> server, tool
        self.calls = 0

    def opened(self) -> Connections:
        # the mcp SDK (and the OpenTelemetry it imports) loads on a request's first MCP
        # tool, not with the service: requests without MCP never pay for it

        self.connections = Connections(self.timeout, self.allow)
        return self.connections

    async def offer(self, step: Step) -> tuple[list[Tool], list[Message]]:
        tools = []
        for server in self.request.mcp_servers:
            tools += await self._list(server, step)
        return tools, await self._approved(step)

    def owns(self, name: str) -> bool:
        return name in self.offered

    def withdrawn(self, turn: int) -> bool:
        return turn > 0 and self.calls >= self.max_calls  # no more calls: the model answers

    async def run(self, call: ToolCall, step: Step) -> ToolResult | None:
        server, tool = self.offered[call.name]
        arguments = call.raw_arguments or orjson.dumps(call.arguments).decode()
        if server.needs_approval(tool):
            asked = approvals.issue(self.key, server, tool, arguments)
            await step(McpItem("approval_request", asked, server.label, tool, arguments))
            self._note(Note(server.label, tool, "approval"))
            return None
        item = await self._call(server, tool, call, arguments)
        await step(item)
        return _result(item)

    def _note(self, note: Note) -> None:
        entry = note.entry()
        self.notes.append(entry)
        if self.observe is not None:
            try:
                self.observe(entry)
            except Exception:
                log.warning("observing a hosted MCP call failed", exc_info=True)

    async def _list(self, server: McpServer, step: Step) -> list[Tool]:
        """List one server's tools (an error item when it cannot); the allowed ones as
        function tools."""

        error = None
        try:
            listed = await self.connections.list_tools(server)
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

    async def _approved(self, step: Step) -> list[Message]:
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
                    item = await self._call(server, asked.name, call, asked.arguments)
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

    async def _call(self, server: McpServer, tool: str, call: ToolCall, arguments: str) -> McpItem:
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

        price, held = await self._hold(server, tool)
        answered = False
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
            result = await self.connections.call_tool(server, tool, sent)
            answered = True
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
        finally:  # the server answered: charged (the guardrails' verdict after, too)
            charged = price if answered else Decimal(0)
            if held is not None:
                await held.settle(0, charged)
            if charged and self.call is not None:
                self.call.charged_cost += charged
        took = (time.perf_counter() - started) * 1000
        if item.error and status == "ok":
            status = "error"
        note = Note(server.label, tool, status, took, item.error or "")
        if charged:
            note.cost_usd = str(charged)
        self._note(note)
        return item

    async def _hold(self, server: McpServer, tool: str) -> tuple[Decimal, Any]:
        """A registered server's price (``price_usd``) and its hold, admitted as a
        ``/mcp`` call's (``pricing.hold``: the key's, team's, owner's, run's and the
        request's tags' and end user's budgets); (0, None) for a server without a price. A refusal
        ends the loop, and the request, as a budget refusal of the request would."""
        if server.url is not None:  # the caller's own server: the gateway prices nothing
            return Decimal(0), None
        name = server.registered or server.label
        price = pricing.price_of(name)
        if price <= 0 or self.key is None:
            return price if price > 0 else Decimal(0), None
        record = self.call.record if self.call is not None else None
        tagged = (
            subjects.tag_limits(registry.current().tag_limits, record.tags)
            if record is not None and record.tags
            else ()
        )
        try:
            end_user = record.end_user if record is not None else ""
            return price, await pricing.hold(self.key, name, price, tagged, end_user)
        except GatewayError as refusal:
            self._note(Note(server.label, tool, "refused", error=refusal.message))
            raise


def _result(item: McpItem) -> ToolResult:
    text = item.error if item.error is not None else (item.output or "")
    return ToolResult(item.id, [Text(text)], is_error=item.error is not None)


class Loop(Runner):
    """The hosted MCP tools alone in the loop (the console's playground, tests): its
    keywords besides ``inline_text`` and ``watch`` are ``McpTools``'."""

    def __init__(
        self,
        request: ChatRequest,
        complete: Complete,
        *,
        inline_text: bool = False,
        watch: Callable[[Hosted], None] | None = None,
        **tools: Any,
    ) -> None:
        toolset = McpTools(request, **tools)
        super().__init__(request, complete, [toolset], inline_text=inline_text, watch=watch)
