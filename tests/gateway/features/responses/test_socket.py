"""The Responses WebSocket holds a bounded amount per socket: events past the queue's
bound get a 429 error event at once, and a disconnect (even right after a burst)
cancels the running response and lets go of the queue and the socket."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from types import SimpleNamespace

import pytest
from channels.testing import WebsocketCommunicator
from uvicorn.protocols.utils import ClientDisconnected

from gateway.base import lifecycle
from gateway.core import service
from gateway.core.service import Caller
from gateway.features.responses import socket as responses_socket
from gateway.features.responses.socket import QUEUED_EVENTS, ResponsesSocket

# channels closes a consumer's old database connections on every dispatch: after a test
# that opened one (tests/gateway/features/responses/test_state.py), that is database access
pytestmark = pytest.mark.django_db(transaction=True)


class EndlessStream:
    """``service.handle`` for a response that streams until it is cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.calls = 0

    async def handle(self, endpoint, dialect, raw, headers, caller):
        self.calls += 1
        return SimpleNamespace(chunks=self._chunks())

    async def _chunks(self):
        yield b'data: {"type":"response.created","sequence_number":0}\n\n'
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        yield b""  # pragma: no cover


@pytest.fixture
def upstream(monkeypatch) -> EndlessStream:
    stream = EndlessStream()

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(
        responses_socket, "resolve_caller", lambda headers: Caller(key=SimpleNamespace())
    )
    monkeypatch.setattr(service, "key_refusal", lambda key: None)
    monkeypatch.setattr(service, "handle", stream.handle)
    return stream


def event(padding: int = 0) -> str:
    return json.dumps({"type": "response.create", "model": "m", "input": "x" * padding})


