"""``serve`` under uvicorn: its own graceful-shutdown timeout follows the drain's grace
period (it is only the backstop after the drain), and every worker drains first."""

from __future__ import annotations

import math

from uvicorn.supervisors import multiprocess

from gateway import runtime, uvicorn_server


def test_the_servers_timeout_follows_the_grace_period(monkeypatch, settings) -> None:
    settings.SWITCHYARD_SHUTDOWN_GRACE_SECONDS = 7.5
    seen = {}

    def run(self, sockets=None) -> None:
        seen["server"] = self
        seen["timeout"] = self.config.timeout_graceful_shutdown

    monkeypatch.setattr(uvicorn_server.DrainingServer, "run", run)
    uvicorn_server.run("gateway.asgi:application", workers=1, lifespan="on")
    assert seen["timeout"] == math.ceil(7.5 + runtime.SERVER_MARGIN_SECONDS)
    assert runtime.server_timeout_seconds() > runtime.grace_seconds() + runtime.CUT_SECONDS


def test_worker_processes_serve_with_the_draining_server(monkeypatch) -> None:
    started = {}

    class FakeMultiprocess:
        def __init__(self, config, sockets) -> None:
            started["config"] = config

        def run(self) -> None:
            started["process"] = multiprocess.Process

    monkeypatch.setattr(multiprocess, "Multiprocess", FakeMultiprocess)
    monkeypatch.setattr(multiprocess, "Process", multiprocess.Process)  # restored after
    monkeypatch.setattr(uvicorn_server.uvicorn.Config, "bind_socket", lambda self: None)
    uvicorn_server.run("gateway.asgi:application", workers=2, port=0)
    assert started["process"] is uvicorn_server.DrainingProcess
    process = object.__new__(uvicorn_server.DrainingProcess)
    process.config, process._server = started["config"], None
    assert isinstance(process.server, uvicorn_server.DrainingServer)


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
