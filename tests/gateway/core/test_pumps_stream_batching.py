"""Streams through ``service.handle``: the events of one upstream read leave as few
chunks (one write each), the first token in a chunk of its own right away, the bytes
and their order unchanged."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import pumps, service
from tests.gateway.entries import route, snapshot

WORDS = ["Hello"] + [f" tok{i}" for i in range(1, 20)]


def upstream_stream() -> bytes:
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up-1"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w}}]} for w in WORDS]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 20}})
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    monkeypatch.setattr(journal, "record", lambda rec: None)
    monkeypatch.setattr(pumps, "BATCH_WINDOW", 10.0)  # no cut by time on a slow machine
    registry.install(snapshot(route("r", "up-1", max_attempts=1)))

    def answer(request: httpx.Request) -> httpx.Response:  # the whole stream in one read
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=upstream_stream()
        )

    http.use_transport(httpx.MockTransport(answer))
    yield
    http.use_transport(None)


async def chunks_of(dialect: str) -> list[bytes]:
    body = {"model": "r", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    if dialect == "anthropic":
        body["max_tokens"] = 64
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert isinstance(reply, service.StreamReply)
    return [chunk async for chunk in reply.chunks]


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])  # passed through, translated
async def test_one_read_leaves_in_two_chunks_the_first_ending_with_the_first_token(
    gateway, dialect: str
) -> None:
    chunks = await chunks_of(dialect)
    assert len(chunks) == 2  # not one per event (over 20 of them)
    assert b"Hello" in chunks[0] and b"tok1" not in chunks[0]
    text = "".join(
        delta
        for line in b"".join(chunks).decode().splitlines()
        if line.startswith("data: {")
        for delta in _deltas(orjson.loads(line[6:]))
    )
    assert text == "".join(WORDS)  # every token, in order


def _deltas(event: dict) -> list[str]:
    if "choices" in event:  # OpenAI
        return [c["delta"].get("content") or "" for c in event["choices"]]
    if event.get("type") == "content_block_delta":  # Anthropic
        return [event["delta"].get("text", "")]
    return []
