"""post_call on a passed-through stream (``gateway.features.guardrails.passed``), against the
checks of a translated one (``gateway.features.guardrails.stream``), over every golden
transcript of both passthrough codecs, read whole and an event a read:

- a check that changes nothing forwards the very bytes a bare passthrough forwards;
- a mask gives the client, parsed by its own codec, the answer the translated check
  gives (text and tool-call arguments), in the upstream's events otherwise untouched;
- a block ends the answer the codec's way (``content_filter``), with nothing of the
  blocked word sent and only text the translated check also let out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.base.entries import GuardrailEntry
from gateway.base.streaming import SSEDecoder, fold_events
from gateway.base.types import ChatResponse, ErrorEvent, StreamEvent, TextDelta
from gateway.codecs.anthropic import outbound as anthropic_outbound
from gateway.codecs.base import Piece, sse_wire_event
from gateway.codecs.openai_chat import outbound as openai_outbound
from gateway.codecs.openai_chat.editor import ChunkEditor
from gateway.features.guardrails import engine, passed, stream
from gateway.features.guardrails.kinds import Context
from gateway.features.guardrails.stream import Segments
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Exchange, Provider
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from tests.gateway.providers import test_anthropic as anthropic_case
from tests.gateway.providers import test_openai_compatible as openai_case
from tests.gateway.providers.test_passthrough_skim import CASES, journaled, reads, transcript

PER_EVENT = pytest.mark.parametrize("per_event", [False, True], ids=["one-read", "event-a-read"])
FRAMING = {"openai": "sse+done", "anthropic": "sse"}
PARSERS = {"openai": openai_outbound.StreamParser, "anthropic": anthropic_outbound.StreamParser}


class Run:
    """What the checks read of a request's guardrails (``stream.Run``)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.post = [
            GuardrailEntry(
                id=1,
                name="filter",
                kind="litellm_content_filter",
                modes=frozenset({"post_call"}),
                params=params,
            )
        ]
        self.notes = engine.Notes()
        self.withhold_response = False
        self.job = None

    def context(self, input_type: str, mode: str) -> Context:
        return Context(input_type=input_type, mode=mode)  # type: ignore[arg-type]


def words(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"blocked_words": [{"keyword": word, "action": action} for word, action in pairs]}


def upstream(kind: str) -> tuple[Provider, Any, dict[str, Any]]:
    if kind == "openai":
        body: dict[str, Any] = {"model": "gpt-4o", "messages": [], "stream": True}
        return (
            OpenAICompatibleProvider(openai_case.provider_entry()),
            openai_case.deployment(),
            body,
        )
    body = {"model": "claude", "max_tokens": 10, "messages": [], "stream": True}
    return AnthropicProvider(anthropic_case.make_provider()), anthropic_case.make_deployment(), body


async def served(
    kind: str, raw: bytes, per_event: bool, run: Run | None
) -> tuple[bytes, list[StreamEvent]]:
    """What the client gets: a bare passthrough (``run`` None) or a checked one."""
    http.use_transport(
        httpx.MockTransport(
            lambda r: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=reads(raw, per_event)
            )
        )
    )
    adapter, deployment, body = upstream(kind)
    exchange = Exchange()
    try:
        if run is None:
            source: AsyncIterator[tuple[bytes, list[StreamEvent]]] = adapter.passthrough_stream(
                body, deployment, exchange, {}
            )
        else:
            codec: Any = adapter.speaks.upstream
            editor = codec.stream_editor(body)
            pieces = adapter.passthrough_pieces(body, deployment, exchange, {}, editor)
            source = passed.guarded(run, pieces, editor)
        items = [item async for item in source]
    finally:
        http.use_transport(None)
    return b"".join(chunk for chunk, _ in items), [e for _, events in items for e in events]


def parsed(kind: str, raw: bytes) -> list[StreamEvent]:
    """The canonical events of a stream's bytes, as its codec reads them."""
    parser = PARSERS[kind]()
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    for message in decoder.feed(raw) + decoder.end():
        wire_event = sse_wire_event(message, FRAMING[kind])  # type: ignore[arg-type]
        if wire_event is not None:
            events += parser.feed(wire_event)
    return events + parser.finish()


