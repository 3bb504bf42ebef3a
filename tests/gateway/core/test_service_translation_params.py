"""Anthropic-only sampling parameters on their way to an OpenAI-compatible upstream,
through the whole service: ``top_k`` reaches only deployments marked
``supports_top_k`` (vLLM, Ollama); elsewhere it is dropped under drop_params (the
default) and refused with a 400 in the caller's envelope without it, before any
upstream call."""

from __future__ import annotations

from dataclasses import replace

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from tests.gateway.entries import route, snapshot

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
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    monkeypatch.setattr(journal, "record", lambda record: None)
    plain = route("plain", "up-1", max_attempts=1)
    top_k = route("top-k", "up-1", max_attempts=1)
    top_k = replace(top_k, deployments=(replace(top_k.deployments[0], supports_top_k=True),))
    routes = [plain, top_k]
    routes += [replace(r, name=f"strict-{r.name}", drop_params=False) for r in routes]
    registry.install(snapshot(*routes))
    received: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(orjson.loads(request.content))
        return httpx.Response(200, json=ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    yield received
    http.use_transport(None)


async def claude(model: str) -> service.Reply:
    raw = orjson.dumps(
        {
            "model": model,
            "max_tokens": 64,
            "top_k": 40,
            "temperature": 0.5,
            "messages": [{"role": "user", "content": "Hi"}],
        }
    )
    reply = await service.handle("chat", "anthropic", raw, {}, service.Caller(key=MASTER))
    assert isinstance(reply, service.Reply)
    return reply


@pytest.mark.parametrize("model", ["top-k", "strict-top-k"])
async def test_top_k_reaches_a_deployment_that_takes_it(upstream, model):
    reply = await claude(model)
    assert reply.status == 200
    assert upstream[0]["top_k"] == 40 and upstream[0]["temperature"] == 0.5


async def test_top_k_is_dropped_for_an_upstream_without_it(upstream):
    reply = await claude("plain")
    assert reply.status == 200
    assert orjson.loads(reply.body)["content"] == [{"type": "text", "text": "Hi"}]
    assert "top_k" not in upstream[0] and upstream[0]["temperature"] == 0.5


async def test_top_k_is_refused_without_drop_params_before_any_upstream_call(upstream):
    reply = await claude("strict-plain")
    assert reply.status == 400
    error = orjson.loads(reply.body)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert "top_k" in error["error"]["message"]
    assert "drop_params" in error["error"]["message"]
    assert upstream == []
