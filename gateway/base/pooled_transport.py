"""A lean HTTP/1.1 keep-alive transport for the pooled ``httpx.AsyncClient``.

httpx's default transport (httpcore on anyio) costs more per request than the rest of
the gateway's hot path: two socket writes per request (head, then body) and a scan of
every pooled connection, with a readability syscall each, on every request. This
transport keeps httpx's client API (adapters, timeouts, errors, decoding, and tests'
``use_transport``) and replaces only the wire: one ``asyncio.Protocol`` per
connection, responses parsed by httptools (the C parser uvicorn uses), the request
written in one call, idle connections kept per origin in a LIFO list.

HTTP/1.1 only (what LLM upstreams speak); TLS through the standard ``ssl`` module with
httpx's default context (certifi). A reused connection that the server had already
closed is detected when its close arrives (``connection_lost``), and a request that
fails on a reused connection before any response byte is retried once on a new one.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping

import httptools
import httpx

URL_CACHE_SIZE = 512
_UNSAFE = re.compile(r"[\r\n\0]")  # never in a header name or value
HIGH_WATER = 1 << 20  # pause reading a response body past 1 MiB unread
DEFAULT_TOTAL_SECONDS = 1800.0  # SWITCHYARD_TOTAL_TIMEOUT's default
LOW_WATER = 1 << 18

# A request body: bytes, or pieces written out one after the other (views of a body
# received from a client, around a rewritten field: gateway.codecs.openai_media.forms).
Body = bytes | list[bytes | memoryview]
Origin = tuple[str, str, int]
# What ``_start`` writes: a request in one buffer, or its head and then its body's pieces
# (written in one call, not joined: see ``_post_payload``).
Payload = bytes | list[bytes | memoryview]
# A body from this size is written after its head as it is: joining it there copies it
# (150 KB: 52 -> 44 us a write, uvloop); a shorter one is joined, as one buffer is
# uvloop's fast path (200 bytes: 7.4 us joined, 9.5 as two buffers)
APART_BYTES = 16 * 1024


class _Connection(asyncio.Protocol):
    """One keep-alive connection: feeds bytes to httptools and wakes the reader."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.body: deque[bytes] = deque()  # the body pieces received, not taken yet
        # httptools hands each body piece (an SSE stream's: one an event) to ``on_body``,
        # looked up once, here: the deque's own append, no call of ours a piece
        # (``data_received`` counts what a read brought)
        self.on_body = self.body.append
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[None] | None = None
        # the loop its transport runs on, looked up by its first ``wait`` (a lookup of the
        # running loop is a ``getpid`` system call on Python 3.11: one a connection, not
        # one a request)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = True
        self.until_eof = False
        self.body.clear()
        self.buffered = 0  # the bytes in ``body``
        self.paused = False
        self.got_bytes = False
        self.error: Exception | None = None
        # when this exchange must be over (``time.monotonic()``), and the time it was
        # given in all (``_start`` sets both: the transport's ``total_timeout``)
        self.deadline = float("inf")
        self.allowed = 0.0

    # --- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        body = self.body
        before = len(body)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx.RemoteProtocolError(f"invalid HTTP response: {exc}")
            self.keep_alive = False
            self.close()
        if len(body) > before:
            self._received(len(body) - before)
        self.wake()

    def _received(self, pieces: int) -> None:
        """The read brought ``pieces`` body pieces: counted; reading pauses past
        HIGH_WATER bytes unread (``take`` and ``take_all`` resume it)."""
        self.buffered += sum(map(len, itertools.islice(reversed(self.body), pieces)))
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and self.until_eof and not self.complete:
            self.complete = True  # a body delimited by the connection's close
        elif not self.complete and self.error is None:
            self.error = httpx.RemoteProtocolError("the upstream closed the connection")
        self.wake()

    def pause_writing(self) -> None:  # the request is buffered by the transport
        pass

    def resume_writing(self) -> None:
        pass

    # --- httptools callbacks (and ``on_body``: the body's append) ------------------------
    # They run inside ``feed_data`` only, and ``data_received`` wakes the reader once
    # after it: an SSE stream's read carries a body piece per event, and a wake for
    # each was a call and a check per event for nothing.
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        names = {name.lower() for name, _ in self.headers}
        self.until_eof = b"content-length" not in names and b"transfer-encoding" not in names
        self.headers_done = True

    def on_message_complete(self) -> None:
        self.complete = True

    # --- reader side -------------------------------------------------------------------
    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, seconds: float | None) -> None:
        """Until the protocol has news; ``TimeoutError`` after ``seconds``. A timer on
        the waiter rather than ``asyncio.timeout`` (which cancels and uncancels the
        task): 2% of a plain request's CPU less."""
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        timer = None if seconds is None else loop.call_later(seconds, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def take(self) -> bytes:
        chunk = self.body.popleft()
        self.buffered -= len(chunk)
        if self.paused and self.buffered < LOW_WATER and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return chunk

    def take_all(self) -> bytes:
        """Every body piece received so far, as one: a chunked response's pieces (an SSE
        stream sends one per event) that came in one read are read as one chunk."""
        body = self.body
        if len(body) == 1:
            return self.take()
        chunk = b"".join(body)
        body.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return chunk

    async def next_piece(self, read_timeout: float | None) -> bytes | None:
        """The body received since the last piece (``take_all``), waiting for some;
        None at the body's end. Raises the connection's error, ``ReadTimeout`` when
        nothing came for ``read_timeout`` seconds, or ``TotalTimeout`` once the
        exchange has lasted past its deadline (an upstream that keeps sending a little
        is cut there too)."""
        while not self.body:
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            await self.wait_for_news(read_timeout, "timed out reading the upstream response")
        if time.monotonic() >= self.deadline:
            raise TotalTimeout(self.allowed)
        return self.take_all()

    async def wait_for_news(self, read_timeout: float | None, message: str) -> None:
        """``wait``, for no longer than ``read_timeout`` nor past the deadline:
        ``ReadTimeout`` (``message``) or ``TotalTimeout`` when it ran out."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TotalTimeout(self.allowed)
        bounded = left if read_timeout is None or left < read_timeout else read_timeout
        try:
            await self.wait(bounded)
        except TimeoutError:
            if bounded == left:
                raise TotalTimeout(self.allowed) from None
            raise httpx.ReadTimeout(message) from None

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and not self.body

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class TotalTimeout(httpx.ReadTimeout):
    """The upstream's exchange lasted longer than it may in all (``total_timeout``,
    ``SWITCHYARD_TOTAL_TIMEOUT``): a ``ReadTimeout`` to whatever handles one."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the upstream's answer took longer than {seconds:g}s in all (SWITCHYARD_TOTAL_TIMEOUT)"
        )


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _BodyStream(httpx.AsyncByteStream):
    """A response body read off its connection; hands the connection back at the end."""

    def __init__(
        self,
        pool: PooledTransport,
        conn: _Connection,
        read_timeout: float | None,
        request: httpx.Request | None,
    ) -> None:
        self.pool, self.conn, self.read_timeout = pool, conn, read_timeout
        self.request = request
        self.released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks():
                yield chunk
        except httpx.RequestError as exc:
            if self.request is not None:
                _attach(exc, self.request)
            raise

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while (piece := await self.conn.next_piece(self.read_timeout)) is not None:
                yield piece
        finally:
            self.release()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.pool.release(self.conn)

    async def aclose(self) -> None:
        self.release()


