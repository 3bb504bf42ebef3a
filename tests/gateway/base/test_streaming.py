"""``iter_sse_batches`` (raw chunks -> SSE messages, those each chunk completed) yields
exactly what ``iter_sse`` yields over the same body's decoded lines, however the body is
chunked, and never an empty batch."""

from __future__ import annotations

import asyncio
import codecs
import random

import pytest

from gateway.base.streaming import SSEMessage, iter_sse, iter_sse_batches

BODIES = [
    # OpenAI-style data-only stream with [DONE]
    b'data: {"id":"1","choices":[{"delta":{"content":"Hello"}}]}\n\n'
    b'data: {"id":"1","choices":[{"delta":{"content":" w\xc3\xb6rld \xe2\x82\xac"}}]}\n\n'
    b"data: [DONE]\n\n",
    # Anthropic-style named events, CRLF line ends, a comment and a ping
    b'event: message_start\r\ndata: {"type":"message_start"}\r\n\r\n'
    b": keep-alive comment\r\n\r\n"
    b'event: ping\r\ndata: {"type": "ping"}\r\n\r\n'
    b'event: content_block_delta\r\ndata: {"text":"\xf0\x9f\x98\x80"}\r\n\r\n',
    # multi-line data, a field without a space, unknown fields, no final blank line
    b"id: 7\nretry: 100\ndata:first\ndata: second\n\nevent:e\ndata: last",
    # an undecodable byte, an incomplete sequence at the end, an event with no data
    b"data: bad \xff byte\n\nevent: lonely\n\ndata: cut \xe2\x82",
    b"data: x\n\r",
    # the "data: " lines read without decoding the line first, beside ones that are not
    # (CRLF ends mixed with LF, an empty value, a second space that belongs to the value)
    b"data: \n\ndata:  two\r\n\r\ndata: a\r\ndata: b\n\ndata: \xe2\x82\xac\ndata:\n\n",
    b"",
]


async def _chunks(body: bytes, cuts: list[int]):
    last = 0
    for cut in [*cuts, len(body)]:
        if cut > last:
            yield body[last:cut]
            last = cut
        await asyncio.sleep(0)


async def _reference(body: bytes, cuts: list[int]) -> list[SSEMessage]:
    """The provider's former pipeline: incremental UTF-8 lines, then iter_sse."""

    async def lines():
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        async for chunk in _chunks(body, cuts):
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line.rstrip("\r")
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending.rstrip("\r")

    return [m async for m in iter_sse(lines())]


async def _new(body: bytes, cuts: list[int], seen: list[bytes]) -> list[SSEMessage]:
    batches = [b async for b in iter_sse_batches(_chunks(body, cuts), seen.append)]
    assert all(batches)  # never an empty batch
    return [m for batch in batches for m in batch]


@pytest.mark.parametrize("body", BODIES)
def test_same_messages_as_iter_sse_for_any_chunking(body):
    rng = random.Random(len(body))
    chunkings = [[], list(range(1, len(body)))]  # whole, and byte by byte
    for _ in range(40):
        chunkings.append(sorted(rng.sample(range(1, max(2, len(body))), min(len(body) // 3, 6))))
    for cuts in chunkings:
        seen: list[bytes] = []
        expected = asyncio.run(_reference(body, cuts))
        assert asyncio.run(_new(body, cuts, seen)) == expected, cuts
        assert b"".join(seen) == body  # every raw byte reported, in order


def test_messages_of_a_typical_stream():
    body = BODIES[1]
    messages = asyncio.run(_new(body, [5, 40], []))
    assert [m.event for m in messages] == ["message_start", "ping", "content_block_delta"]
    assert messages[-1].data == '{"text":"\U0001f600"}'
