"""``/mcp`` and ``/mcp/<server>``: the gateway as an MCP server (streamable HTTP, with
sessions, every protocol revision the SDK serves), built on the official SDK's low-level
``Server`` and ``StreamableHTTPSessionManager``.

``/mcp`` aggregates every registered, enabled server the key may see: tools and prompts
named ``server__name`` (``permissions``), resources under their own URIs (a read goes to
the server that listed the URI). Tools are the ones the key's grant names; resources and
prompts need a grant of the whole server (``mcp.resource.read``, ``mcp.prompt.get``). ``/mcp/<server>`` serves one server with its own names.

Auth: ``Authorization: Bearer <virtual key>`` (or ``x-api-key``), or an OAuth access
token a person signed in for (``oauth_server``: it acts as their managed key with their
keys' grants), checked here before the SDK sees the request: 401 without a valid one
(its ``WWW-Authenticate`` names the resource metadata, RFC 9728), 404 for a server the
caller may not see (as for one that does not exist). Tool calls go through ``calls.call``.

Sessions are served by any worker of any instance (no sticky routing): the session id
is self-contained and checked here (``sessions``: 404 for an unknown, changed, expired,
ended or other key's session), ``DELETE`` ends it everywhere, ``GET`` is its
notification stream on whichever worker it reaches (``streams``), and each POST is
served by the SDK in its stateless mode, told the session's protocol version. So one
SDK session manager per process (per event loop) holds no session: its task group is
owned by a task started on first use and stopped by ``aclose`` at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, TypeVar

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError, UrlElicitationRequiredError
from mcp_types import HEADER_MISMATCH, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gateway import journal
from gateway.access import delegation, registry
from gateway.base import lifecycle
from gateway.base.entries import KeyEntry
from gateway.base.errors import GuardrailBlocked, GuardrailUnavailable, ShuttingDown
from gateway.features.mcp import (
    backchannel,
    calls,
    changes,
    guarded,
    listen,
    permissions,
    pool,
    relay,
    rounds,
    sessions,
    streams,
    tasks,
)
from gateway.features.mcp.errors import AuthorizationRequired, McpGatewayError
from gateway.features.mcp.oauth import caller as oauth_caller
from gateway.features.mcp.oauth_server import resources as oauth_resources
from gateway.features.mcp.oauth_server import tokens as oauth_tokens
from gateway.telemetry import attribution, semconv, tracing
from gateway.telemetry.attribution import USER_HEADER
from gateway.telemetry.tags import TAGS_HEADER

log = logging.getLogger(__name__)

PREFIX = "/mcp"
SHUTTING_DOWN = "this gateway instance is shutting down; retry"
DRAIN_POLL_SECONDS = 0.25  # how often a notification stream looks for a drain
SCOPE_KEY = "switchyard.mcp"
SESSION_SCOPE_KEY = "switchyard.mcp.session"  # the request's sessions.Session, if any
TAGS_SCOPE_KEY = "switchyard.mcp.tags"  # the request's x-switchyard-tags ("" without)
USER_SCOPE_KEY = "switchyard.mcp.end_user"  # its x-switchyard-user, cleaned ("" without)
SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
MAX_BODY_BYTES = DEFAULT_MAX_REQUEST_BODY_SIZE  # as the SDK caps what it reads

_resource_owner: dict[str, str] = {}  # uri -> server that listed it last
_template_owner: dict[str, str] = {}  # uri template -> server that listed it last


def matches(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _caller(ctx: ServerRequestContext[Any]) -> tuple[KeyEntry, str | None, str]:
    """The request's key, ``/mcp/<server>``'s server and the caller's user agent: on a
    2026-07-28 request (sessionless) the client named itself in ``params._meta``
    (``clientInfo``), so the journal row says which MCP client called, as the
    handshake's ``clientInfo`` would have."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    found: tuple[KeyEntry, str | None, str] | None = (
        scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    )
    if found is None:
        raise MCPError(INVALID_PARAMS, "no authenticated caller")
    oauth_caller.act_for(found[0])  # an OAuth server: the owner's token if they minted the key
    key, only, user_agent = found
    named = client_named(ctx)
    if named:
        user_agent = f"{named} {user_agent}".strip()[:300]
    return key, only, user_agent


def client_named(ctx: ServerRequestContext[Any]) -> str:
    """``name/version`` of the client a 2026-07-28 request's ``_meta`` names, else ''."""
    if getattr(ctx, "protocol_version", None) not in MODERN_PROTOCOL_VERSIONS:
        return ""
    params = getattr(getattr(ctx, "session", None), "client_params", None)
    info = getattr(params, "client_info", None)
    if info is None:
        return ""
    return f"{info.name}/{info.version}" if info.version else str(info.name)


def _session(ctx: ServerRequestContext[Any]) -> sessions.Session | None:
    scope = getattr(ctx.request, "scope", None)
    found: sessions.Session | None = (
        scope.get(SESSION_SCOPE_KEY) if isinstance(scope, dict) else None
    )
    return found


def _mcp_error(ctx: ServerRequestContext[Any] | None, exc: McpGatewayError) -> MCPError:
    """The JSON-RPC error of ``exc``; a missing OAuth authorization is a URL elicitation
    naming the console page where the person connects."""
    if isinstance(exc, AuthorizationRequired):
        request = ctx.request if ctx is not None else None
        base = str(getattr(request, "base_url", "") or "").rstrip("/")
        params = types.ElicitRequestURLParams(
            message=exc.message,
            url=base + AuthorizationRequired.CONNECT_PATH,
            elicitation_id=f"connect-{exc.server}",
        )
        return UrlElicitationRequiredError([params], exc.message)
    return MCPError(exc.code, exc.message)


