"""uvicorn, draining before it stops listening.

uvicorn's own shutdown closes the listening sockets first, so a request sent during the
drain got a connection reset instead of the documented 503, and streams still open at
its timeout were cancelled silently (a traceback each). ``DrainingServer`` runs
``runtime.drain`` first, while the sockets still accept: new API requests get a 503
with Retry-After, requests in flight get the grace period, and what is still running
then ends in its dialect. uvicorn's timeout (``runtime.server_timeout_seconds``) is only
the backstop after that.

This module imports no Django at import time: ``gateway.supervisor`` (the Django-free
parent of the workers) uses it; ``runtime`` is imported where it is needed."""

from __future__ import annotations

import inspect
import math
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess


class DrainingServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.force_exit:  # a second Ctrl-C / SIGTERM skips the drain
            from . import runtime

            await runtime.drain()
        await super().shutdown(sockets)


class DrainingProcess(multiprocess.Process):
    """A worker process of ``serve --workers N`` serving with ``DrainingServer``."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


def ws_max_size() -> int:
    """The largest WebSocket frame the server takes: the request body limit plus a
    margin, so a Responses WebSocket event a little over the limit gets the API's 413
    error event (``gateway.responses_socket``) rather than a bare close (1009)."""
    from django.conf import settings

    return settings.SWITCHYARD_MAX_BODY_BYTES + 1024 * 1024


def run(app: str, *, workers: int, **options: Any) -> None:
    """``uvicorn.run`` with DrainingServer, in this process or in ``workers`` processes.
    Without ``timeout_graceful_shutdown`` and ``ws_max_size`` they are read from the
    settings (the supervisor passes both: it loads no Django)."""
    if "timeout_graceful_shutdown" not in options:
        from . import runtime

        options["timeout_graceful_shutdown"] = math.ceil(runtime.server_timeout_seconds())
    if "ws_max_size" not in options:
        options["ws_max_size"] = ws_max_size()
    config = uvicorn.Config(app, workers=workers, **options)
    if workers <= 1:
        DrainingServer(config).run()
        return
    sock = config.bind_socket()
    parameters = inspect.signature(multiprocess.Multiprocess.__init__).parameters
    if "target" in parameters:  # uvicorn < 0.35 took the worker's entry point
        multiprocess.Multiprocess(config, target=DrainingServer(config).run, sockets=[sock]).run()
    else:  # later ones build each worker's server from their Process class
        multiprocess.Process = DrainingProcess  # type: ignore[misc]
        multiprocess.Multiprocess(config, sockets=[sock]).run()
