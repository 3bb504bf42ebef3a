"""The relay of a session socket (the Realtime API's, Gemini Live's): the messages go
both ways as they come, one at a time, until one side ends the session.

A frame is read from one side only after the last one was written to the other, so
what waits is bounded by the two servers' own queues (the upstream side reads ahead at
most ``realtime.UPSTREAM_READ_AHEAD`` frames) and a slow reader slows its peer instead
of filling memory. Each upstream message is observed (``Session.observe_upstream``:
usage, the model's name), checked by the session's guardrails, sent on, and when it
ends a response (a turn) its cost is charged to the key's budget
(``Session.charge``). Each client message is observed (``observe_client``), checked by
the guardrails and sent upstream; one over the request body limit is the protocol's to
answer (``SocketProtocol.oversized``). A drain ends the session when no response is being
generated (else once it is done, or the grace period ends).

How the session ended is one of ``ENDINGS``; the protocol says what the client gets
when the gateway or the upstream ends it (``SocketProtocol.farewell``: a last message, a close
code and a reason); the session's journal row (``Session.finish``) is written here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from django.conf import settings

from gateway.base import lifecycle
from gateway.base.asgi import Receive, Send
from gateway.base.errors import GatewayError
from gateway.core.realtime import Session

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

# what ended the session, by the key the relay noted it under (``ends``)
Ends = dict[str, Any]
Ending = Literal["client", "guardrail", "budget", "too_big", "restart", "upstream"]

DRAIN_POLL_SECONDS = 0.2
TOO_BIG = 1009  # a client message over the body limit (where the protocol ends on it)
GOING_AWAY = 1012  # service restart: the client reconnects (to another worker)
UPSTREAM_DEFAULT = 1011  # what an upstream's close becomes when its code may not go on


class SocketProtocol(Protocol):
    """What a socket's protocol decides for the relay."""

    # the close code of a session a guardrail, or a spent budget, ended (journal row)
    guardrail_close: int
    budget_close: int

    async def oversized(self, send: Send, limit: int) -> bool:
        """A client message over ``limit`` bytes came: answer it (or not); True ends the
        session (``too_big``), False drops the message and goes on."""
        ...

    async def refused(self, send: Send, error: GatewayError) -> None:
        """A client message the session refused (``observe_client`` raised: it names
        what the key may not use, or what its upstream cannot serve) is not relayed:
        say why, the session goes on."""
        ...

    async def farewell(self, send: Send, ending: Ending, ends: Ends) -> tuple[int, str]:
        """The gateway or the upstream ended the session (``ending``, never
        ``client``): send any last message, return the client's close code and reason."""
        ...


def ending(ends: Ends, cut: bool) -> Ending:
    """What ended the session (the first noted wins; a cut server is a restart)."""
    if "client" in ends:
        return "client"
    if "guardrail" in ends and not cut:
        return "guardrail"
    if "budget" in ends and not cut:
        return "budget"
    if "too_big" in ends and not cut:
        return "too_big"
    if cut or "drain" in ends:
        return "restart"
    return "upstream"


def upstream_close(ends: Ends) -> tuple[int, str]:
    """The upstream's close code (1011 where it may not be passed on) and reason."""
    code: int = ends.get("upstream", UPSTREAM_DEFAULT)
    if not (1000 <= code < 1004 or 1007 <= code < 1015 or 3000 <= code < 5000):
        code = UPSTREAM_DEFAULT
    return code, ends.get("reason", "")


async def relay(
    session: Session,
    receive: Receive,
    send: Send,
    protocol: SocketProtocol,
    first: str | bytes | None = None,
) -> None:
    """Relay the session until it ends (``first``: an upstream message already read,
    sent on before the rest), then close the side still open and journal it."""
    from websockets.exceptions import ConnectionClosed  # loaded with the upstream's socket

    upstream = session.upstream
    ends: Ends = {}
    limit = settings.SWITCHYARD_MAX_BODY_BYTES
    tasks = [
        asyncio.ensure_future(_client_to_upstream(session, receive, send, protocol, limit, ends)),
        asyncio.ensure_future(_upstream_to_client(session, send, first, ends)),
        asyncio.ensure_future(_drain_watch(session, ends)),
    ]
    cut = False
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        cut = lifecycle.was_cut()
        if not cut:  # the server ended the connection (the client is gone)
            ends.setdefault("client", 1006)
            finish(session, ends, protocol)
            _close_later(upstream)
            raise
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    for task in tasks:
        failed = None if task.cancelled() else task.exception()
        if isinstance(failed, ConnectionClosed):  # sending upstream: the upstream closed
            ends.setdefault("upstream", upstream.close_code or 1006)
            ends.setdefault("reason", upstream.close_reason or "")
        elif failed is not None:  # sending to the client failed: it is gone
            ends.setdefault("client", 1006)
    await _close(session, send, ends, cut, protocol)


