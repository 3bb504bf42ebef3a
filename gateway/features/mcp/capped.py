"""MCP answers read at most ``SWITCHYARD_MAX_ANSWER_BYTES`` far (M10), for the servers
given by URL (``hosted.servers``) and the registered ones (``pool``) alike.

A JSON answer is one HTTP response, bounded whole; an event stream (a streamable-HTTP
answer sent as SSE, the long-lived GET stream, a legacy SSE session) is bounded per
event, so a session that lives for hours is not cut for its total. Past the limit the
read raises :class:`AnswerTooLarge` (an ``httpx2.StreamError``, so the SDK turns it into
the call's error) and :class:`Overflow` remembers it, so that the pool can tell its
caller why the call failed (:class:`ResultTooLarge`) rather than "connection closed"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2

from gateway.base import http
from gateway.features.mcp.errors import McpGatewayError

_EVENT_ENDS = (b"\n\n", b"\r\r", b"\r\n\r\n")


class AnswerTooLarge(httpx2.StreamError):
    """An MCP server's answer (one HTTP response, or one event of a stream) passed
    ``SWITCHYARD_MAX_ANSWER_BYTES``: reading stops there."""


class ResultTooLarge(McpGatewayError):
    """What the pool raises for a call whose answer passed the limit."""

    kind = "answer_too_large"


def too_large(limit: int) -> str:
    return f"the answer is longer than {limit} bytes (SWITCHYARD_MAX_ANSWER_BYTES)"


class Overflow:
    """Counts the answers cut at the limit on one connection (``count`` read before a
    call and after its failure says whether the cap is why it failed)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


class CappedStream(httpx2.AsyncByteStream):
    """A response body read at most ``limit`` bytes far: past that it raises, so a tool
    result is bounded as an upstream model's answer is, whatever the server sends. With
    ``per_event`` the count starts again after each blank line (the end of an SSE event)."""

    def __init__(
        self,
        inner: httpx2.AsyncByteStream,
        limit: int,
        *,
        per_event: bool = False,
        overflowed: Callable[[], None] | None = None,
    ) -> None:
        self.inner, self.limit = inner, limit
        self.per_event, self.overflowed = per_event, overflowed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        tail = b""
        for_event = self.per_event
        async for piece in self.inner:
            if for_event:
                seen = tail + piece
                end = max(
                    (seen.rfind(mark) + len(mark) for mark in _EVENT_ENDS if mark in seen),
                    default=-1,
                )
                size = size + len(piece) if end < 0 else len(seen) - end
                tail = seen[-3:]
            else:
                size += len(piece)
            if size > self.limit:
                if self.overflowed is not None:
                    self.overflowed()
                raise AnswerTooLarge(too_large(self.limit))
            yield piece

    async def aclose(self) -> None:
        await self.inner.aclose()


def cap(
    response: httpx2.Response,
    limit: int | None = None,
    overflowed: Callable[[], None] | None = None,
) -> httpx2.Response:
    """``response`` with its body capped (per event for an event stream)."""
    limit = http.max_answer_bytes() if limit is None else limit
    assert isinstance(response.stream, httpx2.AsyncByteStream)
    per_event = response.headers.get("content-type", "").startswith("text/event-stream")
    response.stream = CappedStream(
        response.stream, limit, per_event=per_event, overflowed=overflowed
    )
    return response


def capping_hook(
    overflowed: Callable[[], None] | None = None, limit: int | None = None
) -> Callable[[httpx2.Response], object]:
    """An httpx2 ``response`` event hook capping every answer's body (the hook runs
    before the body is read; the client's own transport and proxies are kept)."""

    async def hook(response: httpx2.Response) -> None:
        cap(response, limit, overflowed)

    return hook
