"""A passed-through stream at the ASGI level (``gateway.server.asgi.application`` called as a
server would): each upstream event reaches the client as it arrives, before the vendor
sent the next (no buffering), byte for byte, with no keep-alive of the gateway's in it;
a client that leaves is journaled with what it got (499); a vendor that breaks off
makes the client's body unfinished (the server's cut), never a short complete answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from gateway.base import lifecycle
from gateway.server.asgi import application
from tests.gateway.features.passthrough.conftest import KEYS, Gateway
from tests.gateway.features.passthrough.vendor import Answer

PATH = "/v1/chat/completions"
EVENTS = [
    b'data: {"id":"c1","choices":[{"delta":{"content":"one"}}]}\n\n',
    b'data: {"id":"c1","choices":[{"delta":{"content":" two"}}]}\n\n',
    b'data: {"id":"c1","choices":[],"model":"up-gpt","usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
    b"data: [DONE]\n\n",
]
BODY = orjson.dumps(
    {"model": "up-gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
)


def scope(cut: Callable[[], None] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/openai_passthrough{PATH}",
        "raw_path": f"/openai_passthrough{PATH}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"gw"),
            (b"authorization", f"Bearer {KEYS['beta']}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("gw", 80),
        "extensions": {lifecycle.CUT_BODY: cut} if cut is not None else {},
    }


class Client:
    """The ASGI side of one request: its body sent, what the app sends queued, and a
    disconnect it can announce."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.sent_body = False

    async def receive(self) -> dict[str, Any]:
        if not self.sent_body:
            self.sent_body = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        await self.messages.put(message)

    async def next(self, seconds: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), seconds)


async def test_each_event_reaches_the_client_before_the_vendor_sends_the_next(gw: Gateway) -> None:
    gw.vendor.answer(
        "POST", PATH, Answer(events=EVENTS, hold_after=1, content_type="text/event-stream")
    )
    client = Client()
    served = asyncio.create_task(application(scope(), client.receive, client.send))
    start = await client.next()
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert dict(start["headers"])[b"content-type"] == b"text/event-stream"
    first = await client.next(5)  # (the vendor holds the rest for 30 s)
    assert first["body"] == EVENTS[0]  # relayed while the vendor still holds the rest
    # (the vendor marks itself held just after it flushes the first event)
    assert await asyncio.to_thread(gw.vendor.held.wait, 5)
    assert not gw.vendor.release.is_set()
    gw.vendor.release.set()
    rest = [first["body"]]
    while True:
        message = await client.next()
        rest.append(message["body"])
        if not message.get("more_body"):
            break
    assert b"".join(rest) == b"".join(EVENTS)  # byte for byte, no keep-alive added
    await asyncio.wait_for(served, 10)
    (row,) = gw.rows("beta")
    assert (row.status, row.input_tokens, row.output_tokens, row.stream) == (200, 3, 2, True)
    assert row.ttft_ms is not None and row.ttft_ms < row.latency_ms


async def test_a_client_that_leaves_is_journaled_with_what_it_got(gw: Gateway) -> None:
    gw.vendor.answer(
        "POST", PATH, Answer(events=EVENTS, hold_after=1, content_type="text/event-stream")
    )
    client = Client()
    served = asyncio.create_task(application(scope(), client.receive, client.send))
    await client.next()  # the head
    assert (await client.next())["body"] == EVENTS[0]
    client.gone.set()  # the client hangs up while the vendor holds its second event
    await asyncio.wait_for(served, 10)
    gw.vendor.release.set()
    (row,) = gw.rows("beta")
    assert row.status == 499 and row.client_disconnected


async def test_a_vendor_that_breaks_off_leaves_the_clients_body_unfinished(gw: Gateway) -> None:
    gw.vendor.answer(
        "POST", PATH, Answer(events=EVENTS, cut_after=2, content_type="text/event-stream")
    )
    cuts: list[bool] = []
    client = Client()
    await asyncio.wait_for(
        application(scope(lambda: cuts.append(True)), client.receive, client.send), 10
    )
    bodies = []
    while not client.messages.empty():
        message = client.messages.get_nowait()
        bodies.append(message.get("body", b""))
    assert b"".join(bodies) == EVENTS[0] + EVENTS[1]  # what came, then the cut
    assert cuts == [True]  # the server ends the response unfinished
    (row,) = gw.rows("beta")
    assert row.status == 502 and "could not reach" in row.error_message
