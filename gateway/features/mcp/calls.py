"""One governed MCP tool call: permission, the key's rate limit, the arguments checked
against the tool's input schema, the pre_mcp_call guardrails on the arguments and on
the result (``guarded``), the call through the pool, and exactly one journal
row (dialect ``mcp``, endpoint ``tools/call``, route = the server, upstream model = the
tool; arguments and result as the bodies, subject to ``SWITCHYARD_LOG_BODIES``), which
also counts it in the metrics (journal subscribers), plus a trace span when tracing.

``call`` returns the tool's ``CallToolResult`` (``isError`` for what the tool or its
server reports: arguments that fail the schema, a server down, hanging or erroring; a
guardrail's refusal, naming it — a tool execution error, as the MCP spec has a tool's
failures the model may act on, rather than a JSON-RPC error) and raises ``McpGatewayError`` (JSON-RPC errors: unknown server or tool, no permission,
rate limited) — every path journaled once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import mcp_types as types
from asgiref.sync import async_to_sync
from mcp.shared.dispatcher import ProgressFnT

from gateway import journal
from gateway.access import registry
from gateway.base.entries import MASTER, KeyEntry, TagEntry
from gateway.base.errors import GatewayError, GuardrailBlocked, GuardrailUnavailable
from gateway.features.mcp import guarded, permissions, pool, pricing, tasks
from gateway.features.mcp.errors import (
    AuthorizationRequired,
    McpGatewayError,
    NotAllowed,
    ServerUnavailable,
    ToolTimeout,
    UnknownServer,
    UnknownTool,
    UpstreamError,
    safe_message,
)
from gateway.features.mcp.oauth import caller as oauth_caller
from gateway.limits import subjects
from gateway.telemetry import audit, semconv, tags, tracing

if TYPE_CHECKING:
    from gateway.models import McpServer

# calls a tool with the (checked) arguments some other way than the pool's shared session;
# one that lets the server ask for input may answer ``InputRequiredResult`` (``rounds``),
# one for a client that declared the tasks extension a task's handle (``tasks``)
Answer = types.CallToolResult | types.InputRequiredResult | tasks.TaskHandle
Upstream = Callable[[Any], Awaitable[Answer]]

RATE_LIMITED = -32029  # implementation-defined server error range (-32000..-32099)

_STATUS = {
    UnknownServer: 404,
    UnknownTool: 404,
    NotAllowed: 403,
    ServerUnavailable: 502,
    ToolTimeout: 504,
    UpstreamError: 502,
    AuthorizationRequired: 401,
}


class RateLimitedCall(McpGatewayError):
    code = RATE_LIMITED
    kind = "rate_limit_error"


async def find_tool(server: str, tool: str) -> types.Tool:
    for candidate in await pool.list_tools(server):
        if candidate.name == tool:
            return candidate
    raise UnknownTool(f"unknown tool {tool!r} on MCP server {server}")


def schema_problem(tool: types.Tool, arguments: Any) -> str | None:
    """Why ``arguments`` do not fit the tool's input schema, or None."""
    if not isinstance(arguments, dict):
        return "arguments must be an object"
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else None
    if not schema:
        return None
    import jsonschema

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(arguments))
    except jsonschema.exceptions.SchemaError:
        return None  # the server's schema is broken: let the server judge
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"invalid arguments for {tool.name}: {error.message}" + (
        f" (at {where})" if where else ""
    )


class CallOptions(TypedDict, total=False):
    """``call_in_rounds``'s keywords, as ``call`` hands them on (see there)."""

    user_agent: str
    from_playground: bool
    endpoint: str
    progress: ProgressFnT | None
    via: Upstream | None
    journal_as: KeyEntry | None
    operation: tracing.Operation | None
    tags_header: str
    end_user: str


async def call(
    key: KeyEntry, server: str, tool: str, arguments: Any, **options: Unpack[CallOptions]
) -> types.CallToolResult:
    """``call_in_rounds`` for a caller that cannot answer a server's request for input:
    such an answer is a tool error."""
    result = await call_in_rounds(key, server, tool, arguments, **options)
    if isinstance(result, types.InputRequiredResult | tasks.TaskHandle):
        return tasks.error_result(
            f"MCP server {server}: {tool} asked for input this caller cannot give"
        )
    return result


def admin_call(
    server: McpServer,
    tool: str,
    arguments: Any,
    *,
    owner: int | None,
    holder: int | None,
    detail: str,
    **options: Unpack[CallOptions],
) -> types.CallToolResult:
    """A tool called by someone who may manage every server (the console's tools page,
    ``/api``), with the master key's reach: an OAuth server gets ``owner``'s token when
    ``holder`` is the owner (``oauth_caller.act_for_holder``), a gateway error comes
    back as a tool error, and the call is an audit row (``detail``: how, and as whom)."""

    async def run() -> types.CallToolResult:
        await registry.ensure_loaded()
        oauth_caller.act_for_holder(owner, holder)
        try:
            return await call(MASTER, server.name, tool, arguments, **options)
        except McpGatewayError as exc:
            return tasks.error_result(exc.message)

    result = async_to_sync(run)()
    audit.record(
        "tool_call",
        object_type="mcp_server",
        object_id=server.pk,
        object_name=server.name,
        changes={"tool": tool, "is_error": bool(result.is_error)},
        detail=detail,
    )
    return result


