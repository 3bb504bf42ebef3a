"""A streamed legacy /v1/completions is journaled like a chat stream: usage, time to
first token, the public model name, and an upstream's in-stream error as its status."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from tests.gateway.entries import route, snapshot

CHUNK = (
    b'data: {"id":"c","object":"text_completion","created":1,"model":"up-1",'
    b'"choices":[{"text":"Hi","index":0,"finish_reason":null}]}\n\n'
)
USAGE = (
    b'data: {"id":"c","object":"text_completion","created":1,"model":"up-1","choices":[],'
    b'"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}\n\n'
)
ERROR = b'data: {"error":{"message":"the model crashed","type":"server_error","code":500}}\n\n'


@pytest.fixture
def completions(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    recorded: list = []
    monkeypatch.setattr(journal, "record", recorded.append)
    registry.install(snapshot(route("legacy", "up-1", max_attempts=1)))
    body: dict[str, bytes] = {}

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=body["sse"]
        )

    http.use_transport(httpx.MockTransport(upstream))
    yield body, recorded
    http.use_transport(None)


async def stream(body: dict[str, bytes], sse: bytes) -> bytes:
    body["sse"] = sse
    raw = orjson.dumps({"model": "legacy", "prompt": "Say", "stream": True})
    reply = await service.handle("completions", "openai", raw, {}, service.Caller(key=MASTER))
    assert reply.status == 200
    return b"".join([chunk async for chunk in reply.chunks])


async def test_a_finished_stream_is_a_200_with_usage_and_the_public_name(completions):
    body, recorded = completions
    out = await stream(body, CHUNK + USAGE + b"data: [DONE]\n\n")
    assert b'"model":"legacy"' in out and b"up-1" not in out
    (rec,) = recorded
    assert rec.status == 200 and rec.input_tokens == 2 and rec.output_tokens == 1
    assert rec.ttft_ms is not None and rec.endpoint == "completions"


async def test_an_in_stream_error_is_journaled_as_the_error(completions):
    body, recorded = completions
    out = await stream(body, CHUNK + ERROR)
    assert b"the model crashed" in out
    (rec,) = recorded
    assert rec.status >= 500 and "the model crashed" in rec.error_message
