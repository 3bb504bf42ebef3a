"""uvicorn, stopping accepting first and draining before it stops.

uvicorn's own shutdown closes the listening sockets and then every idle connection at
once: a connection the kernel had completed but nobody had accepted yet was reset, an
idle keep-alive connection closed while its client was sending the next request lost
it, and streams still open at its timeout were cancelled silently (a traceback each).

``DrainingServer`` (every worker, on SIGTERM / SIGINT, or once its supervisor is gone):

1. stops accepting first (``stop_accepting``): the listening sockets are closed, after
   the connections already waiting in the kernel's accept queue are taken and served,
   so none of them is reset. When the whole server stops, the socket first completes
   no new connection (``gateway.server.syn_filter``), so none can slip into the queue
   between the last accept and the close. A new connection is then refused (a load
   balancer retries it on another instance: nothing was sent) or, while a sibling
   worker or the supervisor still holds the shared socket, waits for the one that
   serves it;
2. drains (``lifecycle.drain(refuse=False)``): requests arriving on its open connections
   are served with ``Connection: close``, idle keep-alive connections are closed with a
   FIN between requests (``gateway.server.http_protocol``), requests and streams in flight
   get the grace period; only after it are new API requests refused (503 with
   Retry-After, journaled) and what still runs ended in its dialect;
3. lets uvicorn close what is left; its timeout (``lifecycle.server_timeout_seconds``) is
   only the backstop after that.

A second SIGTERM / SIGINT skips what has not begun (uvicorn's ``force_exit``).

``run`` serves in this process; ``serve_worker`` is one worker of ``serve`` (started by
``gateway.server.worker`` for ``gateway.server.supervisor``) on the socket its supervisor bound.

This module imports no Django at import time; ``lifecycle`` is imported where it is
needed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import math
import os
import select
import socket
from typing import Any, cast

import uvicorn
from uvicorn.config import WS_PROTOCOLS
from uvicorn.importer import import_from_string

from gateway.server.accept_balance import LEDGER_FD_KEY, SLOT_KEY, BalancedAcceptor, Ledger

log = logging.getLogger(__name__)

DEFAULT_KEEP_ALIVE_SECONDS = 5  # uvicorn's own ``timeout_keep_alive``


class DrainingServer(uvicorn.Server):
    acceptors: tuple[BalancedAcceptor, ...] = ()  # (``WorkerServer``'s own accepting)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.force_exit:  # a second Ctrl-C / SIGTERM skips the drain
            await super().shutdown(sockets)
            return
        from gateway.base import lifecycle
        from gateway.server.http_protocol import HeadJoiningProtocol

        await self.stop_accepting(sockets)
        for connection in list(self.server_state.connections):
            if isinstance(connection, HeadJoiningProtocol):  # WebSockets: after the drain
                connection.shutdown()  # idle: FIN between requests; busy: Connection: close
        await lifecycle.drain(refuse=False, settled=self.connections_settled)
        # The grace is over: an idle connection closes now, whatever its keep-alive left.
        for connection in list(self.server_state.connections):
            if isinstance(connection, HeadJoiningProtocol):
                connection.close_if_idle_now()
        await super().shutdown(sockets)

    async def stop_accepting(self, sockets: list[socket.socket] | None = None) -> int:
        """Close the listening sockets without resetting a connection the kernel
        completed: a duplicate of each listening descriptor keeps it listening while
        the server closes its own, then every connection in its accept queue is taken
        (non-blocking accepts until none is left) before the duplicate is closed too;
        those are served like any other. Returns how many were taken."""
        from gateway.server.syn_filter import HANDSHAKE_SECONDS, refuse_new_connections

        held: list[socket.socket] = []
        for acceptor in self.acceptors:
            acceptor.stop()
            with contextlib.suppress(OSError):
                held.append(socket.socket(fileno=os.dup(acceptor.listener.fileno())))
        for server in getattr(self, "servers", ()):
            for listener in server.sockets or ():
                with contextlib.suppress(OSError):
                    held.append(socket.socket(fileno=os.dup(listener.fileno())))
        # The whole server stops: the kernel completes no new connection from here on
        # (one completed between the last accept and the close would be reset with it).
        refusing = bool(held) and self.stops_whole_server()
        refusing = refusing and all([refuse_new_connections(listener) for listener in held])
        for server in getattr(self, "servers", ()):
            server.close()
        for sock in sockets or []:
            sock.close()
        if refusing:  # handshakes under way complete and join the queue taken below
            await asyncio.sleep(HANDSHAKE_SECONDS)
        accepted: list[socket.socket] = []
        for listener in held:
            with listener:
                listener.setblocking(False)
                while True:
                    try:
                        connection, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break  # the queue is empty: closing now resets nobody
                    except ConnectionAbortedError:
                        continue
                    except OSError:
                        break  # out of descriptors: the rest cannot be served anyway
                    accepted.append(connection)
        loop = asyncio.get_running_loop()
        for connection in accepted:
            connection.setblocking(False)
            try:
                await loop.connect_accepted_socket(self.new_protocol, connection)
            except OSError:
                connection.close()
        return len(accepted)

    def stops_whole_server(self) -> bool:
        """Whether no one else serves this listening socket after this server stops (it
        may then refuse new connections for every process holding it): a server alone
        on its socket does."""
        return True

    def new_protocol(self) -> asyncio.Protocol:
        """The protocol of a connection taken from the accept queue while stopping,
        draining from the start (its request is answered with ``Connection: close``)."""
        protocol = self.connection_protocol()
        protocol.shutdown_on_open = True  # type: ignore[attr-defined]
        return protocol

    def connection_protocol(self) -> asyncio.Protocol:
        """A new connection's protocol, as uvicorn's startup makes them."""
        config = self.config
        return config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )

    def connections_settled(self) -> bool:
        """No HTTP connection is left open but those closing (WebSockets aside): each
        closed after its last answer, or idle between requests."""
        from gateway.server.http_protocol import HeadJoiningProtocol

        return not any(
            isinstance(connection, HeadJoiningProtocol) and not connection.transport.is_closing()
            for connection in self.server_state.connections
        )


class WorkerServer(DrainingServer):
    """A ``DrainingServer`` that tells its supervisor when it serves: one byte on the
    pipe ``ready_fd``, which is closed then (the supervisor sees EOF without the byte
    if the worker exits before); and stops, draining as on SIGTERM, once its supervisor
    is gone (killed: nobody would replace or stop this worker, which would keep the
    port from a restarted server). ``stop_fd`` is the read end of a pipe whose write end
    only the supervisor holds: it turns readable (EOF) at once when the supervisor stops
    the server or dies, so the worker stops accepting then rather than at the next
    check of its parent (once a second)."""

    def __init__(
        self,
        config: uvicorn.Config,
        ready_fd: int | None = None,
        stop_fd: int | None = None,
        ledger: tuple[Ledger, int] | None = None,
    ) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd
        self.stop_fd = stop_fd
        self.parent = os.getppid()
        self.ledger = ledger  # the table of its siblings' connections and its slot in it

    def stops_whole_server(self) -> bool:
        """The socket is shared with the other workers: only when the supervisor stops
        the whole server (its "stopping" pipe is readable: closed, or the supervisor is
        gone), not when this worker alone retires (SIGHUP, one worker less)."""
        if self.stop_fd is None:
            return False
        try:
            readable, _, _ = select.select([self.stop_fd], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def supervisor_stopping(self) -> None:
        """``stop_fd`` is readable: the server stops, or the supervisor is gone."""
        if not self.should_exit:
            log.info("stopping: the supervisor stops the server or is gone (its pipe closed)")
        if self.stop_fd is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.stop_fd)
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        for acceptor in self.acceptors:
            acceptor.publish()  # (connections that closed since)
        if counter % 10 == 0 and not self.should_exit and os.getppid() != self.parent:
            # checked once a second, with uvicorn's date header: the backstop for a
            # worker whose pipe did not tell (none given); when it did and its callback
            # has not run yet (both due in one turn of the loop), the pipe is the news
            if self.stops_whole_server():
                self.supervisor_stopping()
            else:
                log.info("stopping: the supervisor is gone (this worker's parent changed)")
                self.should_exit = True
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up; with a ledger, this worker accepts on ``sockets`` itself,
        spreading connections over its siblings (``gateway.server.accept_balance``)."""
        ledger, slot = self.ledger or (None, -1)
        balanced = ledger is not None and bool(sockets)
        await super().startup([] if balanced else sockets)
        if self.started and ledger is not None and balanced and sockets:
            connections = self.server_state.connections
            self.acceptors = tuple(
                BalancedAcceptor(
                    sock,
                    self.connection_protocol,
                    connections.__len__,
                    ledger,
                    slot,
                    ssl=self.config.ssl,
                    backlog=self.config.backlog,
                )
                for sock in sockets
            )
        if self.started and self.stop_fd is not None:
            asyncio.get_running_loop().add_reader(self.stop_fd, self.supervisor_stopping)
        if self.started and self.ready_fd is not None:
            fd, self.ready_fd = self.ready_fd, None
            try:
                os.write(fd, b"1")
            finally:
                os.close(fd)