async def call_in_rounds(
    key: KeyEntry,
    server: str,
    tool: str,
    arguments: Any,
    *,
    user_agent: str = "",
    from_playground: bool = False,
    endpoint: str = "tools/call",
    progress: ProgressFnT | None = None,
    via: Upstream | None = None,
    journal_as: KeyEntry | None = None,
    operation: tracing.Operation | None = None,
    tags_header: str = "",
    end_user: str = "",
) -> Answer:
    """One governed call; a ``via`` that lets the server ask for input may answer
    ``InputRequiredResult`` (journaled with finish reason ``input_required``; the
    result guardrails run on the round that ends the call), one for a client of the
    tasks extension a ``TaskHandle`` (finish reason ``task``; the guardrails run on the
    result ``tasks/get`` brings).

    ``progress`` hears the server's progress notifications of the call; ``via``
    calls the tool instead of the pool's shared session (``relay``: a session bound to
    the caller's client session), after every check here, as the pool would.
    ``journal_as``: the key the journal row names when ``key`` (the master key, for a
    person with its reach) is not who acts: ``/api``'s caller. ``operation``: the
    call's span as ``/mcp`` started it (the MCP request's context); else one is started
    here (``tracing.start_operation``, nothing when OpenTelemetry is off).
    ``tags_header`` and ``end_user``: the caller's ``x-switchyard-tags`` and end user
    (``/mcp``'s request): the call carries them with its key's own tags, and their
    budgets (the end user's under ``max_budget_per_user``) hold the server's price."""
    started = time.monotonic()
    rec = _record(
        key, journal_as or key, server, tool, arguments, endpoint, user_agent, from_playground
    )
    span = operation or tracing.start_operation("mcp", "tools/call", target=f"{server}__{tool}")
    upstream_started: float | None = None
    result: Answer
    reservation: Any = None
    if not key.is_master:  # an OAuth server: the owner's token if they minted the key (the
        oauth_caller.act_for(key)  # master key: whoever the caller said acts, the console's)
    try:
        price, reservation = await _admit(rec, key, server, tool, tags_header, end_user)
        found = await find_tool(server, tool)
        problem = schema_problem(found, arguments)
        if problem is not None:
            rec.status, rec.error_kind, rec.error_message = 400, "invalid_arguments", problem
            result = tasks.error_result(problem)
        else:
            checks = guarded.begin(key, server, tool, record=rec)
            if checks:
                arguments = await _checked_arguments(checks, rec, server, tool, arguments)
            upstream_started = time.monotonic()
            answer: Answer = await (
                via(arguments)
                if via is not None
                else pool.call_tool(server, tool, arguments, progress=progress)
            )
            rec.status = 200
            rec.cost_usd = price  # the server answered: the call is charged
            result = await _answered(checks, rec, answer)
    except (GuardrailBlocked, GuardrailUnavailable) as refusal:
        result = _refused(rec, refusal)
    except McpGatewayError as exc:
        rec.status = _STATUS.get(type(exc), 429 if isinstance(exc, RateLimitedCall) else 500)
        rec.error_kind, rec.error_message = exc.kind, exc.message
        if isinstance(exc, ServerUnavailable | ToolTimeout | UpstreamError):
            result = tasks.error_result(exc.message)  # a tool execution error the model can read
        else:
            await _settle(reservation, rec)
            _finish(rec, started, upstream_started, span, None, exc.code)
            raise
    except Exception as exc:  # never a crash of the worker, never a secret
        result = _crashed(rec, server, exc)
    await _settle(reservation, rec)
    _finish(rec, started, upstream_started, span, result)
    return result


def _record(
    key: KeyEntry,
    named: KeyEntry,
    server: str,
    tool: str,
    arguments: Any,
    endpoint: str,
    user_agent: str,
    from_playground: bool,
) -> journal.Record:
    """The call's journal row as it starts (``named``: the key it names)."""
    return journal.Record.of_call(
        "mcp",
        named,
        endpoint=endpoint,
        route=server,
        upstream_model=tool,
        user_agent=user_agent[:300],
        from_playground=from_playground,
        inbound_request={"server": server, "tool": tool, "arguments": arguments},
        agent_run=key.run.id if key.run is not None else "",
        session=key.run.context if key.run is not None else "",
    )


