"""An Anthropic upstream's translated stream whose ``text_delta`` events are read off
their bytes (``codecs.base.TextDecoder``, learnt from ``anthropic.outbound.StreamParser``'s
``text_index``/``text_open``): the canonical events, what an OpenAI client reads of
them, the journal's usage and the upstream bytes it keeps are those of the stream read
event by event, however the body is cut into reads; thinking, tool-call arguments, a
block started again and an event of another layout are parsed as before."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.base.types import TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.anthropic import AnthropicCodec
from gateway.codecs.anthropic import outbound as anthropic_outbound
from gateway.codecs.base import TextDecoder, WireEvent
from gateway.providers import codec_provider
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Exchange
from tests.gateway.providers import test_anthropic as anthropic_case
from tests.gateway.providers.test_translated_skim import (
    BENCH_TEXTS,
    ESCAPES,
    TEXT_DECODER,
    goldens,
    openai_client,
    skims_all_but,
    stream_of,
    upstream_tests,
)

FIXTURES = anthropic_case.FIXTURES
JSON_TOOL = anthropic_outbound.JSON_TOOL


def sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def text_event(text: bytes, index: int = 0, tail: bytes = b'"}}') -> bytes:
    head = b'{"type":"content_block_delta","index":' + str(index).encode()
    return delta_event(head + b',"delta":{"type":"text_delta","text":"' + text + tail)


def delta_event(data: bytes) -> bytes:
    return b"event: content_block_delta\ndata: " + data + b"\n\n"


def block(index: int, content: dict[str, Any]) -> bytes:
    data = {"type": "content_block_start", "index": index, "content_block": content}
    return sse("content_block_start", data)


def delta(index: int, kind: str, **fields: Any) -> bytes:
    data = {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}
    return sse("content_block_delta", data)


def stop(index: int) -> bytes:
    return sse("content_block_stop", {"type": "content_block_stop", "index": index})


MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude",
    "content": [],
    "stop_reason": None,
    "usage": {"input_tokens": 12, "output_tokens": 1},
}
OPEN = sse("message_start", {"type": "message_start", "message": MESSAGE})
START = OPEN + block(0, {"type": "text", "text": ""})
FINISHED = sse(
    "message_delta",
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 9},
    },
) + sse("message_stop", {"type": "message_stop"})
END = stop(0) + FINISHED
PING = sse("ping", {"type": "ping"})
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}

SYNTHETIC = {
    # bench/mock_upstream.py's shape: one text a delta
    "plain": START + b"".join(text_event(t) for t in [b"Hi", b" there", b",", b" you"]) + END,
    "escapes": START + b"".join(text_event(text) for text in ESCAPES) + END,
    "layouts": START
    + text_event(b"a")
    + text_event(b"b")
    + text_event(b"c", tail=b'","citations":null}}')  # another tail: parsed
    + text_event(b"d", tail=b'"},"x":1}')
    # keys in another order
    + delta_event(b'{"delta":{"text":"e","type":"text_delta"},"type":"content_block_delta"}')
    # spaced
    + delta_event(b'{"type": "content_block_delta", "delta": {"type": "text_delta", "text": "f"}}')
    # no index: block 0
    + delta_event(b'{"type":"content_block_delta","delta":{"type":"text_delta","text":"g"}}')
    + text_event(b"h", index=1)  # a block never started: nothing
    + text_event(b'", "x": "', tail=b'"}}')  # a string after the text's
    # not a string
    + delta_event(
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}}'
    )
    + text_event(b"i").replace(b"text_delta", b"thinking_delta")  # not text: nothing
    + text_event(b"j")
    + text_event(b"k")
    + END,
    "thinking-then-text": OPEN
    + block(0, {"type": "thinking", "thinking": "", "signature": ""})
    + delta(0, "thinking_delta", thinking="hmm")
    + delta(0, "thinking_delta", thinking=" more")
    + delta(0, "thinking_delta", thinking=" still")
    + delta(0, "signature_delta", signature="sig")
    + stop(0)
    + block(1, {"type": "redacted_thinking", "data": "xyz"})
    + stop(1)
    + PING
    + block(2, {"type": "text", "text": ""})
    + text_event(b"a", index=2)
    + text_event(b"b", index=2)
    + PING
    + text_event(b"c", index=2)
    + stop(2)
    + FINISHED,
    "text-then-tool": START
    + text_event(b"a")
    + text_event(b"b")
    + text_event(b"c")
    + stop(0)
    + block(1, TOOL)
    + delta(1, "input_json_delta", partial_json='{"q": "')
    + delta(1, "input_json_delta", partial_json='x"}')
    + text_event(b"late")  # text for the block before the tool's, after it began
    + text_event(b"later")
    + delta(1, "input_json_delta", partial_json="")
    + stop(1)
    + block(2, {"type": "text", "text": "then "})
    + text_event(b"d", index=2)
    + text_event(b"e", index=2)
    + text_event(b"f", index=2)
    + stop(2)
    + FINISHED,
    "json-tool": OPEN
    + block(0, {**TOOL, "name": JSON_TOOL})
    + delta(0, "input_json_delta", partial_json='{"a"')
    + delta(0, "input_json_delta", partial_json=": 1}")
    + text_event(b"a")  # text of the JSON tool's block: read as text
    + text_event(b"b")
    + stop(0)
    + FINISHED,
    "started-again": START
    + text_event(b"a")
    + text_event(b"b")
    + text_event(b"c")
    + block(0, {"type": "text", "text": ""})  # the same block again: a new part
    + text_event(b"d")
    + text_event(b"e")
    + text_event(b"f")
    + block(0, TOOL)  # and again, as a tool call: its text is that part's
    + text_event(b"g")
    + text_event(b"h")
    + block(0, {"type": "server_tool_use", "id": "s", "name": "web_search"})  # no part
    + text_event(b"i")
    + text_event(b"j")
    + END,
    "started-again-as-tool": START
    + text_event(b"a")
    + text_event(b"b")
    + block(1, {"type": "text", "text": ""})
    + text_event(b"c", index=1)
    + text_event(b"d", index=1)
    + text_event(b"e", index=1)
    + block(1, TOOL)  # block 1 again, as a tool call: its text is the new part's
    + text_event(b"f", index=1)
    + text_event(b"g", index=1)
    + END,
    "after-the-end": START
    + text_event(b"a")
    + text_event(b"b")
    + END
    + text_event(b"c")  # after message_stop: nothing
    + text_event(b"d"),
    "error": START
    + text_event(b"a")
    + text_event(b"b")
    + sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    + text_event(b"c")
    + text_event(b"d")
    + END,
    "two-texts": START
    + text_event(b"a", tail=b'"},"x":{"text":"z"}}')  # a second "text": never learnt
    + text_event(b"b", tail=b'"},"x":{"text":"y"}}')
    + text_event(b"c", tail=b'"},"x":{"text":"w"}}')
    + END,
    "framing": START
    + text_event(b"a")
    + text_event(b"b")
    + text_event(b"c")[len(b"event: content_block_delta\n") :]  # no event name
    + text_event(b"d").replace(b"event: content_block_delta", b"event: message_delta")
    + text_event(b"e")
    + b": keep-alive\n\n"
    + text_event(b"f")
    + b"id: 7\n"
    + text_event(b"g")
    + text_event(b"h").replace(b"\n", b"\r\n")
    + text_event(b"i")
    + text_event(b"two lines").replace(b',"delta"', b',\ndata: "delta"')  # two data lines
    + text_event(b"j")
    + END,
    "cut": START + text_event(b"a") + text_event(b"b") + text_event(b"c")[:-3],
}


BODIES = {**goldens(FIXTURES), **SYNTHETIC}
# the canonical events of the Anthropic upstream's stream answered with some reads, the
# exchange, and how many TextDeltas were read off their bytes
stream = stream_of(
    lambda: AnthropicProvider(anthropic_case.make_provider()),
    anthropic_case.caller_request(stream=True),
    anthropic_case.make_deployment(),
)


rendered = openai_client(anthropic_case.caller_request(stream=True))


# how many TextDeltas of each body are read off their bytes, in one read as an event a
# read: all but the first of a block's run of texts of one layout (the one learnt
# from), none once the block is started again, the stream ended, or a text could be
# another string's (a second "text" in the event)
SKIMMED = {
    "after-the-end": 1,
    "cut": 1,
    "error": 1,
    "escapes": 9,
    "framing": 4,
    "json-tool": 1,
    "layouts": 3,
    "overloaded_midstream": 0,
    "parallel_tools": 0,
    "plain": 3,
    "started-again": 6,
    "started-again-as-tool": 4,
    "text": 2,
    "text-then-tool": 5,
    "thinking": 0,
    "thinking-then-text": 2,
    "tool_use": 1,
    "two-texts": 0,
}


async def test_thinking_and_tool_arguments_are_never_read_as_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deltas of thinking and of a tool call's arguments laid out as the learnt text
    delta but for their type and key stay what the parser makes of them."""
    body = SYNTHETIC["thinking-then-text"]
    events, _, _ = await stream([body], monkeypatch, skim=True)
    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    assert [e.text for e in thinking if e.text] == ["hmm", " more", " still"]
    body = SYNTHETIC["text-then-tool"]
    events, _, _ = await stream([body], monkeypatch, skim=True)
    assert [e.fragment for e in events if isinstance(e, ToolArgsDelta)] == ['{"q": "', 'x"}']
    texts = [(e.index, e.text) for e in events if isinstance(e, TextDelta)]
    assert texts == [(0, "a"), (0, "b"), (0, "c"), (0, "late"), (0, "later")] + [
        (2, "then "),
        (2, "d"),
        (2, "e"),
        (2, "f"),
    ]


