"""The pooled keep-alive transport behind gateway.base.http, against a raw server on
127.0.0.1 whose every answer and connection is scripted by the test."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from gateway.base.pooled_transport import PooledTransport, TotalTimeout, _Connection

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes], Awaitable[bool]]


class Server:
    """Reads requests (head + content-length body); ``handler`` answers each and
    returns False to close the connection. Counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if not await self.handler(reader, writer, head, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.close()
        self.server.close()


def reply(body: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"content-length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def client(**limits: float) -> httpx.AsyncClient:
    transport = PooledTransport(
        max_connections=int(limits.get("max_connections", 10)),
        max_keepalive=int(limits.get("max_keepalive", 10)),
        keepalive_expiry=limits.get("keepalive_expiry", 30.0),
    )
    timeout = httpx.Timeout(limits.get("timeout", 5.0))
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False)


async def test_requests_reuse_one_keep_alive_connection_and_arrive_in_one_write():
    async def answer(reader, writer, head, body):
        writer.write(reply(b'{"echo": ' + body + b"}", b"content-type: application/json"))
        return True

    server = Server(answer)
    async with server as base, client() as http:
        for n in range(5):
            response = await http.post(f"{base}/v1/x?q=1", content=b"%d" % n)
            assert response.status_code == 200
            assert response.json() == {"echo": n}
    assert server.connections == 1
    assert len(server.requests) == 5
    assert server.requests[0].startswith(b"POST /v1/x?q=1 HTTP/1.1\r\n")
    assert server.requests[0].endswith(b"\r\n\r\n0")


async def test_chunked_stream_arrives_chunk_by_chunk_then_the_connection_is_reused():
    release = asyncio.Event()

    async def answer(reader, writer, head, body):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"6\r\ndata 1\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\ndata 2\r\n0\r\n\r\n")
        return True

    server = Server(answer)
    async with server as base, client() as http:
        async with http.stream("POST", f"{base}/s", content=b"{}") as response:
            chunks = response.aiter_bytes()
            assert await anext(chunks) == b"data 1"  # before the rest was even sent
            release.set()
            assert b"".join([c async for c in chunks]) == b"data 2"
        release.clear()
        release.set()
        again = await http.post(f"{base}/s", content=b"{}")
        assert again.content == b"data 1data 2"
    assert server.connections == 1


async def test_a_body_without_length_ends_with_the_connection_and_is_not_reused():
    async def answer(reader, writer, head, body):
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        return False

    server = Server(answer)
    async with server as base, client() as http:
        assert (await http.post(f"{base}/a", content=b"")).content == b"until the end"
        assert (await http.post(f"{base}/a", content=b"")).content == b"until the end"
    assert server.connections == 2


async def test_a_keep_alive_connection_the_server_closed_is_replaced_transparently():
    async def answer_then_close(reader, writer, head, body):
        writer.write(reply(b"ok"))
        await writer.drain()
        return False  # closes after answering, though keep-alive was announced

    server = Server(answer_then_close)
    async with server as base, client() as http:
        assert (await http.post(f"{base}/a", content=b"")).content == b"ok"
        await asyncio.sleep(0.05)
        assert (await http.post(f"{base}/a", content=b"")).content == b"ok"
    assert server.connections == 2


async def test_gzip_bodies_are_decoded_by_httpx():
    async def answer(reader, writer, head, body):
        writer.write(reply(gzip.compress(b'{"a": 1}'), b"content-encoding: gzip"))
        return True

    async with Server(answer) as base, client() as http:
        assert (await http.post(f"{base}/g", content=b"")).json() == {"a": 1}


