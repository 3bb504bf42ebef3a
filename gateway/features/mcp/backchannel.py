"""A session's POST served with a back channel: requests to the client (sampling,
elicitation an upstream server asks for during a tool call) ride the POST's own SSE
response, as streamable HTTP allows, and the client's answer, which comes back as a
new POST that any worker of any instance may receive, is routed to the call waiting
for it.

The SDK's stateless mode (one fresh transport per POST, what ``endpoint`` serves
with) refuses server-to-client requests, since an answer would have nowhere to land.
Here the POST is served the same way, by the SDK's own transport and dispatcher, with
two differences: its dispatcher may send requests, each under an id unique to the
gateway (``sy-`` and random hex, so answers of concurrent calls never mix), and while
one waits, the transport is findable by (session, id):

- the answer reaches the same process: handed to that transport as the POST it is
  (``transport.handle_request``: the SDK validates it, answers 202 and resolves the
  waiting request);
- another process: it ``mailbox.put``s it in the box of (session, id), which the
  waiting process ``take``s from while the request waits, and gives to the transport.

Every handshake-era POST is served here (``serves``), so that what ``/mcp`` declares is
the same on every path (``init_options``: it tells clients when lists change); only a
session's POST gets the back channel: without a session no answer could be routed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
from anyio.abc import TaskStatus
from mcp.server import Server
from mcp.server.connection import Connection
from mcp.server.models import InitializationOptions
from mcp.server.runner import serve_connection
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.shared.dispatcher import CallOptions
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from mcp_types import DEFAULT_NEGOTIATED_VERSION, RequestId
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from gateway.features.mcp import mailbox, sessions

log = logging.getLogger(__name__)

ID_PREFIX = "sy-"
VERSION_HEADER = b"mcp-protocol-version"

# (session id, request id) -> the transport whose dispatcher waits for that answer
_waiting: dict[tuple[str, str], StreamableHTTPServerTransport] = {}


def serves(session: sessions.Session | None, scope: Mapping[str, Any]) -> bool:
    """Whether this POST is served here: a handshake-era one (the version its session or
    header says; an ``initialize`` says none). A 2026-07-28 one is the SDK's own."""
    default = session.protocol_version if session is not None else DEFAULT_NEGOTIATED_VERSION
    version = next(
        (v.decode("latin-1") for k, v in scope.get("headers") or [] if k == VERSION_HEADER),
        default,
    )
    return version in HANDSHAKE_PROTOCOL_VERSIONS


def _box(session_id: str, request_id: str) -> str:
    return f"{session_id}:{request_id}"