async def translated(kind: str, raw: bytes, run: Run) -> ChatResponse:
    """The answer the translated path's check lets out of the same stream."""

    async def source() -> AsyncIterator[StreamEvent]:
        for event in parsed(kind, raw):
            yield event

    return fold_events([event async for event in stream.guarded(run, source())])


def answer(response: ChatResponse) -> tuple[str, list[tuple[str, str]], str]:
    calls = [(call.name, orjson.dumps(call.arguments).decode()) for call in response.tool_calls()]
    return response.text(), calls, response.finish_reason


def max_piece(kind: str, raw: bytes) -> int:
    """The longest text delta of a stream."""
    return max((len(e.text) for e in parsed(kind, raw) if isinstance(e, TextDelta)), default=0)


def said(response: ChatResponse) -> str:
    """What a post_call check reads of an answer: its text and tool-call arguments
    (a tool's name and the reasoning are not checked)."""
    return response.text() + "".join(str(call.arguments) for call in response.tool_calls())


def words_in(kind: str, raw: bytes) -> tuple[str | None, str | None]:
    """A word of the answer's text and one of its tool calls' arguments (or None)."""
    response = fold_events(parsed(kind, raw))
    text = [w for w in re.findall(r"[A-Za-z]{4,}", response.text())]
    arguments = [
        w
        for call in response.tool_calls()
        for w in re.findall(r"[A-Za-z]{4,}", orjson.dumps(call.arguments).decode())
    ]
    return (text[len(text) // 2] if text else None), (arguments[-1] if arguments else None)


@PER_EVENT
@pytest.mark.parametrize(("kind", "name"), CASES)
async def test_a_check_that_changes_nothing_forwards_the_upstreams_bytes(
    kind: str, name: str, per_event: bool
) -> None:
    raw = transcript(kind, name)
    bare, bare_events = await served(kind, raw, per_event, None)
    run = Run(words(("zyzzyva", "BLOCK"), ("qwxq", "MASK")))
    checked, checked_events = await served(kind, raw, per_event, run)
    assert checked == bare
    assert journaled(checked_events) == journaled(bare_events)
    assert not run.withhold_response


# transcripts with an answer to check (the thinking one has reasoning only)
SAID = [case for case in CASES if any(words_in(case[0], transcript(*case)))]


@PER_EVENT
@pytest.mark.parametrize(("kind", "name"), SAID)
async def test_a_mask_gives_the_answer_a_translated_check_gives(
    kind: str, name: str, per_event: bool
) -> None:
    raw = transcript(kind, name)
    text_word, argument_word = words_in(kind, raw)
    masked = [(word, "MASK") for word in (text_word, argument_word) if word]
    run = Run(words(*masked))
    checked, _ = await served(kind, raw, per_event, run)
    expected = await translated(kind, raw, Run(words(*masked)))
    got = fold_events(parsed(kind, checked))
    assert answer(got) == answer(expected)
    for word, _ in masked:
        assert not re.search(rf"\b{word}\b", said(got))  # as a word (not "file_path")
    assert run.withhold_response


@PER_EVENT
@pytest.mark.parametrize(("kind", "name"), SAID)
async def test_a_block_ends_the_answer_the_codecs_way_with_nothing_of_it_sent(
    kind: str, name: str, per_event: bool
) -> None:
    raw = transcript(kind, name)
    text_word, argument_word = words_in(kind, raw)
    word = text_word or argument_word
    assert word is not None
    checked, events = await served(kind, raw, per_event, Run(words((word, "BLOCK"))))
    got = parsed(kind, checked)
    assert not [e for e in got if isinstance(e, ErrorEvent)]  # a well-formed stream
    response = fold_events(got)
    assert not re.search(rf"\b{word}\b", said(response))
    assert response.finish_reason == "content_filter"
    expected = await translated(kind, raw, Run(words((word, "BLOCK"))))
    # as much of it as a translated check lets out, to the piece (events go whole)
    assert response.text() == expected.text()[: len(response.text())]
    assert len(expected.text()) - len(response.text()) <= max_piece(kind, raw)
    assert [e for e in events if type(e).__name__ == "Finish"][-1].reason == "content_filter"


async def test_text_only_events_go_unparsed() -> None:
    """Without this the tests above would pass with every event parsed: after the
    first, the text deltas go as the upstream sent them, with no canonical event."""
    raw = transcript("openai", "openai_text")
    _, events = await served("openai", raw, False, Run(words(("zyzzyva", "BLOCK"))))
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(0, "Hello")]
    raw = transcript("anthropic", "text")
    _, events = await served("anthropic", raw, True, Run(words(("zyzzyva", "BLOCK"))))
    assert len([e for e in events if isinstance(e, TextDelta)]) == 1


@PER_EVENT
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_stream_cut_short_ends_as_a_bare_one_does(kind: str, per_event: bool) -> None:
    """The upstream closes before its last events: the error the parser owes at the
    end reaches the client and the journal, after the text checked so far."""
    raw = transcript(kind, "openai_text" if kind == "openai" else "text")
    events = [e + b"\n\n" for e in raw.split(b"\n\n") if e.strip()]
    cut = b"".join(events[:-3])
    bare, bare_events = await served(kind, cut, per_event, None)
    checked, checked_events = await served(kind, cut, per_event, Run(words(("zyzzyva", "BLOCK"))))
    assert checked == bare
    assert journaled(checked_events) == journaled(bare_events)
    assert [e for e in checked_events if isinstance(e, ErrorEvent)]


LEAKY = "Here is the plan, step by step, as you asked. " * 3 + "The word is forbidden. More."


def leaky(kind: str, text: str) -> bytes:
    """An answer in 3-character deltas, as each codec streams it."""
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    if kind == "openai":

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
            return b"data: " + orjson.dumps({**body, "choices": [choice]}) + b"\n\n"

        return (
            chunk({"role": "assistant", "content": ""})
            + b"".join(chunk({"content": piece}) for piece in pieces)
            + chunk({}, "stop")
            + b"data: [DONE]\n\n"
        )

    def event(name: str, data: dict[str, Any]) -> bytes:
        return (
            b"event: "
            + name.encode()
            + b"\ndata: "
            + orjson.dumps({"type": name, **data})
            + b"\n\n"
        )

    start = {"id": "m", "type": "message", "role": "assistant", "model": "c", "content": []}
    start |= {"stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}
    return (
        event("message_start", {"message": start})
        + event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        + b"".join(
            event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}})
            for p in pieces
        )
        + event("content_block_stop", {"index": 0})
        + event(
            "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
        )
        + event("message_stop", {})
    )


