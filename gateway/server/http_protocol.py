"""uvicorn's httptools protocol, writing a response's head together with its body,
bounding how long a request head may take, and closing connections without resets.

uvicorn writes the status line and headers of a response (``http.response.start``) on
their own, then each body chunk: every plain answer cost the server two socket writes,
and on loopback a write is most of what a send costs (24% of a plain request's CPU,
measured with py-spy). Here the head is held back and goes out with the first body
chunk in one write; a head whose body is not written in the same turn of the event loop
(a stream still waiting for its first event) goes out alone at the end of that turn,
so no client waits longer for its headers than before.

Closing: uvicorn closes the socket outright (after a ``Connection: close`` answer, an
idle keep-alive connection at its timeout or at shutdown, a 400). When the client has
sent bytes the server has not read (the next request racing the close, the rest of a
refused upload), the kernel answers a close with a reset, which can destroy the answer
the client has not read yet (nginx: 502). Here a close sends FIN first
(``write_eof``), discards what still arrives, and closes once the client closes too, or
after ``LINGER_SECONDS``.

Slow heads: uvicorn waits for a request head for ever (800 "slowloris" sockets sending
a byte now and then stayed open). A connection must send a whole head within
``header_timeout`` of opening, and of its first byte for a later request on a kept-alive
connection (uvicorn's keep-alive timeout bounds the wait before that byte); else it gets
408 and is closed.

Cut bodies: a request's scope carries ``extensions[CUT_BODY]``, a callable that ends
its response without the end of its body: the application then ends the response as
usual, and what it still writes goes out (chunks held by send coalescing too) but the
chunked body's last chunk (``0\r\n\r\n``) does not, and the connection closes. A
stream whose upstream broke off (speech audio, which has no in-band error) so fails at
the client instead of ending as a short file, and uvicorn sees a complete response (no
"returned without completing" error).

Disconnects: a request's scope carries ``extensions[ON_DISCONNECT]`` too, through which
its task asks to be told when the client leaves (``watch``), which spares each request
the task that would otherwise wait on the ASGI receive for ``http.disconnect``.

Only the transport under uvicorn's protocol is wrapped; parsing, flow control,
keep-alive, upgrades and the ASGI cycle stay uvicorn's own.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.base.lifecycle import CUT_BODY, ON_DISCONNECT

_HEAD_START = b"HTTP/1.1 "
_HEAD_END = b"\r\n\r\n"
LINGER_SECONDS = 2.0  # how long a closing connection waits for the client's FIN
# A draining server closes a kept-alive connection only once it has been idle as long as
# uvicorn's keep-alive timeout (``timeout_keep_alive``, 5 s by default) and one that has
# not had a request yet (accepted from the queue as the server stopped accepting: its
# client connected to send one) this long after it opened.
FIRST_REQUEST_WAIT_SECONDS = 3.0
HEADER_TIMEOUT_SECONDS = 10.0  # default bound on receiving a request head
_TIMED_OUT_BODY = b"the request head took too long\n"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TIMED_OUT_BODY), _TIMED_OUT_BODY)
)


_LAST_CHUNK = b"0\r\n\r\n"


def without_last_chunk(data: bytes) -> bytes:
    """A write of a chunked body (uvicorn writes ``<size>\r\n<bytes>\r\n`` a chunk,
    the last write followed by ``0\r\n\r\n``) without that last chunk."""
    if data == _LAST_CHUNK:
        return b""
    size, found, rest = data.partition(b"\r\n")
    try:
        length = int(size, 16) if found else -1
    except ValueError:
        return data
    if len(rest) == length + 2 + len(_LAST_CHUNK) and rest.endswith(_LAST_CHUNK):
        return data[: -len(_LAST_CHUNK)]
    return data  # a chunk that is not the last (its bytes may end in "0\r\n" too)


class HeadJoiningTransport:
    """Holds a write that is a whole response head until the next write (joined into
    one) or the end of the loop's turn; closes gracefully (FIN, then wait for the
    client's, see the module's docstring) unless ``graceful`` is turned off (a WebSocket
    closes as its protocol decides). Anything else passes to the transport."""

    __slots__ = ("transport", "loop", "held", "lingering", "graceful", "linger_timer", "cut")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: bytes | None = None
        self.lingering = False  # FIN sent: what arrives is discarded until the client's
        self.graceful = True
        self.linger_timer: asyncio.TimerHandle | None = None
        self.cut = False  # the response's body was cut: its last chunk is not written

    def write(self, data: bytes) -> None:
        if self.lingering:
            return
        if self.cut:
            data = without_last_chunk(data)
            if not data:
                return
        held = self.held
        if held is not None:
            self.held = None
            self.transport.write(held + data)
        elif data.startswith(_HEAD_START) and data.endswith(_HEAD_END):
            self.held = data
            self.loop.call_soon(self.flush)
        else:
            self.transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def flush(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        if self.lingering:
            return
        transport = self.transport
        if not self.graceful or transport.is_closing() or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = True
        transport.write_eof()  # FIN once the answer is written; reading goes on
        self.linger_timer = self.loop.call_later(LINGER_SECONDS, transport.close)

    def closed(self) -> None:
        """The connection is gone: forget the linger timer."""
        if self.linger_timer is not None:
            self.linger_timer.cancel()
            self.linger_timer = None

    def is_closing(self) -> bool:
        return self.lingering or self.transport.is_closing()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def abort(self) -> None:
        self.held = None
        self.closed()
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        held = self.held
        return self.transport.get_write_buffer_size() + (len(held) if held else 0)

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's
        return getattr(self.transport, name)


class HeadJoiningProtocol(HttpToolsProtocol):
    """``http="httptools"`` with the head of each response written with its body, a
    bound on receiving a request head and graceful closes (see the module's docstring).
    ``shutdown`` (the server is draining) lets a request under way finish with
    ``Connection: close`` (one whose head is still arriving included; one whose answer's
    head already went out finishes and then counts as idle) and closes an
    idle connection once it has been idle the keep-alive timeout (one that never
    had a request: FIRST_REQUEST_WAIT_SECONDS after it opened) or when the shutdown
    grace ends, if sooner (``close_if_idle_now``): a request arriving before that is
    served, with ``Connection: close``.

    Closing an idle connection races the client's next request on it (HTTP/1.1 has no
    way to say "no more" but in an answer): a request sent as the FIN is on its way is
    lost ("server disconnected without sending a response"). A server that is not
    draining takes that risk at its keep-alive timeout; a draining one closing sooner
    added risk of its own: with 1.5 s, a client reusing pooled connections after idle
    spells of up to 0.9 s on a loaded machine lost one request in a SIGHUP now and then
    (CI). At the keep-alive timeout the drain closes no connection a running server
    would not have closed at the same moment."""

    transport: HeadJoiningTransport  # type: ignore[assignment]

    def __init__(
        self, *args: Any, header_timeout: float = HEADER_TIMEOUT_SECONDS, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_started = False  # a request's first bytes came, its head is not complete
        self.draining = False
        self.idle_since = 0.0  # when the last answer ended (or the connection opened)
        self.used = False  # a request came on it
        self.shutdown_on_open = False  # opened while the server drains (its accept queue)
        # what to call when the connection is lost, by the request (cycle) it is for
        self.on_lost: dict[Any, Callable[[], None]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(HeadJoiningTransport(transport, self.loop))  # type: ignore[arg-type]
        self.idle_since = self.loop.time()
        self._time_head()  # also bounds an idle connection before its first request
        if self.shutdown_on_open:
            self.shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self.transport.closed()
        super().connection_lost(exc)
        if self.on_lost:
            watching, self.on_lost = self.on_lost, {}
            for cycle, left in watching.items():
                if not cycle.response_complete:
                    left()

    def watch(self, cycle_ref: weakref.ref[Any], left: Callable[[], None] | None) -> None:
        """``extensions[ON_DISCONNECT]`` of the scope of the cycle ``cycle_ref`` refers to:
        ``left`` is called if the connection is lost before its response completes (None:
        forget it). A request's task learns so without a second task waiting on the ASGI
        receive. The scope holds the cycle weakly: a strong reference would make every
        request a reference cycle (cycle -> scope -> this partial -> cycle) that only the
        garbage collector frees, about 15 objects a request."""
        cycle = cycle_ref()
        if cycle is None:
            return
        if left is None:
            self.on_lost.pop(cycle, None)
        else:
            self.on_lost[cycle] = left

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:
            return  # we said goodbye: read and dropped, so the close does not reset
        super().data_received(data)
        # Timed only when a head is left incomplete: one that arrives whole (nearly
        # every request) costs no timer.
        if self.head_started and self.head_timer is None:
            self._time_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_started = True

    def on_headers_complete(self) -> None:
        self.head_started = False
        self.used = True
        self._stop_head_timer()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None:
            return
        if self.draining:
            cycle.keep_alive = False  # arrived during the drain: the last one here
        # uvicorn types each extension as a dict (ASGI's own ones are); ours is a callable.
        extensions = cast(dict[str, Any], cycle.scope.setdefault("extensions", {}))
        extensions[CUT_BODY] = self.cut_body
        extensions[ON_DISCONNECT] = functools.partial(self.watch, weakref.ref(cycle))

    def cut_body(self) -> None:
        """End the response under way without the end of its body: the chunked body's
        last chunk is not written, and the connection closes once the application has
        ended the response (see the module's docstring)."""
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.cut = True

    def on_response_complete(self) -> None:
        self.idle_since = self.loop.time()
        super().on_response_complete()
        if self.draining and not self.transport.is_closing():
            # a stream whose head went out before the drain: idle now, closed as one
            self._close_if_idle()

    def handle_websocket_upgrade(self) -> None:
        self.transport.graceful = False  # the WebSocket protocol closes as it must
        super().handle_websocket_upgrade()

    def shutdown(self) -> None:
        if self.draining:
            return
        self.draining = True
        if self.head_started:
            return  # its head completes: that request is served, then the connection closes
        if self.cycle is not None and not self.cycle.response_complete:
            if not self.cycle.response_started:
                self.cycle.keep_alive = False  # its head says Connection: close
            # A head already sent promised keep-alive: its client may send the next
            # request the moment the last chunk arrives, so closing at the end would
            # lose it. The connection is closed as an idle one (on_response_complete).
            return
        self._close_if_idle()

    def close_if_idle_now(self) -> None:
        """At the end of the shutdown grace: close the connection if it is idle."""
        if not self.transport.is_closing() and self._idle():
            self.transport.close()

    def _idle(self) -> bool:
        return not self.head_started and (self.cycle is None or self.cycle.response_complete)

    def _close_if_idle(self) -> None:
        if self.transport.is_closing() or not self._idle():
            return  # a request came: it ends with Connection: close
        waited = self.loop.time() - self.idle_since
        allowed = self.timeout_keep_alive if self.used else FIRST_REQUEST_WAIT_SECONDS
        if waited >= allowed:
            self.transport.close()
        else:
            self.loop.call_later(allowed - waited, self._close_if_idle)

    def _time_head(self) -> None:
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.head_started:
            self.transport.write(_TIMED_OUT)
        self.transport.close()
