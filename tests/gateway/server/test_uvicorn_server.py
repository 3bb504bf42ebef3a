"""``serve`` under uvicorn: its own graceful-shutdown timeout follows the drain's grace
period (it is only the backstop after the drain), and every worker drains first, on
the socket its supervisor bound, telling it once it serves."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from gateway.base import lifecycle
from gateway.server import uvicorn_server

ROOT = Path(__file__).resolve().parents[3]


def test_the_servers_timeout_follows_the_grace_period(monkeypatch, settings) -> None:
    settings.SWITCHYARD_SHUTDOWN_GRACE_SECONDS = 7.5
    seen = {}

    def run(self, sockets=None) -> None:
        seen["server"] = self
        seen["timeout"] = self.config.timeout_graceful_shutdown

    monkeypatch.setattr(uvicorn_server.DrainingServer, "run", run)
    uvicorn_server.run("gateway.server.asgi:application", lifespan="on")
    assert seen["timeout"] == math.ceil(7.5 + lifecycle.SERVER_MARGIN_SECONDS)
    assert lifecycle.server_timeout_seconds() > lifecycle.grace_seconds() + lifecycle.CUT_SECONDS


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


async def test_the_draining_server_stops_accepting_then_drains_then_closes(monkeypatch) -> None:
    order: list[str] = []

    async def stop_accepting(self, sockets=None) -> int:
        order.append("stop accepting")
        return 0

    async def drain(grace=None, refuse=True, settled=None) -> None:
        order.append(f"drain refuse={refuse} settled={settled()}")

    async def uvicorn_shutdown(self, sockets=None) -> None:
        order.append("uvicorn closes what is left")

    monkeypatch.setattr(uvicorn_server.DrainingServer, "stop_accepting", stop_accepting)
    monkeypatch.setattr(lifecycle, "drain", drain)
    monkeypatch.setattr(uvicorn_server.uvicorn.Server, "shutdown", uvicorn_shutdown)
    server = uvicorn_server.DrainingServer(uvicorn_server.uvicorn.Config("x:y"))
    await server.shutdown()
    assert order == [
        "stop accepting",
        "drain refuse=False settled=True",  # serves what still comes on its connections
        "uvicorn closes what is left",
    ]
    server.force_exit = True  # a second signal: straight to uvicorn's shutdown
    order.clear()
    await server.shutdown()
    assert order == ["uvicorn closes what is left"]


async def test_when_the_grace_ends_the_drain_closes_what_is_still_idle(monkeypatch) -> None:
    """A grace shorter than the keep-alive still bounds the drain: once ``drain``
    returns (the grace is over) an idle connection gets its FIN at once, not at the end
    of its keep-alive."""
    from tests.gateway.server.test_http_protocol_graceful_close import (
        REQUEST,
        answering,
        read_answer,
        serving,
    )

    async def stop_accepting(self, sockets=None) -> int:
        return 0

    async def drain(grace=None, refuse=True, settled=None) -> None:
        return None  # the grace is over at once

    async def uvicorn_shutdown(self, sockets=None) -> None:
        return None

    monkeypatch.setattr(uvicorn_server.DrainingServer, "stop_accepting", stop_accepting)
    monkeypatch.setattr(lifecycle, "drain", drain)
    monkeypatch.setattr(uvicorn_server.uvicorn.Server, "shutdown", uvicorn_shutdown)
    async with serving(answering(), keep_alive=30) as (port, state):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        await read_answer(reader)
        server = uvicorn_server.DrainingServer(uvicorn_server.uvicorn.Config("x:y"))
        server.server_state = state
        await server.shutdown()
        assert await asyncio.wait_for(reader.read(), 3) == b""  # not 30 s later
        writer.close()


def read_to_end(sock: socket.socket) -> bytes:
    """Everything until the server's FIN (a reset raises ConnectionResetError)."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("accepting", ["uvicorn", "balanced"])
