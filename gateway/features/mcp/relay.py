"""Upstream sessions bound to one client session, for what the pool's shared session
cannot carry: requests a server sends back during a tool call (sampling, elicitation),
its log messages, a log level and resource subscriptions. They belong to one client,
while ``pool`` holds one session per server shared by every caller.

A call needs one (``needs``) when its client session declared sampling or
elicitation, set a log level, or the server has a ``sampling_route``; every other call
takes the pool's shared session, as before, at no cost. A bound session serves one call
at a time (``call``: checked out, so whatever the server sends during it belongs to that
call and goes to its ``Downstream``, the POST's response stream); a second concurrent
call of the same client opens a second one. Idle ones are kept ``IDLE_SECONDS`` for the
session's next calls, then closed; those holding subscriptions (``listener``) until the
client session ends or expires. What a bound session hears outside a call (resource
updates, log messages) goes to the session's notification streams in this process
(``streams.tell``).

Per process, as the pool: a session's calls served by another worker open their own
bound sessions there; a log level reaches the bound sessions of the process it was set
in (and those it opens later), and subscriptions live where they were made."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import mcp_types as types
from mcp import Client
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import INVALID_REQUEST

from gateway.access import registry
from gateway.base.entries import KeyEntry, McpServerEntry
from gateway.features.mcp import changes, pool, sampling, sessions, streams
from gateway.features.mcp.errors import ServerUnavailable, ToolTimeout, UpstreamError, safe_message

log = logging.getLogger(__name__)

# The gateway relays the handshake-era protocol (logging/setLevel, resources/subscribe)
# on purpose: the SDK's warnings that 2026-07-28 drops them say nothing to an operator.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

IDLE_SECONDS = 60.0  # an idle bound session is closed after this
SWEEP_SECONDS = 5.0
LIST_CHANGES: dict[type[Any], str] = {
    types.ToolListChangedNotification: "tools",
    types.PromptListChangedNotification: "prompts",
    types.ResourceListChangedNotification: "resources",
}
T = TypeVar("T")


class Downstream:
    """What one request may send its client: notifications on its POST's response
    stream, and requests when the POST has a back channel and the client declared the
    capability."""

    def __init__(self, ctx: ServerRequestContext[Any], session: sessions.Session | None) -> None:
        self.ctx = ctx
        self.session = session

    def declares(self, capability: str) -> bool:
        """Whether the client declared ``capability``: its session's (handshake era),
        else its request's ``_meta`` (2026-07-28: every request carries them)."""
        if self.session is not None:
            return capability in self.session.capabilities
        declared = getattr(self.ctx.session, "client_capabilities", None)
        return declared is not None and getattr(declared, capability, None) is not None

    def can_ask(self, capability: str) -> bool:
        return self.declares(capability) and self.ctx.session.can_send_request

    async def notify(self, notification: types.ServerNotification) -> None:
        try:
            await self.ctx.session.send_notification(
                notification, related_request_id=self.ctx.request_id
            )
        except Exception as exc:  # noqa: BLE001 - the client left: nothing to tell
            log.debug("MCP: a notification for a call was not delivered: %s", exc)

    async def ask(self, request: types.ServerRequest, result_type: type[T]) -> T:
        result: T = await self.ctx.session.send_request(
            request,
            result_type,  # type: ignore[type-var]
            metadata=ServerMessageMetadata(related_request_id=self.ctx.request_id),
        )
        return result