@PER_EVENT
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_block_lets_out_the_clean_text_before_it(kind: str, per_event: bool) -> None:
    """Checked a read at a time, a read that reaches a blocked word is checked again a
    delta at a time, so what came before the word in that read still goes."""
    raw = leaky(kind, LEAKY)
    checked, _ = await served(kind, raw, per_event, Run(words(("forbidden", "BLOCK"))))
    response = fold_events(parsed(kind, checked))
    expected = await translated(kind, raw, Run(words(("forbidden", "BLOCK"))))
    assert response.finish_reason == "content_filter"
    assert "forb" not in response.text() and response.text().startswith("Here is the plan")
    assert response.text() == expected.text()[: len(response.text())]
    assert len(expected.text()) - len(response.text()) <= 3


async def checked_items(
    kind: str, raw: bytes, per_event: bool = False, text_read: list[str] | None = None
) -> list[bytes]:
    """What a checked stream sends, write by write, of ``raw`` received in one read (or
    an event a read); ``text_read`` gets each event's data the editor read text of."""
    http.use_transport(
        httpx.MockTransport(
            lambda r: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=reads(raw, per_event)
            )
        )
    )
    adapter, deployment, body = upstream(kind)
    codec: Any = adapter.speaks.upstream
    editor = codec.stream_editor(body)
    if text_read is not None:
        text_of = editor.text_of
        editor.text_of = lambda data: text_read.append(data) or text_of(data)
    pieces = adapter.passthrough_pieces(body, deployment, Exchange(), {}, editor)
    run = Run(words(("zyzzyva", "BLOCK")))
    try:
        return [chunk async for chunk, _ in passed.guarded(run, pieces, editor)]
    finally:
        http.use_transport(None)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_window_check_sends_the_head_before_the_first_text(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check that holds a window (one that calls a service: 64 characters and a
    200-character segment before its first release) does not hold the stream's head
    with it: what goes before the text (the role chunk, message_start) leaves at once."""
    from gateway.features.guardrails.kinds import content_filter

    monkeypatch.setattr(content_filter.Checker, "local", False)  # checked as a service is
    raw = leaky(kind, LEAKY)
    items = await checked_items(kind, raw)
    assert items[0] and fold_events(parsed(kind, items[0])).text() == ""
    assert b"".join(items) == raw


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_the_first_text_goes_before_the_rest_of_its_read(kind: str) -> None:
    """An upstream that sends the whole answer in one read (a cached or fast one): the
    first text leaves as soon as its check lets it, as a bare passthrough's first token
    does, not once the whole read is checked."""
    raw = leaky(kind, LEAKY)
    items = await checked_items(kind, raw)
    first = fold_events(parsed(kind, items[0])).text()
    assert first and LEAKY.startswith(first) and len(first) < 12
    assert b"".join(items) == raw


@PER_EVENT
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_an_email_split_across_deltas_is_masked_as_a_translated_check_masks_it(
    kind: str, per_event: bool
) -> None:
    """An address in 3-character deltas: the rewrite lands in the events it came in
    (the first carries it, the others' share gone), the text around it as it came."""
    text = "Here is the plan, step by step. Write to jo.doe@example.com today. More."
    raw = leaky(kind, text)
    email = {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]}
    run = Run(email)
    checked, _ = await served(kind, raw, per_event, run)
    got = fold_events(parsed(kind, checked))
    expected = await translated(kind, raw, Run(email))
    assert got.text() == expected.text() == text.replace("jo.doe@example.com", "[EMAIL_REDACTED]")
    assert run.withhold_response


def test_a_piece_written_again_keeps_the_text_that_went_and_its_approved_shares() -> None:
    """A piece whose text went whole and unchanged records no share of it, yet written
    again (a check rewrote the tool call it also carries) it keeps that text; a piece
    whose text went in two releases, the second rewritten, is written with both."""
    editor = ChunkEditor({"model": "m", "messages": []})

    def piece(text: str) -> Piece:
        data = {"id": "c", "choices": [{"index": 0, "delta": {"content": text}}]}
        return Piece(b"raw", [], data, None, text, 0)

    whole, split = piece("hello "), piece("big wor")
    segments = Segments()
    segments.add(whole, "hello ")
    segments.add(split, "big wor")
    segments.take(6 + 4)  # "hello " and "big "
    assert whole.wait == 0 and split.wait == 1
    segments.replace("wor", "WOR")
    segments.take(3)
    assert split.wait == 0
    for item, expected in ((whole, "hello "), (split, "big WOR")):
        item.edited = True
        rendered = orjson.loads(passed._rendered(item, editor).removeprefix(b"data: "))
        assert rendered["choices"][0]["delta"]["content"] == expected


@PER_EVENT
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_text_events_like_one_read_before_are_read_off_their_bytes(
    kind: str, per_event: bool
) -> None:
    """After the first event that is only more text, the events like it are neither
    decoded nor handed to the editor (``PieceDecoder``): their text is read off their
    bytes, and the client still gets the upstream's bytes, checked as before."""
    raw = leaky(kind, LEAKY)
    read: list[str] = []
    sent = b"".join(await checked_items(kind, raw, per_event, read))
    assert sent == raw
    assert len(read) == 1  # the one it learnt the others from
    assert fold_events(parsed(kind, sent)).text() == LEAKY


async def test_text_after_the_part_it_learnt_from_closed_is_parsed_again() -> None:
    """Text that comes after a tool call, in chunks shaped as the earlier text's, opens
    a new part: it is parsed (the parser sees the tool call end and the part begin), not
    read off its bytes into the closed part."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        return b"data: " + orjson.dumps({**body, "choices": [choice]}) + b"\n\n"

    call = {"index": 0, "id": "call_1", "type": "function"}
    call["function"] = {"name": "f", "arguments": '{"a": 1}'}
    raw = (
        chunk({"role": "assistant", "content": ""})
        + b"".join(chunk({"content": text}) for text in ("Hello", " there", " friend"))
        + chunk({"tool_calls": [call]})
        + b"".join(chunk({"content": text}) for text in (" and", " again", " more"))
        + chunk({}, "stop")
        + b"data: [DONE]\n\n"
    )
    checked, events = await served("openai", raw, False, Run(words(("zyzzyva", "BLOCK"))))
    assert checked == raw
    later = [e for e in events if isinstance(e, TextDelta) and e.text in (" and", " again")]
    assert later and all(e.index != 0 for e in later)