async def test_a_silent_upstream_raises_read_timeout_and_the_connection_is_dropped():
    async def silent(reader, writer, head, body):
        await asyncio.sleep(2)
        return False

    server = Server(silent)
    async with server as base, client(timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await http.post(f"{base}/slow", content=b"")
        assert caught.value.request.url.path == "/slow"
        assert http._transport.idle_count == 0  # type: ignore[attr-defined]


async def test_nothing_listening_raises_connect_error_with_the_request():
    async with client() as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.post("http://127.0.0.1:1/x", content=b"")
        assert caught.value.request.url.port == 1


async def test_a_reader_that_stops_mid_body_does_not_return_the_connection():
    async def endless_first(reader, writer, head, body):
        if server.connections == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await asyncio.sleep(2)
            return False
        writer.write(reply(b"second"))
        return True

    server = Server(endless_first)
    async with server as base, client(max_connections=1, timeout=1.0) as http:
        async with http.stream("POST", f"{base}/e", content=b"") as response:
            async for _ in response.aiter_bytes():
                break
        transport = http._transport  # type: ignore[attr-defined]
        assert transport.idle_count == 0
        # its slot was given back: a new request is not stuck behind it
        assert (await http.post(f"{base}/e", content=b"")).content == b"second"
    assert server.connections == 2


async def test_max_connections_bounds_concurrent_requests():
    inside = 0
    most = 0

    async def slow(reader, writer, head, body):
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.05)
        inside -= 1
        writer.write(reply(b"ok"))
        return True

    async with Server(slow) as base, client(max_connections=2) as http:
        replies = await asyncio.gather(*(http.post(f"{base}/m", content=b"") for _ in range(6)))
    assert [r.content for r in replies] == [b"ok"] * 6
    assert most == 2


async def test_the_pooled_client_parses_each_upstream_url_once_and_keeps_queries_apart():
    from gateway.base import http as gateway_http

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={})

    gateway_http.use_transport(httpx.MockTransport(answer))
    http = gateway_http.client()
    assert isinstance(http, gateway_http.PooledClient)
    for url in ("http://up.test/v1/a", "http://up.test/v1/a", "http://up.test/v1/a?x=1"):
        await http.post(url, content=b"{}")
    assert seen == ["http://up.test/v1/a", "http://up.test/v1/a", "http://up.test/v1/a?x=1"]
    assert len(http._urls) == 2
    cached = http._urls["http://up.test/v1/a"]
    assert http._merge_url("http://up.test/v1/a") is cached


async def test_the_shared_client_never_carries_an_upstreams_cookies_to_the_next_request():
    from gateway.base import http as gateway_http

    sent_cookies: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent_cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=tenant-a; Path=/"}, json={})

    gateway_http.use_transport(httpx.MockTransport(answer))
    http = gateway_http.client()
    await http.post("http://up.test/v1/a", content=b"{}")
    await http.post("http://up.test/v1/a", content=b"{}")
    assert sent_cookies == [None, None]
    assert len(http.cookies) == 0


# --- post_whole: the plain-answer fast path ---------------------------------------------


def transport(**limits: float) -> PooledTransport:
    return PooledTransport(
        max_connections=int(limits.get("max_connections", 10)),
        max_keepalive=10,
        keepalive_expiry=30.0,
    )