@dataclass(eq=False)
class Bound:
    """One upstream session of one client session (or one call without a session) with
    one server; its task owns the ``mcp.Client`` (entered and left by one task)."""

    entry: McpServerEntry
    key: KeyEntry
    session_id: str | None
    capabilities: dict[str, Any]
    call: Downstream | None = None
    busy: bool = False  # checked out by a call (``call`` is set once it is connected)
    subscriptions: set[str] = field(default_factory=set)
    level: str | None = None
    last_used: float = field(default_factory=time.monotonic)
    client: Client | None = None
    error: str = ""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._own(), name=f"mcp-bound:{self.entry.name}")

    async def _own(self) -> None:
        callbacks: dict[str, Any] = {"message_handler": self._notice}
        if "sampling" in self.capabilities or self.entry.sampling_route:
            callbacks["sampling_callback"] = self._sampling
        if "elicitation" in self.capabilities:
            callbacks["elicitation_callback"] = self._elicitation
        try:
            async with AsyncExitStack() as stack:
                async with asyncio.timeout(self.entry.connect_timeout):
                    self.client = await stack.enter_async_context(
                        pool.bound_client(self.entry, **callbacks)
                    )
                self.ready.set()
                await self.stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - anything from the transport
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            self.error = pool.describe(self.entry, exc)
            log.warning("MCP server %s (bound session): %s", self.entry.name, self.error)
        finally:
            self.client = None
            self.ready.set()

    async def connected(self) -> Client:
        await self.ready.wait()
        if self.client is None:
            raise ServerUnavailable(self.error or f"MCP server {self.entry.name}: not connected")
        return self.client

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.task, 5)

    # --- what the server sends this client ----------------------------------------------
    async def _sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        call = self.call
        if call is not None and call.can_ask("sampling"):
            result_type: Any = (
                types.CreateMessageResultWithTools if params.tools else types.CreateMessageResult
            )
            answer: types.CreateMessageResult | types.ErrorData = await _asked(
                call, types.CreateMessageRequest(params=params), result_type
            )
            return answer
        route = self.entry.sampling_route
        if route:
            return await sampling.answer(self.key, route, params, server=self.entry.name)
        return types.ErrorData(code=INVALID_REQUEST, message="the client does not take sampling")

    async def _elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        call = self.call
        if call is None or not call.can_ask("elicitation"):
            return types.ErrorData(code=INVALID_REQUEST, message="the client cannot be asked now")
        elicited: types.ElicitResult | types.ErrorData = await _asked(
            call, types.ElicitRequest(params=params), types.ElicitResult
        )
        return elicited

    async def _notice(self, message: IncomingMessage) -> None:
        what = next((w for kind, w in LIST_CHANGES.items() if isinstance(message, kind)), None)
        if what is not None:
            changes.heard(self.entry.name, what)  # every process's streams (``changes``)
            return
        if isinstance(message, types.ResourceUpdatedNotification):
            if self.session_id is not None:
                streams.tell(self.session_id, _wire(message))
            return
        if isinstance(message, types.LoggingMessageNotification):
            call = self.call
            if call is not None:
                await call.notify(message)
            elif self.session_id is not None:
                streams.tell(self.session_id, _wire(message))


def _wire(notification: types.ServerNotification) -> dict[str, Any]:
    data: dict[str, Any] = notification.model_dump(by_alias=True, mode="json", exclude_none=True)
    return {"jsonrpc": "2.0", **data}


async def _asked(call: Downstream, request: Any, result_type: Any) -> Any:
    try:
        return await call.ask(request, result_type)
    except MCPError as exc:
        return types.ErrorData(code=exc.code, message=exc.message)
    except Exception as exc:  # noqa: BLE001 - the client left or answered nonsense
        return types.ErrorData(
            code=-32603, message=safe_message(f"the client did not answer: {exc}")
        )


# --- the process's bound sessions -------------------------------------------------------------
_bound: dict[tuple[str, str], list[Bound]] = {}  # (session id, server) -> its bound sessions
_levels: dict[str, tuple[str, float]] = {}  # session id -> (log level, session expires)
_sweeper: asyncio.Task[None] | None = None


def needs(session: sessions.Session | None, server: str) -> bool:
    """Whether a call of ``session`` to ``server`` needs a bound session."""
    entry = registry.current().mcp_servers.get(server)
    if entry is not None and entry.sampling_route:
        return True
    if session is None:
        return False
    caps = session.capabilities
    return "sampling" in caps or "elicitation" in caps or session.id in _levels


def _entry(server: str) -> McpServerEntry:
    entry = registry.current().mcp_servers.get(server)
    if entry is None or not entry.enabled:
        raise ServerUnavailable(f"MCP server {server} is not available")
    return entry


async def _open(entry: McpServerEntry, key: KeyEntry, session: sessions.Session | None) -> Bound:
    bound = Bound(
        entry,
        key,
        session.id if session is not None else None,
        dict(session.capabilities) if session is not None else {},
    )
    bound.start()
    _sweep_soon()
    client = await bound.connected()
    level = _levels.get(session.id) if session is not None else None
    if level is not None and _logs(client):
        with contextlib.suppress(Exception):
            await client.set_logging_level(level[0])  # type: ignore[arg-type]
            bound.level = level[0]
    return bound


def _logs(client: Client) -> bool:
    return client.server_capabilities.logging is not None


@contextlib.asynccontextmanager
async def _checked_out(server: str, key: KeyEntry, session: sessions.Session | None) -> Any:
    entry = _entry(server)
    if session is None:  # one call, no session: a bound session of its own
        bound = await _open(entry, key, None)
        try:
            yield bound
        finally:
            await bound.close()
        return
    group = _bound.setdefault((session.id, server), [])
    found = next(
        (
            b
            for b in group
            if not b.busy and b.entry == entry and b.client is not None and not b.stop.is_set()
        ),
        None,
    )
    if found is not None:
        found.busy = True  # claimed before any await: no other call takes it
        bound = found
    else:
        bound = await _open(entry, key, session)
        bound.busy = True
        group.append(bound)
    bound.key = key
    try:
        yield bound
    finally:
        bound.busy = False
        bound.last_used = time.monotonic()


