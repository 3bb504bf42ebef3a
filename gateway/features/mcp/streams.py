"""A session's notification stream (``GET /mcp`` with ``Mcp-Session-Id``), served by
whichever worker the GET reaches, as every other request of a session is.

What it carries: the ``notifications/{tools,prompts,resources}/list_changed`` this
process learns, filtered by what the session's key may see: one the pool's connection
to an upstream server receives (``pool.on_list_changed``; every worker holds its own
connection, so each hears its servers' changes), and one the registry makes (a server
added, changed, removed or disabled, seen by every process within about a second).
A notification is a hint to list again, so a client that holds one stream on one worker
misses nothing it needs.

It also carries what an upstream session bound to this client session (``relay``)
hears outside a call: ``notifications/resources/updated`` of its subscriptions and log
messages (``tell``), on the streams of this process. Requests an upstream server sends
(sampling, elicitation) ride the response stream of the call they belong to
(``backchannel``), never this one.

What it does not: no event ids and no replay (``Last-Event-ID`` gets a fresh stream).

A 2026-07-28 client has no session and no GET stream: it opens ``subscriptions/listen``
(``listen``), a POST whose response is its stream, and the same listeners carry its
notices (``Listener.session`` is None; it ends when its client leaves or at the drain).
A changed grant of a listening key (``mcp_allowed`` edited) tells its listeners every
list changed, and they hear with the new grant from then on.

The stream ends when its client leaves, when the session is ended (a DELETE on this
worker at once; on another worker or instance within about ``WATCH_SECONDS`` +
``sessions.CHECK_SECONDS``, one query per process for all its streams) and at the drain
(``endpoint``). A comment every ``KEEPALIVE_SECONDS`` keeps proxies from closing it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from gateway.access import registry
from gateway.base.asgi import until_disconnect
from gateway.base.entries import KeyEntry, McpServerEntry, Snapshot
from gateway.features.mcp import permissions, sessions

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
WATCH_SECONDS = 1.0
LISTS = ("tools", "prompts", "resources")


@dataclass(eq=False)
class Listener:
    """One open stream of this process: a session's GET, or a 2026-07-28
    ``subscriptions/listen`` (no session). ``queue`` gets the JSON-RPC notices it should
    carry, None when it must end."""

    session: sessions.Session | None
    key: KeyEntry
    only: str | None  # /mcp/<server>: that server's notices only
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)

    def hears(self, server: str) -> bool:
        return (self.only is None or self.only == server) and permissions.allows_server(
            self.key, server
        )


_listeners: set[Listener] = set()
_watcher: asyncio.Task[None] | None = None
_loop: asyncio.AbstractEventLoop | None = None
_servers: dict[str, McpServerEntry] | None = None  # the registry's, as last seen


def relay(server: str, what: str) -> None:
    """Tell every stream of this process whose key may see ``server`` that its ``what``
    (tools, prompts or resources) changed (in the loop; ``pool.on_list_changed``)."""
    notice = {"jsonrpc": "2.0", "method": f"notifications/{what}/list_changed"}
    for listener in list(_listeners):
        if listener.hears(server):
            listener.queue.put_nowait(notice)


def tell(session_id: str, notice: dict[str, Any]) -> None:
    """Send ``notice`` (a JSON-RPC notification) on the session's streams in this process."""
    for listener in list(_listeners):
        if listener.session is not None and listener.session.id == session_id:
            listener.queue.put_nowait(notice)


def listening() -> set[str]:
    """The sessions with a notification stream open in this process."""
    return {listener.session.id for listener in _listeners if listener.session is not None}


def _registry_changed(snapshot: Snapshot) -> None:
    global _servers
    _regranted(snapshot)
    before, _servers = _servers, dict(snapshot.mcp_servers)
    if before is None or before == _servers:
        return
    changed = {n for n in before.keys() | _servers.keys() if before.get(n) != _servers.get(n)}
    for name in sorted(changed):
        for what in LISTS:
            relay(name, what)