@contextlib.contextmanager
def _mcp_errors(ctx: ServerRequestContext[Any] | None) -> Iterator[None]:
    """A gateway error of the block raised as its JSON-RPC error (``_mcp_error``)."""
    try:
        yield
    except McpGatewayError as exc:
        raise _mcp_error(ctx, exc) from None


Grant = Callable[[KeyEntry, str], bool]


def _servers(
    key: KeyEntry, only: str | None, grant: Grant = permissions.allows_server
) -> list[str]:
    """The enabled servers (all, or ``only``) the key's ``grant`` opens: seeing a server
    for its tools, the whole server for its resources and prompts."""
    names = [only] if only is not None else sorted(registry.current().mcp_servers)
    servers = registry.current().mcp_servers
    return [n for n in names if n in servers and servers[n].enabled and grant(key, n)]


async def _gather(
    key: KeyEntry,
    only: str | None,
    fetch: Any,
    grant: Grant = permissions.allows_server,
    ctx: ServerRequestContext[Any] | None = None,
) -> list[tuple[str, Any]]:
    """``fetch(server)`` on every server the key's ``grant`` opens; one that fails is left
    out (and logged), so a dead server never hides the others."""
    names = _servers(key, only, grant)
    results = await asyncio.gather(*(fetch(n) for n in names), return_exceptions=True)
    out = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            if only is not None and isinstance(result, McpGatewayError):
                raise _mcp_error(ctx, result)
            log.warning("MCP server %s left out: %s", name, getattr(result, "message", result))
            continue
        out.append((name, result))
    return out


async def _list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    key, only, _ = _caller(ctx)
    tools: list[types.Tool] = []
    listed_from: list[str] = []
    for server, listed in await _gather(key, only, pool.list_tools, ctx=ctx):
        listed_from.append(server)
        for tool in listed:
            if not permissions.allows_tool(key, server, tool.name):
                continue
            name = tool.name if only is not None else permissions.qualified(server, tool.name)
            tools.append(tool.model_copy(update={"name": name}))
    # one order whatever order the servers listed them in, so the same key gets the same
    # bytes (clients' caches and the LLM prompt cache a tool list feeds stay warm); the
    # 2026-07-28 hints: reusable for as long as the pool reuses the servers' lists, and
    # only by this caller (a key sees the tools its grants open)
    tools.sort(key=lambda tool: tool.name)
    # a 2026-07-28 server that says its list goes stale sooner shortens the whole list's
    ttl = min((pool.tools_ttl(server) for server in listed_from), default=pool.TOOLS_TTL)
    return types.ListToolsResult(tools=tools, ttl_ms=int(ttl * 1000), cache_scope="private")


def _scoped(ctx: ServerRequestContext[Any], name: str) -> str:
    """What ``app`` put in the scope of the HTTP request that carried the call under
    ``name`` (``TAGS_SCOPE_KEY``: its ``x-switchyard-tags``; ``USER_SCOPE_KEY``: its
    end user), "" without."""
    scope = getattr(ctx.request, "scope", None)
    found = scope.get(name) if isinstance(scope, dict) else None
    return found if isinstance(found, str) else ""