async def test_post_whole_reads_a_body_sent_in_pieces_and_reuses_the_connection():
    async def in_pieces(reader, writer, head, body):
        writer.write(b"HTTP/1.1 201 Created\r\nx-mark: 1\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in (b"ab", b"cd", b"ef"):
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        writer.write(b"0\r\n\r\n")
        return True

    server = Server(in_pieces)
    pool = transport()
    async with server as base:
        for _ in range(2):
            answer = await pool.post_whole(f"{base}/p", {}, b"{}", httpx.Timeout(5.0))
            assert (answer.status_code, answer.content) == (201, b"abcdef")
            assert (b"x-mark", b"1") in answer.raw_headers  # not emptied when it went idle
    assert server.connections == 1 and pool.idle_count == 1


async def test_post_whole_decodes_gzip_and_hands_httpx_an_error_answer():
    async def answer(reader, writer, head, body):
        if b"/busy" in head:
            writer.write(
                b"HTTP/1.1 429 Too Many\r\nretry-after: 7\r\ncontent-length: 4\r\n\r\nslow"
            )
        else:
            writer.write(reply(gzip.compress(b'{"a": 1}'), b"content-encoding: gzip"))
        return True

    pool = transport()
    async with Server(answer) as base:
        zipped = await pool.post_whole(f"{base}/z", {}, b"", httpx.Timeout(5.0))
        assert zipped.content == b'{"a": 1}'
        busy = await pool.post_whole(f"{base}/busy", {}, b"", httpx.Timeout(5.0))
        response = busy.response()
        assert response.status_code == 429 and response.headers["retry-after"] == "7"
        assert response.content == b"slow"


async def test_post_whole_times_out_mid_body_and_frees_its_slot():
    async def stalls(reader, writer, head, body):
        if server.connections == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
            await asyncio.sleep(2)
            return False
        writer.write(reply(b"fine"))
        return True

    server = Server(stalls)
    pool = transport(max_connections=1)
    async with server as base:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await pool.post_whole(f"{base}/s", {}, b"", httpx.Timeout(0.2))
        assert caught.value.request.url.path == "/s"
        assert pool.idle_count == 0  # a half-read connection is never reused
        answer = await pool.post_whole(f"{base}/s", {}, b"", httpx.Timeout(1.0))
        assert answer.content == b"fine"  # the only slot was given back


async def test_a_request_waiting_for_a_slot_gets_pool_timeout():
    async def slow(reader, writer, head, body):
        await asyncio.sleep(0.5)
        writer.write(reply(b"ok"))
        return True

    pool = transport(max_connections=1)
    async with Server(slow) as base:
        first = asyncio.ensure_future(pool.post_whole(f"{base}/a", {}, b"", httpx.Timeout(5.0)))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await pool.post_whole(f"{base}/b", {}, b"", httpx.Timeout(5.0, pool=0.1))
        assert (await first).content == b"ok"


async def test_a_chunked_bodys_pieces_that_arrive_together_are_read_as_one():
    from gateway.base.pooled_transport import body_chunks

    pieces = [b"data: %d\n\n" % i for i in range(5)]  # an SSE stream: one piece per event

    async def answer(reader, writer, head, body):
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked)
        return True

    pool = transport()
    async with Server(answer) as base:
        response = await pool.post(f"{base}/s", {}, b"{}", httpx.Timeout(5.0))
        chunks = [chunk async for chunk in body_chunks(response)]
        await response.aclose()
    assert chunks == [b"".join(pieces)]  # one read: one chunk, bytes unchanged


async def test_post_whole_stops_reading_past_the_limit_and_drops_the_connection():
    from gateway.base.pooled_transport import AnswerTooLarge

    async def huge(reader, writer, head, body):
        if b"/zip" in head:
            writer.write(reply(gzip.compress(b"x" * 50_000), b"content-encoding: gzip"))
            return True
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(64):  # 4 MB offered; the reader stops after about 10 kB
            writer.write(b"%x\r\n%s\r\n" % (65536, b"x" * 65536))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    pool = transport()
    async with Server(huge) as base:
        with pytest.raises(AnswerTooLarge):
            await pool.post_whole(f"{base}/big", {}, b"{}", httpx.Timeout(5.0), limit=10_000)
        assert pool.idle_count == 0 and not pool.slots.locked()
        with pytest.raises(AnswerTooLarge):  # small on the wire, large decoded
            await pool.post_whole(f"{base}/zip", {}, b"{}", httpx.Timeout(5.0), limit=10_000)
        small = await pool.post_whole(f"{base}/zip", {}, b"{}", httpx.Timeout(5.0), limit=60_000)
        assert len(small.content) == 50_000


