"""The embedding a semantic cache lookup asks of an embedding route: sent as the caller's
own embeddings request (its key allowed that route for this call), and any answer that
is not a 200 with a list of numbers a miss (None), logged. The pipeline is faked here
(``service.handle``): the live path is ``test_through_sdks.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway.base.entries import MASTER
from gateway.core import service
from gateway.core.call import Reply, StreamReply
from gateway.features.semantic_cache import embed

KEY = dataclasses.replace(MASTER, id=5, name="narrow", routes=frozenset({"chat"}))


class Pipeline:
    """``service.handle`` faked: it answers ``replies`` in turn and keeps what it was
    asked in ``asked``."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.asked: list[tuple[Any, ...]] = []

    async def handle(
        self, endpoint: str, dialect: str, raw: bytes, headers: Any, caller: Any
    ) -> Any:
        self.asked.append((endpoint, dialect, orjson.loads(raw), caller))
        return self.replies.pop(0)


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    fake = Pipeline()
    monkeypatch.setattr(service, "handle", fake.handle)
    return fake


def ok(body: Any) -> Reply:
    return Reply(200, orjson.dumps(body), [])


async def test_a_200_with_an_embedding_is_its_floats(pipeline: Pipeline) -> None:
    pipeline.replies.append(ok({"data": [{"embedding": [1, 0.5, -2]}]}))
    assert await embed.embed("embed", "hello", KEY) == [1.0, 0.5, -2.0]
    [(endpoint, dialect, body, caller)] = pipeline.asked
    assert (endpoint, dialect) == ("embeddings", "openai")
    assert body == {"model": "embed", "input": "hello", "encoding_format": "float"}
    assert caller.user_agent == embed.USER_AGENT and caller.key.routes == {"chat", "embed"}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(429, b'{"error": {}}', []),
        Reply(200, b"not json", []),
        ok({"data": []}),
        ok({"data": [{"embedding": []}]}),
        ok({"data": [{"embedding": "0.1,0.2"}]}),
        ok({"data": [{"embedding": [0.1, "x"]}]}),
        ok({"data": [{"embedding": [0.1, True]}]}),
    ],
)
async def test_anything_else_is_a_miss(pipeline: Pipeline, reply: Reply) -> None:
    pipeline.replies.append(reply)
    assert await embed.embed("embed", "hello", KEY) is None


async def test_a_stream_is_closed_and_a_miss(pipeline: Pipeline) -> None:
    closed: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: {}\n\n"
        finally:
            closed.append(True)

    stream = chunks()
    await stream.__anext__()  # started, so closing it runs its finally
    pipeline.replies.append(StreamReply(200, [], stream))
    assert await embed.embed("embed", "hello", KEY) is None
    assert closed == [True]
