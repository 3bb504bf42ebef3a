"""WebSocket mode of the Responses API: one socket on the Responses path carrying
``response.create`` events (what ``client.responses.connect()`` in the ``openai`` SDK
and recent Codex versions open). Each event is served as a streamed ``POST
/v1/responses`` through ``service.handle``, so auth, limits, routing, state
(``store``, ``previous_response_id``) and the journal are the HTTP path's; the stream's
events go out as text frames, in order. Responses on one socket run one at a time, in
the order sent (as the API's do). ``generate: false`` (or ``prewarm: true``), which
Codex sends to warm up, stores the request without calling the upstream: its id then
continues with ``previous_response_id``. ``stream_id`` is echoed on every event. The
socket remembers its latest responses in memory, so ``previous_response_id`` continues
a ``store: false`` response on the socket that made it (as OpenAI's does).

The edge serves it on the Responses paths (``gateway.server.asgi`` composes its socket table
from ``hooks.api_sockets``, which this feature's plugin fills).

A socket serves for 60 minutes (``CONNECTION_LIMIT``); a ``response.create`` after
that gets the ``websocket_connection_limit_reached`` error and the socket closes.

The key comes from the handshake's headers (``Authorization: Bearer``) and is checked
again for every ``response.create``, so a revoked key stops at its next event. A bad
key is refused at the handshake with the API's 401 body when the server supports
denial responses, else with close code 4401. No cookies are read, so the console's
same-origin check does not apply here.

What waits on a socket is bounded: at most ``QUEUED_EVENTS`` events and
``QUEUED_BYTES`` bytes queued behind the running response; an event past either bound
is refused at once with a 429 error event (reading never blocks, so a disconnect is
seen at once). A disconnect cancels the running response and drops the queue and the
socket's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from uvicorn.protocols.utils import ClientDisconnected

from gateway import codecs
from gateway.base import lifecycle
from gateway.base.errors import (
    GatewayError,
    InvalidRequest,
    RateLimited,
    RequestTooLarge,
    ShuttingDown,
)
from gateway.core import service
from gateway.features.responses.state import SocketMemory
from gateway.web.callers import header_map, resolve_caller
from gateway.web.origins import deny_handshake

log = logging.getLogger(__name__)

CONNECTION_LIMIT = 60 * 60  # seconds a socket serves responses (Open Responses)
QUEUED_EVENTS = 16  # response.create events waiting on one socket
QUEUED_BYTES = 16 * 1024 * 1024  # and their bytes in all (an event may be 8 MiB)
# Fields of a response.create event that only the socket understands.
_ENVELOPE = ("type", "stream_id", "generate", "prewarm")
# Event types that end a streamed response as a failure.
FAILED_TYPES = frozenset({"response.failed", "error"})


def error_event(status: int, error: dict[str, Any], stream_id: str | None) -> bytes:
    """The WebSocket mode's error event for a request refused before it streamed."""
    if not error.get("code"):  # Open Responses: every WebSocket error names a code
        error = {**error, "code": error.get("type") or "error"}
    event: dict[str, Any] = {"type": "error", "status": status, "error": error}
    if stream_id is not None:
        event["stream_id"] = stream_id
    return orjson.dumps(event)


def sse_payloads(chunk: bytes) -> list[bytes]:
    """The ``data:`` payloads of the SSE events in ``chunk`` (comments skipped)."""
    payloads = (line[5:].strip() for line in chunk.split(b"\n") if line.startswith(b"data:"))
    return [payload for payload in payloads if payload != b"[DONE]"]  # SSE's end marker


def failure(payload: bytes) -> bool:
    """Whether a stream event says the response failed (a cheap byte test first)."""
    if b"error" not in payload and b"failed" not in payload:
        return False
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(event, dict) and event.get("type") in FAILED_TYPES


