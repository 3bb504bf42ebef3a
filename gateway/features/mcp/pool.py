"""One client session per registered MCP server per process, opened on first use and
reused by every request (``/mcp``, hosted MCP tools, the console).

Each server has a ``_Connection`` whose supervisor task owns the ``mcp.Client`` (its
anyio task group must be entered and left by one task): it connects, then waits until
the connection is stopped, found broken (a call saw the transport close, or the
periodic ping failed) or replaced by a changed registry entry, and connects again. A
stdio server is thereby started on first use, restarted when its process exits, and
stopped at shutdown (``aclose``, called by the runtime). A server that cannot be
reached is tried again on the next use, no sooner than a pause after the last attempt
(``RETRY_SECONDS``, doubling with each failure in a row up to ``MAX_RETRY_SECONDS``) (calls in between fail at once with the last error).

Public API (what other code calls; all async, all raise ``errors.McpGatewayError``
subclasses with messages safe to show):

- ``list_tools(server_name) -> list[mcp.types.Tool]`` (cached ``TOOLS_TTL`` seconds)
- ``call_tool(server_name, tool_name, arguments, *, timeout=None) -> CallToolResult``
- ``list_resources(server_name)``, ``read_resource(server_name, uri)``,
  ``list_prompts(server_name)``, ``get_prompt(server_name, name, arguments)``
- ``status(server_name) -> dict`` and ``aclose()``
- ``on_list_changed(fn)``: ``fn(server_name, what)`` when a connected server says its
  ``tools``, ``prompts`` or ``resources`` changed (the tool list cached here is dropped
  first); ``endpoint`` relays it to the notification streams of this process.

Two protocol eras upstream, as on ``/mcp``: a streamable-HTTP server is reached in its
own era (``mode="auto"``: the SDK probes ``server/discover`` and falls back to the
``initialize`` handshake for a 2025-11-25 server), so a 2026-07-28 server gets its
per-request ``_meta``, the ``Mcp-Method``/``Mcp-Name`` headers and the ``Mcp-Param-*``
headers its tools' ``x-mcp-header`` arguments promote (the SDK mirrors them from the
listing, so a call first makes sure the connection listed its tools), and its own
``ttlMs`` on ``tools/list`` shortens the reuse of its list. A stdio or legacy SSE server
(whose pre-2026 SDKs may not answer a request before ``initialize``) and the sessions
``relay`` binds to one client (server-to-client requests need the handshake era) keep
the handshake. ``era(server_name)`` says which one a connection speaks.

These connections are the gateway's, one per server per process, whichever client's
request uses them: an MCP client's session with the gateway has no upstream session
of its own, so it needs no upstream state on the worker that serves it.

``call_tool`` does not check the arguments against the schema nor permissions: that
is the caller's job (``endpoint``/``calls``), since only it knows who is calling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.session import IncomingMessage, MessageHandlerFnT
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import PromptsListChanged, ResourcesListChanged, ToolsListChanged
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gateway.access import registry
from gateway.access.authorization import decide
from gateway.access.rules.operator import launch_actor
from gateway.base import http
from gateway.base.entries import McpServerEntry, Snapshot
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.features.mcp import capped, tasks
from gateway.features.mcp.errors import (
    McpGatewayError,
    ServerUnavailable,
    ToolTimeout,
    UnknownServer,
    UpstreamError,
    safe_message,
)
from gateway.features.mcp.oauth import caller as oauth_caller
from gateway.features.mcp.oauth.caller import Bearer
from gateway.features.mcp.secrets import known_secrets  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # at most one connection attempt per server per second
MAX_RETRY_SECONDS = 30.0  # the pause after many failures in a row
STABLE_SECONDS = 5.0  # a connection lost sooner counts as a failure (crash loops pause)
PING_SECONDS = 15.0  # a connected server is pinged this often; a failed ping reconnects
TOOLS_TTL = 30.0  # seconds a server's tool list is reused
# a server whose list is "immediately stale" (ttlMs 0) is listed at most this often
MIN_TOOLS_REUSE = 1.0
_EVENT_LISTS: dict[type[Any], str] = {
    ToolsListChanged: "tools",
    PromptsListChanged: "prompts",
    ResourcesListChanged: "resources",
}


class _Connection:
    def __init__(self, entry: McpServerEntry, auth: Bearer | None = None) -> None:
        self.entry = entry
        self.auth = auth  # an OAuth server's: the token of one person or the service
        self.client: Client | None = None
        self.last_error = ""
        self.last_attempt = 0.0
        self.failures = 0  # failed connection attempts in a row
        self.connects = 0  # successful connections (1 + restarts)
        self.tools: list[types.Tool] | None = None
        self.tools_at = 0.0
        self.tools_ttl = TOOLS_TTL  # shorter when a 2026-07-28 server's ttlMs says so
        self.overflow = capped.Overflow()  # answers cut at SWITCHYARD_MAX_ANSWER_BYTES
        self._attempt: asyncio.Future[Client] | None = None
        self._wanted = asyncio.Event()
        self._broken = asyncio.Event()
        self._stopped = False
        self._task = asyncio.create_task(self._supervise(), name=f"mcp:{entry.name}")

    # --- the supervisor ---------------------------------------------------------------
    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopped:
            await self._wanted.wait()
            wait = self.last_attempt + self.pause() - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.last_attempt = time.monotonic()
            attempt: asyncio.Future[Client] = loop.create_future()
            self._attempt = attempt
            self._broken.clear()
            try:
                async with AsyncExitStack() as stack:
                    async with asyncio.timeout(self.entry.connect_timeout):
                        client = await stack.enter_async_context(
                            _client_for(self.entry, self.overflow, self._notice, self.auth)
                        )
                    self.client, self.last_error = client, ""
                    self.connects += 1
                    self.failures = 0
                    self.tools = None
                    attempt.set_result(client)
                    connected_at = time.monotonic()
                    await self._hold(client)
                    if time.monotonic() - connected_at < STABLE_SECONDS:
                        self.failures += 1  # a crash loop is paused like a failure
            except asyncio.CancelledError:
                if not attempt.done():
                    attempt.set_exception(ServerUnavailable(f"MCP server {self.entry.name} closed"))
                raise
            except BaseException as exc:  # noqa: BLE001 - anything from the transport
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                self.last_error = describe(self.entry, exc)
                log.warning("MCP server %s: %s", self.entry.name, self.last_error)
                self.failures += 1
                if not attempt.done():
                    attempt.set_exception(ServerUnavailable(self.last_error))
                    attempt.exception()  # retrieved: no "never retrieved" warning
                    self._wanted.clear()  # the next use asks again
            finally:
                self.client = None
                self.tools = None

    async def _hold(self, client: Client) -> None:
        """Keep the connection until stopped or broken; ping it now and then. A
        2026-07-28 server's changes come on a ``subscriptions/listen`` stream held as
        long as the connection (an older one sends them unasked: ``_notice``)."""
        listening = self._listen(client) if is_modern(client) else None
        try:
            await self._keep(client)
        finally:
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(BaseException):
                    await listening

    def _listen(self, client: Client) -> asyncio.Task[None] | None:
        caps = client.server_capabilities
        kinds = {
            "tools": caps.tools is not None and bool(caps.tools.list_changed),
            "prompts": caps.prompts is not None and bool(caps.prompts.list_changed),
            "resources": caps.resources is not None and bool(caps.resources.list_changed),
        }
        if not any(kinds.values()):
            return None
        return asyncio.create_task(
            self._listening(client, kinds), name=f"mcp-listen:{self.entry.name}"
        )

    async def _listening(self, client: Client, kinds: dict[str, bool]) -> None:
        """Hear the server's list changes until the connection ends; a stream the
        server drops is opened again (no sooner than ``RETRY_SECONDS``), and what may
        have changed meanwhile is told as changed."""
        lost = False
        while not self._stopped:
            try:
                async with client.listen(
                    tools_list_changed=kinds["tools"],
                    prompts_list_changed=kinds["prompts"],
                    resources_list_changed=kinds["resources"],
                ) as events:
                    if lost:
                        for kind, on in kinds.items():
                            if on:
                                self._changed(kind)
                    async for event in events:
                        heard = _EVENT_LISTS.get(type(event))
                        if heard is not None:
                            self._changed(heard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - dropped: listen again
                log.debug("MCP server %s: listen stream ended: %s", self.entry.name, exc)
            lost = True
            await asyncio.sleep(RETRY_SECONDS)

    async def _keep(self, client: Client) -> None:
        while not self._stopped:
            try:
                async with asyncio.timeout(PING_SECONDS):
                    await self._broken.wait()
                return  # a caller saw the transport fail: reconnect
            except TimeoutError:
                pass
            try:
                async with asyncio.timeout(self.entry.connect_timeout):
                    await _alive(client)
            except Exception as exc:
                self.last_error = describe(self.entry, exc)
                return

    # --- what callers use ---------------------------------------------------------------
    async def session(self) -> Client:
        if self._stopped:
            raise ServerUnavailable(f"MCP server {self.entry.name} is shutting down")
        if self.client is not None and not self._broken.is_set():
            return self.client
        attempt = self._attempt
        if attempt is None or attempt.done():  # no attempt under way: ask for one
            failed = attempt is not None and attempt.exception() is not None
            due = self.last_attempt + self.pause() - time.monotonic()
            if (failed and due > 0) or due > 1.0:  # not retried yet: the last error now
                raise ServerUnavailable(
                    self.last_error or f"MCP server {self.entry.name}: reconnecting"
                )
            self._wanted.set()
            deadline = time.monotonic() + max(due, 0.0) + 1.0
            while self._attempt is attempt and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)  # the supervisor starts it within a tick or a pause
            if self._attempt is attempt:
                raise ServerUnavailable(f"MCP server {self.entry.name}: not connected")
            attempt = self._attempt
        if attempt is None:
            raise ServerUnavailable(f"MCP server {self.entry.name}: not connected")
        try:
            async with asyncio.timeout(self.entry.connect_timeout + 1):
                return await asyncio.shield(attempt)
        except TimeoutError:
            raise ServerUnavailable(
                f"MCP server {self.entry.name}: no connection within "
                f"{self.entry.connect_timeout:g}s"
            ) from None

    def pause(self) -> float:
        """How long after a failed attempt the next one may start."""
        if self.failures <= 1:
            return RETRY_SECONDS if self.failures else 0.0
        wait: float = min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2 ** (self.failures - 1))
        return wait

    def broken(self) -> None:
        self._broken.set()

    async def _notice(self, message: IncomingMessage) -> None:
        """A message the server sent on its own: a list it changed is told (and the
        cached tool list dropped); the rest (progress, logs) concerns no one here."""
        if isinstance(message, types.ToolListChangedNotification):
            what = "tools"
        elif isinstance(message, types.PromptListChangedNotification):
            what = "prompts"
        elif isinstance(message, types.ResourceListChangedNotification):
            what = "resources"
        else:
            return
        self._changed(what)

    def _changed(self, what: str) -> None:
        """The server's ``what`` list changed: the cached tool list is dropped, the
        watchers told."""
        if what == "tools":
            self.tools = None
        for watcher in list(_list_watchers):
            try:
                watcher(self.entry.name, what)
            except Exception:
                log.exception("MCP list_changed watcher failed")

    async def close(self) -> None:
        self._stopped = True
        self._wanted.set()
        self._broken.set()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


def is_modern(client: Client) -> bool:
    """Whether the connection speaks a 2026-07-28 (sessionless) revision."""
    return client.session.protocol_version in MODERN_PROTOCOL_VERSIONS


async def _alive(client: Client) -> None:
    """The periodic liveness check: ``ping`` in the handshake era; ``server/discover``
    (``ping`` is removed in 2026-07-28) in the modern one."""
    if is_modern(client):
        await client.session.send_discover(client.protocol_version)
    else:
        await client.session.send_ping()


def _client_for(
    entry: McpServerEntry,
    overflowed: capped.Overflow | None = None,
    notices: MessageHandlerFnT | None = None,
    auth: httpx2.Auth | None = None,
    *,
    mode: str = "auto",
    **callbacks: Any,
) -> Client:
    """An ``mcp.Client`` for the entry (secrets resolved now, never logged). A stdio
    server runs a command on this host: launched only if the operator allowed it (rule
    ``mcp_server.stdio``), else ``ServerUnavailable`` saying how to allow it. A network
    server's answers are read at most ``SWITCHYARD_MAX_ANSWER_BYTES`` far (``capped``;
    ``overflowed`` counts the cuts); ``notices`` hears what the server sends unasked.
    ``mode``: a streamable-HTTP server's era negotiation (``"auto"``: its own era;
    ``"legacy"``: the handshake); stdio and SSE always use the handshake."""
    if entry.transport == "stdio":
        return _stdio_client(entry, notices, callbacks)
    oauth = auth
    url = resolve_secret(entry.url)
    headers = {name: resolve_secret(value) for name, value in entry.headers}
    if entry.bearer:
        headers["Authorization"] = "Bearer " + resolve_secret(entry.bearer)
    if entry.transport == "sse":
        transport = _sse_transport(url, headers, entry, overflowed, oauth)
        return Client(
            transport,
            mode="legacy",
            cache=None,
            read_timeout_seconds=entry.call_timeout,
            message_handler=notices,
            **callbacks,
        )
    return Client(
        _http_transport(url, headers, entry, overflowed, oauth),
        mode=mode,
        cache=None,
        read_timeout_seconds=entry.call_timeout,
        message_handler=notices,
        # the tasks extension, declared at 2026-07-28 only (``tasks``)
        extensions=[tasks.Upstream()],
        **callbacks,
    )


def _stdio_client(
    entry: McpServerEntry, notices: MessageHandlerFnT | None, callbacks: dict[str, Any]
) -> Client:
    """A stdio server's client: its command launched on this host, if the operator
    allowed it (rule ``mcp_server.stdio``)."""
    from mcp.client.stdio import StdioServerParameters

    decision = decide(launch_actor(entry), "mcp_server.stdio", entry)
    if not decision:
        raise ServerUnavailable(f"MCP server {entry.name}: not launched: {decision.reason}")

    env = {name: resolve_secret(value) for name, value in entry.env}
    params = StdioServerParameters(command=entry.command, args=list(entry.args), env=env or None)
    return Client(
        params,
        mode="legacy",
        cache=None,
        read_timeout_seconds=entry.call_timeout,
        message_handler=notices,
        **callbacks,
    )


def _sse_transport(
    url: str,
    headers: dict[str, str],
    entry: McpServerEntry,
    overflowed: capped.Overflow | None,
    oauth: httpx2.Auth | None,
) -> Any:
    """An SSE server's transport, its answers read at most the cap far (``capped``)."""
    from mcp.client.sse import sse_client

    hook = capped.capping_hook(overflowed)

    def capped_client(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
        client.event_hooks["response"].append(hook)
        return client

    return sse_client(
        url,
        headers=headers,
        auth=oauth,
        httpx_client_factory=capped_client,
        timeout=entry.connect_timeout,
        sse_read_timeout=max(entry.call_timeout, 300.0),
    )


@contextlib.asynccontextmanager
async def _http_transport(  # type: ignore[no-untyped-def]
    url: str,
    headers: dict[str, str],
    entry: McpServerEntry,
    overflowed: capped.Overflow | None = None,
    auth: httpx2.Auth | None = None,
):
    from mcp.client.streamable_http import streamable_http_client

    timeout = httpx2.Timeout(entry.connect_timeout, read=max(entry.call_timeout, 300.0))
    http_client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
    http_client.event_hooks["response"].append(capped.capping_hook(overflowed))
    async with (
        http_client,
        # events are bounded by the cap above, in the gateway's limit and words
        streamable_http_client(url, http_client=http_client, max_sse_event_size=None) as streams,
    ):
        yield streams


def describe(entry: McpServerEntry, exc: BaseException) -> str:
    """Why connecting or calling failed, without secrets (an exception group's first
    leaf says more than the group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return f"MCP server {entry.name}: timed out after {entry.connect_timeout:g}s"
    if isinstance(exc, McpGatewayError):
        return exc.message
    if isinstance(exc, MCPError):
        text = exc.message
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if entry.transport == "stdio" and isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        text = "the stdio command exited"
    return safe_message(f"MCP server {entry.name}: cannot connect ({text})")


# --- the process-wide pool ----------------------------------------------------------------
_connections: dict[str, _Connection] = {}
_oauth_connections: dict[tuple[str, int | None], _Connection] = {}  # (server, person)
_list_watchers: list[Callable[[str, str], None]] = []


def on_list_changed(watcher: Callable[[str, str], None]) -> None:
    """Call ``watcher(server_name, what)`` when a server says its tools, prompts or
    resources changed (in the pool's loop; it must not block)."""
    if watcher not in _list_watchers:
        _list_watchers.append(watcher)


_loop: asyncio.AbstractEventLoop | None = None


def _entry(server_name: str) -> McpServerEntry:
    entry = registry.current().mcp_servers.get(server_name)
    if entry is None:
        raise UnknownServer(f"unknown MCP server: {server_name}")
    if not entry.enabled:
        raise ServerUnavailable(f"MCP server {server_name} is disabled")
    return entry


def _connection(server_name: str) -> _Connection:
    global _loop
    entry = _entry(server_name)
    loop = asyncio.get_running_loop()
    if _loop is not loop:  # a new event loop (tests): the old one's tasks are gone
        _connections.clear()
        _oauth_connections.clear()
        _loop = loop
    if entry.oauth:
        return _oauth_connection(entry)
    conn = _connections.get(server_name)
    if conn is not None and conn.entry != entry:  # edited in the registry: reconnect
        old = conn
        asyncio.get_running_loop().create_task(old.close())
        conn = None
    if conn is None:
        conn = _connections[server_name] = _Connection(entry)
    return conn


def _oauth_connection(entry: McpServerEntry) -> _Connection:
    """An OAuth server's connection for whoever acts (``oauth.caller.principal``): one per
    (server, person), and one for the service token, each sending its own token; replaced
    when the entry changed or the person connected again or disconnected."""
    who = oauth_caller.principal(entry)
    conn = _oauth_connections.get((entry.name, who))
    if conn is not None and (conn.entry != entry or conn.auth is None or not conn.auth.current()):
        asyncio.get_running_loop().create_task(conn.close())
        conn = None
    if conn is None:
        conn = _Connection(entry, oauth_caller.Bearer(entry, who))
        _oauth_connections[(entry.name, who)] = conn
    return conn


def _prune(snapshot: Snapshot) -> None:
    """Close the connections whose server was deleted, disabled or changed (runs in the
    pool's loop): a removed stdio server's process does not outlive its registration."""
    for name, conn in list(_connections.items()):
        if snapshot.mcp_servers.get(name) != conn.entry:
            del _connections[name]
            asyncio.get_running_loop().create_task(conn.close())
    for pair, conn in list(_oauth_connections.items()):
        if snapshot.mcp_servers.get(pair[0]) != conn.entry:
            del _oauth_connections[pair]
            asyncio.get_running_loop().create_task(conn.close())


def _on_registry_change(snapshot: Snapshot) -> None:
    loop = _loop
    if loop is None or loop.is_closed() or not (_connections or _oauth_connections):
        return
    with contextlib.suppress(RuntimeError):  # the loop is closing
        loop.call_soon_threadsafe(_prune, snapshot)


registry.on_change(_on_registry_change)


T = TypeVar("T")


async def _request(
    server_name: str,
    what: str,
    call: Callable[[Client, float], Awaitable[T]],
    seconds: float | None = None,
) -> T:
    conn = _connection(server_name)
    if conn.auth is not None:
        await conn.auth.ready()  # no usable token: AuthorizationRequired, before connecting
    client = await conn.session()
    limit = seconds if seconds is not None else conn.entry.call_timeout
    cuts = conn.overflow.count
    try:
        try:
            async with asyncio.timeout(limit + 0.5):
                return await call(client, limit)
        except Exception as exc:
            if conn.overflow.count == cuts:
                raise
            if not isinstance(exc, MCPError) or exc.code == CONNECTION_CLOSED:
                conn.broken()  # a legacy SSE session ends with its stream: reconnect
            raise capped.ResultTooLarge(
                f"MCP server {server_name}: {what}: " + capped.too_large(http.max_answer_bytes())
            ) from None
    except TimeoutError:
        raise ToolTimeout(f"MCP server {server_name}: {what} timed out after {limit:g}s") from None
    except MCPError as exc:
        if exc.code == REQUEST_TIMEOUT:
            raise ToolTimeout(
                f"MCP server {server_name}: {what} timed out after {limit:g}s"
            ) from None
        if exc.code == CONNECTION_CLOSED:
            conn.broken()
            raise ServerUnavailable(
                f"MCP server {server_name}: the connection closed during {what}"
            ) from None
        raise UpstreamError.answered(server_name, exc) from None
    except McpGatewayError:
        raise
    except Exception as exc:  # the transport failed: reconnect next time
        conn.broken()
        raise ServerUnavailable(describe(conn.entry, exc).replace("cannot connect", what)) from None


async def list_tools(server_name: str) -> list[types.Tool]:
    """The server's tools (every page), cached for ``TOOLS_TTL`` seconds, or less when a
    2026-07-28 server's ``ttlMs`` says its list goes stale sooner (no less than
    ``MIN_TOOLS_REUSE``: a tool call checks its arguments against the list)."""
    conn = _connection(server_name)
    reuse = max(conn.tools_ttl, MIN_TOOLS_REUSE)  # calls check arguments against it
    if conn.tools is not None and time.monotonic() - conn.tools_at < reuse:
        return conn.tools
    ttl = TOOLS_TTL

    async def fetch(client: Client, limit: float) -> list[types.Tool]:
        nonlocal ttl
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            if is_modern(client) and "ttl_ms" in page.model_fields_set:  # said, not defaulted
                ttl = min(ttl, max(page.ttl_ms, 0) / 1000)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    tools = await _request(server_name, "tools/list", fetch)
    conn.tools, conn.tools_at, conn.tools_ttl = tools, time.monotonic(), ttl
    return tools


def drop_tools(server_name: str) -> None:
    """Forget the server's cached tool list (another process heard that it changed)."""
    conn = _connections.get(server_name)
    if conn is not None:
        conn.tools = None


def tools_ttl(server_name: str) -> float:
    """How long the server's tool list stays fresh (seconds): its ``ttlMs`` when it said
    one shorter than ``TOOLS_TTL``."""
    conn = _connections.get(server_name)
    return conn.tools_ttl if conn is not None else TOOLS_TTL


async def call_tool(
    server_name: str,
    tool_name: str,
    arguments: dict[str, Any] | None,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - per call, over the server's default
    progress: ProgressFnT | None = None,
) -> types.CallToolResult:
    """Call one tool. An error the tool reports comes back as ``isError`` in the result;
    a failure to get any answer raises (``ServerUnavailable``, ``ToolTimeout``,
    ``UpstreamError`` for a JSON-RPC error). ``progress`` hears the server's progress
    notifications of this call (the SDK gives the call its own progress token)."""

    return await _plain_call(server_name, tool_name, arguments, timeout, progress)


async def _plain_call(
    server_name: str,
    tool_name: str,
    arguments: dict[str, Any] | None,
    timeout: float | None,  # noqa: ASYNC109 - per call, over the server's default
    progress: ProgressFnT | None,
) -> types.CallToolResult:
    if _modern_unlisted(server_name):
        # the SDK mirrors x-mcp-header arguments into Mcp-Param-* headers from the
        # connection's listing: without one, a 2026-07-28 server refuses the call
        await list_tools(server_name)

    async def call(client: Client, limit: float) -> types.CallToolResult:
        return await client.call_tool(
            tool_name, arguments or {}, read_timeout_seconds=limit, progress_callback=progress
        )

    return await _request(server_name, f"tools/call {tool_name}", call, timeout)


async def call_tool_in_rounds(
    server_name: str,
    tool_name: str,
    arguments: dict[str, Any] | None,
    *,
    input_responses: types.InputResponses | None = None,
    request_state: str | None = None,
    progress: ProgressFnT | None = None,
    task: bool = False,
) -> types.CallToolResult | types.InputRequiredResult | tasks.TaskHandle:
    """``call_tool`` that lets a 2026-07-28 server answer ``input_required`` (``rounds``
    relays it) and carries a retry's ``inputResponses`` and ``requestState``; a plain
    ``call_tool`` for a server of the handshake era (which asks for input its own way).
    A task the server answers with is the ``TaskHandle`` when ``task`` (the caller
    declared the tasks extension), else followed to its end here (``tasks.follow``)."""
    conn = _connection(server_name)
    modern = conn.client is not None and is_modern(conn.client)
    if not modern and input_responses is None and request_state is None:
        return await _plain_call(server_name, tool_name, arguments, None, progress)
    if _modern_unlisted(server_name):
        await list_tools(server_name)

    async def call(
        client: Client, limit: float
    ) -> types.CallToolResult | types.InputRequiredResult | tasks.TaskHandle:
        answer = await client.session.call_tool(
            tool_name,
            arguments or {},
            read_timeout_seconds=limit,
            progress_callback=progress,
            input_responses=input_responses,
            request_state=request_state,
            allow_input_required=True,
            allow_claimed=True,
        )
        if isinstance(answer, tasks.TaskHandle):
            return answer if task else await tasks.follow(answer, client.session)
        if isinstance(answer, types.CallToolResult | types.InputRequiredResult):
            return answer
        raise UpstreamError(f"MCP server {server_name}: an answer of an unknown kind")

    return await _request(server_name, f"tools/call {tool_name}", call)


R = TypeVar("R", bound=types.Result)


async def task_request(server_name: str, request: types.Request[Any, Any], answer: type[R]) -> R:
    """One request of the tasks extension (``tasks/get``, ``tasks/update``,
    ``tasks/cancel``) to the server, its answer read as ``answer``."""

    async def send(client: Client, limit: float) -> R:
        if not is_modern(client):
            raise UpstreamError(f"MCP server {server_name}: it no longer speaks 2026-07-28")
        return await client.session.send_request(
            request, answer, request_read_timeout_seconds=limit
        )

    return await _request(server_name, request.method, send)


async def list_resources(server_name: str) -> list[types.Resource]:
    async def fetch(client: Client, limit: float) -> list[types.Resource]:
        return list((await client.list_resources()).resources)

    return await _request(server_name, "resources/list", fetch)


async def read_resource(server_name: str, uri: str) -> types.ReadResourceResult:
    async def fetch(client: Client, limit: float) -> types.ReadResourceResult:
        return await client.read_resource(uri)

    return await _request(server_name, "resources/read", fetch)


async def read_resource_in_rounds(
    server_name: str,
    uri: str,
    *,
    input_responses: types.InputResponses | None = None,
    request_state: str | None = None,
) -> types.ReadResourceResult | types.InputRequiredResult:
    """``read_resource`` that lets a 2026-07-28 server answer ``input_required``
    (``rounds``) and carries a retry's answers and state."""
    return await _in_rounds(
        server_name,
        "resources/read",
        lambda client: client.read_resource(uri),
        lambda session, **rounds: session.read_resource(uri, **rounds),
        input_responses,
        request_state,
    )


async def list_prompts(server_name: str) -> list[types.Prompt]:
    async def fetch(client: Client, limit: float) -> list[types.Prompt]:
        return list((await client.list_prompts()).prompts)

    return await _request(server_name, "prompts/list", fetch)


async def get_prompt(
    server_name: str, name: str, arguments: dict[str, str] | None = None
) -> types.GetPromptResult:
    async def fetch(client: Client, limit: float) -> types.GetPromptResult:
        return await client.get_prompt(name, arguments or {})

    return await _request(server_name, "prompts/get", fetch)


async def get_prompt_in_rounds(
    server_name: str,
    name: str,
    arguments: dict[str, str] | None = None,
    *,
    input_responses: types.InputResponses | None = None,
    request_state: str | None = None,
) -> types.GetPromptResult | types.InputRequiredResult:
    """``get_prompt`` the same way: a 2026-07-28 server may answer it with
    ``input_required``; a retry carries the answers and state."""
    return await _in_rounds(
        server_name,
        "prompts/get",
        lambda client: client.get_prompt(name, arguments or {}),
        lambda session, **rounds: session.get_prompt(name, arguments or {}, **rounds),
        input_responses,
        request_state,
    )


async def _in_rounds(
    server_name: str,
    what: str,
    plain: Callable[[Client], Awaitable[T]],
    modern: Callable[..., Awaitable[T]],
    input_responses: types.InputResponses | None,
    request_state: str | None,
) -> T:
    """A request a 2026-07-28 server may answer with ``input_required``: ``modern`` (given
    the client's session and the rounds' keywords) to such a server, ``plain`` (given the
    client) to one of the handshake era."""

    async def fetch(client: Client, limit: float) -> T:
        if not is_modern(client):
            return await plain(client)
        return await modern(
            client.session,
            input_responses=input_responses,
            request_state=request_state,
            allow_input_required=True,
        )

    return await _request(server_name, what, fetch)


def status(server_name: str) -> dict[str, Any]:
    """What the console shows: connected, successful connects, the last error."""
    conn = _connections.get(server_name)
    if conn is None:
        return {"connected": False, "connects": 0, "last_error": ""}
    return {
        "connected": conn.client is not None,
        "connects": conn.connects,
        "last_error": conn.last_error,
    }


async def aclose() -> None:
    """Close every connection (stdio processes stopped); called at shutdown."""
    conns = [*_connections.values(), *_oauth_connections.values()]
    _connections.clear()
    _oauth_connections.clear()
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


# --- what the relay adds (``relay``: the rest of the protocol) ------------------------------


async def list_resource_templates(server_name: str) -> list[types.ResourceTemplate]:
    async def fetch(client: Client, limit: float) -> list[types.ResourceTemplate]:
        return list((await client.list_resource_templates()).resource_templates)

    return await _request(server_name, "resources/templates/list", fetch)


async def complete(
    server_name: str,
    ref: types.ResourceTemplateReference | types.PromptReference,
    argument: dict[str, str],
    context_arguments: dict[str, str] | None = None,
) -> types.CompleteResult:
    async def fetch(client: Client, limit: float) -> types.CompleteResult:
        return await client.complete(ref, argument, context_arguments)

    return await _request(server_name, "completion/complete", fetch)


def _modern_unlisted(server_name: str) -> bool:
    conn = _connection(server_name)
    return conn.client is not None and is_modern(conn.client) and conn.tools is None


def era(server_name: str) -> str | None:
    """The protocol revision the pool's connection to the server speaks (None before
    it connected)."""
    conn = _connections.get(server_name)
    if conn is None or conn.client is None:
        return None
    return conn.client.session.protocol_version


async def server_capabilities(server_name: str) -> types.ServerCapabilities:
    """What the server declares (its ``initialize`` or ``server/discover`` answer),
    connecting first if needed."""

    async def read(client: Client, limit: float) -> types.ServerCapabilities:
        return client.server_capabilities

    return await _request(server_name, "capabilities", read)


def capabilities(server_name: str) -> types.ServerCapabilities | None:
    """What the server declared when the pool's connection to it opened (None before)."""
    conn = _connections.get(server_name)
    if conn is None or conn.client is None:
        return None
    return conn.client.server_capabilities


def bound_client(entry: McpServerEntry, **callbacks: Any) -> Client:
    """A client of its own for one caller (``relay``: sampling, elicitation, logs and
    subscriptions belong to one client session), built as the pool's are; ``callbacks``
    are ``mcp.Client``'s (``sampling_callback``, ``elicitation_callback``,
    ``message_handler``, ``logging_callback``)."""
    notices = callbacks.pop("message_handler", None)
    auth = None
    if entry.oauth:  # the acting person's token (the task was started in the call's context)
        auth = oauth_caller.Bearer(entry, oauth_caller.principal(entry))
    # server-to-client requests and session state live in the handshake era
    return _client_for(entry, capped.Overflow(), notices, auth, mode="legacy", **callbacks)