def _tag_limits(rec: journal.Record, key: KeyEntry, tags_header: str) -> tuple[TagEntry, ...]:
    """The key's own tags and the caller's ``x-switchyard-tags`` (``tags_header``) on
    the row (NotAllowed when they are out of bounds, or not the key's own when
    enforced), and the limits of those tags."""
    try:
        tags.attribute(rec, {}, {tags.TAGS_HEADER: tags_header} if tags_header else {}, key)
    except GatewayError as exc:
        raise NotAllowed(exc.message) from None
    return subjects.tag_limits(registry.current().tag_limits, rec.tags)


async def _checked_arguments(
    checks: guarded.Checks, rec: journal.Record, server: str, tool: str, arguments: Any
) -> Any:
    """The arguments as the guardrails let them through; the journal keeps what the
    tool got only."""
    checked = await guarded.arguments(checks, arguments)
    if checked is not arguments:
        rec.inbound_request = {"server": server, "tool": tool, "arguments": checked}
    return checked


async def _answered(checks: guarded.Checks, rec: journal.Record, answer: Answer) -> Answer:
    """The server's answer with the result guardrails run (a round asking for input, a
    task's handle: not yet); a tool's error noted on the row."""
    if isinstance(answer, types.InputRequiredResult | tasks.TaskHandle):
        return answer
    result = await guarded.result(checks, answer)
    if result.is_error:
        rec.error_kind = "tool_error"
        rec.error_message = safe_message(_text_of(result))
    return result


def _refused(
    rec: journal.Record, refusal: GuardrailBlocked | GuardrailUnavailable
) -> types.CallToolResult:
    """A guardrail's refusal, on the row and as the tool error the model reads."""
    rec.status, rec.error_kind = refusal.status, refusal.code or refusal.kind
    rec.error_message = refusal.message
    return tasks.error_result(refusal.message)


def _crashed(rec: journal.Record, server: str, exc: Exception) -> types.CallToolResult:
    """An unexpected failure, on the row (no secret) and as a tool error naming none."""
    rec.status, rec.error_kind = 500, "internal_error"
    rec.error_message = safe_message(f"{type(exc).__name__}: {exc}")
    return tasks.error_result(f"MCP server {server}: internal error")


async def _admit(
    rec: journal.Record, key: KeyEntry, server: str, tool: str, tags_header: str, end_user: str
) -> tuple[Decimal, Any]:
    """The server's price and the call's reservation: the key's grant of the tool, its
    rpm (and a revoked or expired key), as for a model call, and with a price its
    budgets, its tags' and its end user's holding it until the call settles
    (``pricing.hold``); a refusal as the JSON-RPC error of ``/mcp``. The row names the
    end user and the tags."""
    rec.end_user = end_user
    if not permissions.allows_tool(key, server, tool):
        raise NotAllowed(f"this API key may not call {server}__{tool}")
    price = pricing.price_of(server)
    tagged = _tag_limits(rec, key, tags_header)
    try:
        return price, await pricing.hold(key, server, price, tagged, end_user)
    except GatewayError as exc:
        if exc.status == 429:
            raise RateLimitedCall(exc.message if hasattr(exc, "message") else str(exc)) from None
        raise NotAllowed(str(exc)) from None


async def _settle(reservation: Any, rec: journal.Record) -> None:
    """The hold given back, the price charged when the server answered (``cost_usd``);
    a call refused, invalid, blocked or unanswered costs nothing."""
    if reservation is not None:
        await reservation.settle(0, rec.cost_usd or Decimal(0))


def _text_of(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))[:500]


def _finish(
    rec: journal.Record,
    started: float,
    upstream_started: float | None,
    span: tracing.Operation,
    result: Answer | None,
    code: int | None = None,
) -> None:
    rec.time_until_now(started, upstream_started)
    if isinstance(result, types.InputRequiredResult):
        rec.finish_reason = "input_required"
    elif isinstance(result, tasks.TaskHandle):
        rec.finish_reason = "task"
    else:
        rec.finish_reason = "error" if (result is None or result.is_error) else "stop"
    if result is not None:
        rec.outbound_response = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    journal.record(rec)
    if span is not tracing.NO_OPERATION:
        _end_span(span, rec, result, code)


def _end_span(
    span: tracing.Operation,
    rec: journal.Record,
    result: Answer | None,
    code: int | None,
) -> None:
    """The MCP conventions' outcome: a JSON-RPC error's code as ``error.type`` and
    ``rpc.response.status_code``; ``tool_error`` for a result with ``isError`` (the
    tool's failure, a server down, a guardrail's refusal)."""
    span.set({"switchyard.mcp.server": rec.route, "switchyard.status": rec.status})
    if code is not None:
        span.set({semconv.RPC_STATUS: str(code)})
        span.end(str(code), safe_message(rec.error_message))
    elif isinstance(result, types.CallToolResult) and result.is_error:
        span.end(semconv.TOOL_ERROR, safe_message(rec.error_message))
    else:
        span.end()