async def call_tool(
    downstream: Downstream,
    key: KeyEntry,
    server: str,
    tool: str,
    arguments: dict[str, Any] | None,
    progress: Callable[[float, float | None, str | None], Awaitable[None]] | None,
) -> types.CallToolResult:
    """Call a tool on a session bound to the caller's client session: whatever the
    server sends during the call reaches ``downstream``; raises as ``pool.call_tool``."""
    async with _checked_out(server, key, downstream.session) as bound:
        client = await bound.connected()
        bound.call = downstream
        limit = bound.entry.call_timeout
        try:
            async with asyncio.timeout(limit + 0.5):
                result: types.CallToolResult = await client.call_tool(
                    tool, arguments or {}, read_timeout_seconds=limit, progress_callback=progress
                )
                return result
        except TimeoutError:
            raise ToolTimeout(f"MCP server {server}: tools/call {tool} timed out") from None
        except MCPError as exc:
            raise UpstreamError.answered(server, exc) from None
        except Exception as exc:
            await bound.close()
            raise ServerUnavailable(pool.describe(bound.entry, exc)) from None
        finally:
            bound.call = None
            bound.last_used = time.monotonic()


async def set_level(session: sessions.Session, level: str) -> None:
    """The session's log level: on its bound sessions in this process now, and on those
    it opens later here."""
    _levels[session.id] = (level, session.expires)
    for (sid, _), group in list(_bound.items()):
        if sid != session.id:
            continue
        for bound in group:
            client = bound.client
            if client is not None and _logs(client):
                with contextlib.suppress(Exception):
                    await client.set_logging_level(level)  # type: ignore[arg-type]
                    bound.level = level


async def listener(server: str, key: KeyEntry, session: sessions.Session) -> Bound:
    """The session's bound session with ``server`` that holds its subscriptions."""
    entry = _entry(server)
    group = _bound.setdefault((session.id, server), [])
    for bound in group:
        if bound.subscriptions and bound.client is not None and bound.entry == entry:
            return bound
    bound = await _open(entry, key, session)
    group.append(bound)
    return bound


async def subscribe(server: str, key: KeyEntry, session: sessions.Session, uri: str) -> None:
    bound = await listener(server, key, session)
    client = await bound.connected()
    bound.subscriptions.add(uri)
    try:
        await client.subscribe_resource(uri)
    except MCPError as exc:
        bound.subscriptions.discard(uri)
        raise UpstreamError.answered(server, exc) from None


async def unsubscribe(server: str, key: KeyEntry, session: sessions.Session, uri: str) -> None:
    for bound in _bound.get((session.id, server), []):
        if uri in bound.subscriptions and bound.client is not None:
            try:
                await bound.client.unsubscribe_resource(uri)
            except MCPError as exc:
                raise UpstreamError.answered(server, exc) from None
            finally:
                bound.subscriptions.discard(uri)


def ended(session_id: str) -> None:
    """The client session ended (DELETE here): its bound sessions close."""
    _levels.pop(session_id, None)
    for (sid, server), group in list(_bound.items()):
        if sid == session_id:
            del _bound[(sid, server)]
            for bound in group:
                asyncio.get_running_loop().create_task(bound.close())


def _sweep_soon() -> None:
    global _sweeper
    loop = asyncio.get_running_loop()
    if _sweeper is None or _sweeper.done() or _sweeper.get_loop() is not loop:
        _sweeper = loop.create_task(_sweep(), name="mcp-bound-sweep")


async def _sweep() -> None:
    """Close idle bound sessions (those with subscriptions once their client session
    ended or expired); stop when none is left."""
    while _bound:
        await asyncio.sleep(SWEEP_SECONDS)
        now, wall = time.monotonic(), time.time()
        for sid, (_, expires) in list(_levels.items()):
            if expires <= wall:
                del _levels[sid]
        for group_key, group in list(_bound.items()):
            for bound in list(group):
                gone = bound.stop.is_set() or (bound.ready.is_set() and bound.client is None)
                idle = not bound.busy and now - bound.last_used > IDLE_SECONDS
                if gone or (idle and (not bound.subscriptions or group_key[0] not in _live())):
                    group.remove(bound)
                    await bound.close()
            if not group:
                _bound.pop(group_key, None)


def _live() -> set[str]:
    """Sessions whose listeners should stay: those with a notification stream here or
    a log level still in force."""
    return streams.listening() | set(_levels)


async def aclose() -> None:
    """Close every bound session (shutdown)."""
    groups = list(_bound.values())
    _bound.clear()
    _levels.clear()
    await asyncio.gather(*(b.close() for g in groups for b in g), return_exceptions=True)