async def _to_client(session: Session, send: Send, ends: Ends, data: str | bytes) -> bool:
    """Send one upstream message on (checked, charged); False: the session ends."""
    data = session.observe_upstream(data)
    guard = session.guard
    if guard is None:
        outgoing: list[str | bytes] = [data]
    else:
        try:
            outgoing = await guard.server(data)
        except GatewayError as refused:  # a guardrail's: the session ends
            ends.setdefault("guardrail", refused)
            return False
    for item in outgoing:
        if isinstance(item, str):
            await send({"type": "websocket.send", "text": item})
        else:
            await send({"type": "websocket.send", "bytes": item})
    if session.unpaid:  # a response (a turn) is done: count its cost now
        refusal = await session.charge()
        if refusal is not None:
            ends.setdefault("budget", refusal)
            return False
    return True


async def _client_to_upstream(
    session: Session, receive: Receive, send: Send, protocol: SocketProtocol, limit: int, ends: Ends
) -> None:
    """The client's messages on to the upstream (size-capped, checked) until it leaves."""
    guard = session.guard
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            ends.setdefault("client", int(message.get("code") or 1005))
            return
        if message["type"] != "websocket.receive":
            continue
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > limit:
            if await protocol.oversized(send, limit):
                ends.setdefault("too_big", f"a message exceeds the limit of {limit} bytes")
                return
            continue
        try:
            data = session.observe_client(data)
        except GatewayError as error:
            await protocol.refused(send, error)
            continue
        if guard is not None:
            try:
                data = await guard.client(data)
            except GatewayError as refusal:  # a guardrail's: the session ends
                ends.setdefault("guardrail", refusal)
                return
        await session.upstream.send(data)


async def _upstream_to_client(
    session: Session, send: Send, first: str | bytes | None, ends: Ends
) -> None:
    """The upstream's messages on to the client (``first`` before them) until it closes."""
    from websockets.exceptions import ConnectionClosed  # loaded with the upstream's socket

    upstream = session.upstream
    try:
        if first is not None and not await _to_client(session, send, ends, first):
            return
        async for data in upstream:
            if not await _to_client(session, send, ends, data):
                return
    except ConnectionClosed:
        pass
    ends.setdefault("upstream", upstream.close_code or 1006)
    ends.setdefault("reason", upstream.close_reason or "")


async def _drain_watch(session: Session, ends: Ends) -> None:
    """Ends the session when the server drains and no response is under way."""
    # the drain flag is a plain flag (no event to wait on): poll it
    while not (lifecycle.draining() and session.responding == 0):  # noqa: ASYNC110
        await asyncio.sleep(DRAIN_POLL_SECONDS)
    ends.setdefault("drain", GOING_AWAY)


_closing: set[asyncio.Task[None]] = set()


def _close_later(upstream: ClientConnection) -> None:
    """Close the upstream's socket in the background (the session's task is ending)."""
    task = asyncio.ensure_future(upstream.close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _close(
    session: Session, send: Send, ends: Ends, cut: bool, protocol: SocketProtocol
) -> None:
    """Close the side that is still open; journal the session."""
    upstream = session.upstream
    how = ending(ends, cut)
    if how == "client":  # the client left: tell the upstream
        code = ends["client"]
        with contextlib.suppress(Exception):
            await upstream.close(code if 1000 <= code < 1004 or 3000 <= code < 5000 else 1000)
    else:
        code, why = await protocol.farewell(send, how, ends)
        with contextlib.suppress(Exception):  # the client may be gone already
            await send({"type": "websocket.close", "code": code, "reason": why})
        with contextlib.suppress(Exception):
            await upstream.close(1001 if cut or "drain" in ends else 1000)
    finish(session, ends, protocol, cut)


def finish(session: Session, ends: Ends, protocol: SocketProtocol, cut: bool = False) -> None:
    """The session's journal row, from what ended it."""
    how = ending(ends, cut)
    codes: Mapping[str, int] = {
        "guardrail": protocol.guardrail_close,
        "budget": protocol.budget_close,
    }
    if how == "client":
        session.finish(close_code=ends["client"], closed_by="client")
    elif how in codes:
        session.finish(close_code=codes[how], closed_by="gateway", refusal=ends[how])
    elif how == "too_big":
        session.finish(close_code=TOO_BIG, closed_by="gateway", error=ends["too_big"])
    elif how == "restart":
        session.finish(close_code=GOING_AWAY, closed_by="gateway", cut=cut)
    else:
        code, why = ends.get("upstream", 1006), ends.get("reason", "")
        error = f"upstream closed {code}" + (f": {why}" if why else "")
        session.finish(close_code=code, closed_by="upstream", error=error)