async def test_stopping_serves_the_accept_queue_and_then_refuses(accepting, monkeypatch) -> None:
    """Connections the kernel completed but the server had not accepted when it stopped
    are served (with Connection: close), not reset when the listening socket closes; a
    connection after that is refused (a load balancer retries it elsewhere). The same
    when the worker accepts itself (``accept_balance``), its slot then idle."""
    import functools

    import uvicorn

    from gateway.server.accept_balance import Ledger
    from gateway.server.http_protocol import HeadJoiningProtocol

    monkeypatch.setattr(lifecycle, "_closing", False)  # restored: the drain sets them
    monkeypatch.setattr(lifecycle, "_draining", False)

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        start = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        await send({"type": "http.response.body", "body": b"ok"})

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", http=functools.partial(HeadJoiningProtocol)
    )
    config.load()
    ledger = Ledger.create()
    server: uvicorn_server.DrainingServer = uvicorn_server.DrainingServer(config)
    if accepting == "balanced":
        server = uvicorn_server.WorkerServer(config, ledger=(ledger, 0))
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[listener])
    assert len(server.acceptors) == (accepting == "balanced")
    assert ledger.least_other(1) == (0 if accepting == "balanced" else None)
    # The event loop does not run until the stop: these wait in the accept queue.
    queued = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    for client in queued:
        client.sendall(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
    assert await server.stop_accepting([listener]) == 3
    assert ledger.least_other(1) is None  # (stopped: nobody's reference)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    for connection in list(server.server_state.connections):
        connection.shutdown()  # as the drain does: each closes after its answer
    answers = await asyncio.gather(*(asyncio.to_thread(read_to_end, c) for c in queued))
    for client, answer in zip(queued, answers, strict=True):
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok"), answer
        assert b"connection: close" in answer.lower(), answer
        client.close()
    await server.shutdown()  # the drain ends at once: nothing in flight, nothing open
    assert lifecycle.closing()
    ledger.close()


async def test_a_worker_stops_at_once_when_its_supervisor_stops_or_dies() -> None:
    """The write end of the "stopping" pipe is the supervisor's alone: closed (the
    server stops) or gone with it (killed), the worker's read end turns readable and
    the worker begins its shutdown without waiting for its once-a-second check."""
    import uvicorn

    stopping_r, stopping_w = os.pipe()
    try:
        config = uvicorn.Config("gateway.server.asgi:application", lifespan="off")
        worker = uvicorn_server.WorkerServer(config, stop_fd=stopping_r)
        loop = asyncio.get_running_loop()
        loop.add_reader(stopping_r, worker.supervisor_stopping)
        await asyncio.sleep(0.05)
        assert not worker.should_exit
        os.close(stopping_w)
        stopping_w = -1
        for _ in range(50):
            if worker.should_exit:
                break
            await asyncio.sleep(0.01)
        assert worker.should_exit
        assert not loop.remove_reader(stopping_r)  # removed by the worker
    finally:
        os.close(stopping_r)
        if stopping_w >= 0:
            os.close(stopping_w)


@pytest.mark.parametrize("pipe", ["closed", "open", "none"])
async def test_the_once_a_second_parent_check_defers_to_a_closed_pipe(
    pipe, monkeypatch, caplog
) -> None:
    """A worker whose parent changed stops either way; when its pipe has turned readable
    too (both due in one turn of the loop) it stops by the pipe, which is the news:
    the parent check is only the backstop for a worker whose pipe did not tell."""
    import uvicorn

    async def tick(self, counter: int) -> bool:
        return False

    monkeypatch.setattr(uvicorn.Server, "on_tick", tick)
    stopping_r, stopping_w = os.pipe()
    try:
        config = uvicorn.Config("gateway.server.asgi:application", lifespan="off")
        worker = uvicorn_server.WorkerServer(config, stop_fd=None if pipe == "none" else stopping_r)
        if pipe == "closed":
            os.close(stopping_w)
            stopping_w = -1
        await worker.on_tick(10)
        assert not worker.should_exit  # the same parent: nothing to do
        worker.parent = os.getppid() + 1  # as if the supervisor died and we were adopted
        with caplog.at_level("INFO", logger="gateway.server.uvicorn_server"):
            await worker.on_tick(11)  # not a second's tick: not checked
            assert not worker.should_exit
            await worker.on_tick(20)
        assert worker.should_exit
        said = caplog.text
        if pipe == "closed":
            assert "its pipe closed" in said and "parent changed" not in said, said
        else:
            assert "parent changed" in said and "its pipe closed" not in said, said
    finally:
        os.close(stopping_r)
        if stopping_w >= 0:
            os.close(stopping_w)


def test_the_header_timeout_reaches_the_protocol_not_uvicorn() -> None:
    options = {"http": "httptools", "header_timeout": 2.5, "port": 0}
    joined = uvicorn_server.head_joining(options)
    assert "header_timeout" not in joined and joined["http"].keywords == {"header_timeout": 2.5}
    assert "header_timeout" in options  # the caller's options are left as they were


def test_the_websocket_protocol_loads_on_the_first_upgrade() -> None:
    """A worker's configuration leaves uvicorn's WebSocket protocol and the websockets
    library out (#67) until a connection upgrades; then it is uvicorn's own for the
    name (``auto``: websockets' sans-I/O protocol)."""
    code = """
import sys
from gateway.server.worker import prepare
prepare()
from gateway.server import uvicorn_server
from uvicorn.server import ServerState
config = uvicorn_server.worker_config("asyncio:sleep", {"http": "httptools", "port": 0})
config.load()
print(sorted(m for m in sys.modules if m.startswith("websockets")))
protocol = config.ws_protocol_class(config=config, server_state=ServerState(), app_state={})
print(type(protocol).__name__)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["[]", "WebSocketsSansIOProtocol"]


@pytest.mark.parametrize("ws", ["none", WebSocketsSansIOProtocol])
def test_no_websockets_or_a_class_given_stays_as_it_is(ws: object) -> None:
    assert uvicorn_server.lazy_websockets({"ws": ws})["ws"] is ws


def test_every_response_announces_the_keep_alive_timeout() -> None:
    """``Keep-Alive: timeout=N`` with uvicorn's own idle timeout, on every worker's
    responses; a keep-alive header given in the options stays the only one."""
    config = uvicorn_server.worker_config("x:y", {"http": "httptools", "timeout_keep_alive": 7})
    assert ("keep-alive", "timeout=7") in config.headers
    default = uvicorn_server.head_joining({"http": "httptools"})
    assert default["headers"] == [("keep-alive", "timeout=5")]  # uvicorn's default timeout
    given = uvicorn_server.head_joining({"headers": [["Keep-Alive", "timeout=3, max=9"]]})
    assert given["headers"] == [["Keep-Alive", "timeout=3, max=9"]]


NODE_CLIENT = """
const http = require("http");  // the global agent: keep-alive, its own idle timeout 5 s
function post() {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {port: Number(process.argv[1]), method: "POST", path: "/", headers: {"content-length": 2}},
      (answer) => { answer.resume(); answer.on("end", () => resolve(request.reusedSocket)); });
    request.on("error", reject);
    request.end("{}");
  });
}
(async () => {
  const first = await post();
  await new Promise((done) => setTimeout(done, Number(process.argv[2])));
  const second = await post();
  console.log(JSON.stringify({first, second}));
  http.globalAgent.destroy();
})().catch((error) => { console.log(JSON.stringify({error: String(error)})); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
@pytest.mark.parametrize("announced", [True, False])
async def test_nodes_agent_lets_go_of_an_idle_connection_before_the_server_closes_it(
    announced: bool,
) -> None:
    """The race the announcement ends: the server closes a connection idle for 2 s
    here. Told so, Node's agent drops its pooled connection a second before, and its
    request 1.5 s later goes on a new one; untold, it reuses the connection the server
    is about to close (as it would at 4.99 s with the default 5)."""

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    options = {
        "http": "httptools",
        "lifespan": "off",
        "timeout_keep_alive": 2,
        "log_level": "warning",
    }
    config = uvicorn_server.worker_config("x:y", options)
    if not announced:
        config.headers = []
    config.app = app
    config.load()
    loop = asyncio.get_running_loop()
    state = ServerState()
    state.default_headers = config.encoded_headers  # (uvicorn's server sets them each second)
    server = await loop.create_server(
        lambda: config.http_protocol_class(config, state, {}, loop), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    try:
        node = await asyncio.create_subprocess_exec(
            "node", "-e", NODE_CLIENT, str(port), "1500", stdout=subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(node.communicate(), 20)
    finally:
        server.close()
        for connection in list(state.connections):
            connection.transport.abort()
    assert json.loads(out) == {"first": False, "second": not announced}