async def _call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult | dict[str, Any]:
    key, only, user_agent = _caller(ctx)
    if only is not None:
        server, tool = only, params.name
    else:
        parts = permissions.split(params.name)
        if parts is None:
            # journaled like any other call that names no known tool
            server, tool = "", params.name
        else:
            server, tool = parts
    modern = getattr(ctx, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS
    state: rounds.State | None = None
    if modern and params.request_state is not None:  # a retry of a round (``rounds``)
        state = rounds.read(params.request_state, key, server, tool)
        if state is None:
            raise MCPError(INVALID_PARAMS, "unknown or expired requestState")
        if state.connect and rounds.declined(params.input_responses):
            return tasks.error_result(f"MCP server {server}: the account was not connected")
    downstream = relay.Downstream(ctx, _session(ctx))
    progress = _progress(downstream)
    via: calls.Upstream | None = None
    known = bool(server) and server in registry.current().mcp_servers
    # a 2025-11-25 client's call that needs a session of its own upstream (``relay``),
    # unless the server speaks 2026-07-28 (no server-to-client requests: its rounds)
    if (
        known
        and not modern
        and pool.era(server) not in MODERN_PROTOCOL_VERSIONS
        and relay.needs(downstream.session, server)
    ):

        async def via(arguments: Any) -> types.CallToolResult:
            return await relay.call_tool(downstream, key, server, tool, arguments, progress)

    elif known:
        via = _in_rounds(downstream, key, server, tool, state, params, progress, modern)
    try:
        answer = await calls.call_in_rounds(
            key,
            server if known else (server or "(none)"),
            tool,
            params.arguments,
            user_agent=user_agent,
            progress=progress,
            via=via,
            operation=_operation(ctx, params.name) if tracing.ENABLED else None,
            tags_header=_scoped(ctx, TAGS_SCOPE_KEY),
            end_user=_scoped(ctx, USER_SCOPE_KEY),
        )
        if isinstance(answer, tasks.TaskHandle):  # bound to the key by ``_in_rounds``
            return _task_wire(answer)
        return answer
    except McpGatewayError as exc:
        if modern and isinstance(exc, AuthorizationRequired):
            return rounds.connect(exc.message, _connect_url(ctx), key, server, tool)
        raise _mcp_error(ctx, exc) from None


def _in_rounds(
    downstream: relay.Downstream,
    key: KeyEntry,
    server: str,
    tool: str,
    state: rounds.State | None,
    params: types.CallToolRequestParams,
    progress: Any,
    modern: bool,
) -> calls.Upstream:
    """The pool's call that lets a 2026-07-28 server ask for input: its round goes to a
    2026-07-28 client sealed (``rounds.relayed``); for a 2025-11-25 client the gateway
    drives the rounds, asking over the back channel what the client declared it can
    answer, else the call is a tool error naming what was wanted."""
    responses = params.input_responses if state is not None and not state.connect else None
    upstream_state = state.upstream if state is not None else None
    # a 2026-07-28 client that declared the tasks extension on this call gets the
    # server's task (bound to its key, ``tasks``); any other caller its result
    task = modern and tasks.declared(downstream.ctx.session.client_capabilities)

    async def via(arguments: Any) -> calls.Answer:
        async def again(
            given: types.InputResponses | None, state: str | None
        ) -> types.CallToolResult | types.InputRequiredResult:
            answered = await pool.call_tool_in_rounds(
                server, tool, arguments, input_responses=given, request_state=state,
                progress=progress,
            )  # fmt: skip
            if isinstance(answered, tasks.TaskHandle):  # not asked for: followed by the pool
                return tasks.error_result(f"MCP server {server}: an unexpected task")
            return answered

        answer = await pool.call_tool_in_rounds(
            server, tool, arguments, input_responses=responses, request_state=upstream_state,
            progress=progress, task=task,
        )  # fmt: skip
        if isinstance(answer, tasks.TaskHandle):
            entry = registry.current().mcp_servers[server]
            return await tasks.bind(entry.id, server, tool, answer, key)
        if not isinstance(answer, types.InputRequiredResult):
            return answer
        if modern:
            return rounds.relayed(answer, key, server, tool)
        wanted = {
            _CAPABILITY.get(r.method, r.method) for r in (answer.input_requests or {}).values()
        }
        missing = sorted(c for c in wanted if not downstream.can_ask(c))
        if missing:
            return tasks.error_result(
                f"MCP server {server}: {tool} needs input this client cannot give "
                f"({', '.join(missing)})"
            )

        async def ask(request: types.InputRequest) -> types.InputResponse:
            answered: types.InputResponse = await downstream.ask(request, _ANSWER[request.method])
            return answered

        return await rounds.drive(answer, ask, again)

    return via


_CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
_ANSWER: dict[str, Any] = {
    "elicitation/create": types.ElicitResult,
    "sampling/createMessage": types.CreateMessageResult,
    "roots/list": types.ListRootsResult,
}


def _connect_url(ctx: ServerRequestContext[Any]) -> str:
    base = str(getattr(ctx.request, "base_url", "") or "").rstrip("/")
    return base + AuthorizationRequired.CONNECT_PATH


def _operation(ctx: ServerRequestContext[Any], tool: str) -> tracing.Operation:
    """The span of a ``tools/call`` as the MCP conventions have the server's: named
    ``tools/call {tool}`` (the name the client called), its parent the trace context
    the client put in the request's ``params._meta``, the HTTP request's linked."""
    session = _session(ctx)
    request = ctx.request
    headers = getattr(request, "headers", None)
    client = getattr(request, "client", None)
    return tracing.start_operation(
        "mcp",
        semconv.TOOL_CALL,
        target=tool,
        carrier=dict(ctx.meta or {}),
        link=dict(headers) if headers is not None else None,
        attributes={
            semconv.JSONRPC_REQUEST_ID: None if ctx.request_id is None else str(ctx.request_id),
            semconv.MCP_SESSION: session.id if session is not None else None,
            semconv.MCP_PROTOCOL_VERSION: ctx.protocol_version,
            semconv.NETWORK_PROTOCOL: "http",
            semconv.NETWORK_TRANSPORT: "tcp",
            semconv.CLIENT_ADDRESS: getattr(client, "host", None),
        },
    )


def _progress(downstream: relay.Downstream) -> Any:
    """What relays the server's progress of a call to the client: None unless the
    client's request asked for progress (a ``progressToken`` in its ``_meta``)."""
    meta: dict[str, Any] = dict(downstream.ctx.meta or {})
    token = meta.get("progressToken", meta.get("progress_token"))
    if not isinstance(token, str | int):
        return None

    async def forward(progress: float, total: float | None, message: str | None) -> None:
        await downstream.notify(
            types.ProgressNotification(
                params=types.ProgressNotificationParams(
                    progress_token=token, progress=progress, total=total, message=message
                )
            )
        )

    return forward


async def _list_resources(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    key, only, _ = _caller(ctx)
    resources = await _listed(
        key, only, pool.list_resources, _resource_owner, lambda resource: str(resource.uri)
    )
    return types.ListResourcesResult(resources=resources, cache_scope="private")


async def _listed(
    key: KeyEntry,
    only: str | None,
    fetch: Any,
    owners: dict[str, str],
    address: Callable[[Any], str],
) -> list[Any]:
    """Every readable server's resources (or resource templates: ``fetch``) as the key
    sees them: each remembered as its server's in ``owners`` by its ``address`` (URI or
    URI template), named ``server__name`` unless the call is to one server, in one order
    (by address, then name) whatever order the servers answered in."""
    found = []
    for server, listed in await _gather(key, only, fetch, permissions.allows_resources):
        for item in listed:
            owners[address(item)] = server
            if only is None:
                item = item.model_copy(update={"name": permissions.qualified(server, item.name)})
            found.append(item)
    found.sort(key=lambda item: (address(item), item.name))
    return found


async def _resource_server(key: KeyEntry, only: str | None, uri: str) -> str:
    """The server that serves ``uri`` to this key: ``/mcp/<server>``'s, else the one
    that listed it, else one of whose resource templates it matches (asked again when
    this process has not seen it listed: another worker may have); the key needs the
    grant of the whole server (``mcp.resource.read``)."""
    readable = _servers(key, only, permissions.allows_resources)
    if only is not None:
        if only in readable:
            return only
        raise MCPError(INVALID_PARAMS, f"unknown resource: {uri}")
    owner = _resource_owner.get(uri)
    if owner is not None and owner in readable:
        return owner
    for server, templates in await _gather(
        key, None, pool.list_resource_templates, permissions.allows_resources
    ):
        for template in templates:
            _template_owner[template.uri_template] = server
            if _matches(template.uri_template, uri):
                return server
    for server, listed in await _gather(
        key, None, pool.list_resources, permissions.allows_resources
    ):
        for resource in listed:
            _resource_owner[str(resource.uri)] = server
        if uri in _resource_owner and _resource_owner[uri] == server:
            return server
    raise MCPError(INVALID_PARAMS, f"unknown resource: {uri}")


def _matches(template: str, uri: str) -> bool:
    from mcp.shared.uri_template import UriTemplate

    try:
        return UriTemplate.parse(template).match(uri) is not None
    except Exception:  # noqa: BLE001 - a server's malformed template matches nothing
        return False


async def _read_resource(
    ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
) -> types.ReadResourceResult | types.InputRequiredResult:
    key, only, _ = _caller(ctx)
    uri = str(params.uri)
    server = await _resource_server(key, only, uri)

    async def read(
        responses: types.InputResponses | None, state: str | None
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        return await pool.read_resource_in_rounds(
            server, uri, input_responses=responses, request_state=state
        )

    return await _rounds_of(ctx, key, server, f"resources/read {uri}", params, read)


async def _list_resource_templates(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    key, only, _ = _caller(ctx)
    templates = await _listed(
        key,
        only,
        pool.list_resource_templates,
        _template_owner,
        lambda template: template.uri_template,
    )
    return types.ListResourceTemplatesResult(resource_templates=templates, cache_scope="private")


async def _subscribe(
    ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
) -> types.EmptyResult:
    return await _subscription(ctx, str(params.uri), relay.subscribe)


async def _unsubscribe(
    ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
) -> types.EmptyResult:
    return await _subscription(ctx, str(params.uri), relay.unsubscribe)


async def _subscription(
    ctx: ServerRequestContext[Any],
    uri: str,
    change: Callable[[str, Any, Any, str], Awaitable[None]],
) -> types.EmptyResult:
    """Subscribe or unsubscribe this session to ``uri`` on the server that holds it,
    as the key's resource grant allows (``_resource_server``)."""
    key, only, _ = _caller(ctx)
    session = _session(ctx)
    if session is None:
        raise MCPError(INVALID_REQUEST, "resource subscriptions need a session")
    server = await _resource_server(key, only, uri)
    with _mcp_errors(ctx):
        await change(server, key, session, uri)
    return types.EmptyResult()


async def _set_logging_level(
    ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams
) -> types.EmptyResult:
    """The level the servers' log messages reach this client session from (its calls
    then go through sessions bound to it, ``relay``); without a session, nothing to keep."""
    _caller(ctx)
    session = _session(ctx)
    if session is not None:
        await relay.set_level(session, params.level)
    return types.EmptyResult()


async def _complete(
    ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
) -> types.CompleteResult:
    """Completion of a prompt's or a resource template's argument, asked of the server
    that has it, with the grant its prompts or resources need."""
    key, only, _ = _caller(ctx)
    ref = params.ref
    if isinstance(ref, types.PromptReference):
        server, name = _prompt_named(key, only, ref.name)
        upstream_ref: Any = ref.model_copy(update={"name": name})
    else:
        server = only or _template_owner.get(ref.uri) or ""
        if only is None and not server:
            for name, templates in await _gather(
                key, None, pool.list_resource_templates, permissions.allows_resources
            ):
                for template in templates:
                    _template_owner[template.uri_template] = name
            server = _template_owner.get(ref.uri, "")
        if server not in _servers(key, only, permissions.allows_resources):
            raise MCPError(INVALID_PARAMS, f"unknown resource template: {ref.uri}")
        upstream_ref = ref
    arguments = params.context.arguments if params.context is not None else None
    with _mcp_errors(ctx):
        return await pool.complete(
            server,
            upstream_ref,
            {"name": params.argument.name, "value": params.argument.value},
            arguments,
        )


async def _list_prompts(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListPromptsResult:
    key, only, _ = _caller(ctx)
    prompts: list[types.Prompt] = []
    for server, listed in await _gather(key, only, pool.list_prompts, permissions.allows_prompts):
        for prompt in listed:
            name = prompt.name if only is not None else permissions.qualified(server, prompt.name)
            prompts.append(prompt.model_copy(update={"name": name}))
    prompts.sort(key=lambda prompt: prompt.name)
    return types.ListPromptsResult(prompts=prompts, cache_scope="private")


def _prompt_named(key: KeyEntry, only: str | None, named: str) -> tuple[str, str]:
    """(server, the server's own name) of the prompt a caller names (``server__name``,
    or its bare name on ``/mcp/<server>``): an unknown prompt when the key may not use
    that server's prompts."""
    if only is not None:
        server, name = only, named
    else:
        parts = permissions.split(named)
        if parts is None:
            raise MCPError(INVALID_PARAMS, f"unknown prompt: {named}")
        server, name = parts
    if server not in _servers(key, only, permissions.allows_prompts):
        raise MCPError(INVALID_PARAMS, f"unknown prompt: {named}")
    return server, name


async def _get_prompt(
    ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
) -> types.GetPromptResult | types.InputRequiredResult:
    key, only, _ = _caller(ctx)
    server, name = _prompt_named(key, only, params.name)

    async def get(
        responses: types.InputResponses | None, state: str | None
    ) -> types.GetPromptResult | types.InputRequiredResult:
        return await pool.get_prompt_in_rounds(
            server, name, params.arguments, input_responses=responses, request_state=state
        )

    return await _rounds_of(ctx, key, server, f"prompts/get {name}", params, get)


R = TypeVar("R", bound=types.Result)


async def _rounds_of(
    ctx: ServerRequestContext[Any],
    key: KeyEntry,
    server: str,
    target: str,
    params: types.GetPromptRequestParams | types.ReadResourceRequestParams,
    fetch: Callable[
        [types.InputResponses | None, str | None], Awaitable[R | types.InputRequiredResult]
    ],
) -> R | types.InputRequiredResult:
    """A ``prompts/get`` or ``resources/read`` whose server may ask for input
    (``rounds``), as a tool call's: a 2026-07-28 client gets the round, its state
    sealed to the key, the server and ``target``, and its retry continues it (on any
    instance); for a 2025-11-25 client the gateway asks over the back channel what it
    declared it can answer, else a JSON-RPC error names what was wanted. A per-user
    OAuth server not connected yet: a "connect your account" round (2026-07-28)."""
    modern = getattr(ctx, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS
    state: rounds.State | None = None
    if modern and params.request_state is not None:
        state = rounds.read(params.request_state, key, server, target)
        if state is None:
            raise MCPError(INVALID_PARAMS, "unknown or expired requestState")
        if state.connect and rounds.declined(params.input_responses):
            raise MCPError(INVALID_REQUEST, f"MCP server {server}: the account was not connected")
    responses = params.input_responses if state is not None and not state.connect else None
    try:
        answer = await fetch(responses, state.upstream if state is not None else None)
        if not isinstance(answer, types.InputRequiredResult):
            return answer
        if modern:
            return rounds.relayed(answer, key, server, target)
        downstream = relay.Downstream(ctx, _session(ctx))
        wanted = {
            _CAPABILITY.get(r.method, r.method) for r in (answer.input_requests or {}).values()
        }
        missing = sorted(c for c in wanted if not downstream.can_ask(c))
        if missing:
            raise MCPError(
                INVALID_REQUEST,
                f"MCP server {server}: {target} needs input this client cannot give "
                f"({', '.join(missing)})",
            )

        async def ask(request: types.InputRequest) -> types.InputResponse:
            answered: types.InputResponse = await downstream.ask(request, _ANSWER[request.method])
            return answered

        return await rounds.drive_rounds(answer, ask, fetch)
    except rounds.TooManyRounds as exc:
        raise MCPError(INVALID_REQUEST, f"MCP server {server}: {exc}") from None
    except McpGatewayError as exc:
        if modern and isinstance(exc, AuthorizationRequired):
            return rounds.connect(exc.message, _connect_url(ctx), key, server, target)
        raise _mcp_error(ctx, exc) from None


async def _discover(
    ctx: ServerRequestContext[Any], params: types.RequestParams | None
) -> types.DiscoverResult:
    """``server/discover`` for this key: the gateway's versions, and the capabilities of
    the servers the key may reach, aggregated (prompts, resources and completions only
    when a reachable server offers them under the key's grants; tools always, the
    gateway's own list). A server that cannot be reached is left out, as from a list.
    Logging (removed in 2026-07-28) is not declared; the handshake era's ``initialize``
    still declares what it serves. Private to the key, reusable for as long as tool
    lists are."""
    key, only, _ = _caller(ctx)
    base = SERVER.get_capabilities(protocol_version=ctx.protocol_version)
    declared = dict(await _gather(key, only, pool.server_capabilities))

    def offered(grant: Grant, has: Callable[[types.ServerCapabilities], Any]) -> list[str]:
        return [n for n, caps in declared.items() if has(caps) is not None and grant(key, n)]

    prompts = offered(permissions.allows_prompts, lambda caps: caps.prompts)
    resources = offered(permissions.allows_resources, lambda caps: caps.resources)
    completions = [
        n
        for n in offered(permissions.allows_server, lambda caps: caps.completions)
        if n in prompts or n in resources
    ]
    # the tasks extension, when a server the key may call tools of offers it
    extensions = dict(base.extensions or {})
    if any(tasks.offered(caps) for caps in declared.values()):
        extensions[tasks.EXTENSION] = {}
    capabilities = base.model_copy(
        update={
            "extensions": extensions or None,
            "logging": None,
            "prompts": base.prompts if prompts else None,
            # list changes reach subscriptions/listen (``listen``); resource updates not
            "resources": (
                base.resources.model_copy(update={"subscribe": False})
                if resources and base.resources is not None
                else None
            ),
            "completions": base.completions if completions else None,
        }
    )
    return types.DiscoverResult(
        supported_versions=list(MODERN_PROTOCOL_VERSIONS),
        capabilities=capabilities,
        instructions=SERVER.instructions,
        ttl_ms=int(pool.TOOLS_TTL * 1000),
        cache_scope="private",
    )


with warnings.catch_warnings():  # logging/setLevel: deprecated in 2026-07-28, served before
    warnings.simplefilter("ignore", MCPDeprecationWarning)
    SERVER: Server[Any] = Server(
        "switchyard",
        instructions="Tools of the MCP servers registered in this Switchyard gateway.",
        on_list_tools=_list_tools,
        # a task's handle is a dict (``resultType: "task"``, the extension's shape, which
        # the SDK serializes as it comes): outside the SDK's declared result types
        on_call_tool=_call_tool,  # type: ignore[arg-type]
        on_list_resources=_list_resources,
        on_read_resource=_read_resource,
        on_list_prompts=_list_prompts,
        on_get_prompt=_get_prompt,
        on_list_resource_templates=_list_resource_templates,
        on_subscribe_resource=_subscribe,
        on_unsubscribe_resource=_unsubscribe,
        on_completion=_complete,
        on_set_logging_level=_set_logging_level,
    )


async def _listen(
    ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
) -> types.SubscriptionsListenResult:
    """``subscriptions/listen``: the key's change notices (``listen``)."""
    key, only, _ = _caller(ctx)
    return await listen.serve(ctx, params, key, only, _servers(key, only))


def _task_wire(task: tasks.TaskHandle | tasks.DetailedTask) -> dict[str, Any]:
    """A task as the extension has it on the wire: ``ttlMs`` is kept when null
    (unlimited), which the SDK's dump would leave out."""
    wire = task.model_dump(by_alias=True, mode="json", exclude_none=True)
    wire["ttlMs"] = task.ttl_ms
    return wire


async def _task(ctx: ServerRequestContext[Any], task_id: str) -> tuple[KeyEntry, tasks.Binding]:
    """The caller's binding of ``task_id`` (``tasks.find``), on a request whose
    ``Mcp-Name`` names it (the extension's header, checked as the SDK checks a tool's:
    -32020 on a mismatch), for a server and tool the key may still reach."""
    key, only, _ = _caller(ctx)
    if getattr(ctx, "protocol_version", None) not in MODERN_PROTOCOL_VERSIONS:
        raise MCPError(METHOD_NOT_FOUND, "tasks are served to 2026-07-28 clients only")
    headers = getattr(ctx.request, "headers", None)
    if headers is not None:
        from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value

        if decode_header_value(headers.get(MCP_NAME_HEADER)) != task_id:
            raise MCPError(HEADER_MISMATCH, "Mcp-Name header does not match params.taskId")
    binding = await tasks.find(task_id, key)
    if (only is not None and binding.server != only) or binding.server not in _servers(key, only):
        raise MCPError(INVALID_PARAMS, tasks.UNKNOWN)
    if not permissions.allows_tool(key, binding.server, binding.tool):
        raise MCPError(INVALID_PARAMS, tasks.UNKNOWN)
    return key, binding


async def _tasks_get(ctx: ServerRequestContext[Any], params: tasks.TaskParams) -> dict[str, Any]:
    """``tasks/get``: the server's task under the gateway's id; a completed task's
    result through the call's result guardrails."""
    key, binding = await _task(ctx, params.task_id)
    with _mcp_errors(ctx):
        found = await pool.task_request(
            binding.server,
            tasks.GetTask(params=tasks.TaskParams(task_id=binding.upstream_id)),
            tasks.DetailedTask,
        )
    found = found.model_copy(update={"task_id": binding.task_id})
    if found.status == "completed" and found.result is not None:
        checks = guarded.begin(key, binding.server, binding.tool)
        if checks:
            try:
                result = types.CallToolResult.model_validate(found.result)
                checked = await guarded.result(checks, result)
            except (GuardrailBlocked, GuardrailUnavailable) as refusal:
                checked = tasks.error_result(refusal.message)
            found = found.model_copy(
                update={"result": checked.model_dump(by_alias=True, mode="json", exclude_none=True)}
            )
    return _task_wire(found)


async def _tasks_update(
    ctx: ServerRequestContext[Any], params: tasks.UpdateParams
) -> types.EmptyResult:
    """``tasks/update``: the client's answers to the task's ``inputRequests``."""
    _, binding = await _task(ctx, params.task_id)
    upstream = tasks.UpdateParams(
        task_id=binding.upstream_id, input_responses=params.input_responses
    )
    with _mcp_errors(ctx):
        await pool.task_request(binding.server, tasks.UpdateTask(params=upstream), tasks.Ack)
    return types.EmptyResult()


async def _tasks_cancel(
    ctx: ServerRequestContext[Any], params: tasks.TaskParams
) -> types.EmptyResult:
    """``tasks/cancel``: asks the server to stop the task (it may or may not)."""
    _, binding = await _task(ctx, params.task_id)
    upstream = tasks.TaskParams(task_id=binding.upstream_id)
    with _mcp_errors(ctx):
        await pool.task_request(binding.server, tasks.CancelTask(params=upstream), tasks.Ack)
    return types.EmptyResult()


SERVER.add_request_handler("tasks/get", tasks.TaskParams, _tasks_get)
SERVER.add_request_handler("tasks/update", tasks.UpdateParams, _tasks_update)
SERVER.add_request_handler("tasks/cancel", tasks.TaskParams, _tasks_cancel)
SERVER.add_request_handler("server/discover", types.RequestParams, _discover)
SERVER.add_request_handler("subscriptions/listen", types.SubscriptionsListenRequestParams, _listen)

# /mcp says when lists change: what servers announce (and registry changes) reaches the
# session's notification stream (``streams``)
INIT_OPTIONS = SERVER.create_initialization_options(
    NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
)


class _Manager:
    def __init__(self) -> None:
        # the SDK logs each stateless request's end at INFO ("Terminating session: None")
        logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
        # every request is served on its own; the session is ours (``sessions``)
        self.manager = StreamableHTTPSessionManager(app=SERVER, stateless=True)
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.create_task(self._run(), name="mcp-sessions")

    async def _run(self) -> None:
        async with self.manager.run():
            self.ready.set()
            await self.stop.wait()


_manager: _Manager | None = None


async def _session_manager() -> StreamableHTTPSessionManager:
    global _manager
    if _manager is None or _manager.loop is not asyncio.get_running_loop():
        _manager = _Manager()
    await _manager.ready.wait()
    return _manager.manager


async def aclose() -> None:
    """Close every session (shutdown)."""
    global _manager
    await relay.aclose()
    manager, _manager = _manager, None
    if manager is not None and manager.loop is asyncio.get_running_loop():
        manager.stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(manager.task, 5)


def _token(headers: dict[bytes, bytes]) -> str:
    value = headers.get(b"authorization", b"").decode("latin-1").strip()
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return headers.get(b"x-api-key", b"").decode("latin-1").strip()


async def _authenticate(raw: str, path: str) -> tuple[KeyEntry | None, str]:
    """The caller's key entry, or why there is none: a virtual key (the snapshot), or an
    OAuth access token a person signed in for (``oauth_server.tokens``)."""
    if oauth_tokens.is_access_token(raw):
        checked = await oauth_tokens.check(raw, path)
        return checked.key, checked.problem
    if delegation.is_agent_token(raw):  # an agent acting for the caller who started it
        server = path[len(PREFIX) + 1 :].split("/", 1)[0] if path.startswith(PREFIX + "/") else ""
        agent = delegation.check(raw, f"{delegation.MCP}:{server}" if server else delegation.MCP)
        return agent.key, agent.problem
    key = registry.current().key(raw)
    if key is None and raw:
        await registry.refresh_on_miss()
        key = registry.current().key(raw)
    if key is None:
        return (
            None,
            "a valid virtual key or OAuth access token is required (Authorization: Bearer ...)",
        )
    if key.revoked:
        return None, "this API key has been revoked"
    if key.expires_at is not None and key.expires_at.timestamp() <= time.time():
        return None, "this API key has expired"
    return key, ""


def _challenge(scope: dict[str, Any], path: str, given: bool) -> bytes:
    """``WWW-Authenticate`` of a 401 (RFC 9728 section 5.1): where the resource's
    metadata is, so an MCP client can sign a person in."""
    url = oauth_resources.resource_metadata_url(oauth_resources.base_from_scope(scope), path)
    value = f'Bearer realm="switchyard", resource_metadata="{url}"'
    if given:
        value += ', error="invalid_token"'
    return value.encode("latin-1")


async def _refuse(
    send: Any, status: int, message: str, code: int = -32001, challenge: bytes = b""
) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", challenge or b'Bearer realm="switchyard"'))
    if status == 503:  # as the /v1 endpoints while the process drains
        headers += [(b"connection", b"close"), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_draining(
    scope: dict[str, Any], send: Any, started: float, code: int = -32000
) -> None:
    """The 503 of a request the drain refused, journaled as the /v1 ones are (one row,
    dialect ``mcp``; endpoint = method and path, route = the server of ``/mcp/<server>``).
    The key is looked up in memory only (no registry check while shutting down)."""
    headers = dict(scope.get("headers") or [])
    raw = _token(headers)
    key = registry.current().key(raw) if raw else None
    path: str = scope["path"].rstrip("/") or "/"
    error = ShuttingDown(SHUTTING_DOWN)
    journal.record(
        journal.Record.of_call(
            "mcp",
            key,
            endpoint=f"{scope.get('method', '')} {PREFIX}"[:40],
            route=path[len(PREFIX) + 1 :][:200] if path.startswith(PREFIX + "/") else "",
            status=503,
            finish_reason="error",
            error_kind=error.kind,
            error_message=error.message,
            user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:300],
            latency_ms=(time.monotonic() - started) * 1000,
        )
    )
    await _refuse(send, 503, SHUTTING_DOWN, code)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI app of ``/mcp`` and ``/mcp/<server>`` (``gateway.edge.endpoints`` routes here).

    While the process drains (SIGHUP reload, SIGTERM) a new request gets a 503 with a
    JSON-RPC error, ``Retry-After`` and ``Connection: close`` (the client reconnects to
    a process that serves); the POSTs under way (a tool call) count as requests in
    flight, which the drain waits for, and a session's notification stream (GET) ends
    so that its connection can close."""
    started = time.monotonic()
    if lifecycle.draining():
        await _refuse_draining(scope, send, started)
        return
    path: str = scope["path"].rstrip("/") or "/"
    only = path[len(PREFIX) + 1 :] if path.startswith(PREFIX + "/") else None
    headers = dict(scope.get("headers") or [])
    raw = _token(headers)
    key, problem = await _authenticate(raw, path)
    if key is None:
        await _refuse(send, 401, problem, challenge=_challenge(scope, path, bool(raw)))
        return
    if only is not None:
        entry = registry.current().mcp_servers.get(only)
        if entry is None:  # perhaps registered a moment ago through another process
            await registry.refresh_on_miss()
            entry = registry.current().mcp_servers.get(only)
        if entry is None or not permissions.allows_server(key, only):
            await _refuse(send, 404, f"unknown MCP server: {only}", INVALID_PARAMS)
            return
    user_agent = headers.get(b"user-agent", b"").decode("latin-1")
    principal = f"switchyard-key:{key.id if key.id is not None else 'master'}"
    scope = {
        **scope,
        "user": AuthenticatedUser(AccessToken(token="", client_id=principal, scopes=[])),
        SCOPE_KEY: (key, only, user_agent),
        TAGS_SCOPE_KEY: headers.get(TAGS_HEADER.encode(), b"").decode("latin-1"),
        # whom the calls are for, as the model endpoints take it (MCP has no field for it)
        USER_SCOPE_KEY: attribution.end_user_of(
            {USER_HEADER: headers.get(USER_HEADER.encode(), b"").decode("latin-1")}
        ),
    }
    manager = await _session_manager()
    await _dispatch(manager, key, raw, only, headers, scope, receive, send, started)


async def _dispatch(
    manager: StreamableHTTPSessionManager,
    key: KeyEntry,
    raw: str,
    only: str | None,
    headers: dict[bytes, bytes],
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    started: float,
) -> None:
    """The session's part (``sessions``): an unknown, changed, expired, ended or other
    key's session is a 404; DELETE ends it everywhere; GET is its notification stream
    (``streams``); a POST is served by the SDK on its own, told the session's protocol
    version, its answer naming the session. An ``initialize`` without one opens one."""
    method = scope.get("method")
    if not sessions.enabled():
        if method == "GET":
            await _until_drain(manager.handle_request, scope, receive, send, started)
        else:
            await _served(manager, scope, receive, send)
        return
    token = headers.get(SESSION_HEADER, b"").decode("latin-1").strip()
    if not token:
        if method != "POST":
            await _refuse(send, 400, "Bad Request: Missing session ID", INVALID_REQUEST)
            return
        body = await _body(receive)
        if body is None:
            await _refuse(send, 413, "request body too large", INVALID_REQUEST)
            return
        receive = backchannel.replaying(body, receive)
        opening = _initialize_params(body)
        if opening is not None:
            opened = sessions.issue(
                key.id, raw, opening.get("protocolVersion"), opening.get("capabilities")
            )
            send = _naming(opened, send)
        await _served(manager, scope, receive, send)
        return
    session = sessions.read(token, raw)
    if session is None or await sessions.ended(session):
        await _refuse(send, 404, "Session not found", INVALID_REQUEST)
        return
    scope = {**scope, SESSION_SCOPE_KEY: session}
    if method == "DELETE":
        await sessions.end(session)
        streams.end(session.id)
        relay.ended(session.id)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
        )
        await send({"type": "http.response.body", "body": b""})
        return
    if method == "GET":
        if not _accepts_events(headers):
            await _refuse(send, 406, "Not Acceptable: Client must accept text/event-stream")
            return

        async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
            changes.ensure_listening()  # what other processes hear (with Redis)
            await streams.serve(session, key, only, scope, receive, send)

        await _until_drain(stream, scope, receive, send, started)
        return
    if not any(name == VERSION_HEADER for name, _ in scope.get("headers") or []):
        # a 2025-03-26 client does not say its version: the session does
        scope["headers"] = [*scope["headers"], (VERSION_HEADER, session.protocol_version.encode())]
    if method == "POST":
        body = await _body(receive)
        if body is None:
            await _refuse(send, 413, "request body too large", INVALID_REQUEST)
            return
        receive = backchannel.replaying(body, receive)
        answered = backchannel.answer_ids(body)
        if answered is not None:  # the client's answer to a request relayed to it
            await backchannel.route_answer(session, answered, body, scope, receive, send)
            return
    await _served(manager, scope, receive, _naming(session, send), session)


async def _served(
    manager: StreamableHTTPSessionManager,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    session: sessions.Session | None = None,
) -> None:
    """A POST (or DELETE with sessions off) as a request in flight the drain waits for:
    a handshake-era POST served with a back channel when it has a session
    (``backchannel``), any other by the SDK's session manager."""
    with lifecycle.in_flight():
        if scope.get("method") == "POST" and backchannel.serves(session, scope):
            await backchannel.serve(SERVER, session, scope, receive, send, INIT_OPTIONS)
        else:
            await manager.handle_request(scope, receive, send)


def _naming(session: sessions.Session, send: Any) -> Any:
    """``send`` with the session's header on a response that is not an error."""
    value = session.token.encode()

    async def named(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] < 400:
            message = {**message, "headers": [*message.get("headers", ()), (SESSION_HEADER, value)]}
        await send(message)

    return named


async def _body(receive: Any) -> bytes | None:
    """The request's body, None past ``MAX_BODY_BYTES`` (read here to see whether it is
    an ``initialize``, then handed to the SDK as it came)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _initialize_params(body: bytes) -> dict[str, Any] | None:
    """The params of an ``initialize`` request, None for any other body."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") != "initialize":
        return None
    params = message.get("params")
    return params if isinstance(params, dict) else {}


def _accepts_events(headers: dict[bytes, bytes]) -> bool:
    accept = headers.get(b"accept", b"").decode("latin-1").lower()
    types_ = {part.split(";")[0].strip() for part in accept.split(",")}
    return bool(types_ & {"text/event-stream", "text/*", "*/*"})


async def _until_drain(
    handle: Callable[[dict[str, Any], Any, Any], Awaitable[None]],
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    started: float,
) -> None:
    """Serve a session's notification stream (GET) until it ends or the drain begins
    (it would hold its connection open through the whole grace period); a stream the
    drain ends is finished properly (its last chunk), so the client sees it end."""
    state = {"started": False, "done": False}

    async def tracked(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            state["started"] = True
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            state["done"] = True
        await send(message)

    task = asyncio.ensure_future(handle(scope, receive, tracked))
    try:
        while not task.done():
            await asyncio.wait([task], timeout=DRAIN_POLL_SECONDS)
            if lifecycle.draining() and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                if not state["started"]:
                    await _refuse_draining(scope, send, started, -32001)
                elif not state["done"]:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        task.result()
    finally:
        if not task.done():  # cancelled from outside: the stream goes with it
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


# what an upstream server says changed reaches the streams of every process (``changes``)
pool.on_list_changed(changes.heard)
registry.on_change(streams.on_registry_change)
