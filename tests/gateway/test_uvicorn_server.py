"""``serve`` under uvicorn: its own graceful-shutdown timeout follows the drain's grace
period (it is only the backstop after the drain), and every worker drains first, on
the socket its supervisor bound, telling it once it serves."""

from __future__ import annotations

import math
import os
import socket

import pytest

from gateway import runtime, uvicorn_server


def test_the_servers_timeout_follows_the_grace_period(monkeypatch, settings) -> None:
    settings.SWITCHYARD_SHUTDOWN_GRACE_SECONDS = 7.5
    seen = {}

    def run(self, sockets=None) -> None:
        seen["server"] = self
        seen["timeout"] = self.config.timeout_graceful_shutdown

    monkeypatch.setattr(uvicorn_server.DrainingServer, "run", run)
    uvicorn_server.run("gateway.asgi:application", lifespan="on")
    assert seen["timeout"] == math.ceil(7.5 + runtime.SERVER_MARGIN_SECONDS)
    assert runtime.server_timeout_seconds() > runtime.grace_seconds() + runtime.CUT_SECONDS


def test_a_worker_serves_the_socket_its_supervisor_passed(monkeypatch) -> None:
    seen = {}

    def run(self, sockets=None) -> None:
        seen["server"], seen["sockets"] = self, sockets

    monkeypatch.setattr(uvicorn_server.WorkerServer, "run", run)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as bound:
        bound.bind(("::1", 0))
        fd = os.dup(bound.fileno())  # the descriptor a worker inherits
        options = {"port": 0, "lifespan": "on", "timeout_graceful_shutdown": 9}
        uvicorn_server.serve_worker({"app": "x:y", "options": options, "fd": fd, "ready_fd": 7})
        server, (sock,) = seen["server"], seen["sockets"]
        assert isinstance(server, uvicorn_server.DrainingServer)
        assert server.ready_fd == 7
        assert server.config.app == "x:y" and server.config.timeout_graceful_shutdown == 9
        # the family is read from the descriptor (uvicorn's fd= would take it for AF_UNIX)
        assert (sock.family, sock.type) == (socket.AF_INET6, socket.SOCK_STREAM)
        assert sock.getsockname() == bound.getsockname()
        sock.close()


async def test_a_worker_says_once_it_serves(monkeypatch) -> None:
    async def startup(self, sockets=None) -> None:
        self.started = started

    monkeypatch.setattr(uvicorn_server.uvicorn.Server, "startup", startup)
    config = uvicorn_server.uvicorn.Config("x:y")
    for started in (False, True):
        read, write = os.pipe()
        server = uvicorn_server.WorkerServer(config, write)
        await server.startup()
        if started:  # one byte, and the pipe closed: EOF after it
            assert os.read(read, 10) == b"1" and os.read(read, 10) == b""
            assert server.ready_fd is None
        else:  # not serving (startup failed): nothing said; the exit closes the pipe
            os.set_blocking(read, False)
            with pytest.raises(BlockingIOError):
                os.read(read, 10)
            assert server.ready_fd == write
            os.close(write)
        os.close(read)


async def test_the_draining_server_drains_before_uvicorn_closes_its_sockets(monkeypatch) -> None:
    order: list[str] = []

    async def drain(grace=None) -> None:
        order.append("drain")

    async def uvicorn_shutdown(self, sockets=None) -> None:
        order.append("close sockets")

    monkeypatch.setattr(runtime, "drain", drain)
    monkeypatch.setattr(uvicorn_server.uvicorn.Server, "shutdown", uvicorn_shutdown)
    server = uvicorn_server.DrainingServer(uvicorn_server.uvicorn.Config("x:y"))
    await server.shutdown()
    assert order == ["drain", "close sockets"]
    server.force_exit = True  # a second signal: straight to uvicorn's shutdown
    order.clear()
    await server.shutdown()
    assert order == ["close sockets"]