class PooledTransport(httpx.AsyncBaseTransport):
    """Keep-alive connections per origin, at most ``max_connections`` in use at once."""

    def __init__(
        self,
        max_connections: int,
        max_keepalive: int,
        keepalive_expiry: float,
        total_timeout: float = DEFAULT_TOTAL_SECONDS,
    ) -> None:
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        # the longest one exchange may last, its answer's body included (the upstream's
        # time to first byte and between chunks is the read timeout's)
        self.total_timeout = total_timeout
        self.slots = asyncio.Semaphore(max_connections)
        self.idle: dict[Origin, list[_Connection]] = {}
        self.idle_count = 0
        self._ssl: ssl.SSLContext | None = None
        # What ``post`` sends besides the caller's headers: the client's defaults
        # (lower-case names), set by ``gateway.base.http`` when it builds the client.
        self.default_headers: dict[str, str] = {}
        self._targets: dict[str, tuple[Origin, bytes]] = {}

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(trust_env=False)
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    # --- pool ------------------------------------------------------------------------
    def checkout(self, origin: Origin) -> _Connection | None:
        idle = self.idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self.idle_count -= 1
            if not conn.closed and now - conn.idle_since < self.keepalive_expiry:
                return conn
            conn.close()
        return None

    def release(self, conn: _Connection) -> None:
        self.slots.release()
        if conn.reusable and self.idle_count < self.max_keepalive:
            conn.reset()
            conn.idle_since = time.monotonic()
            self.idle.setdefault(conn.origin, []).append(conn)
            self.idle_count += 1
        else:
            conn.close()

    async def connect(self, origin: Origin, seconds: float | None) -> _Connection:
        scheme, host, port = origin
        tls = self.ssl_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):
                _, conn = await loop.create_connection(
                    lambda: _Connection(origin),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    # --- one request -------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._handle(request)
        except httpx.RequestError as exc:
            _attach(exc, request)
            raise

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        payload = _serialize(request, await request.aread())
        read = timeouts.get("read")
        conn = await self._start(
            origin, payload, timeouts.get("pool"), timeouts.get("connect"), read
        )
        return self._response(conn, read, request)

    async def post(
        self, url: str, headers: Mapping[str, str], body: Body, timeouts: httpx.Timeout
    ) -> httpx.Response:
        """POST ``body`` to ``url`` without httpx's client layers (request building,
        auth, redirects, hooks, cookies): the head is written here from the cached
        request line and the client's default headers, overridden by ``headers``. The
        response is httpx's, its body still to be read (``aread``/``aiter_bytes``)
        and the connection handed back when it is read or closed (``aclose``). For
        callers that need none of those layers (``gateway.base.http.pooled`` says when)."""
        origin, payload = self._post_payload(url, headers, body)
        try:
            conn = await self._start(
                origin, payload, timeouts.pool, timeouts.connect, timeouts.read
            )
            return self._response(conn, timeouts.read, None)
        except httpx.RequestError as exc:
            _attach(exc, httpx.Request("POST", url))
            raise

    async def post_whole(
        self,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        timeouts: httpx.Timeout,
        limit: int | None = None,
    ) -> Answer:
        """``post`` and read the whole answer. An uncoded answer (the usual one) is
        taken off the connection as is, with no ``httpx.Response`` and no decoder
        around it: 5% of a plain request's CPU went to building and reading one. An
        answer longer than ``limit`` bytes raises ``AnswerTooLarge`` (the connection is
        closed, not read further)."""
        origin, payload = self._post_payload(url, headers, body)
        try:
            conn = await self._start(
                origin, payload, timeouts.pool, timeouts.connect, timeouts.read
            )
            status, head = conn.status, conn.headers  # reset when the connection is idle
            content = await self._read_all(conn, timeouts.read, limit)
        except httpx.RequestError as exc:
            _attach(exc, httpx.Request("POST", url))
            raise
        answer = Answer(status, head, content)
        if limit is not None and len(answer.content) > limit:  # decoded past it
            raise AnswerTooLarge(limit)
        return answer

    def _post_payload(
        self, url: str, headers: Mapping[str, str], body: Body
    ) -> tuple[Origin, Payload]:
        """The origin and what to write: the head and a short body joined; a body of
        ``APART_BYTES`` or more (an agent's request, held for the journal as it is)
        after the head as it is, not copied behind it (``_start``)."""
        target = self._targets.get(url)
        if target is None:
            target = self._target(url)
        origin, prefix = target
        merged = dict(self.default_headers)
        for name, value in headers.items():
            merged[name.lower()] = value
        # h11 refuses these on the httpx path too: a CR or LF would start a new header
        # (or a new request) of the value's choosing. Three memchr scans over every name
        # and value joined (a regex search per name and value cost three times as
        # much); the name is looked for only when there is something to report.
        joined = "".join(merged) + "".join(merged.values())
        if "\r" in joined or "\n" in joined or "\0" in joined:
            name = next(n for n, v in merged.items() if _UNSAFE.search(n) or _UNSAFE.search(v))
            raise httpx.LocalProtocolError(f"illegal character in header {name!r}")
        # the header block made as one text and encoded once (a non-ASCII name or value
        # raises UnicodeEncodeError, as encoding each did): two encodes a header less
        block = "".join([f"{name}: {value}\r\n" for name, value in merged.items()])
        # (a list: a media body's pieces, views of the caller's body around a field)
        size = sum(len(p) for p in body) if isinstance(body, list) else len(body)
        lines: list[bytes | memoryview] = [
            prefix,
            block.encode("ascii"),
            b"content-length: %d\r\n\r\n" % size,
        ]
        if size >= APART_BYTES:
            return origin, [b"".join(lines), *(body if isinstance(body, list) else (body,))]
        if isinstance(body, list):
            lines += body
        else:
            lines.append(body)
        return origin, b"".join(lines)

    async def _read_all(
        self, conn: _Connection, read_timeout: float | None, limit: int | None = None
    ) -> bytes:
        """The rest of ``conn``'s response body; the connection is handed back (or
        closed) however this ends."""
        parts: list[bytes] = []
        size = 0
        try:
            while (piece := await conn.next_piece(read_timeout)) is not None:
                parts.append(piece)
                size += len(piece)
                if limit is not None and size > limit:
                    raise AnswerTooLarge(limit)  # the unread rest closes the connection
        finally:
            self.release(conn)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _target(self, url: str) -> tuple[Origin, bytes]:
        """``url``'s origin and request line with Host header, parsed once per URL
        (httpx's URL parser is pure Python)."""
        parsed = httpx.URL(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        prefix = b"POST %s HTTP/1.1\r\nhost: %s\r\n" % (parsed.raw_path, parsed.netloc)
        if len(self._targets) >= URL_CACHE_SIZE:
            self._targets.clear()
        target = self._targets[url] = ((parsed.scheme, parsed.host, port), prefix)
        return target

    def _response(
        self, conn: _Connection, read_timeout: float | None, request: httpx.Request | None
    ) -> httpx.Response:
        """The started exchange on ``conn`` as httpx's response, its body still to read."""
        stream = _BodyStream(self, conn, read_timeout, request)
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _start(
        self,
        origin: Origin,
        payload: Payload,
        pool_timeout: float | None,
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> _Connection:
        """Write ``payload`` on a connection to ``origin`` and wait for the response's
        head; the connection (holding a slot) is the caller's to release. The exchange
        must be over ``total_timeout`` seconds from now (its body read included).
        ``payload`` in pieces is written in one call (``writelines``: uvloop writes
        them with one vectored send and keeps what it could not send as it is, where
        joining them would copy an agent's 150 KB body behind its head)."""
        started = time.monotonic()
        if self.slots.locked():  # wait for a free connection, at most pool_timeout
            try:
                async with asyncio.timeout(pool_timeout):
                    await self.slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout("no upstream connection free in time") from None
        else:
            await self.slots.acquire()  # free: returns at once
        conn: _Connection | None = None
        try:
            for _ in range(2):
                conn = self.checkout(origin)
                reused = conn is not None
                if conn is None:
                    conn = await self.connect(origin, connect_timeout)
                if isinstance(payload, list):
                    conn.transport.writelines(payload)  # type: ignore[union-attr]
                else:
                    conn.transport.write(payload)  # type: ignore[union-attr]
                conn.allowed, conn.deadline = self.total_timeout, started + self.total_timeout
                while not conn.headers_done and conn.error is None:
                    await conn.wait_for_news(read_timeout, "timed out waiting for the upstream")
                if conn.headers_done:
                    break
                if not (reused and not conn.got_bytes):
                    raise conn.error  # type: ignore[misc]
                conn.close()  # a stale keep-alive connection: once more on a new one
            else:
                raise conn.error  # type: ignore[misc, union-attr]
        except BaseException:
            if conn is not None:
                conn.close()
            self.slots.release()
            raise
        return conn

    async def aclose(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()
        self.idle_count = 0


class AnswerTooLarge(Exception):
    """An upstream answer longer than the caller's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


class Answer:
    """A whole upstream answer to ``post_whole``: status, raw headers, body (decoded
    where the upstream encoded it). ``response()`` builds httpx's for the error path."""

    __slots__ = ("status_code", "raw_headers", "content")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.raw_headers = headers
        self.content = body
        for name, value in headers:
            if name.lower() == b"content-encoding" and value.strip().lower() != b"identity":
                coded = httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))
                self.content = coded.read()  # httpx decodes gzip, deflate, br, zstd
                self.raw_headers = [h for h in headers if h[0].lower() != b"content-encoding"]
                break

    def response(self) -> httpx.Response:
        """The answer as httpx's, read (its body is already decoded)."""
        return httpx.Response(
            self.status_code,
            headers=self.raw_headers,
            content=self.content,
            extensions={"http_version": b"HTTP/1.1"},
        )


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """``response``'s body chunks as they arrive: straight off the connection for an
    uncoded answer to ``PooledTransport.post`` (three generator hops and httpx's
    per-chunk decoding less), else ``aiter_bytes`` (decoded by httpx)."""
    stream = response.stream
    if isinstance(stream, _BodyStream) and "content-encoding" not in response.headers:
        return stream._chunks()
    return response.aiter_bytes()


def _attach(exc: httpx.RequestError, request: httpx.Request) -> None:
    try:
        exc.request  # noqa: B018  (raises when unset)
    except RuntimeError:
        exc.request = request


def _serialize(request: httpx.Request, body: bytes) -> bytes:
    """The request head and body as one buffer (one write)."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    chunked = False
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        lines.append(name + b": " + value)
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if chunked:  # a streamed request body, read whole above: send it as one chunk
        return head + (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return head + body
