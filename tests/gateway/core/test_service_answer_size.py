"""A non-streamed upstream answer longer than ``SWITCHYARD_MAX_ANSWER_BYTES`` is not
read further: the caller gets a 502 in its own dialect naming the limit, and it is not
retried. Streamed answers are relayed whole; only the text folded for the cache is
capped (a longer answer is not cached)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.base.streaming import StreamFolder
from gateway.base.types import Finish, PartStart, TextDelta, ToolArgsDelta
from gateway.core import service
from tests.gateway.entries import route, snapshot

BIG_TEXT = "y" * 20_000


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": "up-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": BIG_TEXT},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


@pytest.fixture
def upstream(settings, snapshot_reset, monkeypatch):
    from gateway import journal

    settings.SWITCHYARD_MAX_ANSWER_BYTES = 4096
    monkeypatch.setattr(journal, "record", lambda rec: None)
    registry.install(snapshot(route("big", "up-1", max_attempts=3)))
    fake = Upstream()
    http.use_transport(httpx.MockTransport(fake))
    yield fake
    http.use_transport(None)


@pytest.mark.parametrize(
    ("dialect", "endpoint_body"),
    [
        ("openai", {"messages": [{"role": "user", "content": "hi"}]}),
        ("anthropic", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}),
    ],
)
async def test_an_oversized_answer_is_a_502_naming_the_limit(upstream, dialect, endpoint_body):
    body = orjson.dumps({"model": "big", **endpoint_body})
    reply = await service.handle("chat", dialect, body, {}, service.Caller(key=MASTER))
    assert reply.status == 502
    error = orjson.loads(reply.body)
    if dialect == "anthropic":
        assert error["type"] == "error"
    message = error["error"]["message"]
    assert "4096 bytes" in message and "SWITCHYARD_MAX_ANSWER_BYTES" in message
    assert upstream.calls == 1  # not retried
    assert BIG_TEXT not in reply.body.decode()


async def test_an_answer_within_the_limit_passes(upstream, settings):
    settings.SWITCHYARD_MAX_ANSWER_BYTES = 64 * 1024
    body = orjson.dumps({"model": "big", "messages": [{"role": "user", "content": "hi"}]})
    reply = await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))
    assert reply.status == 200 and BIG_TEXT in reply.body.decode()


class Piece(str):
    """A delta that notes every concatenation made onto it (``folded += delta``)."""

    joins: list[int] = []

    def __radd__(self, other: str) -> str:
        Piece.joins.append(1)
        return str.__add__(other, self)


def test_the_folder_joins_deltas_once_not_one_concatenation_each():
    Piece.joins.clear()
    folder = StreamFolder()
    folder.feed(PartStart(0, "text"))
    for _ in range(1000):
        folder.feed(TextDelta(0, Piece("ab")))
    folder.feed(Finish("stop"))
    assert folder.result().parts[0].text == "ab" * 1000
    assert len(Piece.joins) <= 1


def test_the_folded_text_is_capped_and_says_so():
    folder = StreamFolder(max_chars=100)
    folder.feed(PartStart(0, "text"))
    folder.feed(PartStart(1, "tool_call", tool_id="t", tool_name="f"))
    for _ in range(30):
        folder.feed(TextDelta(0, "abcd"))
    folder.feed(ToolArgsDelta(1, '{"a": 1}'))
    folder.feed(Finish("stop"))
    assert folder.truncated and folder.finished
    assert len(folder.result().parts[0].text) <= 100


def test_the_responses_renderer_keeps_item_text_without_quadratic_copies():
    from gateway.codecs.openai_responses.inbound import _Item

    Piece.joins.clear()
    item = _Item("text", 0, "msg_1")
    for _ in range(1000):
        item.pieces.append(Piece("ab"))
    assert item.text == "ab" * 1000 and not Piece.joins


def test_a_gemini_answer_in_many_text_parts_is_joined_once():
    from gateway.codecs.gemini.outbound import parse_response

    Piece.joins.clear()
    parts = [{"text": "a"}, *({"text": Piece("b")} for _ in range(500))]
    parts += [
        {"thought": True, "text": "t"},
        *({"thought": True, "text": Piece("u")} for _ in range(9)),
    ]
    data = {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}
    response = parse_response(data)
    assert [type(p).__name__ for p in response.parts] == ["Text", "Thinking"]
    assert response.parts[0].text == "a" + "b" * 500 and response.parts[1].text == "t" + "u" * 9
    assert not Piece.joins
