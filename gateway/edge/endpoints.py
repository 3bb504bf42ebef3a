"""Lean ASGI handlers for the /v1 API (OpenAI and Anthropic dialects) and the Gemini API
(``/v1beta/models/{model}:method`` and the same under /v1/). They resolve the
key against the in-memory registry (refusing a bad one before reading anything), read
the body (size-capped), hand over to ``service.handle`` and write the reply, streaming
chunk by chunk. A client that goes away cancels the work, which closes the upstream
request. The paths served here are a small route table (``routes()``: the edge's own
rows, ``ROUTES``, with the routes features register, ``hooks.api_routes``, before the
rows that take whole prefixes; a match and a handler each, the runtime started once
before any); every other path goes to Django (console, admin, management API, health).
A feature's route only answers: the caller's key, the body, the reply and the errors
are the edge's (``GatewayApp.feature``). A process of one role (``serve --role``)
refuses the paths of the other with a 421 (``gateway.edge.role_gate``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast
from urllib.parse import parse_qsl

import orjson
from django.conf import settings

from gateway import codecs, journal
from gateway.base import db_work, hooks, lazy_import, lifecycle, process_role, running_loop
from gateway.base.asgi import Receive, Scope, Send, until_disconnect
from gateway.base.entries import KeyEntry
from gateway.base.errors import (
    AuthenticationFailed,
    GatewayError,
    HeadersTooLarge,
    InvalidRequest,
    ModelNotFound,
    RequestTooLarge,
    ShuttingDown,
)
from gateway.base.hot_settings import hot
from gateway.base.numbers import ascii_int
from gateway.core import service
from gateway.core.call import StreamCut
from gateway.core.service import Caller, Reply, StreamReply
from gateway.edge import batch_endpoints, body_caps, dialects, health, role_gate
from gateway.edge.ws_origin import mcp_origin_allowed
from gateway.features import passthrough
from gateway.features.batches.files import links
from gateway.telemetry import metrics
from gateway.web.callers import header_map, resolve_caller, resolve_fresh_caller

# The endpoint table (POST path -> (endpoint, dialect)) and the client codecs.
POST_ROUTES = dialects.POST_ROUTES
MODEL_PATHS = ("/v1/models", "/models", "/anthropic/v1/models", "/openai/v1/models")
API_PREFIXES = ("/v1/", "/anthropic/", "/openai/", "/v1beta/")
# the prefixes themselves, without their slash: "/v1" is an API path too (a client's
# "/v1/models/.." arrives as "/v1"), answered in JSON, never the console's HTML 404
API_ROOTS = frozenset(prefix.rstrip("/") for prefix in API_PREFIXES)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in API_ROOTS


# Gemini API: POST {prefix}/{model}:{method}; GET {prefix} and {prefix}/{model}. Under
# /v1/ a GET is Gemini's only when the caller authenticates the Google way.
GEMINI_MODELS = ("/v1beta/models", "/v1/models")
GEMINI_METHODS = dialects.GEMINI_METHODS


def gemini_method(path: str) -> tuple[str, str, bool] | None:
    """``(endpoint, model, stream)`` for a Gemini method path (the model as the client
    named it: URL-decoded by the server, ``models/`` and a route name's ``/`` kept)."""
    for prefix in GEMINI_MODELS:
        if path.startswith(prefix + "/"):
            model, colon, method = path[len(prefix) + 1 :].rpartition(":")
            if colon and model and method in GEMINI_METHODS:
                endpoint, stream = GEMINI_METHODS[method]
                return endpoint, model.removeprefix("models/"), stream
    return None


def query_key(scope: Scope) -> str:
    """The ``key`` query parameter (Google's ``?key=``), or ''."""
    raw: bytes = scope.get("query_string") or b""
    if b"key=" not in raw:
        return ""
    for name, value in parse_qsl(raw.decode("latin-1")):
        if name == "key":
            return value.strip()
    return ""


def google_key(scope: Scope, headers: dict[str, str]) -> str:
    """A key sent the Google way: ``x-goog-api-key`` or ``?key=``."""
    return headers.get("x-goog-api-key", "").strip() or query_key(scope)


def is_gemini_listing(scope: Scope, headers: dict[str, str]) -> bool:
    path: str = scope["path"]
    if path.startswith("/v1beta/models"):
        return path == "/v1beta/models" or path.startswith("/v1beta/models/")
    return bool(google_key(scope, headers)) and (
        path == "/v1/models" or path.startswith("/v1/models/")
    )


async def caller_key(
    scope: Scope, headers: dict[str, str], dialect: str, google: bool = False
) -> KeyEntry | Reply:
    """The caller's usable key, or the 401 to send instead in ``dialect``'s envelope
    (no key, an unknown one, revoked or expired), decided before anything is read.
    ``google``: the key may come the Google way (``x-goog-api-key``, ``?key=``)."""
    token = (google_key(scope, headers) or None) if google else None
    caller = await resolve_fresh_caller(headers, token)
    key = caller.key
    refusal = caller.key_error if key is None else service.key_refusal(key)
    if refusal:
        return json_error(dialect, AuthenticationFailed(refusal))
    assert key is not None  # a caller without a key has its key_error
    return key


async def read_json_object(receive: Receive, limit: int) -> dict[str, Any]:
    """A POST's JSON object body (an empty body: ``{}``); a 413 past ``limit`` bytes, a
    400 for anything but an object."""
    raw = await read_body(receive, limit)
    if raw is None:
        raise RequestTooLarge("the request body is too large")
    try:
        parsed = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return parsed


async def _body_chunk(receive: Receive) -> tuple[bytes, bool]:
    """The body's next chunk and whether more follows; a client gone cancels the read."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise asyncio.CancelledError
    return message.get("body", b""), bool(message.get("more_body"))


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk, more = await _body_chunk(receive)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


async def read_body_once(receive: Receive, limit: int, declared: int | None) -> bytearray | None:
    """The whole body in one buffer, filled as it arrives (no list of chunks joined at
    the end: a 25 MB upload is in memory once), or None past ``limit`` bytes. With a
    Content-Length the buffer is that size from the start."""
    if declared is None:
        grown = bytearray()
        while True:
            chunk, more = await _body_chunk(receive)
            grown += chunk
            if len(grown) > limit:
                return None
            if not more:
                return grown
    buffer = bytearray(declared)
    view = memoryview(buffer)
    size = 0
    while True:
        chunk, more = await _body_chunk(receive)
        if size + len(chunk) > declared:  # more than declared: the server prevents it
            return None
        view[size : size + len(chunk)] = chunk
        size += len(chunk)
        if not more:
            break
    view.release()
    if size < declared:
        del buffer[size:]  # shortened in place
    return buffer


async def send_reply(send: Send, reply: Reply) -> None:
    headers = reply.headers + [(b"content-length", str(len(reply.body)).encode())]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


async def send_stream(
    send: Send, reply: StreamReply, dialect: str = "openai", scope: Scope | None = None
) -> None:
    headers = reply.headers + [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    every = settings.SWITCHYARD_STREAM_KEEPALIVE_SECONDS
    try:
        if every <= 0 or not reply.keepalive:
            async for chunk in reply.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            # what a silent stream sends to keep intermediaries from timing it out
            await _send_with_keepalive(send, reply, codecs.client(dialect).keepalive, every)
    except StreamCut:  # the client's download must fail, not end as a short file
        cut = ((scope or {}).get("extensions") or {}).get(lifecycle.CUT_BODY)
        if cut is not None:  # (serve's uvicorn; daphne, for development, would hang on
            cut()  # a reply left open: there the body just ends)
    except asyncio.CancelledError:
        if not lifecycle.was_cut():
            raise  # the client left, or the server cancels: nothing more to write
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        tail = shutdown_stream_tail(dialect)
        await send({"type": "http.response.body", "body": tail, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def shutdown_stream_tail(dialect: str) -> bytes:
    """How a stream still open when the shutdown grace period ends finishes: the
    dialect's in-stream error event (and ``[DONE]`` for OpenAI chat), never a silent cut."""
    error = ShuttingDown("this gateway instance is shutting down and ended the stream; retry")
    codec = codecs.client(dialect)
    return codec.render_stream_error(error) + codec.stream_end


async def _send_with_keepalive(send: Send, reply: StreamReply, ping: bytes, every: float) -> None:
    """Send the chunks; a timer sends ``ping`` whenever nothing went out for ``every``
    seconds. A timer instead of a companion task: nothing per chunk but a timestamp."""
    keepalive = _KeepAlive(send, ping, every)
    try:
        async for chunk in reply.chunks:
            if keepalive.pinging is not None:  # a ping is being written: it goes first
                await keepalive.pinging
            keepalive.busy = True
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            keepalive.busy = False
            keepalive.last_sent = keepalive.loop.time()
    finally:
        keepalive.stop()


class _KeepAlive:
    __slots__ = ("loop", "send", "message", "every", "last_sent", "busy", "pinging", "timer")

    def __init__(self, send: Send, ping: bytes, every: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.send, self.every = send, every
        self.message = {"type": "http.response.body", "body": ping, "more_body": True}
        self.last_sent = self.loop.time()
        self.busy = False  # a chunk is being written
        self.pinging: asyncio.Task[None] | None = None
        self.timer = self.loop.call_later(every, self._due)

    def _due(self) -> None:
        quiet_for = self.loop.time() - self.last_sent
        if quiet_for < self.every:
            self.timer = self.loop.call_later(self.every - quiet_for, self._due)
            return
        if not self.busy and self.pinging is None:
            self.pinging = self.loop.create_task(self._ping())
        self.timer = self.loop.call_later(self.every, self._due)

    async def _ping(self) -> None:
        try:
            await self.send(self.message)
        except Exception:  # the client went away: the chunk loop sees it too
            pass
        finally:
            self.last_sent = self.loop.time()
            self.pinging = None

    def stop(self) -> None:
        self.timer.cancel()
        if self.pinging is not None:
            self.pinging.cancel()


async def cancel_on_disconnect(
    receive: Receive, task: asyncio.Task[Any] | None, gone: asyncio.Future[bool]
) -> None:
    """Cancel ``task`` when the client disconnects (``gone`` marks why)."""
    await until_disconnect(receive)
    gone.set_result(True)
    if task is not None:
        task.cancel()


async def until_gone(
    scope: Scope, receive: Receive, work: Awaitable[None], task: asyncio.Task[Any] | None = None
) -> None:
    """Run ``work`` in this task, cancelled if the client leaves first (then this returns
    quietly; a cancellation from outside, the server's, still propagates). The server's
    protocol tells of a lost connection (``lifecycle.ON_DISCONNECT``); under another
    server a second task waits on the ASGI receive for ``http.disconnect``. ``task``:
    this task, when the caller has it (each lookup of the running loop is a ``getpid``
    system call on Python 3.11; the task knows its loop)."""
    if task is None:
        task = asyncio.current_task()
    assert task is not None  # a request's own task
    loop = task.get_loop()
    gone = loop.create_future()
    watch = (scope.get("extensions") or {}).get(lifecycle.ON_DISCONNECT)
    watcher: asyncio.Future[None] | None = None
    if watch is not None:

        def left() -> None:
            if not gone.done():
                gone.set_result(True)
                task.cancel()

        watch(left)
    else:
        watcher = loop.create_task(cancel_on_disconnect(receive, task, gone))
    try:
        await work
    except asyncio.CancelledError:
        if not gone.done():
            raise  # cancelled from outside (server shutdown): not ours to swallow
        task.uncancel()
    finally:
        if watch is not None:
            watch(None)
        elif watcher is not None:
            watcher.cancel()


async def follow_until_gone(
    receive: Receive, send: Send, reply: StreamReply, scope: Scope, dialect: str
) -> None:
    """Send a stream that follows stored events (a background response's) until it ends
    or the client goes away (then it stops reading; the response runs on)."""
    try:
        await until_gone(scope, receive, send_stream(send, reply, dialect, scope))
    finally:
        await service.close_quietly(reply.chunks)


def request_id_headers(dialect: str) -> list[tuple[bytes, bytes]]:
    """A fresh request id for replies that do not go through ``service`` (every reply
    carries one, as the upstream APIs' do)."""
    rid = service.new_request_id().encode()
    headers = [(b"x-request-id", rid)]
    also = codecs.client(dialect).request_id_header
    if also:
        headers.append((also, rid))
    return headers


def json_error(dialect: str, error: GatewayError) -> Reply:
    body = orjson.dumps(codecs.client(dialect).render_error(error))
    headers = [(b"content-type", b"application/json"), *request_id_headers(dialect)]
    return Reply(error.status, body, headers + service.retry_headers(error.status))


def json_reply(dialect: str, payload: Any) -> Reply:
    headers = [(b"content-type", b"application/json"), *request_id_headers(dialect)]
    return Reply(200, orjson.dumps(payload), headers)


def refuse_while_closing(dialect: str) -> Reply:
    """The 503 of a request the drain ended (journaled by its own call)."""
    reply = json_error(dialect, ShuttingDown("this gateway instance is shutting down; retry"))
    reply.headers += [(b"connection", b"close"), (b"retry-after", b"1")]
    return reply


def refuse_new_request(scope: Scope, endpoint: str, dialect: str) -> Reply:
    """The 503 of an API request arriving while the server drains, journaled: the
    journal is written out only after the server stopped accepting and its connections
    closed (uvicorn's lifespan shutdown), so the row is not lost."""
    caller = resolve_caller(header_map(scope))  # from memory: names the key in the row
    error = ShuttingDown("this gateway instance is shutting down; retry")
    reply = service.reject(endpoint, dialect, error, caller)
    reply.headers += [(b"connection", b"close"), (b"retry-after", b"1")]
    return reply


def headers_too_large(headers: list[tuple[bytes, bytes]]) -> bool:
    """More than SWITCHYARD_MAX_HEADERS headers, or more than SWITCHYARD_MAX_HEADER_BYTES
    in all: the servers accept any number, of any size."""
    if len(headers) > hot.SWITCHYARD_MAX_HEADERS:
        return True
    limit: int = hot.SWITCHYARD_MAX_HEADER_BYTES
    return sum(map(len, chain.from_iterable(headers))) > limit


def refuse_headers(path: str, headers: list[tuple[bytes, bytes]]) -> Reply:
    """431 Request Header Fields Too Large: in the caller's dialect on the API paths,
    ``{"detail": ...}`` (as /api answers) elsewhere."""
    error = HeadersTooLarge(
        f"too many or too large request headers (limits: {settings.SWITCHYARD_MAX_HEADERS} "
        f"headers, {settings.SWITCHYARD_MAX_HEADER_BYTES} bytes in all)"
    )
    if path in POST_ROUTES:
        dialect = POST_ROUTES[path][1]
    elif path.startswith("/v1beta/") or gemini_method(path) is not None:
        dialect = "gemini"
    elif (vendor := passthrough.prefix_of(path)) is not None and not path.startswith(API_PREFIXES):
        dialect = passthrough.dialect_for(vendor)  # a vendor API's own envelope
    elif path.startswith(API_PREFIXES) or path in MODEL_PATHS:
        anthropic = path.startswith(("/anthropic/", "/v1/messages")) or any(
            name.lower() == b"anthropic-version" for name, _ in headers
        )
        dialect = "anthropic" if anthropic else "openai"
    else:
        body = orjson.dumps({"detail": error.message})
        return Reply(431, body, [(b"content-type", b"application/json")])
    return json_error(dialect, error)


def url_loader(urls: Any, path: str) -> Callable[[], None] | None:
    """What the URL conf (``urls``, loaded) asks to run off the loop before Django
    resolves ``path`` there (``gateway.server.urls.loader_for``; a URL conf without it
    loads everything with itself)."""
    loader_for = getattr(urls, "loader_for", None)
    return None if loader_for is None else cast("Callable[[], None] | None", loader_for(path))


class GatewayApp:
    """The HTTP side of the ASGI application: the route table's handlers, Django for
    every other path."""

    def __init__(
        self,
        django_app: Callable[[Scope, Receive, Send], Awaitable[None]],
        role: process_role.Role | None = None,
    ) -> None:
        self.django_app = django_app
        self.urls = lazy_import.ready(settings.ROOT_URLCONF)  # imported on first need
        # what this process serves (gateway.edge.role_gate): `all`, unless serve --role
        self.role = process_role.current() if role is None else role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if headers_too_large(scope["headers"]):
            await send_reply(send, refuse_headers(path, scope["headers"]))
            return
        route, found = route_for(scope, method, path)
        if self.role != "all":
            inference = route is not None or is_api_path(path)
            refused = role_gate.refusal(self.role, method, path, inference)
            if refused is not None:
                await send_reply(send, refused)
                return
        if route is None and is_api_path(path):
            await send_reply(send, unknown_endpoint(method, path, scope["headers"]))
            return
        if route is not None or scope.get("type") == "http":
            await lifecycle.ensure_started()
        if route is None:
            if self.urls is None:  # the console's views, the admin, the API: off the loop
                self.urls = await lazy_import.loaded(settings.ROOT_URLCONF)
            if (load := url_loader(self.urls, path)) is not None:
                await asyncio.to_thread(load)  # the console's views, an /api resource's schemas
            await self.django_app(scope, receive, send)
        else:
            await route.serve(self, scope, receive, send, found)

    async def post_endpoint(
        self, scope: Scope, receive: Receive, send: Send, found: tuple[str, str]
    ) -> None:
        """A POST to the endpoint table (``dialects.POST_ROUTES``)."""
        endpoint, dialect = found
        google = codecs.client(dialect).google_key  # the key may come the Google way
        await self.api(scope, receive, send, endpoint, dialect, google_auth=google)

    async def post_gemini(
        self, scope: Scope, receive: Receive, send: Send, found: tuple[str, str, bool]
    ) -> None:
        """A POST to a Gemini method path (``{prefix}/{model}:{method}``)."""
        endpoint, model, stream = found
        fields = {"model": model, "stream": stream}
        await self.api(scope, receive, send, endpoint, dialects.GEMINI, fields, google_auth=True)

    async def passthrough(self, scope: Scope, receive: Receive, send: Send, found: str) -> None:
        """``/{vendor}/...``: the vendor's own API (``gateway.features.passthrough``), in
        the one pipeline as any endpoint: its key taken the way the vendor's SDK sends
        it (Bearer, ``x-api-key``, ``api-key``, ``x-goog-api-key``, ``?key=``), the body
        read size-capped, the answer relayed as it comes."""
        dialect = passthrough.dialect_for(found)
        fields = {passthrough.TARGET: passthrough.target(scope, found, header_map(scope))}
        await self.api(
            scope, receive, send, passthrough.ENDPOINT, dialect, fields, google_auth=True
        )

    async def files_and_batches(
        self, scope: Scope, receive: Receive, send: Send, found: tuple[str, list[str], str]
    ) -> None:
        headers = header_map(scope)
        caller = await resolve_fresh_caller(headers)
        io = batch_endpoints.Io(read_body, send_reply)
        await batch_endpoints.serve(scope, receive, send, found, headers, caller, io)

    async def file_link(self, scope: Scope, receive: Receive, send: Send, found: str) -> None:
        """``GET /v1/images/files/{id}?key=..&expires=..&signature=..``: a file the gateway
        kept for an answer to link to, to whoever holds the signed link until it expires
        (rule ``file.link.read``; no API key: the link is the credential)."""

        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            data, media_type = await db_work.arun(links.open_link, found, query)
        except GatewayError as error:
            await send_reply(send, json_error("openai", error))
            return
        headers = [
            (b"content-type", media_type.encode()),
            (b"cache-control", b"private, max-age=3600"),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send_reply(send, Reply(200, data, headers))

    async def mcp(self, scope: Scope, receive: Receive, send: Send, found: bool) -> None:

        if not mcp_origin_allowed(scope):  # the MCP spec's DNS-rebinding rule
            body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Forbidden: this Host or Origin is not allowed"}}'
            await send_reply(send, Reply(403, body, [(b"content-type", b"application/json")]))
            return
        loader = hooks.asgi_apps.get("mcp")  # the MCP feature's endpoint, if installed
        if loader is None:
            await send_reply(send, Reply(404, b"", []))
            return
        app = await loader()  # the feature loads it (the MCP SDK) on a worker's first /mcp
        await app(scope, receive, send)

    async def agents(self, scope: Scope, receive: Receive, send: Send, found: bool) -> None:
        """``/a2a/<agent>``: the app a unit serves there (``hooks.asgi_apps``: the A2A
        feature's, loaded on a worker's first request); 404 when none is installed."""
        loader = hooks.asgi_apps.get("a2a")
        if loader is None:
            await send_reply(send, Reply(404, b"", []))
            return
        app = await loader()
        await app(scope, receive, send)

    async def api(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: str,
        dialect: str,
        path_fields: dict[str, Any] | None = None,
        google_auth: bool = False,
    ) -> None:
        """Serve a POST to the endpoint table's ``endpoint`` in ``dialect``: refused while
        the process shuts down, counted in flight (``lifecycle``) while it runs.
        ``google_auth``: the key may come the Google way (the Gemini paths)."""
        if lifecycle.closing():
            await send_reply(send, refuse_new_request(scope, endpoint, dialect))
            return
        task = running_loop.current_task()  # looked up once, from the loop held
        lifecycle.request_started(task)
        try:
            headers = header_map(scope)
            gemini_key = google_key(scope, headers) if google_auth else ""
            caller = await resolve_fresh_caller(headers, gemini_key or None)
            if caller.key is None or service.key_refusal(caller.key):
                # No body is read for a caller without a usable key: 40 unauthenticated 31 MiB
                # posts once held 1 GB. The server discards what the client still sends
                # (uvicorn after the response is complete; daphne spools bodies to disk).
                refused = service.refuse_unauthorized(endpoint, dialect, caller)
                if refused is not None:
                    await send_reply(send, refused)
                    return
            limit = body_caps.api_body_cap(endpoint)
            declared = ascii_int(headers.get("content-length", ""))
            if declared is not None and declared > limit:
                too_large = RequestTooLarge(body_caps.too_large(endpoint, limit))
                await send_reply(send, service.reject(endpoint, dialect, too_large, caller))
                return
            try:
                if service.multipart(endpoint):  # media uploads: read into one buffer
                    size = declared
                    raw: bytes | bytearray | None = await read_body_once(receive, limit, size)
                else:
                    raw = await read_body(receive, limit)
            except asyncio.CancelledError:
                if lifecycle.was_cut():  # the shutdown grace period ended while it uploaded
                    task.uncancel()  # type: ignore[union-attr]
                    await send_reply(send, refuse_while_closing(dialect))
                    return
                service.record_abandoned(endpoint, dialect, caller)  # left before its body
                return
            if raw is None:
                too_large = RequestTooLarge(body_caps.too_large(endpoint, limit))
                await send_reply(send, service.reject(endpoint, dialect, too_large, caller))
                return
            # From here the client may go away at any moment: its leaving cancels this task's
            # work (the upstream request is closed by the cancellation). The request's journal
            # record goes on once the reply is written: the client reads meanwhile.
            work = self.respond(send, endpoint, dialect, raw, headers, caller, path_fields, scope)
            with journal.held_until_written():
                await until_gone(scope, receive, work, task)
        finally:
            lifecycle.request_finished(task)

    async def respond(
        self,
        send: Send,
        endpoint: str,
        dialect: str,
        raw: bytes | bytearray,
        headers: dict[str, str],
        caller: Caller,
        path_fields: dict[str, Any] | None = None,
        scope: Scope | None = None,
    ) -> None:
        try:
            more = {"path_fields": path_fields} if path_fields else {}  # Gemini's URL
            # service.handle is typed for bytes; a media upload comes as the bytearray
            # read_body_once filled, which its job reads like bytes.
            body = cast(bytes, raw)
            deferred = hooks.deferred_requests.get(dialect)  # answered now, run later
            queued = None
            if deferred is not None and deferred.takes(endpoint, body):
                queued = await self.deferred(deferred, dialect, body, headers, caller)
            if queued is not None:
                reply = queued
            else:
                reply = await service.handle(endpoint, dialect, body, headers, caller, **more)
        except asyncio.CancelledError:
            if not lifecycle.was_cut():
                raise
            # still waiting for its upstream when the shutdown grace period ended
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            await send_reply(send, refuse_while_closing(dialect))
            return
        if isinstance(reply, StreamReply):
            lifecycle.stream_opened()  # /metrics: switchyard_streams_in_flight
            try:
                await send_stream(send, reply, dialect, scope)
            finally:
                lifecycle.stream_closed()
                await service.close_quietly(reply.chunks)
        else:
            await send_reply(send, reply)

    @staticmethod
    async def deferred(
        deferred: hooks.DeferredRequests,
        dialect: str,
        raw: bytes,
        headers: dict[str, str],
        caller: Caller,
    ) -> Reply | StreamReply | None:
        """A request a feature answers at once and runs later (``hooks.deferred_requests``:
        a Responses create with ``background: true``), or None: not one after all."""
        try:
            answer: Reply | StreamReply | None = await deferred.submit(raw, headers, caller)
        except GatewayError as error:
            return json_error(dialect, error)
        return answer

    async def feature(
        self, scope: Scope, receive: Receive, send: Send, found: tuple[hooks.ApiRoute, Any]
    ) -> None:
        """A path a feature serves (``hooks.api_routes``): the caller's key (refused in
        the route's dialect before anything is read), a POST's JSON body up to the
        route's cap, then the feature's answer written: a payload as JSON, a reply as it
        is, a stream followed until the client leaves; an error in the route's dialect."""
        api, target = found
        dialect = api.dialect
        key = await caller_key(scope, header_map(scope), dialect, api.google_key)
        if isinstance(key, Reply):
            await send_reply(send, key)
            return
        method: str = scope["method"]
        try:
            body: dict[str, Any] = {}
            if method == "POST" and api.body_limit:
                try:
                    body = await read_json_object(receive, api.body_limit)
                except asyncio.CancelledError:
                    return  # the client left before its body
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            request = hooks.ApiRequest(method, scope["path"], query, key, body)
            answer = await api.serve(request, target)
        except GatewayError as error:
            await send_reply(send, json_error(dialect, error))
            return
        if isinstance(answer, StreamReply):
            answer.headers = answer.headers + request_id_headers(dialect)
            await follow_until_gone(receive, send, answer, scope, dialect)
        elif isinstance(answer, Reply):
            headers = answer.headers + request_id_headers(dialect)
            await send_reply(send, Reply(answer.status, answer.body, headers))
        else:
            await send_reply(send, json_reply(dialect, answer))

    async def models(self, scope: Scope, receive: Receive, send: Send, found: bool) -> None:
        headers = header_map(scope)
        dialect = (
            "anthropic"
            if ("anthropic-version" in headers or scope["path"].startswith("/anthropic/"))
            else "openai"
        )
        key = await caller_key(scope, headers, dialect)
        if isinstance(key, Reply):
            await send_reply(send, key)
            return
        proto = codecs.client(dialect)
        render_models = proto.render_models
        assert render_models is not None  # the OpenAI and Anthropic dialects list models
        models = service.list_models(key)
        path = scope["path"]
        if path not in MODEL_PATHS:  # GET /v1/models/{id}
            wanted = path.rsplit("/", 1)[1]
            matches = [m for m in models if m.id == wanted]
            if not matches:
                await send_reply(
                    send,
                    json_error(
                        dialect,
                        ModelNotFound(f"model {wanted!r} not found", code="model_not_found"),
                    ),
                )
                return
            listing = render_models(matches)
            await send_reply(send, json_reply(dialect, listing["data"][0]))
            return
        await send_reply(send, json_reply(dialect, render_models(models)))

    async def gemini_models(self, scope: Scope, receive: Receive, send: Send, found: bool) -> None:
        """``GET /v1beta/models`` (one page: every route the key may use) and
        ``GET /v1beta/models/{model}`` in Google's shapes."""
        from gateway.codecs.gemini import inbound

        key = await caller_key(scope, header_map(scope), "gemini", google=True)
        if isinstance(key, Reply):
            await send_reply(send, key)
            return
        models = service.list_models(key)
        prefix = "/v1beta/models" if scope["path"].startswith("/v1beta/") else "/v1/models"
        wanted = scope["path"][len(prefix) + 1 :].removeprefix("models/")
        if not wanted:
            await send_reply(send, json_reply("gemini", inbound.render_models(models)))
            return
        matches = [m for m in models if m.id == wanted]
        if not matches:
            error = ModelNotFound(f"model {wanted!r} not found", code="model_not_found")
            await send_reply(send, json_error("gemini", error))
            return
        await send_reply(send, json_reply("gemini", inbound.model_entry(matches[0])))

    async def probe(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        answer: Callable[[], Awaitable[tuple[int, dict[str, str]]]],
    ) -> None:
        """A health probe, answered without Django's URL conf (``gateway.edge.health``)."""
        status, payload = await answer()
        await send_reply(
            send, Reply(status, orjson.dumps(payload), [(b"content-type", b"application/json")])
        )

    async def metrics(self, scope: Scope, receive: Receive, send: Send, found: bool) -> None:

        metrics.scraped()  # keeps the event-loop lag probe running between scrapes
        text = (await asyncio.to_thread(metrics.render)).encode()  # may read files
        await send_reply(send, Reply(200, text, [(b"content-type", b"text/plain; version=0.0.4")]))


# --- the route table ----------------------------------------------------------------------
# The paths the gateway serves itself, in the order they are tried: each row's ``match``
# reads the request line (and, for a Gemini listing, the headers) and returns what its
# handler needs, or something false when the request is not this row's. The first row
# that matches serves it, after the runtime has started (once, in ``GatewayApp``); an
# unknown path under an API prefix is a 404 in the caller's dialect, anything else goes
# to Django.

Handler = Callable[[GatewayApp, Scope, Receive, Send, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: Callable[[Scope, str, str], Any]  # (scope, method, path) -> found, or falsy
    serve: Handler
    # the declarations (``gateway.base.endpoints``: ENDPOINTS, RESOURCES) it serves, read
    # when asked (a table it matches against may grow); none: a path outside the API
    serves: Callable[[], set[str]] = lambda: set[str]()  # (/metrics, the health probes)
    # a row taking whole prefixes (passthrough's /{vendor}/...): tried after the
    # features' routes too, so that their paths under those prefixes come first
    catch_all: bool = False


def _declared(*names: str) -> Callable[[], set[str]]:
    return lambda: set(names)


def _endpoints_of(table: dict[str, tuple[str, Any]]) -> Callable[[], set[str]]:
    """The endpoints a path table (path or method -> (endpoint, ...)) names, read when
    asked."""
    return lambda: {endpoint for endpoint, _ in table.values()}


def _post_endpoint(scope: Scope, method: str, path: str) -> tuple[str, str] | None:
    return POST_ROUTES.get(path) if method == "POST" else None


def _post_gemini(scope: Scope, method: str, path: str) -> tuple[str, str, bool] | None:
    return gemini_method(path) if method == "POST" else None


def _gemini_listing(scope: Scope, method: str, path: str) -> bool:
    return (
        method == "GET"
        and path.startswith(GEMINI_MODELS)
        and is_gemini_listing(scope, header_map(scope))
    )


def _models(scope: Scope, method: str, path: str) -> bool:
    return method == "GET" and (path in MODEL_PATHS or path.rsplit("/", 1)[0] in MODEL_PATHS)


def _files_and_batches(scope: Scope, method: str, path: str) -> tuple[str, list[str], str] | None:
    return batch_endpoints.target(path)


FILE_LINK_PATH = "/v1/images/files/"


def _file_link(scope: Scope, method: str, path: str) -> str | None:
    """A signed link's file id (``gateway.features.batches.files.links``)."""
    if method != "GET" or not path.startswith(FILE_LINK_PATH):
        return None
    file_id = path[len(FILE_LINK_PATH) :]
    return file_id if file_id and "/" not in file_id else None


def _mcp(scope: Scope, method: str, path: str) -> bool:
    return path == "/mcp" or path.startswith("/mcp/")


def _agents(scope: Scope, method: str, path: str) -> bool:
    """``/a2a/<agent>`` and everything under it (an agent's card, JSON-RPC, HTTP+JSON)."""
    return path.startswith("/a2a/") and len(path) > len("/a2a/")


def _passthrough(scope: Scope, method: str, path: str) -> str | None:
    """The vendor prefix of a passthrough path (``/openai/...``, ``/openai_passthrough/...``);
    tried after every other row and the features' routes (``catch_all``): under
    ``/openai/`` and ``/anthropic/`` the gateway's own endpoints come first."""
    return passthrough.prefix_of(path)


PROBES = {"/health/liveliness": health.alive, "/health/readiness": health.ready}


def _probe(
    scope: Scope, method: str, path: str
) -> Callable[[], Awaitable[tuple[int, dict[str, str]]]] | None:
    return PROBES.get(path) if method == "GET" else None


def _metrics(scope: Scope, method: str, path: str) -> bool:
    return path == "/metrics" and method == "GET"


ROUTES: tuple[Route, ...] = (
    Route("POST endpoint", _post_endpoint, GatewayApp.post_endpoint, _endpoints_of(POST_ROUTES)),
    Route("POST Gemini method", _post_gemini, GatewayApp.post_gemini, _endpoints_of(GEMINI_METHODS)),
    Route("GET Gemini models", _gemini_listing, GatewayApp.gemini_models, _declared("models")),
    Route("GET models", _models, GatewayApp.models, _declared("models")),
    Route("files and batches", _files_and_batches, GatewayApp.files_and_batches, _declared("files", "batches")),
    Route("GET signed file link", _file_link, GatewayApp.file_link, _declared("file_link")),
    Route("MCP", _mcp, GatewayApp.mcp, _declared("mcp")),
    Route("A2A agents", _agents, GatewayApp.agents, _declared("a2a")),
    Route("passthrough", _passthrough, GatewayApp.passthrough, _declared(*passthrough.DECLARED), catch_all=True),
    Route("GET metrics", _metrics, GatewayApp.metrics),  # /metrics: not an API path
    Route("GET health probe", _probe, GatewayApp.probe),  # /health/...: not an API path
)  # fmt: skip


def feature_row(api: hooks.ApiRoute) -> Route:
    """The row of a route a feature registered (``hooks.api_routes``), served by
    ``GatewayApp.feature``: what it matches is handed on with the route itself."""

    def match(scope: Scope, method: str, path: str) -> tuple[hooks.ApiRoute, Any] | None:
        found = api.match(method, path)
        return (api, found) if found else None

    return Route(api.name, match, GatewayApp.feature, _declared(*api.serves))


# the table in force: (the edge's rows it was made from, the features' routes, the table)
_table: tuple[tuple[Route, ...], tuple[hooks.ApiRoute, ...], tuple[Route, ...]] = ((), (), ())


def routes() -> tuple[Route, ...]:
    """The route table: the edge's own rows (``ROUTES``), those of the routes the
    features registered (``hooks.api_routes``, filled at start-up) before its rows that
    take whole prefixes (``Route.catch_all``); made again when either changed."""
    global _table
    own, added, table = _table
    if own is not ROUTES or len(added) != len(hooks.api_routes):
        added = tuple(hooks.api_routes)
        table = (
            *(row for row in ROUTES if not row.catch_all),
            *(feature_row(api) for api in added),
            *(row for row in ROUTES if row.catch_all),
        )
        _table = (ROUTES, added, table)
    return table


def route_for(scope: Scope, method: str, path: str) -> tuple[Route | None, Any]:
    """The first row of the route table (``routes()``) that takes the request, and what
    it found."""
    for route in routes():
        found = route.match(scope, method, path)
        if found:
            return route, found
    return None, None


def unknown_endpoint(
    method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> Reply:
    """A 404 for a path under an API prefix that no route serves, in its dialect: an
    Anthropic client (its ``anthropic-version`` header) gets Anthropic's envelope."""
    path = f"{path}/" if path in API_ROOTS else path
    anthropic = any(name.lower() == b"anthropic-version" for name, _ in headers or ())
    if path.startswith(tuple(p + "/" for p in dialects.INTERACTIONS_PATHS)):
        dialect = dialects.INTERACTIONS
    elif path.startswith("/v1beta/") or ":" in path.rsplit("/", 1)[-1]:
        dialect = "gemini"
    elif anthropic or path.startswith(("/anthropic/", "/v1/messages")):
        dialect = "anthropic"
    else:
        dialect = "openai"
    return json_error(
        dialect, ModelNotFound(f"no such endpoint: {method} {path}", code="unknown_url")
    )