async def test_post_whole_sends_each_header_once_lowercased_and_refuses_a_non_ascii_one():
    """The request's head is made once per request from the transport's defaults and
    the caller's headers (the caller's win, names lowercased); a header that is not
    ASCII is refused before anything is sent."""

    async def answer(reader, writer, head, body):
        writer.write(reply(b"ok"))
        return True

    server = Server(answer)
    pool = transport()
    pool.default_headers = {"user-agent": "switchyard", "accept": "*/*"}
    headers = {"Accept": "application/json", "X-Trace": "t-1"}
    async with server as base:
        answer_ = await pool.post_whole(f"{base}/p", headers, b"{}", httpx.Timeout(5.0))
        assert answer_.content == b"ok"
        with pytest.raises(UnicodeEncodeError):
            await pool.post_whole(f"{base}/p", {"x-name": "caf\u00e9"}, b"{}", httpx.Timeout(5.0))
    (sent,) = server.requests
    head_lines = sent.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head_lines[0] == b"POST /p HTTP/1.1"
    assert head_lines[-4:] == [
        b"user-agent: switchyard",
        b"accept: application/json",
        b"x-trace: t-1",
        b"content-length: 2",
    ]


def trickling(pieces: int = 100, every: float = 0.1) -> Handler:
    """Answers with a chunked body, a small piece every ``every`` seconds: never
    silent long enough for the read timeout."""

    async def answer(reader, writer, head, body):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(pieces):
            writer.write(b"6\r\ndata: \r\n")
            await writer.drain()
            await asyncio.sleep(every)
        writer.write(b"0\r\n\r\n")
        return True

    return answer


async def test_an_upstream_that_keeps_trickling_is_cut_at_the_total_timeout():
    """Each piece comes well within the read timeout (5 s); the exchange as a whole may
    last 0.5 s: reading past that raises TotalTimeout (a ReadTimeout), the half-read
    connection is not reused and its slot is free again."""
    server = Server(trickling())
    pool = transport(max_connections=1)
    pool.total_timeout = 0.5
    async with server as base:
        response = await pool.post(f"{base}/t", {}, b"", httpx.Timeout(5.0))
        started = time.monotonic()
        with pytest.raises(TotalTimeout) as caught:
            async for _ in response.aiter_bytes():
                pass
        assert 0.2 < time.monotonic() - started < 2.0
        assert isinstance(caught.value, httpx.ReadTimeout)
        assert "SWITCHYARD_TOTAL_TIMEOUT" in str(caught.value)
        assert pool.idle_count == 0
        with pytest.raises(TotalTimeout):  # the whole answer read at once: the same
            await pool.post_whole(f"{base}/t", {}, b"", httpx.Timeout(5.0))
        pool.total_timeout = 30.0
        server.handler = trickling(pieces=3, every=0.01)
        answer = await pool.post_whole(f"{base}/t", {}, b"", httpx.Timeout(5.0))
        assert answer.content == b"data: " * 3  # the slot was given back each time


async def test_the_wait_for_the_head_ends_at_the_total_timeout_when_it_comes_first():
    async def silent(reader, writer, head, body):  # type: ignore[no-untyped-def]
        await asyncio.sleep(3)
        return False

    pool = transport()
    pool.total_timeout = 0.3
    async with Server(silent) as base:
        started = time.monotonic()
        with pytest.raises(TotalTimeout):
            await pool.post_whole(f"{base}/s", {}, b"", httpx.Timeout(5.0))
        assert time.monotonic() - started < 2.0
        pool.total_timeout = 30.0  # the read timeout comes first: a plain ReadTimeout
        with pytest.raises(httpx.ReadTimeout) as caught:
            await pool.post_whole(f"{base}/s", {}, b"", httpx.Timeout(0.2))
        assert not isinstance(caught.value, TotalTimeout)


