"""The Gemini Interactions API served by the gateway, in process, on an OpenAI-compatible
upstream (``httpx.MockTransport``): a create answered whole and streamed, the stored
timeline read back (``GET``, ``?stream=true&last_event_id=``), a function-calling loop
chained with ``previous_interaction_id`` (the upstream is sent the whole conversation),
``store: false``, ``background`` with cancel, delete, another key's 404 and errors in
Google's envelope; every request journaled with the upstream's usage."""

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
from gateway.codecs.gemini_interactions import inbound
from gateway.core import service
from gateway.edge import endpoints
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
CALL = answer(
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_w1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    },
    "tool_calls",
)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["choices"], body["usage"] = [], usage
    return b"data: " + orjson.dumps(body) + b"\n\n"


STREAM = (
    chunk({"role": "assistant", "content": "Hel"})
    + chunk({"content": "lo"})
    + chunk({}, "stop")
    + chunk({}, usage=USAGE)
    + b"data: [DONE]\n\n"
)


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


async def streamed(body: dict[str, Any], key: str = ALICE) -> bytes:
    reply = await create({**body, "stream": True}, key)
    assert isinstance(reply, service.StreamReply), reply
    return b"".join([c async for c in reply.chunks])


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


async def test_a_plain_create_answers_the_models_steps_and_the_upstreams_usage(upstream):
    status, body = await created(
        {
            "model": "gem",
            "input": "Say hello",
            "system_instruction": "Be brief.",
            "generation_config": {"temperature": 0.2, "max_output_tokens": 50},
        }
    )
    assert status == 200
    assert body["id"].startswith("int_") and body["object"] == "interaction"
    assert body["status"] == "completed" and body["model"] == "gem"
    assert body["steps"] == [
        {"type": "model_output", "content": [{"type": "text", "text": "Hello there"}]}
    ]
    assert body["usage"] == {"total_input_tokens": 11, "total_output_tokens": 4, "total_tokens": 15}
    (sent,) = upstream.received
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    (record,) = upstream.recorded
    assert record.dialect == "gemini_interactions" and record.status == 200
    assert (record.input_tokens, record.output_tokens) == (11, 4)
    # the stored timeline: the input as a user_input step, then the model's
    status, stored = await edge(f"/v1beta/interactions/{body['id']}")
    assert status == 200
    assert stored["steps"][0] == {
        "type": "user_input",
        "content": [{"type": "text", "text": "Say hello"}],
    }
    assert stored["steps"][1:] == body["steps"] and stored["usage"] == body["usage"]


async def test_a_stream_numbers_every_event_ends_with_done_and_resumes(upstream):
    upstream.answers.append(STREAM)
    out = await streamed({"model": "gem", "input": "Say hello"})
    assert out.endswith(b"data: [DONE]\n\n")
    events = inbound.parse_sse(out)
    kinds = [e["event_type"] for e in events]
    assert kinds == [
        "interaction.created",
        "step.start",
        "step.delta",
        "step.delta",
        "step.stop",
        "interaction.completed",
    ]
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids) and all(ids)
    assert events[1]["step"] == {"type": "model_output"}
    assert [e["delta"]["text"] for e in events[2:4]] == ["Hel", "lo"]
    final = events[-1]["interaction"]
    assert final["status"] == "completed" and final["steps"] == []
    assert final["usage"]["total_input_tokens"] == 11
    interaction = events[0]["interaction"]["id"]
    assert final["id"] == interaction
    (record,) = upstream.recorded
    assert (record.input_tokens, record.output_tokens) == (11, 4)
    # kept: the resource with its steps folded from the events, and the events themselves
    status, stored = await edge(f"/v1beta/interactions/{interaction}")
    assert status == 200 and stored["steps"][-1]["content"] == [{"type": "text", "text": "Hello"}]
    status, again = await edge(
        f"/v1beta/interactions/{interaction}",
        query=f"stream=true&last_event_id={ids[2]}".encode(),
    )
    assert status == 200 and again.endswith(b"data: [DONE]\n\n")
    resumed = inbound.parse_sse(again)
    assert [e["event_id"] for e in resumed] == ids[3:]