async def test_the_benchs_stream_is_read_off_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/mock_upstream.py's Anthropic answer: all texts but the one learnt from are
    read off their bytes, in one read as an event a read."""
    body = START + b"".join(text_event(t.encode()) for t in BENCH_TEXTS) + END
    await skims_all_but(1, body, stream, monkeypatch)


def test_the_parser_tells_which_events_are_only_text() -> None:
    parser = anthropic_outbound.StreamParser()
    assert isinstance(TEXT_DECODER(AnthropicCodec(), parser), TextDecoder)

    def feed(data: dict[str, Any]) -> None:
        parser.feed(WireEvent(None, data))

    text = {"type": "content_block_delta", "index": 0}
    text["delta"] = {"type": "text_delta", "text": "a"}
    assert parser.text_open() is None
    assert parser.text_index(WireEvent(None, text)) is None  # no block yet
    feed({"type": "message_start", "message": MESSAGE})
    feed({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}})
    assert parser.text_open() == 0
    assert parser.text_index(WireEvent(None, text)) == 0
    empty = {**text, "delta": {"type": "text_delta", "text": ""}}
    assert parser.text_index(WireEvent(None, empty)) is None
    thinking = {**text, "delta": {"type": "thinking_delta", "thinking": "a"}}
    assert parser.text_index(WireEvent(None, thinking)) is None
    feed({"type": "content_block_start", "index": 1, "content_block": TOOL})
    assert parser.text_open() is None
    assert parser.text_index(WireEvent(None, text)) == 0  # block 0's part stays 0
    feed({"type": "content_block_start", "index": 2, "content_block": {"type": "text"}})
    assert parser.text_open() == 2
    feed({"type": "message_stop"})
    assert parser.text_open() is None
    assert parser.text_index(WireEvent(None, text)) is None  # read as nothing now


async def test_the_first_token_goes_before_the_decoder_learns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Learning an event's layout (a few dozen calls) waits until the first text it
    carried was handed on: the first token does not wait for it."""
    decoders: list[TextDecoder] = []

    def decoder(codec: Any, parser: Any) -> TextDecoder | None:
        decoders.append(TextDecoder(codec.framing, codec.skim_keys))
        return decoders[-1]

    monkeypatch.setattr(codec_provider, "_text_decoder", decoder)
    body = SYNTHETIC["plain"]
    reply = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    http.use_transport(httpx.MockTransport(lambda request: reply))
    adapter = AnthropicProvider(anthropic_case.make_provider())
    request = anthropic_case.caller_request(stream=True)
    texts, learnt = [], []  # (the decoder forgets at the stream's end, read with the rest)
    try:
        async for event in adapter.stream(request, anthropic_case.make_deployment(), Exchange()):
            if isinstance(event, TextDelta):
                texts.append(event.text)
                learnt.append(bool(decoders[0].pieces))
    finally:
        http.use_transport(None)
    assert texts == ["Hi", " there", ",", " you"]
    assert learnt[:2] == [False, True]


# (texts as the upstream escapes them, orjson, or written raw: any UTF-8, control
# characters and quotes too)
AROUND = (START, text_event, END)
(
    test_reads_the_same_events_however_cut,
    test_which_text_deltas_are_read_off_their_bytes,
    test_any_texts_any_cuts,
) = upstream_tests(BODIES, stream, rendered, SKIMMED, AROUND)