class _RelayingDispatcher(JSONRPCDispatcher[TransportContext]):
    """The SDK's dispatcher, minting gateway-unique ids for the requests it sends and
    making its transport findable while one waits for its answer."""

    def __init__(
        self,
        *args: Any,
        session: sessions.Session,
        transport: StreamableHTTPServerTransport,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.session = session
        self.transport = transport

    async def send_raw_request(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        opts: CallOptions | None = None,
        *,
        _related_request_id: RequestId | None = None,
    ) -> dict[str, Any]:
        request_id = ID_PREFIX + secrets.token_hex(12)
        options: CallOptions = {**(opts or {}), "request_id": request_id}
        async with _expecting(self.session, request_id, self.transport):
            return await super().send_raw_request(
                method, params, options, _related_request_id=_related_request_id
            )


@contextlib.asynccontextmanager
async def _expecting(
    session: sessions.Session, request_id: str, transport: StreamableHTTPServerTransport
) -> AsyncIterator[None]:
    """While the block runs, an answer to ``request_id`` reaches ``transport``, from
    this process or (through the mailbox) any other."""
    key = (session.id, request_id)
    _waiting[key] = transport
    watcher = (
        asyncio.ensure_future(_watch_box(session, request_id, transport))
        if mailbox.shared()
        else None
    )
    try:
        yield
    finally:
        _waiting.pop(key, None)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher


async def _watch_box(
    session: sessions.Session, request_id: str, transport: StreamableHTTPServerTransport
) -> None:
    box = _box(session.id, request_id)
    while True:
        try:
            message = await mailbox.take(box)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store is away: answers stay local
            log.warning("MCP: cannot read answers other workers received (%s)", exc)
            await asyncio.sleep(1.0)
            continue
        if message is not None:
            await _hand(transport, session, json.dumps(message).encode())
            return


async def _hand(
    transport: StreamableHTTPServerTransport, session: sessions.Session, body: bytes
) -> None:
    """Give an answer another process received to the transport, as the POST it was."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
            (VERSION_HEADER, session.protocol_version.encode()),
        ],
    }

    async def send(message: Any) -> None:
        pass

    await transport.handle_request(scope, replaying(body, _never), send)


async def _never() -> dict[str, Any]:
    """What is received after the body: nothing (the transport reads the body only)."""
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


def replaying(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that gives ``body`` whole (read before), then hands on to
    ``receive``: the endpoint's POSTs and the answers handed to the transport here."""
    given = False

    async def replay() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replay


def answer_ids(body: bytes) -> list[str] | None:
    """The ids a POST answers when it holds only JSON-RPC responses (one or a batch)
    to requests the gateway sent; None for anything else (requests, notifications).
    A body without the ids' prefix is not parsed: a plain request pays a substring scan."""
    if ID_PREFIX.encode() not in body:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    messages = message if isinstance(message, list) else [message]
    ids: list[str] = []
    for item in messages:
        if not isinstance(item, dict) or "method" in item:
            return None
        if "result" not in item and "error" not in item:
            return None
        ident = item.get("id")
        if not isinstance(ident, str) or not ident.startswith(ID_PREFIX):
            return None
        ids.append(ident)
    return ids or None


async def route_answer(
    session: sessions.Session,
    ids: list[str],
    body: bytes,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
) -> None:
    """A POST holding the client's answers: to the transport waiting in this process,
    else through the mailbox to whichever process waits; 202 either way (an answer no
    one waits for any more is dropped, as the SDK drops one)."""
    transport = _waiting.get((session.id, ids[0]))
    if transport is not None and len(ids) == 1:
        await transport.handle_request(scope, receive, send)
        return
    message = json.loads(body)
    for item in message if isinstance(message, list) else [message]:
        local = _waiting.get((session.id, item["id"]))
        if local is not None:
            await _hand(local, session, json.dumps(item).encode())
        else:
            await mailbox.put(_box(session.id, item["id"]), item)
    await send(
        {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


async def serve(
    server: Server[Any],
    session: sessions.Session | None,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    init_options: InitializationOptions | None = None,
) -> None:
    """Serve one POST as the SDK's stateless mode does, with a back channel when it
    belongs to ``session`` (the module's docstring)."""
    version = next(
        (v.decode("latin-1") for k, v in scope.get("headers") or [] if k == VERSION_HEADER),
        DEFAULT_NEGOTIATED_VERSION,
    )
    transport = StreamableHTTPServerTransport(
        mcp_session_id=None, is_json_response_enabled=False, event_store=None
    )

    async def run(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with transport.connect() as (read_stream, write_stream):
            task_status.started()
            dispatcher: JSONRPCDispatcher[TransportContext]
            context = TransportContext(kind="streamable-http", can_send_request=session is not None)
            if session is not None:
                dispatcher = _RelayingDispatcher(
                    read_stream,
                    write_stream,
                    session=session,
                    transport=transport,
                    inline_methods=frozenset({"initialize"}),
                    transport_builder=lambda _md: context,
                )
            else:
                dispatcher = JSONRPCDispatcher(
                    read_stream,
                    write_stream,
                    inline_methods=frozenset({"initialize"}),
                    transport_builder=lambda _md: context,
                )
            capabilities = session.capabilities if session is not None else None
            connection = Connection.from_envelope(version, None, capabilities or None)
            try:
                await serve_connection(
                    server,
                    dispatcher,
                    connection=connection,
                    lifespan_state={},
                    init_options=init_options,
                )
            except Exception:
                log.exception("MCP: serving a POST failed")

    async with anyio.create_task_group() as tg:
        await tg.start(run)
        try:
            await transport.handle_request(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await transport.terminate()
