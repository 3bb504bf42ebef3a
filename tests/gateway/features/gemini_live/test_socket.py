"""The Live relay in process (``gateway.features.gemini_live.socket`` against the mock
Live upstream): a turn relayed and journaled once with its usage, a foreign origin
refused before the socket is accepted, a setup that is not first refused with 1007, an
oversized message closing the session with 1009, an upstream's close passed on, and a
drain closing an idle session with ``goAway`` and 1012 (a turn being generated first
finishing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from gateway import journal
from gateway.access import registry
from gateway.base import lifecycle
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core.call import Caller
from gateway.features.gemini_live import plugin, socket
from tests.gateway.entries import route, snapshot
from tests.integration.mock_live import USAGE, MockLive

GOOGLE_KEY = "AIza-mock-live-upstream"
PATH = plugin.PATHS[0]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLive]:
    server = MockLive(api_key=GOOGLE_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def relay(mock: MockLive, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The route ``live`` on the mock, a master-key caller; the journal's records."""
    provider = ProviderEntry(8, "mock-live", "gemini", mock.url, GOOGLE_KEY, {}, "", None)
    installed = registry.current()
    registry.install(snapshot(route("live", "gemini-live-2.5-flash", provider=provider)))
    records: list[Any] = []

    async def caller(headers: dict[str, str], token: str | None = None) -> Caller:
        return Caller(key=MASTER if token == "sk-good" else None)

    async def started() -> None:
        return None

    monkeypatch.setattr(socket, "resolve_fresh_caller", caller)
    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(journal, "record", records.append)
    yield records
    registry.install(installed)


SETUP = json.dumps({"setup": {"model": "models/live"}})


def turn(text: str) -> str:
    parts = [{"text": text}]
    return json.dumps({"client_content": {"turns": [{"role": "user", "parts": parts}],
                                          "turnComplete": True}})  # fmt: skip


async def open_session(headers: list[tuple[bytes, bytes]] | None = None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        socket.app, PATH, headers=headers or [(b"x-goog-api-key", b"sk-good")]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    await communicator.send_to(text_data=SETUP)
    assert json.loads(await communicator.receive_from(timeout=10)) == {"setupComplete": {}}
    return communicator


async def until_turn_ends(communicator: WebsocketCommunicator) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = json.loads(await communicator.receive_from(timeout=10))
        messages.append(message)
        if (message.get("serverContent") or {}).get("turnComplete"):
            return messages


async def test_a_turn_is_relayed_and_journaled_once(relay: list[Any], mock: MockLive) -> None:
    communicator = await open_session()
    for _ in range(2):
        await communicator.send_to(text_data=turn("hello"))
        messages = await until_turn_ends(communicator)
        assert messages[-1]["usageMetadata"] == USAGE
    await communicator.disconnect()
    await communicator.wait(5)
    [record] = relay
    assert record.endpoint == "gemini_live" and record.status == 200
    assert (record.input_tokens, record.output_tokens) == (2000, 400)
    assert record.finish_reason == "client closed 1000"
    assert "sk-good" not in json.dumps(mock.handshakes[-1].headers)


async def test_a_foreign_origin_is_refused_before_the_socket_opens(relay: list[Any]) -> None:
    headers = [(b"x-goog-api-key", b"sk-good"), (b"origin", b"https://elsewhere.example"),
               (b"host", b"testserver")]  # fmt: skip
    communicator = WebsocketCommunicator(socket.app, PATH, headers=headers)
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4403
    [record] = relay
    assert record.status == 403


async def test_the_setup_must_come_first(relay: list[Any], mock: MockLive) -> None:
    seen = len(mock.handshakes)
    communicator = WebsocketCommunicator(
        socket.app, PATH, headers=[(b"x-goog-api-key", b"sk-good")]
    )
    await communicator.connect(timeout=10)
    await communicator.send_to(text_data=turn("hello"))
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1007
    assert len(mock.handshakes) == seen  # nothing went upstream
    [record] = relay
    assert record.status == 400


async def test_an_oversized_message_ends_the_session_with_1009(
    relay: list[Any], settings: Any
) -> None:
    settings.SWITCHYARD_MAX_BODY_BYTES = 1000
    communicator = await open_session()
    await communicator.send_to(text_data=turn("p" * 2000))
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1009
    await communicator.wait(5)
    [record] = relay
    assert record.finish_reason == "gateway closed 1009"


async def test_the_upstreams_close_is_passed_on(relay: list[Any]) -> None:
    communicator = await open_session()
    await communicator.send_to(text_data=turn("bye"))  # the mock closes 1000
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1000
    await communicator.wait(5)
    [record] = relay
    assert record.status == 200 and record.finish_reason == "upstream closed 1000"


async def test_a_drain_closes_an_idle_session_with_goaway_and_1012(
    relay: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    communicator = await open_session()
    monkeypatch.setattr(lifecycle, "_draining", True)
    goaway = json.loads(await communicator.receive_from(timeout=5))
    assert goaway == {"goAway": {"timeLeft": "0s"}}
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1012
    await communicator.wait(5)
    [record] = relay
    assert record.finish_reason == "gateway closed 1012"
