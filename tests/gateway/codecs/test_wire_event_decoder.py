"""``WireEventDecoder`` makes of a body what ``SSEDecoder`` and ``sse_wire_event`` make
of it together, for both SSE framings, however the body is chunked: the same events
(data parsed, ``[DONE]`` and non-JSON data dropped or kept as the framing says, the text
as sent), in the same batches, whether a chunk's are decoded at once (``feed``) or as
they are read (``events``, which decodes nothing a reader has not reached)."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.base.streaming import decoded_batches, decoded_lazily, iter_sse_batches
from gateway.codecs import base
from gateway.codecs.base import WireEvent, WireEventDecoder, sse_wire_event
from tests.gateway.base.test_streaming import BODIES, _chunks

MORE = [
    # JSON that needs the strip, a [DONE] with spaces around, data that is not JSON,
    # an event with a name, multi-line JSON data
    b'data:  {"a": 1}  \n\ndata:  [DONE] \n\ndata: not json\n\nevent: error\n'
    b'data: {"error":\ndata: {"message":"x"}}\n\n',
    b'data: {"choices":[]}\r\n\r\ndata: [DONE]\r\n\r\n',
]


async def _reference(body: bytes, cuts: list[int], framing: str) -> list[list[WireEvent]]:
    batches = []
    async for messages in iter_sse_batches(_chunks(body, cuts)):
        made = [sse_wire_event(m, framing) for m in messages]  # type: ignore[arg-type]
        batch = [event for event in made if event is not None]
        if batch:
            batches.append(batch)
    return batches


async def _decoded(body: bytes, cuts: list[int], framing: str) -> list[list[WireEvent]]:
    decoder = WireEventDecoder(framing)  # type: ignore[arg-type]
    return [batch async for batch in decoded_batches(_chunks(body, cuts), decoder)]


async def _decoded_lazily(body: bytes, cuts: list[int], framing: str) -> list[list[WireEvent]]:
    decoder = WireEventDecoder(framing)  # type: ignore[arg-type]
    batches = [list(batch) async for batch in decoded_lazily(_chunks(body, cuts), decoder)]
    return [batch for batch in batches if batch]


@pytest.mark.parametrize("framing", ["sse", "sse+done"])
@pytest.mark.parametrize("body", BODIES + MORE)
def test_the_same_events_as_decoding_then_reading_each_message(body: bytes, framing: str) -> None:
    rng = random.Random(len(body))
    chunkings = [[], list(range(1, len(body)))]  # whole, and byte by byte
    for _ in range(25):
        chunkings.append(sorted(rng.sample(range(1, max(2, len(body))), min(len(body) // 3, 6))))
    for cuts in chunkings:
        expected = asyncio.run(_reference(body, cuts, framing))
        got = asyncio.run(_decoded(body, cuts, framing))
        assert got == expected, cuts
        assert [[e.text for e in b] for b in got] == [[e.text for e in b] for b in expected]
        lazily = asyncio.run(_decoded_lazily(body, cuts, framing))
        assert lazily == expected, cuts
        assert [[e.text for e in b] for b in lazily] == [[e.text for e in b] for b in expected]


def noting_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The JSON texts the SSE decoder parses from now on, in order."""
    parsed: list[str] = []
    loads = base.orjson.loads

    class Noting:
        JSONDecodeError = base.orjson.JSONDecodeError

        @staticmethod
        def loads(data: str) -> object:
            parsed.append(data)
            return loads(data)

    monkeypatch.setattr(base, "orjson", Noting)
    return parsed


def test_events_decodes_a_message_only_when_the_reader_reaches_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed = noting_loads(monkeypatch)
    decoder = WireEventDecoder("sse")
    events = decoder.events(b'data: {"n": 1}\n\ndata: {"n": 2}\n\ndata: {"n": 3}\n\ndata: {"n"')
    assert parsed == []
    assert next(events).data == {"n": 1}
    assert parsed == ['{"n": 1}']
    assert [e.data for e in events] == [{"n": 2}, {"n": 3}]
    assert [e.data for e in decoder.events(b": 4}\n\n")] == [{"n": 4}]  # the line held over
