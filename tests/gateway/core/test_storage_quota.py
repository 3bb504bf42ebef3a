"""Each key's quota of stored objects (L27): past ``SWITCHYARD_STORED_OBJECTS_QUOTA``
a request that would store a response, a conversation, conversation items or an
interaction is refused with a 413 ``storage_quota_exceeded`` in the caller's envelope,
before its upstream call; the same request storing nothing passes (and asks nothing of
the database for the quota), as does a key with room. Through the gateway's ASGI app,
in process, on an OpenAI-compatible upstream (``httpx.MockTransport``)."""

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
from gateway.core import storage_quota
from gateway.edge import endpoints
from gateway.models import Conversation, ConversationItem, StoredResponse
from gateway.models.interactions import StoredInteraction
from tests.gateway.entries import route, snapshot

ALICE, BOB = "sy-alice-quota", "sy-bob-quota"
KEYS = {
    ALICE: replace(MASTER, id=201, name="alice", prefix="sy-alice"),
    BOB: replace(MASTER, id=202, name="bob", prefix="sy-bob"),
}
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up-1",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset, transactional_db, settings):
    settings.SWITCHYARD_STORED_OBJECTS_QUOTA = 2
    monkeypatch.setattr(journal, "record", lambda record: None)
    from gateway.base import lifecycle

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    snap = snapshot(route("m", "up-1", max_attempts=1))
    snap.keys.update({hashlib.sha256(raw.encode()).hexdigest(): k for raw, k in KEYS.items()})
    registry.install(snap)
    upstream: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        upstream.append(orjson.loads(request.content))
        return httpx.Response(200, json=ANSWER)

    http.use_transport(httpx.MockTransport(answer))
    yield upstream
    http.use_transport(None)
    storage_quota.forget()


async def call(
    path: str, body: dict[str, Any] | None = None, key: str = ALICE, method: str = "POST"
) -> tuple[int, Any]:
    raw = orjson.dumps(body) if body is not None else b""
    sent: list[dict[str, Any]] = []
    chunks = [raw]

    async def receive() -> dict[str, Any]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": False}
        await asyncio.Event().wait()  # the client stays until the answer is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    header = b"x-goog-api-key" if "interactions" in path else b"authorization"
    value = key if "interactions" in path else f"Bearer {key}"
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (header, value.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
        ],
    }
    await endpoints.GatewayApp(django_app=None)(scope, receive, send)  # type: ignore[arg-type]
    answered = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], orjson.loads(answered) if answered else None


def stored(model: Any, key: str = ALICE) -> int:
    return int(model.objects.filter(key_id=KEYS[key].id).count())


async def test_stored_responses_past_the_quota_are_refused_in_openais_envelope(gateway):
    asked = {"model": "m", "input": "hi"}  # store: the API's default
    for _ in range(2):
        status, _ = await call("/v1/responses", asked)
        assert status == 200
    status, refused = await call("/v1/responses", asked)
    assert status == 413, refused
    assert refused["error"]["type"] == "invalid_request_error"
    assert refused["error"]["code"] == "storage_quota_exceeded"
    assert refused["error"]["param"] == "store"
    assert "quota of 2 stored responses" in refused["error"]["message"]
    assert len(gateway) == 2  # refused before the upstream was called
    assert await _count(StoredResponse) == 2
    # the controls: the same request storing nothing runs; another key has its own room
    status, _ = await call("/v1/responses", {**asked, "store": False})
    assert status == 200 and len(gateway) == 3
    status, _ = await call("/v1/responses", asked, key=BOB)
    assert status == 200


async def test_conversations_and_their_items_past_the_quota_are_refused(gateway):
    item = {"type": "message", "role": "user", "content": "hi"}
    status, first = await call("/v1/conversations", {"items": [item]})
    assert status == 200
    status, refused = await call("/v1/conversations", {"items": [item, item]})  # 3 items
    assert status == 413 and refused["error"]["code"] == "storage_quota_exceeded"
    assert refused["error"]["param"] == "items"
    status, _ = await call(f"/v1/conversations/{first['id']}/items", {"items": [item]})
    assert status == 200  # the second item: within the quota
    status, refused = await call(f"/v1/conversations/{first['id']}/items", {"items": [item]})
    assert status == 413 and "conversation items" in refused["error"]["message"]
    # a Responses turn appending to the full conversation is refused before the upstream
    turn = {"model": "m", "input": "more", "conversation": first["id"], "store": False}
    status, refused = await call("/v1/responses", turn)
    assert status == 413 and refused["error"]["code"] == "storage_quota_exceeded"
    assert gateway == []
    status, listed = await call(f"/v1/conversations/{first['id']}/items", method="GET")
    assert status == 200 and len(listed["data"]) == 2  # reading is never refused
    assert await _count(Conversation) == 1 and await _count(ConversationItem, items=True) == 2
    status, _ = await call("/v1/conversations", {})  # the second conversation: room left
    assert status == 200
    status, refused = await call("/v1/conversations", {})
    assert status == 413 and refused["error"]["param"] == "conversation"


async def test_stored_interactions_past_the_quota_are_refused_in_googles_envelope(gateway):
    asked = {"model": "m", "input": "hi"}
    for _ in range(2):
        status, _ = await call("/v1beta/interactions", asked)
        assert status == 200
    status, refused = await call("/v1beta/interactions", asked)
    assert status == 413, refused
    assert set(refused) == {"error"} and set(refused["error"]) == {"code", "message"}
    assert "quota of 2 stored interactions" in refused["error"]["message"]
    assert len(gateway) == 2 and await _count(StoredInteraction) == 2
    status, _ = await call("/v1beta/interactions", {**asked, "store": False})
    assert status == 200  # the control: storing nothing runs


async def test_a_request_storing_nothing_asks_nothing_and_a_count_is_reused(
    gateway, settings, monkeypatch
):
    """``store: false`` never reaches the quota's count; storing requests count once
    (then the process adds its own) until ``RECOUNT_SECONDS`` pass."""
    settings.SWITCHYARD_STORED_OBJECTS_QUOTA = 100
    counted: list[str] = []
    real = storage_quota._count

    def counting(kind: str, key_id: int, cap: int) -> int:
        counted.append(kind)
        return real(kind, key_id, cap)

    monkeypatch.setattr(storage_quota, "_count", counting)
    for _ in range(3):
        status, _ = await call("/v1/responses", {"model": "m", "input": "hi", "store": False})
        assert status == 200
    assert counted == []
    for _ in range(3):
        status, _ = await call("/v1/responses", {"model": "m", "input": "hi"})
        assert status == 200
    assert counted == ["stored responses"]


async def _count(model: Any, items: bool = False) -> int:
    if items:
        rows = model.objects.filter(conversation__key_id=KEYS[ALICE].id)
        return int(await asyncio.to_thread(rows.count))
    return int(await asyncio.to_thread(stored, model))