def test_a_body_is_written_as_it_is_not_copied_behind_its_head():
    """``post_whole`` writes the head and then the body object itself (one vectored
    write on uvloop, the server's loop): the body is not copied into one buffer with its
    head, which an agent's request (150 KB, already held for the journal) held twice
    while it waited for the answer."""
    import tracemalloc

    import uvloop

    body = b'{"messages":"' + b"x" * 1_000_000 + b'"}'
    copies: list[int] = []

    async def answer(reader, writer, head, received):
        if not tracemalloc.is_tracing():
            writer.write(reply(b"ok"))
            return True
        snapshot = tracemalloc.take_snapshot()
        copies.extend(  # made by the transport (the test's server keeps what it read)
            trace.size
            for trace in snapshot.traces
            if trace.size >= len(body) // 2
            and trace.traceback[-1].filename.endswith("/base/pooled_transport.py")
        )
        writer.write(reply(b"ok"))
        return True

    async def send() -> bytes:
        server = Server(answer)
        pool = transport()
        async with server as base:
            tracemalloc.start(8)
            try:
                got = await pool.post_whole(f"{base}/p", {"x-a": "1"}, body, httpx.Timeout(5.0))
            finally:
                tracemalloc.stop()
            # a body in pieces (a media body's views), short and long: each arrives whole
            for size in (10, 40_000):
                pieces: list[bytes | memoryview] = [b"[", memoryview(b"y" * size), b"]"]
                await pool.post_whole(f"{base}/p", {}, pieces, httpx.Timeout(5.0))
            await pool.aclose()
        assert server.requests[0].endswith(b"\r\n\r\n" + body)
        assert b"\r\nx-a: 1\r\n" in server.requests[0]
        for sent, size in zip(server.requests[1:], (10, 40_000), strict=True):
            assert sent.endswith(b"content-length: %d\r\n\r\n[%s]" % (size + 2, b"y" * size))
        return got.content

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(send()) == b"ok"
    assert copies == []


class _Transport:
    """What a connection calls on its transport, recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


def test_a_connection_counts_the_body_a_read_brought_and_pauses_past_the_high_water(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Body pieces go to the body as httptools parses them (no call of ours a piece);
    each read's are counted after it: reading pauses past HIGH_WATER bytes unread and
    resumes once taken below LOW_WATER (or all at once)."""
    from gateway.base import pooled_transport

    monkeypatch.setattr(pooled_transport, "HIGH_WATER", 100)
    monkeypatch.setattr(pooled_transport, "LOW_WATER", 50)
    connection = pooled_transport._Connection(("http", "upstream", 80))
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    pieces = [b"x" * 30, b"y" * 40, b"z" * 20]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    connection.data_received(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked)
    assert list(connection.body) == pieces
    assert connection.buffered == 90
    assert transport.calls == []  # 90 bytes: under the high water
    connection.data_received(b"5\r\n" + b"w" * 5 + b"\r\n6\r\n" + b"v" * 6 + b"\r\n")
    assert connection.buffered == 101
    assert transport.calls == ["pause"]
    assert connection.take() == pieces[0]  # 71 unread: still paused
    assert connection.take() == pieces[1]  # 31 unread: below the low water
    assert transport.calls == ["pause", "resume"]
    assert connection.take_all() == b"z" * 20 + b"w" * 5 + b"v" * 6
    assert connection.buffered == 0
    connection.data_received(b"0\r\n\r\n")
    assert connection.complete
    connection.reset()  # the next exchange on it starts from nothing
    assert not connection.body and connection.buffered == 0
    connection.data_received(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    assert connection.take_all() == b"ok"


async def test_a_connection_looks_its_loop_up_once_not_once_an_exchange(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lookup of the running loop is a ``getpid`` system call on Python 3.11: a
    connection's first wait makes it, the waits of its next exchanges do not."""
    from gateway.base import pooled_transport

    connection = pooled_transport._Connection(("http", "upstream", 80))
    lookups: list[int] = []
    real = asyncio.get_running_loop
    monkeypatch.setattr(asyncio, "get_running_loop", lambda: lookups.append(1) or real())
    for _ in range(3):
        asyncio.create_task(_wake_soon(connection))
        await connection.wait(5.0)
        connection.reset()  # the exchange ended: the connection goes back to the pool
    assert len(lookups) == 1
    assert connection.loop is real()


async def _wake_soon(connection: _Connection) -> None:
    await asyncio.sleep(0)
    connection.wake()
