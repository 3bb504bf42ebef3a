"""A Gemini upstream's translated stream whose chunks of answer text are read off their
bytes (``codecs.base.TextDecoder``, learnt from ``gemini.outbound.StreamParser``'s
``text_index``/``text_open``), the usage each chunk reports besides handed on as the
parser makes it: the canonical events, what an OpenAI client reads of them, the
journal's usage and the upstream bytes it keeps are those of the stream read chunk by
chunk, however the body is cut into reads; thought parts, function calls, a finish, an
error and a chunk of another layout are parsed as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.base.entries import ProviderEntry
from gateway.base.types import UsageEvent
from gateway.codecs.base import TextDecoder, WireEvent
from gateway.codecs.gemini import GeminiCodec
from gateway.codecs.gemini import outbound as gemini_outbound
from gateway.providers.gemini import GeminiProvider
from tests.gateway.providers import test_gemini as gemini_case
from tests.gateway.providers import test_translated_skim as skim

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gemini"
USAGE = b'"usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}'
TAIL = b', "modelVersion": "gemini-2.5-flash", "responseId": "r1"}'


def text_event(text: bytes, more: bytes = b"", usage: bytes = USAGE) -> bytes:
    """A chunk of answer text as Gemini writes it (``more``: after the part's text)."""
    head = b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "'
    candidate = text + b'"' + more + b'}]}, "index": 0}]'
    return head + candidate + (b", " + usage if usage else b"") + TAIL + b"\n\n"


def chunk(parts: list[dict[str, Any]], **more: Any) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    candidate.update(more.pop("candidate", {}))
    body = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1"}
    return b"data: " + orjson.dumps({**body, **more}) + b"\n\n"


START = text_event(b"Hi")  # the first chunk: the stream's start, the text part opened
FINISH = chunk(
    [{"text": ""}],
    candidate={"finishReason": "STOP"},
    usageMetadata={"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14},
)
VERTEX = b'"usageMetadata": {"trafficType": "ON_DEMAND"}, "createTime": "2026-03-10T14:54:45Z"'
CALL = {"functionCall": {"name": "lookup", "args": {"q": "x"}}}

SYNTHETIC = {
    "plain": START + b"".join(text_event(t) for t in [b" there", b",", b" you"]) + FINISH,
    "no-usage": START + b"".join(text_event(t, usage=b"") for t in [b"a", b"b", b"c"]) + FINISH,
    "vertex": START + b"".join(text_event(t, usage=VERTEX) for t in [b"a", b"b", b"c"]) + FINISH,
    "usage-counts": START  # counts that change: another layout each, parsed
    + b"".join(
        text_event(t, usage=b'"usageMetadata": {"promptTokenCount": %d}' % n)
        for n, t in enumerate([b"a", b"b", b"c", b"d"])
    )
    + text_event(b"e")
    + text_event(b"f")
    + FINISH,
    "escapes": START + b"".join(text_event(text) for text in skim.ESCAPES) + FINISH,
    "thoughts": chunk([{"text": "hmm", "thought": True}])
    + chunk([{"text": " more", "thought": True}])
    + text_event(b"a", b', "thought": true')  # laid out as text but for the flag
    + text_event(b"b", b', "thought": true')
    + text_event(b"c")
    + text_event(b"d")
    + text_event(b"e", b', "thought": true')  # a thought after the text: a new part
    + text_event(b"f")
    + text_event(b"g")
    + FINISH,
    "calls": START
    + text_event(b"a")
    + text_event(b"b")
    + chunk([CALL])
    + text_event(b"c")  # text after a call: a new part
    + text_event(b"d")
    + text_event(b"e")
    + chunk([{"text": "f"}, CALL])
    + text_event(b"g")
    + text_event(b"h")
    + FINISH,
    "signatures": START
    + text_event(b"a")
    + text_event(b"b", b', "thoughtSignature": "c2ln"')
    + text_event(b"c")
    + text_event(b"", b', "thoughtSignature": "c2ln"')  # a bare signature: nothing
    + text_event(b"d")
    + FINISH,
    "finish": START
    + text_event(b"a")
    + text_event(b"b")
    + text_event(b"c", usage=USAGE + b', "x": 1').replace(
        b'"index": 0}', b'"finishReason": "STOP", "index": 0}'
    )
    + text_event(b"after the finish")
    + text_event(b"more"),
    "two-parts": START
    + text_event(b"a")
    + text_event(b"b")
    + chunk([{"text": "c"}, {"text": "d"}])
    + text_event(b"e", b'}, {"text": "f"')  # a second part: never learnt from
    + text_event(b"g", b'}, {"text": "h"')
    + FINISH,
    "error": START
    + text_event(b"a")
    + text_event(b"b")
    + b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\n\n'
    + text_event(b"c")
    + FINISH,
    "framing": START
    + text_event(b"a")
    + text_event(b"b")
    + b": keep-alive\n\n"
    + text_event(b"c")
    + b"event: message\n"
    + text_event(b"d")
    + text_event(b"e").replace(b"\n", b"\r\n")
    + text_event(b"f")
    + text_event(b"two lines").replace(b', "index"', b',\ndata: "index"')
    + text_event(b"g")
    + FINISH,
    "cut": START + text_event(b"a") + text_event(b"b") + text_event(b"c")[:-3],
}


BODIES = {**skim.goldens(FIXTURES), **SYNTHETIC}
ENTRY = ProviderEntry(3, "gem", "gemini", "http://gemini.test", gemini_case.KEY, {}, "", None)
# as the Anthropic one's: the Gemini upstream's stream answered with some reads
stream = skim.stream_of(
    lambda: GeminiProvider(ENTRY), gemini_case.ask(stream=True), gemini_case.DEP
)


rendered = skim.openai_client(gemini_case.ask(stream=True))


# how many TextDeltas of each body are read off their bytes, in one read as a chunk a
# read: the texts of a part after the one learnt from (neither the stream's first chunk
# nor a part's, which start something) in chunks of its layout; none of a chunk with
# other parts, a thought, a finish, or other counts
SKIMMED = {  # (the synthetic bodies in their order, then the recorded ones)
    "plain": 2,
    "no-usage": 2,
    "vertex": 2,
    "usage-counts": 0,  # (the layout learnt first is kept: counts that change stay read)
    "escapes": 9,
    "thoughts": 0,
    "calls": 2,
    "signatures": 2,
    "finish": 1,
    "two-parts": 1,
    "error": 1,
    "framing": 3,
    "cut": 1,
    "text": 0,
    "thinking_tools": 0,
    "midstream_error": 0,
}


async def test_each_chunk_read_off_its_bytes_reports_its_own_usage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usage of a skimmed chunk is a ``Usage`` of its own (one changed by whoever
    reads it changes no other), equal to the learnt chunk's."""
    body = b"".join(text_event(t.encode()) for t in skim.BENCH_TEXTS) + FINISH
    await skim.skims_all_but(2, body, stream, monkeypatch)  # (the first: the stream's start)
    events, exchange, _ = await stream([body], monkeypatch, skim=True)
    usages = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert len({id(usage) for usage in usages}) == len(usages) == len(skim.BENCH_TEXTS) + 1
    assert usages[1] == usages[-2] and usages[-1].output_tokens == 9


def test_the_parser_tells_which_chunks_are_only_text() -> None:
    parser = gemini_outbound.StreamParser()
    assert isinstance(skim.TEXT_DECODER(GeminiCodec(), parser), TextDecoder)

    def event(raw: bytes) -> WireEvent:
        return WireEvent(None, orjson.loads(raw.removeprefix(b"data: ")))

    text = event(text_event(b"a"))
    assert parser.text_open() is None
    assert parser.text_index(text) is None  # not started: a Start first
    parser.feed(text)
    assert parser.text_open() == 0
    assert parser.text_index(text) == 0
    assert parser.text_index(event(text_event(b""))) is None
    assert parser.text_index(event(text_event(b"a", b', "thought": true'))) is None
    assert parser.text_index(event(FINISH)) is None
    parser.feed(event(chunk([CALL])))
    assert parser.text_open() is None
    assert parser.text_index(text) is None  # a new part first
    parser.feed(text)
    assert parser.text_open() == 2
    parser.feed(event(FINISH))
    assert parser.text_open() is None


# (texts as the upstream escapes them, orjson, or written raw: any UTF-8, control
# characters and quotes too)
AROUND = (START, text_event, FINISH)
(
    test_reads_the_same_events_however_cut,
    test_which_text_deltas_are_read_off_their_bytes,
    test_any_texts_any_cuts,
) = skim.upstream_tests(BODIES, stream, rendered, SKIMMED, AROUND)
