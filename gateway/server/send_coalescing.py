"""Fewer socket writes for streamed responses: an ASGI wrapper that coalesces the
body chunks an application sends while it is busy into one write.

A stream is rendered one event at a time and each event used to be one ASGI
``http.response.body`` message, so one ``send`` system call (and one TCP segment)
per event: on loopback, where the kernel also does the receiver's work in the
sender's call, those writes were a third of a streaming worker's CPU. Several events
are often ready at once: an upstream read carries more than one event (the finish,
usage and ``[DONE]`` chunks travel together), and translating one upstream event can
yield several client events (Anthropic's ``content_block_stop``, ``message_delta``
and ``message_stop``).

So a body chunk with ``more_body`` that comes within ``WINDOW`` seconds of the last
write is held, and written (joined with the chunks that follow it) as soon as the
application waits for anything — the next turn of the event loop — or once the
oldest held chunk has waited ``WINDOW`` seconds, whichever comes first: a token is
never held back behind work that is not its own for longer than that. A chunk after
a quiet spell (tokens trickling in from a real model: ``WINDOW`` since the last write,
and the application waited for something since) is written at once, and so is the
first one (the server writes it together with the response's head). A chunk the
application made without waiting since the last write is still the same burst of
work (the rest of an upstream read that brought the whole answer, a checked stream's
included, takes longer than ``WINDOW``), so it is held: written when the application
next waits, or with the response's last message, not alone with the end after it. The last message of a response carries what is still held, any other
message (the response's start, trailers) first writes it. Bytes and their order are
unchanged; only their grouping into writes is.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from gateway.base import running_loop

WINDOW = 0.0001  # seconds a held chunk may wait for company while the app keeps busy


class CoalescingApp:
    """Wraps an ASGI app; coalesces the body chunks of its HTTP responses."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()  # the request's one lookup (running_loop)
        held = running_loop.hold(loop)
        sender = CoalescingSend(send, loop)
        try:
            await self.app(scope, receive, sender)
        finally:
            await sender.close()
            running_loop.release(held)


class CoalescingSend:
    """The ``send`` callable handed to the application (see the module docstring)."""

    __slots__ = ("send", "loop", "held", "since", "last", "waited", "writer", "writing", "error")

    def __init__(self, send: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.send = send
        self.loop = loop or asyncio.get_running_loop()
        self.held: list[bytes] | None = None
        self.since = 0.0  # when the oldest held chunk came
        self.last = 0.0  # when the last write was made
        self.waited = True  # the loop turned since the last write: the application waited
        self.writer: asyncio.Task[None] | None = None
        self.writing = False  # a write from the application's own task is under way
        self.error: BaseException | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.error is not None:
            raise self.error
        if message["type"] == "http.response.body" and message.get("more_body", False):
            body = message.get("body", b"")
            if not body:
                return  # an empty chunk writes nothing
            if self.held is None:
                now = self.loop.time()
                if (
                    self.waited
                    and now - self.last >= WINDOW
                    and self.writer is None
                    and not self.writing
                ):
                    await self.send(message)  # after a quiet spell (tokens trickling in)
                    self._wrote()
                    return
                self.held = [body]
                self.since = now
                if self.writer is None:
                    self.loop.call_soon(self._start_writer)
            else:
                self.held.append(body)
                if self.loop.time() - self.since >= WINDOW:
                    await self.flush()
            return
        if message["type"] == "http.response.body" and self.held is not None:
            await self._wait_writer()
            if self.held is not None:  # the last chunks travel with the last message
                held, self.held = self.held, None
                held.append(message.get("body", b""))
                message = {**message, "body": b"".join(held)}
        else:
            await self.flush()
        await self.send(message)
        if message["type"] != "http.response.start":
            # The first chunk after the head is never held: the server writes the two
            # together (gateway.server.http_protocol), at once.
            self._wrote()

    async def flush(self) -> None:
        """Write what is held now (after a write in progress)."""
        await self._wait_writer()
        if self.held is not None:
            held, self.held = self.held, None
            self.writing = True
            try:
                await self.send(_chunk(held))
            finally:
                self.writing = False
                self._wrote()
            if self.held is not None:  # held meanwhile (a keep-alive ping): write it soon
                self.loop.call_soon(self._start_writer)

    async def close(self) -> None:
        """The application returned or raised: write what it left held."""
        with contextlib.suppress(Exception):  # the client is gone: nothing to add
            await self.flush()

    def _wrote(self) -> None:
        """A write was made: when, and whether the application waits before its next
        chunk (the next turn of the loop says so)."""
        self.last = self.loop.time()
        self.waited = False
        self.loop.call_soon(self._waits)

    def _waits(self) -> None:
        self.waited = True

    def _start_writer(self) -> None:
        if self.held is not None and self.writer is None and not self.writing:
            self.writer = self.loop.create_task(self._write_held())

    async def _write_held(self) -> None:
        try:
            while self.held is not None:
                held, self.held = self.held, None
                await self.send(_chunk(held))
                self._wrote()
        except Exception as exc:  # raised to the application at its next send
            self.error = exc
        finally:
            self.writer = None

    async def _wait_writer(self) -> None:
        if self.writer is not None:
            await asyncio.shield(self.writer)
        if self.error is not None:
            raise self.error


def _chunk(held: list[bytes]) -> dict[str, Any]:
    body = held[0] if len(held) == 1 else b"".join(held)
    return {"type": "http.response.body", "body": body, "more_body": True}
