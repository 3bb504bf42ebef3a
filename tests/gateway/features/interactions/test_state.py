"""A stored interaction's state (``gateway.features.interactions.state``): cancelling stops
a background interaction."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.edge import endpoints
from gateway.features.interactions import state as interactions_state
from tests.gateway.entries import route, snapshot

ALICE, BOB = "sy-alice-interactions", "sy-bob-interactions"
KEYS = {
    ALICE: replace(MASTER, id=101, name="alice", prefix="sy-alice"),
    BOB: replace(MASTER, id=102, name="bob", prefix="sy-bob"),
}
USAGE = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


def answer(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "up-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": USAGE,
    }


TEXT = answer({"role": "assistant", "content": "Hello there"})


class Upstream:
    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.received: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(orjson.loads(request.content))
        reply = self.answers.pop(0) if self.answers else TEXT
        if isinstance(reply, bytes):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=reply)
        if isinstance(reply, int):
            return httpx.Response(reply, json={"error": {"message": "upstream broke"}})
        return httpx.Response(200, json=reply)


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset, transactional_db):
    recorded: list[Any] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    snap = snapshot(route("gem", "up-1", max_attempts=1))
    snap.keys.update({hashlib.sha256(raw.encode()).hexdigest(): k for raw, k in KEYS.items()})
    registry.install(snap)
    mock = Upstream()
    mock.recorded = recorded  # type: ignore[attr-defined]
    http.use_transport(httpx.MockTransport(mock))
    yield mock
    http.use_transport(None)


async def create(body: dict[str, Any], key: str = ALICE) -> service.Reply | service.StreamReply:
    caller = service.Caller(key=KEYS[key])
    return await service.handle("chat", "gemini_interactions", orjson.dumps(body), {}, caller)


async def created(body: dict[str, Any], key: str = ALICE) -> tuple[int, dict[str, Any]]:
    reply = await create(body, key)
    assert isinstance(reply, service.Reply)
    return reply.status, orjson.loads(reply.body)


async def edge(
    path: str, method: str = "GET", key: str = ALICE, query: bytes = b""
) -> tuple[int, Any]:
    """A request to the gateway's ASGI app (the stored interaction's endpoints)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(b"x-goog-api-key", key.encode())],
    }
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    try:
        return sent[0]["status"], orjson.loads(body)
    except orjson.JSONDecodeError:
        return sent[0]["status"], body


@pytest.fixture(autouse=True)
def _started(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.base import lifecycle

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)


async def test_cancel_stops_a_background_interaction(upstream, monkeypatch):
    gate = asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> None:
        await gate.wait()

    from gateway.core import jobs

    monkeypatch.setattr(jobs.RoutedJob, "respond", slow)
    status, opened = await created({"model": "gem", "input": "hi", "background": True})
    assert status == 200 and opened["id"] in interactions_state._RUNNING
    status, cancelled = await edge(f"/v1beta/interactions/{opened['id']}/cancel", "POST")
    assert status == 200 and cancelled["status"] == "cancelled"
    await asyncio.sleep(0.05)
    assert opened["id"] not in interactions_state._RUNNING
    status, stored = await edge(f"/v1beta/interactions/{opened['id']}")
    assert stored["status"] == "cancelled"
    assert [r.status for r in upstream.recorded] == [499]