class ResponsesSocket(AsyncWebsocketConsumer):
    worker: asyncio.Task[None] | None = None
    gone = False

    async def connect(self) -> None:
        await lifecycle.ensure_started()
        self.headers = header_map(self.scope)
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.queued_bytes = 0
        self.gone = False
        self.worker: asyncio.Task[None] | None = None
        self.memory = SocketMemory()
        self.opened = time.monotonic()
        caller = resolve_caller(self.headers)
        if caller.key is None or service.key_refusal(caller.key):
            refused = service.refuse_unauthorized("chat", "responses", caller)
            if refused is not None:
                await self._deny(refused)
                return
        await self.accept()
        self.worker = asyncio.ensure_future(self._work())

    async def _deny(self, reply: service.Reply) -> None:
        await deny_handshake(self.scope, self.base_send, reply, 4401)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Queue the event, or refuse it at once: this never waits, so the disconnect
        that follows a burst is handled as soon as it comes."""
        if self.gone:  # a send found the client gone: its disconnect follows
            return
        message = text_data if text_data is not None else (bytes_data or b"")
        size = len(message)  # characters for text: at least 1/4 of its bytes
        limit = settings.SWITCHYARD_MAX_BODY_BYTES
        if size > limit:
            error: GatewayError = RequestTooLarge(f"the event exceeds the limit of {limit} bytes")
            with contextlib.suppress(ClientDisconnected):  # gone: its disconnect follows
                await self._send_error(413, error, None)
            return
        if self.queue.qsize() >= QUEUED_EVENTS or self.queued_bytes + size > QUEUED_BYTES:
            error = RateLimited(
                f"too many response.create events are waiting on this socket (at most "
                f"{QUEUED_EVENTS} events, {QUEUED_BYTES} bytes): wait for a response to "
                "complete before sending more"
            )
            with contextlib.suppress(ClientDisconnected):
                await self._send_error(429, error, None)
            return
        self.queued_bytes += size
        self.queue.put_nowait(message)

    async def disconnect(self, code: int) -> None:
        """Cancel the running response, drop what waits and the socket's memory."""
        worker, self.worker = self.worker, None
        self._drop_queue()
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        self._drop_queue()
        self.memory = SocketMemory()

    def _drop_queue(self) -> None:
        self.queue = asyncio.Queue()
        self.queued_bytes = 0

    async def _work(self) -> None:
        while True:
            message = await self.queue.get()
            self.queued_bytes -= len(message)
            try:
                await self._serve(message)
            except asyncio.CancelledError:
                raise
            except ClientDisconnected:
                # The client left while its answer was being sent: nothing more can reach
                # it, so serve nothing more (its disconnect, queued behind, tears down).
                self.gone = True
                self._drop_queue()
                return
            except Exception:  # a bug: never kill the socket's loop silently
                log.exception("responses socket: serving an event failed")
                with contextlib.suppress(ClientDisconnected):
                    await self._send_error(500, GatewayError("internal error"), None)

    async def _send_error(self, status: int, error: GatewayError, stream_id: str | None) -> None:
        body = codecs.client("responses").render_error(error)["error"]
        await self.send(text_data=error_event(status, body, stream_id).decode())

    async def _serve(self, message: str | bytes) -> None:
        limit = settings.SWITCHYARD_MAX_BODY_BYTES
        if isinstance(message, str):
            message = message.encode()
        if len(message) > limit:
            error: GatewayError = RequestTooLarge(f"the event exceeds the limit of {limit} bytes")
            await self._send_error(413, error, None)
            return
        try:
            event = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            await self._send_error(400, InvalidRequest(f"the event is not valid JSON: {exc}"), None)
            return
        if not isinstance(event, dict) or event.get("type") != "response.create":
            kind = event.get("type") if isinstance(event, dict) else None
            await self._send_error(
                400,
                InvalidRequest(
                    f"unsupported event type {kind!r}: this socket takes response.create",
                    param="type",
                ),
                None,
            )
            return
        stream_id = event.get("stream_id") if isinstance(event.get("stream_id"), str) else None
        if time.monotonic() - self.opened > CONNECTION_LIMIT:
            # Open Responses: a connection lasts 60 minutes; the client opens a new one
            await self.send(
                text_data=error_event(
                    400,
                    {
                        "type": "invalid_request_error",
                        "code": "websocket_connection_limit_reached",
                        "message": "this WebSocket reached its 60-minute limit; open a new "
                        "connection (continue with previous_response_id when the response "
                        "was stored, else send the full context)",
                        "param": None,
                    },
                    stream_id,
                ).decode()
            )
            await self.close(code=1000)
            return
        body = {k: v for k, v in event.items() if k not in _ENVELOPE}
        body["stream"] = True  # implicit over a socket
        if lifecycle.closing():
            error = ShuttingDown("this gateway instance is shutting down; reconnect")
            await self._send_error(503, error, stream_id)
            return
        caller = resolve_caller(self.headers)  # again: the key may have been revoked
        caller.responses_memory = self.memory
        generate = event.get("generate") is not False and event.get("prewarm") is not True
        endpoint = "chat" if generate else "prepare"
        previous = body.get("previous_response_id")
        failed = True
        lifecycle.request_started()
        try:
            raw = orjson.dumps(body)
            reply = await service.handle(endpoint, "responses", raw, self.headers, caller)
            if isinstance(reply, service.Reply):
                if reply.status == 200:  # prepared without generating
                    failed = False
                    await self._send_prepared(orjson.loads(reply.body), stream_id)
                else:
                    await self._send_reply_error(reply, stream_id)
                return
            try:
                failed = False
                async for chunk in reply.chunks:
                    for payload in sse_payloads(chunk):
                        failed = failed or failure(payload)
                        await self._send_payload(payload, stream_id)
            finally:
                await service.close_quietly(reply.chunks)
        finally:
            lifecycle.request_finished()
            if failed and isinstance(previous, str):
                # Open Responses: a failed continuation evicts the response it continued
                # from the socket's memory; a store: false one cannot be continued after.
                self.memory.evict(previous)

    async def _send_prepared(self, response: dict[str, Any], stream_id: str | None) -> None:
        """``response.created`` then ``response.completed`` for a response stored with
        ``generate: false`` (no output)."""
        created = {**response, "status": "in_progress"}
        for sequence, (kind, body) in enumerate(
            (("response.created", created), ("response.completed", response))
        ):
            event = {"type": kind, "response": body, "sequence_number": sequence}
            await self._send_payload(orjson.dumps(event), stream_id)

    async def _send_payload(self, payload: bytes, stream_id: str | None) -> None:
        if stream_id is not None:
            event = orjson.loads(payload)
            event["stream_id"] = stream_id
            payload = orjson.dumps(event)
        await self.send(text_data=payload.decode())

    async def _send_reply_error(self, reply: service.Reply, stream_id: str | None) -> None:
        try:
            error = orjson.loads(reply.body)["error"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            error = {"type": "api_error", "message": "request failed", "code": None, "param": None}
        await self.send(text_data=error_event(reply.status, error, stream_id).decode())


app = ResponsesSocket.as_asgi()  # what the edge serves the Responses paths' sockets with