def _regranted(snapshot: Snapshot) -> None:
    """Listeners whose key's grant changed: every list may have, for them."""
    if not _listeners:
        return
    by_id = {key.id: key for key in snapshot.keys.values() if key.id is not None}
    for listener in list(_listeners):
        now = by_id.get(listener.key.id) if listener.key.id is not None else None
        if now is None or now.mcp_allowed == listener.key.mcp_allowed:
            continue
        listener.key = now
        for what in LISTS:
            listener.queue.put_nowait(
                {"jsonrpc": "2.0", "method": f"notifications/{what}/list_changed"}
            )


def on_registry_change(snapshot: Snapshot) -> None:
    """The registry's listener (any thread): servers changed reach the streams."""
    loop = _loop
    if loop is None or loop.is_closed():
        global _servers
        _servers = dict(snapshot.mcp_servers)
        return
    with contextlib.suppress(RuntimeError):  # the loop is closing
        loop.call_soon_threadsafe(_registry_changed, snapshot)


def end(session_id: str) -> None:
    """The session was ended here: its streams in this process end now."""
    for listener in list(_listeners):
        if listener.session is not None and listener.session.id == session_id:
            listener.queue.put_nowait(None)


async def _watch() -> None:
    """While streams are open: end those whose session another process ended."""
    while _listeners:
        await asyncio.sleep(WATCH_SECONDS)
        listening = [listener for listener in _listeners if listener.session is not None]
        if not listening:
            continue
        unique = {
            listener.session.id: listener.session
            for listener in listening
            if listener.session is not None
        }
        try:
            ended = await sessions.ended_among(list(unique.values()))
        except Exception:
            log.exception("MCP streams: cannot check ended sessions")
            continue
        for listener in listening:
            if listener.session is not None and listener.session.id in ended:
                listener.queue.put_nowait(None)


def add(listener: Listener) -> None:
    """Open ``listener`` in this process (``forget`` it when its stream ends)."""
    _listen(listener)


def forget(listener: Listener) -> None:
    _listeners.discard(listener)


def _listen(listener: Listener) -> None:
    global _watcher, _loop, _servers
    loop = asyncio.get_running_loop()
    if _loop is not loop:
        _loop = loop

        _servers = dict(registry.current().mcp_servers)
    _listeners.add(listener)
    if _watcher is None or _watcher.done() or _watcher.get_loop() is not loop:
        _watcher = loop.create_task(_watch(), name="mcp-stream-ends")


def _event(notice: dict[str, Any]) -> bytes:
    return b"event: message\ndata: " + json.dumps(notice).encode() + b"\n\n"


async def serve(
    session: sessions.Session,
    key: KeyEntry,
    only: str | None,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
) -> None:
    """Serve the stream until the client leaves or the session ends (the drain cancels
    it from outside: ``endpoint``)."""
    listener = Listener(session, key, only)
    _listen(listener)
    leaving = asyncio.ensure_future(until_disconnect(receive))
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache, no-transform"),
                    (b"x-accel-buffering", b"no"),  # nginx passes each event at once
                    (b"mcp-session-id", session.token.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b": open\n\n", "more_body": True})
        while True:
            getting = asyncio.ensure_future(listener.queue.get())
            done, _ = await asyncio.wait(
                [getting, leaving], timeout=KEEPALIVE_SECONDS, return_when="FIRST_COMPLETED"
            )
            if leaving in done:
                getting.cancel()
                return
            if getting not in done:
                getting.cancel()
                await send({"type": "http.response.body", "body": b": -\n\n", "more_body": True})
                continue
            notice = getting.result()
            if notice is None:  # the session ended
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send({"type": "http.response.body", "body": _event(notice), "more_body": True})
    finally:
        _listeners.discard(listener)
        leaving.cancel()
