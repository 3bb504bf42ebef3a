"""uvicorn's httptools protocol with each response's head written with its body
(gateway.server.http_protocol), driven by hand over a recording transport."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.server.http_protocol import HeadJoiningProtocol

REQUEST = b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{}"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return False  # closes at once (the graceful close: tests/gateway/test_graceful_close.py)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def plain(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await receive()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


def stream_app(first_chunk: asyncio.Event):  # type: ignore[no-untyped-def]
    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await first_chunk.wait()
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def connect(app) -> tuple[HeadJoiningProtocol, RecordingTransport]:  # type: ignore[no-untyped-def]
    config = Config(app, lifespan="off", log_level="warning")
    protocol = HeadJoiningProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_plain_answer_leaves_in_one_write() -> None:
    protocol, transport = connect(plain)
    for _ in range(2):  # and again on the same keep-alive connection
        protocol.data_received(REQUEST)
        await settle()
    assert len(transport.writes) == 2
    for write in transport.writes:
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\nhello")


async def test_a_heads_body_that_is_not_ready_does_not_hold_the_head_back() -> None:
    first_chunk = asyncio.Event()
    protocol, transport = connect(stream_app(first_chunk))
    protocol.data_received(REQUEST)
    await settle()
    # the stream's first event is not there yet: the headers went out on their own
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK") and b"chunked" in transport.writes[0]
    first_chunk.set()
    await settle()
    assert transport.writes[1:] == [b"3\r\none\r\n", b"0\r\n\r\n"]


@pytest.mark.parametrize("end", ["close", "abort"])
async def test_closing_writes_a_held_head_first_and_abort_drops_it(end: str) -> None:
    transport = RecordingTransport()
    loop = asyncio.get_running_loop()
    from gateway.server.http_protocol import HeadJoiningTransport

    joined = HeadJoiningTransport(transport, loop)
    joined.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert transport.writes == []
    getattr(joined, end)()
    assert transport.writes == ([b"HTTP/1.1 204 No Content\r\n\r\n"] if end == "close" else [])
    await settle()  # the pending end-of-turn flush finds nothing more to write
    assert len(transport.writes) == (1 if end == "close" else 0)


async def test_other_attributes_are_the_transports() -> None:
    from gateway.server.http_protocol import HeadJoiningTransport

    transport = RecordingTransport()
    joined = HeadJoiningTransport(transport, asyncio.get_running_loop())
    assert joined.get_extra_info("peername") == ("127.0.0.1", 5000)
    joined.write(b"not a head")
    assert transport.writes == [b"not a head"]


async def test_a_streams_head_and_first_event_leave_together_behind_the_coalescing_app() -> None:
    from gateway.server.send_coalescing import CoalescingApp

    later = asyncio.Event()

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await later.wait()
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = connect(CoalescingApp(app))
    protocol.data_received(REQUEST)
    await settle()
    assert len(transport.writes) == 2
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert transport.writes[0].endswith(b"\r\n\r\n5\r\nfirst\r\n")  # the head and the first
    assert transport.writes[1] == b"6\r\nsecond\r\n"  # held behind it, out when the app waits
    later.set()
    await settle()
    assert transport.writes[2:] == [b"0\r\n\r\n"]


def test_a_cut_body_loses_only_its_last_chunk():
    from gateway.server.http_protocol import without_last_chunk

    assert without_last_chunk(b"0\r\n\r\n") == b""
    assert without_last_chunk(b"5\r\nhello\r\n0\r\n\r\n") == b"5\r\nhello\r\n"
    assert without_last_chunk(b"5\r\nhello\r\n") == b"5\r\nhello\r\n"
    body = b"ab0\r\n\r\n0\r\n\r\n"  # bytes that look like the end, inside a chunk
    chunk = b"%x\r\n" % len(body) + body + b"\r\n"
    assert without_last_chunk(chunk) == chunk
    assert without_last_chunk(chunk + b"0\r\n\r\n") == chunk


async def test_a_lost_connection_cancels_its_requests_work_without_a_second_task() -> None:
    """The endpoints' ``until_gone`` under this protocol: the request's task is cancelled
    when the client leaves mid-answer, no task waits on the receive meanwhile, and the
    handler returns quietly; a request answered first leaves nothing watching."""
    from gateway.edge.endpoints import until_gone

    started, cancelled = asyncio.Event(), asyncio.Event()
    returned: list[str] = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()

        async def work() -> None:
            started.set()
            try:
                await asyncio.sleep(30)  # a slow upstream
            except asyncio.CancelledError:
                cancelled.set()
                raise

        await until_gone(scope, receive, work())
        returned.append("quietly")

    protocol, _ = connect(app)
    protocol.data_received(REQUEST)
    await started.wait()
    assert len(asyncio.all_tasks()) == 2  # this test's and the request's, no watcher
    protocol.connection_lost(None)
    await asyncio.wait_for(cancelled.wait(), 2)
    await settle()
    assert returned == ["quietly"] and protocol.on_lost == {}

    async def answered(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await receive()
        await until_gone(scope, receive, plain_answer(send))

    async def plain_answer(send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    protocol, transport = connect(answered)
    protocol.data_received(REQUEST)
    await settle()
    assert b"ok" in b"".join(transport.writes) and protocol.on_lost == {}
