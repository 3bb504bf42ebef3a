"""Translated streams whose events that are only more text are read off their bytes
(``codecs.base.TextDecoder``, learnt by ``CodecProvider._stream_batches``): the
canonical events, and so what the client's renderer writes of them, the journal's
usage and the upstream bytes it keeps, are those of the stream read event by event,
however the upstream's body is cut into reads."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.base import http
from gateway.base.entries import DeploymentEntry
from gateway.base.types import ChatRequest, StreamEvent, TextDelta
from gateway.codecs.anthropic.inbound import StreamRenderer
from gateway.codecs.base import TextDecoder
from gateway.codecs.openai_chat import OpenAIChatCodec
from gateway.codecs.openai_chat import outbound as openai_outbound
from gateway.codecs.openai_chat.inbound import StreamRenderer as OpenAIStreamRenderer
from gateway.providers import codec_provider
from gateway.providers.base import Exchange
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from tests.gateway.providers import test_openai_compatible as openai_case

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"
TEXT_DECODER = codec_provider._text_decoder  # (the tests below stand in for them)
READ = TextDecoder._read


def chunk(delta: dict[str, Any], **more: Any) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "m", **more}
    body.setdefault("choices", [{"index": 0, "delta": delta, "finish_reason": None}])
    return b"data: " + orjson.dumps(body) + b"\n\n"


def text_event(text: bytes, tail: bytes = b'"},"finish_reason":null}]}') -> bytes:
    return b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"' + text + tail + b"\n\n"


def padded(text: bytes, pad: bytes) -> bytes:
    return text_event(text, b'"},"finish_reason":null}],"obfuscation":"' + pad + b'"}')


START = chunk({"role": "assistant", "content": ""})
END = (
    chunk({}, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    + chunk({}, choices=[], usage={"prompt_tokens": 3, "completion_tokens": 9})
    + b"data: [DONE]\n\n"
)

# texts as they stand between the quotes of an event's text, each after a plain one
# (which may be learnt from): escapes, UTF-8 and bytes that are not, control characters
ESCAPES = [
    b"a",
    b"b",
    b'say \\"hi\\"',  # escaped: read as JSON
    b"c",
    b"line\\nbreak",
    b"\\u00e9t\\u00e9",  # written by a renderer as UTF-8, not as escapes
    b"d \\\\",
    b"e",
    b"",  # empty: no event at all
    b"f",
    b"w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80",
    b"bad \xff byte",  # not UTF-8: replaced, as when read
    b"cut \xc3",
    b"tab\there",  # a raw control character: not JSON, dropped
    b"g",
    b"raw\rcr",
    b"h",
    b"/ slash \x7f del \xe2\x80\xa8 ls \\ud83d\\ude00 pair",
    b"i",
    b"\\ud83d lone",  # a lone surrogate: not JSON orjson reads, dropped
    b"j",
]

SYNTHETIC = {
    # bench/mock_upstream.py's shape: a role chunk, then one text a chunk
    "plain": START + b"".join(chunk({"content": t}) for t in ["Hi", " there", ",", " you"]) + END,
    "escapes": START + b"".join(text_event(text) for text in ESCAPES) + END,
    "padding": START
    + b"".join(
        padded(text, pad)
        for text, pad in [
            (b"a", b"x"),
            (b"b", b"yz"),
            (b"c", b""),
            (b"d", b'q\\"'),
            (b"e", b"\xc3\xa9"),
            (b"f", b"\xc3"),  # the padding not UTF-8: replaced, never read
            (b"g", b"x\ty"),  # a control character: not JSON, dropped
            (b"h", b"ok"),
        ]
    )
    + text_event(b"i")  # no padding
    + padded(b"j", b"p")
    + END,
    "shapes": START
    + text_event(b"a")
    + text_event(b"b")
    + text_event(b"c", b'"},"finish_reason":"length"}]}')  # another tail: ends the text
    + text_event(b"after the finish")
    + END,
    "text-then-tool": START
    + text_event(b"a")
    + text_event(b"b")
    + chunk({"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": ""}}]})
    + text_event(b"c")  # more text after a tool call began: a new part
    + text_event(b"d")
    + chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})
    + text_event(b"e")
    + END,
    "reasoning-then-text": START
    + chunk({"reasoning_content": "think"})
    + chunk({"reasoning_content": " more"})
    + text_event(b"a")
    + text_event(b"b")
    + text_event(b"c")
    + END,
    "two-contents": START
    + text_event(b"a")
    + b'data: {"x":{"content":"b"},"choices":[{"delta":{"content": "b"}}]}\n\n'
    + b'data: {"x":{"content":"z"},"choices":[{"delta":{"content": "b"}}]}\n\n'
    + b'data: {"x":{"content":"y"},"choices":[{"delta":{"content":"c"}}]}\n\n'
    + b'data: {"x":{"content":"w"},"choices":[{"delta":{"content":"c"}}]}\n\n'
    + END,
    "framing": START
    + text_event(b"a")
    + text_event(b"b")
    + b"event: error\n"
    + text_event(b"c")[:-1]  # a named event: not the learnt one
    + text_event(b"d")
    + b": keep-alive\n\n"
    + text_event(b"e")
    + b"id: 7\n"
    + text_event(b"f")
    + text_event(b"g").replace(b"\n", b"\r\n")
    + text_event(b"h")
    + b'data: {"choices":[{"delta":\ndata: {"content":"two lines"}}]}\n\n'
    + text_event(b"i")
    + END,
    "cut": START + text_event(b"a") + text_event(b"b") + text_event(b"c")[:-3],
}


def bodies() -> dict[str, bytes]:
    return {**goldens(FIXTURES), **SYNTHETIC}


def goldens(folder: Path) -> dict[str, bytes]:
    """The recorded streams in ``folder``, by name."""
    return {path.stem: path.read_bytes() for path in sorted(folder.glob("*.sse"))}


def chunkings(body: bytes, seed: int) -> list[list[bytes]]:
    """The body in one read, an event a read, a byte a read, and cut at random."""
    rng = random.Random(seed)
    events = [e + b"\n\n" for e in body.split(b"\n\n")]
    events[-1] = events[-1][:-2]
    cuts = [[body], [e for e in events if e], [body[i : i + 1] for i in range(len(body))]]
    for _ in range(6):
        at = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 12))))
        cuts.append([body[a:b] for a, b in zip([0, *at], [*at, len(body)], strict=True)])
    return cuts


async def stream(
    reads: list[bytes], monkeypatch: pytest.MonkeyPatch, skim: bool
) -> tuple[list[StreamEvent], Exchange, int]:
    """The canonical events of a translated stream answered with ``reads``, the
    exchange, and how many TextDeltas were read off their bytes."""
    adapter = OpenAICompatibleProvider(openai_case.provider_entry())
    request, deployment = openai_case.chat(stream=True), openai_case.deployment()
    return await streamed(adapter, request, deployment, reads, monkeypatch, skim)


def stream_of(
    adapter: Callable[[], Any], request: ChatRequest, deployment: DeploymentEntry
) -> Stream:
    """``stream`` for the stream a new ``adapter()`` translates (any upstream's) for
    ``request`` to ``deployment``."""

    async def stream(
        reads: list[bytes], monkeypatch: pytest.MonkeyPatch, skim: bool
    ) -> tuple[list[StreamEvent], Exchange, int]:
        return await streamed(adapter(), request, deployment, reads, monkeypatch, skim)

    return stream


async def streamed(
    adapter: Any,
    request: ChatRequest,
    deployment: DeploymentEntry,
    reads: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
    skim: bool,
) -> tuple[list[StreamEvent], Exchange, int]:
    """``stream`` for the stream ``adapter`` translates (any upstream's)."""
    made = TEXT_DECODER
    decoders: list[TextDecoder] = []

    def decoder(codec: Any, parser: Any) -> TextDecoder | None:
        made_one = made(codec, parser) if skim else None
        decoders.extend([made_one] if made_one is not None else [])
        return made_one

    monkeypatch.setattr(codec_provider, "_text_decoder", decoder)
    counted = counting(monkeypatch)

    async def body() -> AsyncIterator[bytes]:
        for read in reads:
            yield read

    http.use_transport(
        httpx.MockTransport(
            lambda r: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=body()
            )
        )
    )
    exchange = Exchange()
    try:
        events = [e async for e in adapter.stream(request, deployment, exchange)]
    finally:
        http.use_transport(None)
    assert len(decoders) == (1 if skim else 0)
    return events, exchange, counted[0]


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many TextDeltas ``TextDecoder`` hands on (counted as it makes them)."""
    count = [0]
    read = READ

    def counted(self: TextDecoder, chunk: bytes) -> Any:
        for item in read(self, chunk):
            count[0] += isinstance(item, TextDelta)
            yield item

    monkeypatch.setattr(TextDecoder, "_read", counted)
    return count


def rendered(events: list[StreamEvent]) -> bytes:
    """What an Anthropic client reads of ``events``."""
    return written(StreamRenderer(openai_case.chat(stream=True)), events)


def openai_client(request: ChatRequest) -> Callable[[list[StreamEvent]], bytes]:
    """What an OpenAI client that sent ``request`` reads of some events."""
    return lambda events: written(OpenAIStreamRenderer(request), events)


def written(renderer: Any, events: list[StreamEvent]) -> bytes:
    """What ``renderer`` (a client's) writes of ``events``, its end too."""
    out = [chunk for event in events for chunk in renderer.feed(event)]
    return b"".join(out + renderer.end())


def same(a: list[StreamEvent], b: list[StreamEvent]) -> None:
    assert [repr(e) for e in a] == [repr(e) for e in b]  # (an error equals only itself)


Stream = Callable[
    [list[bytes], pytest.MonkeyPatch, bool], Awaitable[tuple[list[StreamEvent], Exchange, int]]
]


@pytest.mark.parametrize("name", sorted(bodies()))
async def test_a_translated_stream_reads_the_same_events_however_cut(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = bodies()[name]
    await same_however_cut(body, stream, rendered, monkeypatch)


async def same_however_cut(
    body: bytes,
    stream: Stream,
    rendered: Callable[[list[StreamEvent]], bytes],
    monkeypatch: pytest.MonkeyPatch,
    whole: bool = True,
) -> None:
    """``body`` read by ``stream`` skimmed and not, however cut: the same events, what
    a client reads of them (``rendered``), usage and upstream bytes kept (``whole``:
    all of ``body``; else what the stream read before it ended)."""
    for reads in chunkings(body, len(body)):
        read, read_exchange, _ = await stream(reads, monkeypatch, False)
        skimmed, skimmed_exchange, _ = await stream(reads, monkeypatch, True)
        same(skimmed, read)
        assert rendered(skimmed) == rendered(read)
        assert skimmed_exchange.usage == read_exchange.usage
        assert skimmed_exchange.response_body == read_exchange.response_body
        assert read_exchange.response_body == body or not whole


@pytest.mark.parametrize(
    ("name", "at_least"),
    [("plain", 2), ("escapes", 4), ("padding", 4), ("two-contents", 0), ("openai_text", 1)],
)
async def test_text_is_read_off_its_bytes(
    name: str, at_least: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without this the test above would pass with a decoder that never skims; an
    event with a second ``"content"`` in it is never learnt (its text could be the
    other's)."""
    await skims_at_least(bodies()[name], at_least, stream, monkeypatch)


async def skims_at_least(
    body: bytes, at_least: int, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``body`` read an event a read has at least ``at_least`` TextDeltas read off
    their bytes (none when ``at_least`` is 0)."""
    _, _, skimmed = await stream(by_event(body), monkeypatch, True)
    assert skimmed >= at_least
    if not at_least:
        assert skimmed == 0


def by_event(body: bytes) -> list[bytes]:
    """``body`` an event a read."""
    return [e + b"\n\n" for e in body.split(b"\n\n") if e]


# bench/mock_upstream.py's texts
BENCH_TEXTS = ["Hel", "lo", " wor", "ld", *(f" t{n}" for n in range(18))]


async def test_the_benchs_stream_is_read_off_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/mock_upstream.py's answer: all but the first two texts (the opening one
    and the one learnt from) are read off their bytes, in one read as an event a read."""
    body = START + b"".join(chunk({"content": t}) for t in BENCH_TEXTS) + END
    await skims_all_but(2, body, stream, monkeypatch)


async def skims_all_but(
    unskimmed: int, body: bytes, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``body`` (``BENCH_TEXTS``'s stream), in one read and an event a read: all texts
    but ``unskimmed`` are read off their bytes."""
    for reads in ([body], by_event(body)):
        events, _, skimmed = await stream(reads, monkeypatch, True)
        assert skimmed == len(BENCH_TEXTS) - unskimmed
        assert [e.text for e in events if isinstance(e, TextDelta)] == BENCH_TEXTS


PLAIN_TEXT = st.text(st.characters(codec="utf-8"), min_size=0, max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(PLAIN_TEXT, min_size=1, max_size=8),
    pads=st.lists(st.binary(max_size=4), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=8),
)
def test_any_texts_any_cuts(
    texts: list[str], pads: list[bytes], cuts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts as OpenAI escapes them (orjson) or written raw, padding of any bytes, the
    body cut anywhere: the same events as read event by event."""
    events = [
        chunk({"content": text}) if n % 2 else padded(orjson.dumps(text)[1:-1], pads[n % 8])
        for n, text in enumerate(texts)
    ]
    body = START + text_event(b"a") + b"".join(events) + END
    same_cut_at(body, cuts, stream, rendered, monkeypatch)


def upstream_tests(
    bodies: dict[str, bytes],
    stream: Stream,
    rendered: Callable[[list[StreamEvent]], bytes],
    skimmed: dict[str, int],
    around: tuple[bytes, Callable[[bytes], bytes], bytes],
) -> tuple[Callable[..., Awaitable[None]], Callable[..., Awaitable[None]], Callable[..., None]]:
    """The three tests of an upstream's translated stream, for its ``bodies``: each,
    however cut, reads the same skimmed and not (``same_however_cut``; but a body named
    ``error``, which ends at an error, for what came after it), and has as many
    TextDeltas read off its bytes as ``skimmed`` says, in one read as an event a read;
    and any texts, written by ``around``'s text event between its start and its end,
    however cut, read the same skimmed and not."""
    start, text_event, end = around

    @pytest.mark.parametrize("name", sorted(bodies))
    async def test_reads_the_same_events_however_cut(
        name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await same_however_cut(bodies[name], stream, rendered, monkeypatch, name != "error")

    @pytest.mark.parametrize("name", sorted(bodies))
    async def test_which_text_deltas_are_read_off_their_bytes(
        name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without this the test above would pass with a decoder that never skims."""
        for reads in ([bodies[name]], by_event(bodies[name])):
            assert (await stream(reads, monkeypatch, True))[2] == skimmed[name]

    @any_texts
    def test_any_texts_any_cuts(
        texts: list[str], raw: list[bool], cuts: list[int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        body = start + text_event(b"a") + texts_written(texts, raw, text_event) + end
        same_cut_at(body, cuts, stream, rendered, monkeypatch)

    return (
        test_reads_the_same_events_however_cut,
        test_which_text_deltas_are_read_off_their_bytes,
        test_any_texts_any_cuts,
    )


def any_texts(test: Callable[..., None]) -> Callable[..., None]:
    """``test`` given texts (``texts``), whether each is written raw or escaped
    (``raw``, see ``texts_written``) and where to cut the body (``cuts``)."""
    given_texts = given(
        texts=st.lists(PLAIN_TEXT, min_size=1, max_size=8),
        raw=st.lists(st.booleans(), min_size=8, max_size=8),
        cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=8),
    )
    return SETTINGS(given_texts(test))  # type: ignore[no-any-return]


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def texts_written(texts: list[str], raw: list[bool], text_event: Callable[[bytes], bytes]) -> bytes:
    """The events ``text_event`` makes of ``texts``, each escaped as orjson writes a
    JSON string or, where ``raw`` says, its UTF-8 bytes as they are (control characters
    and quotes too)."""
    written = (
        text.encode() if raw[n % 8] else orjson.dumps(text)[1:-1] for n, text in enumerate(texts)
    )
    return b"".join(text_event(text) for text in written)


def same_cut_at(
    body: bytes,
    cuts: list[int],
    stream: Stream,
    rendered: Callable[[list[StreamEvent]], bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``body`` cut at ``cuts``, read by ``stream`` skimmed and not: the same events,
    and what a client reads of them (``rendered``)."""
    at = sorted({c for c in cuts if c < len(body)})
    reads = [body[a:b] for a, b in zip([0, *at], [*at, len(body)], strict=True)]
    read, _, _ = asyncio.run(stream(reads, monkeypatch, False))
    skimmed, _, _ = asyncio.run(stream(reads, monkeypatch, True))
    same(skimmed, read)
    assert rendered(skimmed) == rendered(read)


def test_only_a_codec_that_names_its_keys_is_read_so() -> None:
    parser = openai_outbound.StreamParser()
    assert isinstance(TEXT_DECODER(OpenAIChatCodec(), parser), TextDecoder)
    assert TEXT_DECODER(OpenAIChatCodec(), object()) is None  # type: ignore[arg-type]
