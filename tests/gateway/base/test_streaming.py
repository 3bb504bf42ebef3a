"""``iter_sse_batches`` (raw chunks -> SSE messages, those each chunk completed) yields
exactly what ``iter_sse`` yields over the same body's decoded lines, however the body is
chunked, and never an empty batch."""

from __future__ import annotations

import asyncio
import codecs
import random

import pytest

from gateway.base.streaming import (
    SkimmingDecoder,
    SSEDecoder,
    SSEMessage,
    iter_sse,
    iter_sse_batches,
    sse_bytes,
)

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


# --- SkimmingDecoder: events like a learnt one handed on as their bytes ----------------------


def _event(text: bytes, tail: bytes = b'"}}]}', head: bytes = b"") -> bytes:
    return head + b'data: {"id":"1","choices":[{"delta":{"content":"' + text + tail + b"\n\n"


SKIMMED_BODIES = [
    # the shape a skim learns, then texts it may hand on as they came and ones it may not
    _event(b"Hi")
    + _event(b" there")
    + _event(b"")
    + _event(b" w\xc3\xb6rld \xe2\x82\xac")  # UTF-8: the same bytes decoded and written
    + _event(b"bad \xff byte")  # not UTF-8: decoded with replacement, read as a message
    + _event(b'say \\"hi\\"')  # an escaped quote does not end the string
    + _event(b"a \\\\")  # a string ending in an escaped backslash (read as a message)
    + _event(b"two\nlines")  # a line break inside: another field, not text
    + _event(b"two\rparts")
    + _event(b"x", b'"},"finish_reason":"stop"}]}')  # another tail
    + _event(b"y", b'"}}]}  ')
    + b": a comment\n\n"
    + _event(b"after the comment")
    + b"id: 3\n"
    + _event(b"after an id")
    + _event(b"crlf").replace(b"\n", b"\r\n")
    + _event(b"z")
    + b"data: [DONE]\n\n",
    # named events (Anthropic's text deltas), one under another name, one cut at the end
    b"".join(
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        b'"text":"' + text + b'"}}\n\n'
        for text in (b"a", b"b", b"c\\n", b"\xf0\x9f\x98\x80")
    )
    + b'event: ping\ndata: {"delta":{"type":"text_delta","text":"p"}}\n\n'
    + b'event: content_block_delta\ndata: {"delta":{"type":"text_delta","text":"cut',
    # OpenAI's padding, another in each event: its string may differ too, but only it
    b"".join(
        _event(text, b'"}}],"obfuscation":"' + pad + b'"}')
        for text, pad in (
            (b"a", b"x"),
            (b"b", b"yz"),
            (b"c", b""),
            (b"d", b'q\\"'),  # an escaped quote in the padding: read
            (b"e", b"\xc3\xa9"),
            (b"f", b"\xc3"),  # not UTF-8: read
            (b"g", b"x\ny"),  # a line break: read
        )
    )
    + _event(b"h", b'"}}],"obfuscation":"p","more":"q"}')  # more than the padding differs
    + _event(b"i")  # no padding at all
    + _event(b"j"),
]

OPENAI_KEYS = (b'"content":"', b'"obfuscation":"')