async def until(predicate, seconds: float = 5.0) -> bool:
    """Poll ``predicate`` for at most ``seconds`` (a bound, not a measurement)."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


_connecting: list[WatchedSocket] = []


class WatchedSocket(ResponsesSocket):
    """The socket itself, telling the test which instance serves it and when its
    disconnect began."""

    disconnected = False

    async def connect(self) -> None:
        _connecting.append(self)
        await super().connect()

    async def disconnect(self, code: int) -> None:
        self.disconnected = True
        await super().disconnect(code)


async def open_socket() -> tuple[WebsocketCommunicator, WatchedSocket]:
    communicator = WebsocketCommunicator(WatchedSocket.as_asgi(), "/v1/responses")
    connected, _ = await communicator.connect()
    socket = _connecting.pop()
    _connecting.clear()  # (held here, no socket could be collected)
    assert connected
    return communicator, socket


async def test_events_past_the_bound_get_a_429_error_event_at_once(upstream):
    communicator, socket = await open_socket()
    await communicator.send_to(text_data=event())
    assert json.loads(await communicator.receive_from())["type"] == "response.created"
    await upstream.started.wait()
    for _ in range(QUEUED_EVENTS):  # these wait behind the endless response
        await communicator.send_to(text_data=event())
    await communicator.send_to(text_data=event())
    refusal = json.loads(await communicator.receive_from())
    assert refusal["type"] == "error" and refusal["status"] == 429
    assert "too many response.create events" in refusal["error"]["message"]
    assert refusal["error"]["type"] == "rate_limit_error"
    assert socket.queue.qsize() == QUEUED_EVENTS
    await communicator.disconnect()


async def test_the_queued_bytes_are_bounded_too(upstream, monkeypatch):
    monkeypatch.setattr(responses_socket, "QUEUED_BYTES", 100_000)
    communicator, socket = await open_socket()
    await communicator.send_to(text_data=event())
    await communicator.receive_from()
    await upstream.started.wait()
    await communicator.send_to(text_data=event(60_000))
    await communicator.send_to(text_data=event(60_000))  # 120 kB would wait: refused
    refusal = json.loads(await communicator.receive_from())
    assert refusal["status"] == 429
    assert socket.queue.qsize() == 1 and 60_000 < socket.queued_bytes < 100_000
    await communicator.disconnect()


async def test_a_disconnect_after_a_burst_lets_go_of_everything(upstream):
    communicator, socket = await open_socket()
    await communicator.send_to(text_data=event())
    await communicator.receive_from()
    await upstream.started.wait()
    for _ in range(QUEUED_EVENTS + 8):  # a burst past the bound, then gone
        await communicator.send_to(text_data=event(50_000))
    await communicator.send_input({"type": "websocket.disconnect", "code": 1006})
    assert await until(lambda: socket.disconnected)
    assert await until(upstream.cancelled.is_set)  # the running response ended
    assert await until(lambda: socket.worker is None and socket.queue.qsize() == 0)
    assert socket.queued_bytes == 0
    assert upstream.calls == 1  # nothing queued was served after the disconnect
    await communicator.wait(5)
    gone = weakref.ref(socket)
    socket = communicator = None
    gc.collect()
    assert gone() is None  # nothing holds the socket (nor its events) any more


async def test_a_client_gone_mid_answer_ends_the_worker_quietly(upstream, caplog):
    """uvicorn raises ClientDisconnected on a send to a client that has left (before its
    disconnect reaches the consumer): the worker stops serving, drops what waits and logs
    no error, and events refused meanwhile raise nothing either."""
    communicator, socket = await open_socket()
    sent = []

    async def gone(message):
        sent.append(message)
        raise ClientDisconnected()

    socket.base_send = gone
    caplog.set_level("WARNING")
    await communicator.send_to(text_data=event())
    for _ in range(QUEUED_EVENTS + 2):  # queued, then refused: every send fails
        await communicator.send_to(text_data=event())
    assert await until(lambda: socket.worker is not None and socket.worker.done())
    assert socket.worker.exception() is None
    assert socket.queue.qsize() == 0 and socket.queued_bytes == 0
    assert upstream.calls == 1  # nothing queued was served to a client that is gone
    assert sent  # it did try to answer
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    await communicator.send_input({"type": "websocket.disconnect", "code": 1006})
    assert await until(lambda: socket.disconnected)


async def test_after_sixty_minutes_a_turn_gets_the_limit_error_and_the_socket_closes(upstream):
    communicator, socket = await open_socket()
    socket.opened -= responses_socket.CONNECTION_LIMIT + 1  # an hour and a second ago
    await communicator.send_to(text_data=event())
    refusal = json.loads(await communicator.receive_from())
    assert refusal["type"] == "error" and refusal["status"] == 400
    assert refusal["error"]["code"] == "websocket_connection_limit_reached"
    assert (await communicator.receive_output())["type"] == "websocket.close"
    assert upstream.calls == 0


class FailingStream:
    """``service.handle`` answering each turn with a stream that fails."""

    async def handle(self, endpoint, dialect, raw, headers, caller):
        async def chunks():
            yield b'data: {"type":"response.created","sequence_number":0}\n\n'
            yield b'data: {"type":"response.failed","sequence_number":1,"response":{}}\n\n'

        return SimpleNamespace(chunks=chunks())


async def test_a_failed_continuation_evicts_the_response_it_continued(upstream, monkeypatch):
    monkeypatch.setattr(service, "handle", FailingStream().handle)
    communicator, socket = await open_socket()
    socket.memory.remember("resp_a", [])
    socket.memory.remember("resp_b", [])
    body = {"type": "response.create", "model": "m", "input": "x"}
    await communicator.send_to(text_data=json.dumps({**body, "previous_response_id": "resp_a"}))
    assert json.loads(await communicator.receive_from())["type"] == "response.created"
    assert json.loads(await communicator.receive_from())["type"] == "response.failed"
    assert await until(lambda: "resp_a" not in socket.memory.chains)
    assert "resp_b" in socket.memory.chains  # only the one it continued
    await communicator.disconnect()


def test_failure_reads_the_event_type_not_the_text() -> None:
    assert responses_socket.failure(b'{"type":"error","code":"x"}')
    assert responses_socket.failure(b'{"type":"response.failed","response":{}}')
    text = b'{"type":"response.output_text.delta","delta":"an error \\"type\\":\\"error\\""}'
    assert not responses_socket.failure(text)
    assert not responses_socket.failure(b'{"type":"response.completed","response":{"error":null}}')
