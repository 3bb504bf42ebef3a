"""Skimmed passthrough streams (``CodecProvider.forward(skim=True)``): once the first
text went out, events that are only more text are forwarded unparsed. The caller must
get the very same bytes, and the journal the same usage, finish and errors; only the
TextDeltas after the first are missing from the canonical events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.base import http
from gateway.base.streaming import SkimmingDecoder, SSEDecoder, sse_bytes
from gateway.base.types import (
    PartStart,
    PartStop,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)
from gateway.codecs.anthropic import AnthropicCodec
from gateway.codecs.anthropic import outbound as anthropic_outbound
from gateway.codecs.base import sse_wire_event
from gateway.codecs.openai_chat import OpenAIChatCodec
from gateway.codecs.openai_chat import outbound as openai_outbound
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Exchange, Provider
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from tests.gateway.providers import test_anthropic as anthropic_case
from tests.gateway.providers import test_openai_compatible as openai_case

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OPENAI = sorted(p.stem for p in (FIXTURES / "openai").glob("*.sse"))
ANTHROPIC = sorted(p.stem for p in (FIXTURES / "anthropic").glob("*.sse"))


def transcript(kind: str, name: str) -> bytes:
    return (FIXTURES / kind / f"{name}.sse").read_bytes()


def reads(raw: bytes, per_event: bool) -> Any:
    """The body in one read, or an event a read (an upstream sending as it generates)."""
    if not per_event:
        return raw
    events = [e + b"\n\n" for e in raw.split(b"\n\n") if e.strip()]

    async def one_by_one() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    return one_by_one()


async def run(kind: str, raw: bytes, per_event: bool, skim: bool) -> tuple[bytes, list, Exchange]:
    http.use_transport(
        httpx.MockTransport(
            lambda r: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=reads(raw, per_event)
            )
        )
    )
    adapter: Provider
    if kind == "openai":
        adapter, deployment = (
            OpenAICompatibleProvider(openai_case.provider_entry()),
            openai_case.deployment(),
        )
        body: dict[str, Any] = {"model": "gpt-4o", "messages": [], "stream": True}
    else:
        adapter, deployment = (
            AnthropicProvider(anthropic_case.make_provider()),
            anthropic_case.make_deployment(),
        )
        body = {"model": "claude", "max_tokens": 10, "messages": [], "stream": True}
    exchange = Exchange()
    try:
        items = [
            item
            async for item in adapter.passthrough_stream(body, deployment, exchange, {}, skim=skim)
        ]
    finally:
        http.use_transport(None)
    forwarded = b"".join(chunk for chunk, _ in items)
    return forwarded, [e for _, events in items for e in events], exchange


def journaled(events: list[StreamEvent]) -> list[str]:
    """What a passed-through stream's journal reads of its events (all but text and
    part boundaries: start, usage, finish, errors), as reprs (an ErrorEvent's exception
    equals only itself)."""
    return [repr(e) for e in events if not isinstance(e, TextDelta | PartStart | PartStop)]


CONTENT = (TextDelta, ThinkingDelta, ToolArgsDelta)
CASES = [("openai", n) for n in OPENAI] + [("anthropic", n) for n in ANTHROPIC]


@pytest.mark.parametrize("per_event", [False, True], ids=["one-read", "event-a-read"])
@pytest.mark.parametrize(("kind", "name"), CASES)
async def test_a_skimmed_stream_sends_the_same_bytes_and_journals_the_same(
    kind: str, name: str, per_event: bool
) -> None:
    raw = transcript(kind, name)
    read, read_events, read_exchange = await run(kind, raw, per_event, skim=False)
    skimmed, skimmed_events, skimmed_exchange = await run(kind, raw, per_event, skim=True)
    assert skimmed == read
    assert skimmed_exchange.usage == read_exchange.usage
    assert journaled(skimmed_events) == journaled(read_events)
    # the first content is read (time to first token), whatever it is
    assert first_content(skimmed_events) == first_content(read_events)


def first_content(events: list[StreamEvent]) -> StreamEvent | None:
    return next((e for e in events if isinstance(e, CONTENT)), None)


async def test_skimming_leaves_the_later_text_unparsed() -> None:
    """Without this the tests above would pass with skimming that never happens."""
    raw = transcript("openai", "openai_text")
    _, read_events, _ = await run("openai", raw, False, skim=False)
    _, skimmed_events, _ = await run("openai", raw, False, skim=True)
    assert len([e for e in read_events if isinstance(e, TextDelta)]) == 3
    assert [e for e in skimmed_events if isinstance(e, TextDelta)] == [TextDelta(0, "Hello")]
    raw = transcript("anthropic", "text")
    _, read_events, _ = await run("anthropic", raw, True, skim=False)
    _, skimmed_events, _ = await run("anthropic", raw, True, skim=True)
    assert len([e for e in skimmed_events if isinstance(e, TextDelta)]) == 1
    assert len([e for e in read_events if isinstance(e, TextDelta)]) > 1


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_every_event_a_codec_skims_means_only_text(kind: str, name: str) -> None:
    """Over every golden transcript: an event ``skims`` admits after the first content
    means nothing but text and part boundaries when parsed where it stands, none of
    which a passed-through stream's journal keeps (it keeps the bytes sent, usage,
    finish and errors), so leaving it unparsed loses nothing."""
    codec = openai_outbound if kind == "openai" else anthropic_outbound
    framing = "sse+done" if kind == "openai" else "sse"
    parser = codec.StreamParser()
    decoder = SSEDecoder()
    content_seen = False
    for message in decoder.feed(transcript(kind, name)) + decoder.end():
        wire_event = sse_wire_event(message, framing)
        if wire_event is None:
            continue
        events = parser.feed(wire_event)
        if content_seen and codec.skims(message.event, message.data):
            assert all(isinstance(e, TextDelta | PartStart | PartStop) for e in events), message
        content_seen = content_seen or any(isinstance(e, CONTENT) for e in events)


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_every_event_a_skimming_decoder_hands_on_unread_means_only_text(
    kind: str, name: str
) -> None:
    """As above, for the events ``forward``'s decoder hands on as bytes once told of one
    ``skims`` admitted (``SkimmingDecoder``: like it but for the text), an event a read."""
    codec = openai_outbound if kind == "openai" else anthropic_outbound
    keys = (OpenAIChatCodec if kind == "openai" else AnthropicCodec).skim_keys
    framing = "sse+done" if kind == "openai" else "sse"
    parser = codec.StreamParser()
    decoder = SkimmingDecoder(keys)
    content_seen = False
    unread = 0
    for chunk in [e + b"\n\n" for e in transcript(kind, name).split(b"\n\n") if e.strip()]:
        for item in decoder.events(chunk):
            if isinstance(item, bytes):
                messages, unread = SSEDecoder().feed(item), unread + 1
            else:
                messages = [item]
                if content_seen and codec.skims(item.event, item.data):
                    decoder.learn(sse_bytes(item.data, item.event))
            for message in messages:
                wire_event = sse_wire_event(message, framing)
                events = [] if wire_event is None else parser.feed(wire_event)
                if isinstance(item, bytes):
                    assert all(isinstance(e, TextDelta | PartStart | PartStop) for e in events)
                content_seen = content_seen or any(isinstance(e, CONTENT) for e in events)
    if (kind, name) in (("openai", "openai_text"), ("anthropic", "text")):
        assert unread  # (else this would pass with nothing handed on unread)


TEXT = '{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}'


@pytest.mark.parametrize(
    ("data", "skims"),
    [
        (TEXT, True),
        (TEXT[:-1] + ',"usage":null}', True),
        ('{"choices": [{"index": 0, "delta": {"content": "Hi"}}]}', True),  # spaced JSON
        ('{"choices":[{"delta":{"content":"say \\"content\\":\\"x\\""}}]}', True),
        ('{"choices":[{"delta":{"content":"an error"}}]}', False),  # the word: parsed
        ('{"choices":[{"delta":{"content":""},"finish_reason":"stop"}]}', False),
        ('{"choices": [{"delta": {}, "finish_reason": "length"}]}', False),
        ('{"choices":[],"usage":{"prompt_tokens":1}}', False),
        ('{"choices": [], "usage": {"prompt_tokens": 1}}', False),
        ('{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}', False),
        ('{"choices":[{"delta":{"reasoning_content":"hmm","content":"x"}}]}', False),
        ('{"choices":[{"delta":{"refusal":"no","content":"x"}}]}', False),
        ('{"error":{"message":"overloaded"}}', False),
        ('{"choices":[{"delta":{"content":[{"text":"parts"}]}}]}', False),  # parsed: list
        ("[DONE]", False),
    ],
)
def test_openai_skims_only_plain_text_chunks(data: str, skims: bool) -> None:
    assert openai_outbound.skims(None, data) is skims
    assert openai_outbound.skims("error", data) is False  # a named event is read


@pytest.mark.parametrize(
    ("event", "data", "skims"),
    [
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
            True,
        ),
        (
            "content_block_delta",
            '{"type": "content_block_delta", "index": 0, '
            '"delta": {"type": "text_delta", "text": "Hi"}}',
            True,
        ),
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
            '"partial_json":"{\\"type\\":\\"text_delta\\"}"}}',
            False,
        ),
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",'
            '"thinking":"hmm"}}',
            False,
        ),
        ("message_delta", '{"type":"message_delta","usage":{"output_tokens":3}}', False),
        ("error", '{"type":"error","error":{"type":"overloaded_error"}}', False),
        (None, '{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}', False),
    ],
)
def test_anthropic_skims_only_text_deltas(event: str | None, data: str, skims: bool) -> None:
    assert anthropic_outbound.skims(event, data) is skims