def ws_max_size() -> int:
    """The largest WebSocket frame the server takes: the request body limit plus a
    margin, so a Responses WebSocket event a little over the limit gets the API's 413
    error event (``gateway.features.responses.socket``) rather than a bare close (1009)."""
    from django.conf import settings

    return cast(int, settings.SWITCHYARD_MAX_BODY_BYTES) + 1024 * 1024


def worker_config(app: str, options: dict[str, Any]) -> uvicorn.Config:
    """The uvicorn configuration of one worker of ``serve --workers N``."""
    return uvicorn.Config(app, **head_joining(options))


def lazy_websockets(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with uvicorn's WebSocket protocol (``ws``, a name: ``auto`` unless
    given) imported on the first upgrade rather than when uvicorn loads its
    configuration: with the websockets library it is about 1.5 MB of every worker,
    most of which never sees a WebSocket (#67). The name means what it means to
    uvicorn; ``none``, a class given, or ``auto`` without websockets installed (uvicorn
    then refuses upgrades, or picks wsproto) stay as they are."""
    ws = options.get("ws", "auto")
    if not isinstance(ws, str) or WS_PROTOCOLS.get(ws, ws) is None:
        return options
    if ws == "auto" and importlib.util.find_spec("websockets") is None:
        return options
    return {**options, "ws": functools.partial(websocket_protocol, ws)}


def websocket_protocol(name: str, **arguments: Any) -> asyncio.Protocol:
    """A connection's protocol after its upgrade: uvicorn's ``name`` (``ws``), built with
    what uvicorn gives its protocols (config, server_state, app_state)."""
    protocol = _protocol_class(name)
    return cast(asyncio.Protocol, protocol(**arguments))


@functools.cache
def _protocol_class(name: str) -> Any:
    return import_from_string(WS_PROTOCOLS.get(name, name))


def announced_keep_alive(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every response saying how long the server keeps an idle
    connection (``Keep-Alive: timeout=N``, uvicorn's ``timeout_keep_alive``). A client
    that reuses a connection as the server closes it for idleness gets a reset or an
    empty answer ("socket hang up"); Node's http agent (its global agent's own idle
    timeout is 5 s, the server's default too) and undici close a pooled connection a
    second before the timeout a server announces, so that race is theirs no more."""
    seconds = int(options.get("timeout_keep_alive", DEFAULT_KEEP_ALIVE_SECONDS))
    headers = [tuple(header) for header in options.get("headers") or ()]
    if any(str(name).lower() == "keep-alive" for name, _ in headers):
        return dict(options)
    return {**options, "headers": [*headers, ("keep-alive", f"timeout={seconds}")]}


def head_joining(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with uvicorn's httptools protocol replaced by the same protocol
    writing each response's head with its body, bounding the wait for a request head by
    ``options["header_timeout"]`` (seconds; not a uvicorn option, so taken out) and
    closing without resets (``gateway.server.http_protocol``); the WebSocket protocol
    loaded on first use (``lazy_websockets``)."""
    options = announced_keep_alive(lazy_websockets(options))
    header_timeout = options.pop("header_timeout", None)
    if options.get("http") != "httptools":
        return options
    from gateway.server.http_protocol import HEADER_TIMEOUT_SECONDS, HeadJoiningProtocol

    timeout = HEADER_TIMEOUT_SECONDS if header_timeout is None else float(header_timeout)
    return {**options, "http": functools.partial(HeadJoiningProtocol, header_timeout=timeout)}


def serve_worker(spec: dict[str, Any]) -> None:
    """Serve ``spec["app"]`` with ``spec["options"]`` on the listening socket the
    supervisor passed as descriptor ``spec["fd"]``, telling it on ``spec["ready_fd"]``
    once serving. uvicorn runs as in its own workers: lifespan, its signal handling
    (SIGINT / SIGTERM start the graceful shutdown, with the drain first)."""
    config = worker_config(spec["app"], spec["options"])
    sock = socket.socket(fileno=spec["fd"])  # family and type read from the descriptor
    ledger = None
    if spec.get(LEDGER_FD_KEY) is not None:
        ledger = (Ledger(spec[LEDGER_FD_KEY]), int(spec[SLOT_KEY]))
    WorkerServer(config, spec.get("ready_fd"), spec.get("stop_fd"), ledger).run(sockets=[sock])


def run(app: str, **options: Any) -> None:
    """``uvicorn.run`` with DrainingServer, in this process. Without
    ``timeout_graceful_shutdown`` and ``ws_max_size`` they are read from the settings."""
    if "timeout_graceful_shutdown" not in options:
        from gateway.base import lifecycle

        options["timeout_graceful_shutdown"] = math.ceil(lifecycle.server_timeout_seconds())
    if "ws_max_size" not in options:
        options["ws_max_size"] = ws_max_size()
    DrainingServer(uvicorn.Config(app, **head_joining(options))).run()
