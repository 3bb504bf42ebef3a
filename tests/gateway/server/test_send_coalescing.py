"""Body chunks sent while the application is busy go out in one write; bytes, order and
the time a chunk may wait are kept (gateway/server/send_coalescing.py)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.server import send_coalescing
from gateway.server.send_coalescing import CoalescingApp

START = {"type": "http.response.start", "status": 200, "headers": []}


def body(data: bytes, more: bool = True) -> dict:
    return {"type": "http.response.body", "body": data, "more_body": more}


def serve(app, scope_type: str = "http") -> list[dict]:
    """Run ``app`` behind CoalescingApp; the messages the server's send received."""
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(CoalescingApp(app)({"type": scope_type}, receive, send))
    return sent


def bodies(sent: list[dict]) -> list[bytes]:
    return [m["body"] for m in sent if m["type"] == "http.response.body"]


class Clock:
    """The event loop's clock, moved by the test (the window is measured on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def install(self) -> None:
        asyncio.get_running_loop().time = lambda: self.now  # type: ignore[method-assign]


def test_chunks_ready_together_are_one_write_with_the_last_message():
    clock = Clock()

    async def app(scope, receive, send):
        clock.install()
        await send(START)
        for i in range(20):
            await send(body(b"data: %d\n\n" % i))
        await send(body(b"", more=False))

    sent = serve(app)
    assert sent[0] == START
    # the first goes at once (the server joins it to the head), the rest in one write
    assert bodies(sent) == [b"data: 0\n\n", b"".join(b"data: %d\n\n" % i for i in range(1, 20))]
    assert sent[-1]["more_body"] is False


def test_a_held_chunk_is_written_as_soon_as_the_app_waits():
    clock = Clock()
    seen_while_waiting: list[list[bytes]] = []

    async def app(scope, receive, send):
        clock.install()
        await send(START)
        await send(body(b"head's company"))  # the first chunk: with the head, at once
        await send(body(b"first"))
        await send(body(b"second"))
        await asyncio.sleep(0)  # waiting for the upstream: the loop turns
        await asyncio.sleep(0)
        seen_while_waiting.append(bodies(sent))
        await send(body(b"third"))
        await send(body(b"", more=False))

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request"}

    asyncio.run(CoalescingApp(app)({"type": "http"}, receive, send))
    assert seen_while_waiting == [[b"head's company", b"firstsecond"]]
    assert bodies(sent) == [b"head's company", b"firstsecond", b"third"]


def test_a_chunk_after_a_quiet_spell_goes_at_once_and_none_waits_past_the_window(monkeypatch):
    clock = Clock()
    window = 0.25  # exact in binary: the clock's sums compare exactly
    monkeypatch.setattr(send_coalescing, "WINDOW", window)

    async def app(scope, receive, send):
        clock.install()
        await send(START)
        clock.now += window  # the first token comes a while after the head
        await send(body(b"a"))  # at once
        await send(body(b"b"))  # right behind it: held
        clock.now += window / 2
        await send(body(b"c"))  # held with b
        clock.now += window / 2
        await send(body(b"d"))  # b waited the window: b, c and d go now
        await send(body(b"e"))
        await send(body(b"", more=False))

    assert bodies(serve(app)) == [b"a", b"bcd", b"e"]


def test_plain_responses_and_other_scopes_pass_unchanged():
    async def app(scope, receive, send):
        await send(START)
        await send(body(b'{"ok": true}', more=False))

    assert serve(app) == [START, body(b'{"ok": true}', more=False)]

    async def socket_app(scope, receive, send):
        assert not isinstance(send, send_coalescing.CoalescingSend)
        await send({"type": "websocket.accept"})

    assert serve(socket_app, "websocket") == [{"type": "websocket.accept"}]


def test_what_an_app_leaves_held_when_it_raises_is_written():
    clock = Clock()

    async def app(scope, receive, send):
        clock.install()
        await send(START)
        await send(body(b"partial"))
        raise RuntimeError("boom")

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request"}

    with pytest.raises(RuntimeError):
        asyncio.run(CoalescingApp(app)({"type": "http"}, receive, send))
    assert bodies(sent) == [b"partial"]


def test_a_failed_background_write_reaches_the_app():
    clock = Clock()

    class Gone(Exception):
        pass

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            raise Gone

    async def receive() -> dict:
        return {"type": "http.request"}

    async def app(scope, receive, send):
        clock.install()
        await send(START)
        await send(body(b"one"))
        await asyncio.sleep(0)  # the held chunk is written (and fails) meanwhile
        await asyncio.sleep(0)
        await send(body(b"two"))

    with pytest.raises(Gone):
        asyncio.run(CoalescingApp(app)({"type": "http"}, receive, send))


def test_a_chunk_the_app_made_without_waiting_is_held_however_long_it_worked(monkeypatch):
    """The rest of a read that brought the whole answer, worked on longer than the
    window (a checked stream): still one burst of work, so it goes with the last message,
    not alone with the end after it; a token after the app waited goes at once."""
    clock = Clock()
    window = 0.25
    monkeypatch.setattr(send_coalescing, "WINDOW", window)

    async def busy(scope, receive, send):
        clock.install()
        await send(START)
        await send(body(b"first token"))  # with the head, at once
        clock.now += 4 * window  # the rest of the read checked and rendered: no wait
        await send(body(b"the rest"))
        await send(body(b"", more=False))

    sent = serve(busy)
    assert bodies(sent) == [b"first token", b"the rest"]
    assert sent[-1]["more_body"] is False

    async def trickling(scope, receive, send):
        clock.install()
        await send(START)
        await send(body(b"a"))
        await asyncio.sleep(0)  # waiting for the upstream's next token
        clock.now += window
        await send(body(b"b"))  # after a quiet spell: at once
        await asyncio.sleep(0)
        clock.now += window
        await send(body(b"c"))
        await send(body(b"", more=False))

    assert bodies(serve(trickling)) == [b"a", b"b", b"c", b""]