async def test_a_function_calling_loop_chains_with_previous_interaction_id(upstream):
    upstream.answers += [CALL, TEXT]
    status, first = await created(
        {"model": "gem", "input": "Weather in Paris?", "tools": [WEATHER]}
    )
    assert status == 200 and first["status"] == "requires_action"
    (call,) = first["steps"]
    assert call == {
        "type": "function_call",
        "id": "call_w1",
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert upstream.received[0]["tools"][0]["function"]["name"] == "get_weather"
    result = {
        "type": "function_result",
        "call_id": "call_w1",
        "name": "get_weather",
        "result": "sunny",
    }
    status, second = await created(
        {
            "model": "gem",
            "previous_interaction_id": first["id"],
            "input": [result],
            "tools": [WEATHER],
        }
    )
    assert status == 200, second
    assert second["status"] == "completed"
    assert second["previous_interaction_id"] == first["id"]
    messages = upstream.received[1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == "call_w1"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"}
    assert "previous_interaction_id" not in upstream.received[1]


async def test_another_keys_interaction_is_a_404_and_cannot_be_continued(upstream):
    _, body = await created({"model": "gem", "input": "hi"})
    for method, path in (
        ("GET", f"/v1beta/interactions/{body['id']}"),
        ("DELETE", f"/v1/interactions/{body['id']}"),
        ("POST", f"/v1beta/interactions/{body['id']}/cancel"),
    ):
        status, error = await edge(path, method, key=BOB)
        assert status == 404, (method, path)
        assert error["error"]["code"] == "not_found"
        assert body["id"] in error["error"]["message"]
    status, error = await created(
        {"model": "gem", "input": "more", "previous_interaction_id": body["id"]}, key=BOB
    )
    assert status == 400 and error["error"]["code"] == "invalid_argument"
    status, _ = await edge(f"/v1beta/interactions/{body['id']}")
    assert status == 200  # still Alice's


async def test_delete_and_store_false(upstream):
    _, body = await created({"model": "gem", "input": "hi"})
    status, empty = await edge(f"/v1beta/interactions/{body['id']}", "DELETE")
    assert status == 200 and empty == {}
    status, _ = await edge(f"/v1beta/interactions/{body['id']}")
    assert status == 404
    _, unstored = await created({"model": "gem", "input": "hi", "store": False})
    status, _ = await edge(f"/v1beta/interactions/{unstored['id']}")
    assert status == 404


async def test_a_result_answering_no_call_is_refused_before_the_upstream(upstream):
    status, error = await created(
        {"model": "gem", "input": [{"type": "function_result", "call_id": "nope", "result": "x"}]}
    )
    assert status == 400 and error["error"]["code"] == "invalid_argument"
    assert "nope" in error["error"]["message"] and upstream.received == []


async def test_nested_function_tools_and_builtin_tools_are_refused(upstream):
    nested = {"type": "function", "function": {"name": "f", "parameters": {}}}
    status, error = await created({"model": "gem", "input": "x", "tools": [nested]})
    assert status == 400 and "flat" in error["error"]["message"]
    status, error = await created(
        {"model": "gem", "input": "x", "tools": [{"type": "google_search"}]}
    )
    assert status == 400 and "google_search" in error["error"]["message"]
    assert upstream.received == []


async def test_upstream_failure_and_unknown_model_in_googles_envelope(upstream):
    upstream.answers.append(500)
    status, error = await created({"model": "gem", "input": "hi"})
    assert status == 502 and error["error"]["code"] == "unavailable"
    assert isinstance(error["error"]["message"], str)
    status, error = await created({"model": "nope", "input": "hi"})
    assert status == 404 and error["error"]["code"] == "not_found"


async def test_a_background_interaction_runs_on_and_is_read_back(upstream):
    status, opened = await created({"model": "gem", "input": "hi", "background": True})
    assert status == 200 and opened["status"] == "in_progress" and opened["steps"] == []
    for _ in range(200):
        await asyncio.sleep(0.01)
        status, stored = await edge(f"/v1beta/interactions/{opened['id']}")
        if stored["status"] != "in_progress":
            break
    assert stored["status"] == "completed", stored
    assert stored["steps"][-1]["content"][0]["text"] == "Hello there"
    assert stored["id"] == opened["id"] and stored["usage"]["total_tokens"] == 15
    assert [r.status for r in upstream.recorded] == [200]
    # its stream, rebuilt from the resource, ends completed
    status, events = await edge(f"/v1beta/interactions/{opened['id']}", query=b"stream=true")
    kinds = [e["event_type"] for e in inbound.parse_sse(events)]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
