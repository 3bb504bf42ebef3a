"""A prompt's size for routing (``gateway.core.prompt_size``): tokens are counted only when
the prompt is near the smallest context window it may reach."""

from __future__ import annotations

import pytest

from gateway.base.entries import RouteEntry
from gateway.base.types import ChatRequest, Message, Text
from gateway.core import prompt_size
from tests.gateway.entries import deployment, route, snapshot

pytestmark = pytest.mark.usefixtures("fake_time")

REQUEST = ChatRequest(model="m", messages=[Message(role="user", parts=[Text("hi")])])


def sized(name: str, *windows: int | None, cw=(), fallbacks=()) -> RouteEntry:
    """A route whose deployments (models named name-0, name-1 ...) have these windows."""
    entry = route(name, cw=cw, fallbacks=fallbacks)
    deployments = tuple(
        deployment(name, f"{name}-{i}", context_window=w) for i, w in enumerate(windows)
    )
    return RouteEntry(**{**_fields(entry), "deployments": deployments})


def _fields(entry: RouteEntry) -> dict:
    return {name: getattr(entry, name) for name in RouteEntry.__slots__}


async def test_prompt_tokens_counts_only_near_the_smallest_reachable_window(monkeypatch):
    counted: list[ChatRequest] = []

    def count(request: ChatRequest) -> int:
        counted.append(request)
        return 7_777

    monkeypatch.setattr(prompt_size.tokens, "count_request_tokens", count)
    small = sized("small", 100_000, fallbacks=("tiny",))
    tiny = sized("tiny", 8_000)
    snap = snapshot(small, tiny)
    # 1,000 estimated tokens: even at one character a token it fits 8,000: not counted
    assert await prompt_size.prompt_tokens(REQUEST, 1_000, snap, small) == 1_000
    assert counted == []
    # 3,000 estimated may be 12,000 (over the fallback's 8,000): the tokenizer decides
    assert await prompt_size.prompt_tokens(REQUEST, 3_000, snap, small) == 7_777
    assert counted == [REQUEST]
    # no window known anywhere: never counted
    free = sized("free", None)
    assert await prompt_size.prompt_tokens(REQUEST, 90_000, snapshot(free), free) == 90_000
    assert len(counted) == 1
