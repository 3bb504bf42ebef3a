"""Closing connections without resets, bounding request heads, and a draining server's
keep-alive connections (gateway.server.http_protocol), over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.server import http_protocol
from gateway.server.http_protocol import HeadJoiningProtocol

REQUEST = b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{}"
KEEP_ALIVE = 1  # uvicorn's timeout_keep_alive here (5 s by default), short for the tests


def answering(*headers: tuple[bytes, bytes]):  # type: ignore[no-untyped-def]
    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        start = [(b"content-length", b"2"), *headers]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


@contextlib.asynccontextmanager
async def serving(app, header_timeout: float = 10.0, keep_alive: int = KEEP_ALIVE):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    config = Config(app, lifespan="off", log_level="warning", timeout_keep_alive=keep_alive)
    config.load()
    state = ServerState()
    server = await loop.create_server(
        lambda: HeadJoiningProtocol(config, state, {}, loop, header_timeout=header_timeout),
        "127.0.0.1",
        0,
    )
    try:
        yield server.sockets[0].getsockname()[1], state
    finally:
        server.close()
        for connection in list(state.connections):
            connection.transport.abort()


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await asyncio.wait_for(reader.readexactly(length), 5)


async def test_after_connection_close_a_late_request_meets_a_fin_not_a_reset() -> None:
    """The client sends again right after a Connection: close answer (the race of a
    keep-alive client, or the rest of a refused upload): a plain close would answer
    those bytes with a reset; here they are read and dropped and the client sees EOF."""
    loop = asyncio.get_running_loop()
    async with serving(answering((b"connection", b"close"))) as (port, _):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setblocking(False)
            await loop.sock_sendall(sock, REQUEST)
            answer = b""
            while not answer.endswith(b"ok"):
                answer += await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
            assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer
            await asyncio.sleep(0.1)  # the server has closed its side by now
            for _ in range(3):  # a reset makes the second or third send fail
                await loop.sock_sendall(sock, REQUEST * 50)
                await asyncio.sleep(0.1)
            assert await asyncio.wait_for(loop.sock_recv(sock, 65536), 5) == b""  # FIN


async def test_a_partial_head_gets_408_after_the_header_timeout() -> None:
    async with serving(answering(), header_timeout=0.3) as (port, state):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /x HTTP/1.1\r\nhost: t\r\nx-slow: ")  # and nothing more
        started = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest.startswith(b"HTTP/1.1 408 Request Timeout")
        assert 0.25 <= time.monotonic() - started < 3
        writer.close()
        # a silent connection is closed too (no answer: there is no request)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        # a complete head in time is served; the timer restarts with the next request
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):
            writer.write(REQUEST)
            assert (await read_answer(reader)).startswith(b"HTTP/1.1 200")
            await asyncio.sleep(0.2)
        writer.write(b"POST /x HTTP/1.1\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408")
        writer.close()
        await asyncio.sleep(0.05)
        assert not state.connections


async def test_a_draining_server_closes_an_idle_connection_only_at_its_keep_alive_timeout() -> None:
    """Draining closes no idle connection sooner than a running server would: until the
    keep-alive timeout a request on it is served (Connection: close, then EOF); at the
    timeout it gets a FIN. Closing sooner lost the request a loaded client sent as the
    FIN was on its way (CI's reload test, with 1.5 s): the next request here comes later
    than that."""
    keep_alive = 2
    async with serving(answering(), keep_alive=keep_alive) as (port, state):
        reused_r, reused_w = await asyncio.open_connection("127.0.0.1", port)
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
        for reader, writer in ((reused_r, reused_w), (idle_r, idle_w)):
            writer.write(REQUEST)
            await read_answer(reader)
        answered = time.monotonic()
        for connection in list(state.connections):
            connection.shutdown()
        await asyncio.sleep(keep_alive * 0.85)
        # the client's next request, later than any fixed short allowance would wait
        reused_w.write(REQUEST)
        last = await read_answer(reused_r)
        assert last.startswith(b"HTTP/1.1 200") and b"connection: close" in last
        assert await asyncio.wait_for(reused_r.read(), 5) == b""
        # the other one stays open until it has been idle the keep-alive timeout
        assert await asyncio.wait_for(idle_r.read(), 5) == b""
        assert time.monotonic() - answered >= keep_alive - 0.05
        reused_w.close()
        idle_w.close()


async def test_at_the_end_of_the_grace_an_idle_connection_closes_and_a_busy_one_finishes() -> None:
    """``close_if_idle_now`` (the shutdown grace is over): FIN at once on an idle
    connection, whatever its keep-alive left; one whose request is under way finishes
    its answer, with Connection: close."""
    release = asyncio.Event()

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        if scope["path"] == "/slow":
            await release.wait()
        start = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(app) as (port, state):
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
        busy_r, busy_w = await asyncio.open_connection("127.0.0.1", port)
        idle_w.write(REQUEST)
        await read_answer(idle_r)
        busy_w.write(REQUEST.replace(b"/x", b"/slow"))
        await asyncio.sleep(0.1)
        for connection in list(state.connections):
            connection.shutdown()
        started = time.monotonic()
        for connection in list(state.connections):
            connection.close_if_idle_now()
        assert await asyncio.wait_for(idle_r.read(), KEEP_ALIVE) == b""
        assert time.monotonic() - started < KEEP_ALIVE / 2
        release.set()
        last = await read_answer(busy_r)
        assert last.startswith(b"HTTP/1.1 200") and b"connection: close" in last
        assert await asyncio.wait_for(busy_r.read(), 5) == b""
        idle_w.close()
        busy_w.close()


async def test_a_connection_idle_past_its_keep_alive_timeout_when_the_drain_begins() -> None:
    """One idle longer than the allowance when the drain begins (uvicorn's own timer
    closed it already): nothing is left open."""
    async with serving(answering()) as (port, state):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        await read_answer(reader)
        await asyncio.sleep(KEEP_ALIVE + 0.1)
        for connection in list(state.connections):
            connection.shutdown()
        assert await asyncio.wait_for(reader.read(), 1) == b""
        writer.close()
        await asyncio.sleep(0.05)
        assert not state.connections


async def test_a_draining_server_waits_longer_for_the_first_request_of_a_new_connection() -> None:
    """A connection taken from the accept queue as the server stops has had no request
    yet, but its client connected to send one: it is served (Connection: close) if it
    comes within FIRST_REQUEST_WAIT_SECONDS, not closed after the idle allowance."""
    assert http_protocol.FIRST_REQUEST_WAIT_SECONDS > KEEP_ALIVE + 0.5
    async with serving(answering()) as (port, state):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.1)  # accepted
        assert len(state.connections) == 1
        for connection in list(state.connections):
            connection.shutdown()
        await asyncio.sleep(KEEP_ALIVE + 0.3)
        writer.write(REQUEST)
        answer = await read_answer(reader)
        assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_stream_whose_head_went_out_before_the_drain_keeps_its_connection_a_while() -> None:
    """A streamed answer whose head (without ``Connection: close``) went out before the
    drain began: its client will reuse the connection the moment the last chunk arrives.
    Closing at the end of the stream loses that request ("server disconnected without
    sending a response", seen in CI's reload test); the connection is treated as just
    idle instead, and the request that comes is served with Connection: close."""
    release = asyncio.Event()

    async def streaming(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            await release.wait()
            await send({"type": "http.response.body", "body": b"last"})
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(streaming) as (port, state):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST.replace(b"/x", b"/stream"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"connection: close" not in head.lower()
        assert b"first" in await asyncio.wait_for(reader.readuntil(b"first\r\n"), 5)
        for connection in list(state.connections):
            connection.shutdown()
        release.set()
        assert (await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)).endswith(
            b"last\r\n0\r\n\r\n"
        )
        await asyncio.sleep(0.2)  # a loaded client's next request, a little late
        writer.write(REQUEST)
        last = await read_answer(reader)
        assert last.startswith(b"HTTP/1.1 200") and b"connection: close" in last
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
