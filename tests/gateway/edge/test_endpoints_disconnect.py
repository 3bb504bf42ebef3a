"""The /v1 ASGI handler runs the work in the request's own task and cancels it when
the client disconnects; a cancellation from outside (server shutdown) still
propagates."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core import service
from gateway.core.service import Reply
from gateway.edge import endpoints


def scope() -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + MASTER_KEY.encode()),
        ],
    }


# A valid key: a request without one is refused before its body is read.
MASTER_KEY = "sy-unit-test-master-key"


@pytest.fixture(autouse=True)
def _master_key(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY


def receiver(disconnect: asyncio.Event):
    messages = [{"type": "http.request", "body": b'{"model": "m"}', "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await disconnect.wait()
        return {"type": "http.disconnect"}

    return receive


@pytest.fixture
def slow_handle(monkeypatch: pytest.MonkeyPatch):
    state = {"started": asyncio.Event(), "cancelled": False}

    async def handle(endpoint, dialect, raw, headers, caller):
        state["started"].set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise
        return Reply(200, b"{}", [])

    monkeypatch.setattr(service, "handle", handle)
    return state


async def test_a_client_disconnect_cancels_the_work_and_the_handler_returns(slow_handle):
    disconnect = asyncio.Event()
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    call = asyncio.ensure_future(app.api(scope(), receiver(disconnect), send, "chat", "openai"))
    await slow_handle["started"].wait()
    disconnect.set()
    await asyncio.wait_for(call, 2)  # returns normally: the disconnect is not an error
    assert slow_handle["cancelled"] is True
    assert sent == []
    assert not call.cancelled()


async def test_work_that_finishes_sends_the_reply_and_stops_the_watcher(monkeypatch):
    async def handle(endpoint, dialect, raw, headers, caller):
        return Reply(200, b'{"ok": true}', [(b"content-type", b"application/json")])

    monkeypatch.setattr(service, "handle", handle)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    before = len(asyncio.all_tasks())
    await app.api(scope(), receiver(asyncio.Event()), send, "chat", "openai")
    await asyncio.sleep(0)  # let the cancelled watcher finish
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b'{"ok": true}'
    assert len(asyncio.all_tasks()) == before


async def test_a_cancellation_from_outside_propagates(slow_handle):
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]

    async def send(message: dict) -> None:
        pass

    call = asyncio.ensure_future(
        app.api(scope(), receiver(asyncio.Event()), send, "chat", "openai")
    )
    await slow_handle["started"].wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert slow_handle["cancelled"] is True


async def test_a_client_that_leaves_before_its_body_is_journaled_as_499(monkeypatch):
    from gateway import journal

    recorded = []
    monkeypatch.setattr(journal, "record", recorded.append)

    async def receive() -> dict:
        if not recorded and not getattr(receive, "sent", False):
            receive.sent = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b'{"model": "m", "mess', "more_body": True}
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    await app.api(scope(), receive, send, "chat", "openai")
    assert sent == []
    assert [(r.status, r.client_disconnected, r.endpoint) for r in recorded] == [
        (499, True, "chat")
    ]
