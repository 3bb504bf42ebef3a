"""A server's ``sampling/createMessage`` answered by one of the gateway's routes
(``sampling``): the chat request it becomes (system prompt, text, image and audio
content, temperature, at most four stops), content it cannot relay refused as invalid
params, and the answer through the real pipeline under the caller's key (the upstream
answered in process): the route's text and stop reason, a failure as a JSON-RPC error."""

from __future__ import annotations

import dataclasses

import httpx
import mcp_types as types
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.features.mcp import sampling
from gateway.limits import limits
from tests.gateway.entries import route, snapshot


def params(*messages: types.SamplingMessage, **extra) -> types.CreateMessageRequestParams:  # type: ignore[no-untyped-def]
    return types.CreateMessageRequestParams(messages=list(messages), max_tokens=50, **extra)


def said(role: str, *content) -> types.SamplingMessage:  # type: ignore[no-untyped-def]
    return types.SamplingMessage(
        role=role, content=content[0] if len(content) == 1 else list(content)
    )


def text(value: str) -> types.TextContent:
    return types.TextContent(type="text", text=value)


def test_a_text_conversation_becomes_a_chat_request() -> None:
    asked = params(
        said("user", text("Hello")),
        said("assistant", text("Hi"), text(" there")),
        system_prompt="Be brief.",
        temperature=0.2,
        stop_sequences=["a", "b", "c", "d", "e"],
    )
    assert sampling.chat_body("helper", asked) == {
        "model": "helper",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi there"},
        ],
        "max_tokens": 50,
        "temperature": 0.2,
        "stop": ["a", "b", "c", "d"],
    }


def test_images_and_audio_become_content_parts() -> None:
    image = types.ImageContent(type="image", data="aW1n", mime_type="image/png")
    audio = types.AudioContent(type="audio", data="c291bmQ=", mime_type="audio/mpeg")
    body = sampling.chat_body("helper", params(said("user", text("look"), image, audio)))
    assert "temperature" not in body and "stop" not in body
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,aW1n"}},
                {"type": "input_audio", "input_audio": {"data": "c291bmQ=", "format": "mp3"}},
            ],
        }
    ]


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""
    limits.reset()
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    registry.install(snapshot(route("helper", "up-1", max_attempts=1)))
    seen: list[dict] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        seen.append(body)
        if body["messages"][-1]["content"] == "fail":
            return httpx.Response(400, json={"error": {"message": "no such thing"}})
        message = {"role": "assistant", "content": "sampled words"}
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        choice = {"index": 0, "message": message, "finish_reason": "length"}
        return httpx.Response(200, json={"id": "c", "object": "chat.completion", "created": 1,
                                         "model": "up-1", "choices": [choice], "usage": usage})  # fmt: skip

    http.use_transport(httpx.MockTransport(upstream))
    yield recorded, seen
    http.use_transport(None)
    limits.reset()


async def test_the_route_answers_under_the_callers_key(pipeline) -> None:
    recorded, seen = pipeline
    caller = dataclasses.replace(MASTER, id=11, name="agent", prefix="sy-agent")
    result = await sampling.answer(
        caller, "helper", params(said("user", text("write"))), server="docs"
    )
    assert isinstance(result, types.CreateMessageResult)
    assert result.content == text("sampled words") and result.stop_reason == "maxTokens"
    assert result.role == "assistant" and result.model
    assert seen[0]["messages"] == [{"role": "user", "content": "write"}]
    (row,) = recorded
    assert row.key_name == "agent" and row.route == "helper"
    assert "switchyard-mcp-sampling/docs" in (row.user_agent or "")


async def test_a_failure_or_content_not_relayed_is_an_error_for_the_server(pipeline) -> None:
    failed = await sampling.answer(
        MASTER, "helper", params(said("user", text("fail"))), server="docs"
    )
    assert isinstance(failed, types.ErrorData) and failed.code == sampling.INTERNAL_ERROR
    assert "route helper failed (400)" in failed.message
    use = types.ToolUseContent(type="tool_use", id="t1", name="lookup", input={})
    odd = await sampling.answer(MASTER, "helper", params(said("assistant", use)), server="docs")
    assert isinstance(odd, types.ErrorData) and odd.code == types.INVALID_PARAMS
    assert "is not relayed" in odd.message