def _skimmed(body: bytes, cuts: list[int], keys: tuple[bytes, ...]) -> list[bytes | SSEMessage]:
    """What a ``SkimmingDecoder`` hands on, told of every message it hands on
    (``CodecProvider.forward`` tells it of those ``skims`` admits)."""
    decoder = SkimmingDecoder(keys)
    out: list[bytes | SSEMessage] = []

    async def read() -> None:
        async for chunk in _chunks(body, cuts):
            for item in decoder.events(chunk):
                out.append(item)
                if isinstance(item, SSEMessage):
                    decoder.learn(sse_bytes(item.data, item.event))

    asyncio.run(read())
    return out + decoder.end()


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        *((b, OPENAI_KEYS) for b in BODIES),
        (SKIMMED_BODIES[0], OPENAI_KEYS),
        (SKIMMED_BODIES[1], (b'"text":"',)),
        (SKIMMED_BODIES[2], OPENAI_KEYS),
        (SKIMMED_BODIES[2], OPENAI_KEYS[:1]),
    ],
)
def test_a_skimming_decoder_hands_on_what_the_messages_would_write(body, keys):
    """However the body is chunked: the messages an ``SSEDecoder`` makes, in order, but
    for runs of them handed on as bytes, which are exactly what ``sse_bytes`` writes of
    those messages."""
    rng = random.Random(len(body))
    chunkings = [[], list(range(1, len(body)))]
    chunkings += [[i for i, b in enumerate(body) if b == ord("\n")]]  # a line a read
    for _ in range(40):
        chunkings.append(sorted(rng.sample(range(1, max(2, len(body))), min(len(body) // 3, 6))))
    reference = SSEDecoder()
    expected = reference.feed(body) + reference.end()
    for cuts in chunkings:
        at = 0
        for item in _skimmed(body, cuts, keys):
            if isinstance(item, bytes):
                events = item.count(b"\n\n")
                assert events
                assert item == b"".join(
                    sse_bytes(m.data, m.event) for m in expected[at : at + events]
                )
                at += events
            else:
                assert item == expected[at], cuts
                at += 1
        assert at == len(expected), cuts


def test_a_skimming_decoder_hands_on_events_like_the_learnt_one_as_they_came():
    items = _skimmed(SKIMMED_BODIES[0], [], OPENAI_KEYS)
    assert isinstance(items[0], SSEMessage)  # nothing learnt yet: read
    # then three like it as one piece of bytes, as they came
    assert items[1] == _event(b" there") + _event(b"") + _event(b" w\xc3\xb6rld \xe2\x82\xac")
    content = '{"id":"1","choices":[{"delta":{"content":"'
    assert [i.data for i in items[2:]] == [  # every other one is read, as SSEDecoder reads it
        content + 'bad \ufffd byte"}}]}',
        content + 'say \\"hi\\""}}]}',
        content + 'a \\\\"}}]}',
        content + "two",  # (its line "lines" is a field of no name: dropped); learns nothing
        content + 'two\rparts"}}]}',
        content + 'x"},"finish_reason":"stop"}]}',
        content + 'y"}}]}  ',
        content + 'after the comment"}}]}',  # another tail than the one learnt last
        content + 'after an id"}}]}',
        content + 'crlf"}}]}',
        content + 'z"}}]}',  # (read with the CRLF event's lines: no LF LF between them)
        "[DONE]",
    ]
    named = _skimmed(SKIMMED_BODIES[1], [], (b'"text":"',))
    assert [type(i) for i in named] == [SSEMessage, bytes, SSEMessage, SSEMessage]
    assert named[1].count(b"\n\n") == 3  # b, c and the emoji; then "ping", and the cut one
    assert [named[2].event, named[3].event] == ["ping", "content_block_delta"]


def test_a_skimming_decoder_lets_the_padding_differ_where_the_format_pads():
    items = _skimmed(SKIMMED_BODIES[2], [], OPENAI_KEYS)
    assert [type(i) for i in items] == [SSEMessage, bytes, *[SSEMessage] * 6, bytes]
    assert items[1].count(b"\n\n") == 2  # b and c, whose padding differs from a's
    read = [i.data for i in items if isinstance(i, SSEMessage)]
    assert [m[m.index('content":"') + 10] for m in read] == list("adefghi")
    # d: an escaped quote (and nothing learnt from it), f: not UTF-8, g: a line break,
    # h: more than the padding differs, i: no padding
    assert items[-1] == _event(b"j")  # learnt from i
    # without the padding's key, every event with other padding is read
    unpadded = _skimmed(SKIMMED_BODIES[2], [], OPENAI_KEYS[:1])
    assert [type(i) for i in unpadded] == [*[SSEMessage] * 9, bytes]
