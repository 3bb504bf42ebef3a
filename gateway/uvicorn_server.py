"""uvicorn, draining before it stops listening.

uvicorn's own shutdown closes the listening sockets first, so a request sent during the
drain got a connection reset instead of the documented 503, and streams still open at
its timeout were cancelled silently (a traceback each). ``DrainingServer`` runs
``runtime.drain`` first, while the sockets still accept: new API requests get a 503
with Retry-After, requests in flight get the grace period, and what is still running
then ends in its dialect. uvicorn's timeout (``runtime.server_timeout_seconds``) is only
the backstop after that.

``run`` serves in this process (``serve --server uvicorn --workers 1``); ``serve_worker``
is one worker of ``serve --workers N`` (started by ``gateway.worker`` for
``gateway.supervisor``) on the socket its supervisor bound.

This module imports no Django at import time; ``runtime`` is imported where it is
needed."""

from __future__ import annotations

import math
import os
import socket
from typing import Any

import uvicorn


class DrainingServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.force_exit:  # a second Ctrl-C / SIGTERM skips the drain
            from . import runtime

            await runtime.drain()
        await super().shutdown(sockets)


class WorkerServer(DrainingServer):
    """A ``DrainingServer`` that tells its supervisor when it serves: one byte on the
    pipe ``ready_fd``, which is closed then (the supervisor sees EOF without the byte
    if the worker exits before); and stops, draining as on SIGTERM, once its supervisor
    is gone (killed: nobody would replace or stop this worker, which would keep the
    port from a restarted server)."""

    def __init__(self, config: uvicorn.Config, ready_fd: int | None = None) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd
        self.parent = os.getppid()

    async def on_tick(self, counter: int) -> bool:
        if counter % 10 == 0 and not self.should_exit and os.getppid() != self.parent:
            self.should_exit = True  # checked once a second, with uvicorn's date header
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.ready_fd is not None:
            fd, self.ready_fd = self.ready_fd, None
            try:
                os.write(fd, b"1")
            finally:
                os.close(fd)


def ws_max_size() -> int:
    """The largest WebSocket frame the server takes: the request body limit plus a
    margin, so a Responses WebSocket event a little over the limit gets the API's 413
    error event (``gateway.responses_socket``) rather than a bare close (1009)."""
    from django.conf import settings

    return settings.SWITCHYARD_MAX_BODY_BYTES + 1024 * 1024


def worker_config(app: str, options: dict[str, Any]) -> uvicorn.Config:
    """The uvicorn configuration of one worker of ``serve --workers N``."""
    return uvicorn.Config(app, **head_joining(options))


def head_joining(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with uvicorn's httptools protocol replaced by the same protocol
    writing each response's head with its body (``gateway.http_protocol``)."""
    if options.get("http") != "httptools":
        return options
    from .http_protocol import HeadJoiningProtocol

    return {**options, "http": HeadJoiningProtocol}


def serve_worker(spec: dict[str, Any]) -> None:
    """Serve ``spec["app"]`` with ``spec["options"]`` on the listening socket the
    supervisor passed as descriptor ``spec["fd"]``, telling it on ``spec["ready_fd"]``
    once serving. uvicorn runs as in its own workers: lifespan, its signal handling
    (SIGINT / SIGTERM start the graceful shutdown, with the drain first)."""
    config = worker_config(spec["app"], spec["options"])
    sock = socket.socket(fileno=spec["fd"])  # family and type read from the descriptor
    WorkerServer(config, spec.get("ready_fd")).run(sockets=[sock])


def run(app: str, **options: Any) -> None:
    """``uvicorn.run`` with DrainingServer, in this process. Without
    ``timeout_graceful_shutdown`` and ``ws_max_size`` they are read from the settings."""
    if "timeout_graceful_shutdown" not in options:
        from . import runtime

        options["timeout_graceful_shutdown"] = math.ceil(runtime.server_timeout_seconds())
    if "ws_max_size" not in options:
        options["ws_max_size"] = ws_max_size()
    DrainingServer(uvicorn.Config(app, **head_joining(options))).run()
