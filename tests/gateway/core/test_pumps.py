"""The translated pump's two ways agree: an upstream stream read a batch at a time and
rendered in one loop (``_pump_batches``) writes the same bytes, the first token at once,
and leaves the same journal record as the event-by-event way through the dialect's
``render_stream`` (``_pump_events``), whatever the upstream sends and however its bytes
are split into reads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.base.streaming import EventBatches, sse_bytes
from gateway.core import pumps, service
from gateway.journal.record import Record
from tests.gateway.codecs.test_wire_event_decoder import noting_loads
from tests.gateway.entries import route, snapshot

BASE = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up-1"}
ANTHROPIC = ProviderEntry(
    2, "mock-anthropic", "anthropic", "http://mock-anthropic", "", {}, "", None
)


def chunk(delta: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {**BASE, "choices": [{"index": 0, "delta": delta, **more}]}


# What the upstream streams, in neither format: (kind, text)
texts = st.text(alphabet=st.sampled_from(["a", "é", "\n", '"', "\u2028", "😀", " "]), max_size=4)
pieces = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["text", "think", "args"]), texts),
        st.just(("tool", "")),
    ),
    max_size=8,
)
endings = st.sampled_from(["done", "usage", "cut", "error", "malformed"])


def openai_bytes(body: list[tuple[str, str]], ending: str) -> bytes:
    events = [chunk({"role": "assistant", "content": ""})]
    for kind, text in body:
        if kind == "text":
            events.append(chunk({"content": text}))
        elif kind == "think":
            events.append(chunk({"reasoning_content": text}))
        elif kind == "tool":
            call = {"index": 0, "id": "call_1", "type": "function"}
            events.append(
                chunk({"tool_calls": [{**call, "function": {"name": "f", "arguments": ""}}]})
            )
        else:
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": text}}]}))
    if ending == "error":
        events.append({"error": {"message": "overloaded", "type": "server_error"}})
    elif ending == "malformed":
        events.append({**BASE, "choices": "not a list"})
    elif ending != "cut":
        events.append(chunk({}, finish_reason="stop"))
        if ending == "usage":
            usage = {"prompt_tokens": 3, "completion_tokens": 5}
            events.append({**BASE, "choices": [], "usage": usage})
    wire = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return wire + (b"data: [DONE]\n\n" if ending in ("done", "usage") else b"")


def anthropic_bytes(body: list[tuple[str, str]], ending: str) -> bytes:
    def event(kind: str, data: dict[str, Any]) -> bytes:
        return sse_bytes(orjson.dumps({"type": kind, **data}), kind)

    usage = {"input_tokens": 3, "output_tokens": 0}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up-1"}
    wire = [event("message_start", {"message": {**message, "content": [], "usage": usage}})]
    block, open_kind = -1, ""
    deltas = {"text": "text_delta", "think": "thinking_delta", "args": "input_json_delta"}
    for kind, text in body:
        wanted = "args" if kind in ("tool", "args") else kind
        if kind == "tool" or wanted != open_kind:
            if open_kind:
                wire.append(event("content_block_stop", {"index": block}))
            block, open_kind = block + 1, wanted
            start = {
                "text": {"type": "text", "text": ""},
                "think": {"type": "thinking", "thinking": ""},
                "args": {"type": "tool_use", "id": f"toolu_{block}", "name": "f", "input": {}},
            }[wanted]
            wire.append(event("content_block_start", {"index": block, "content_block": start}))
        if kind != "tool":
            field = {"text": "text", "think": "thinking", "args": "partial_json"}[kind]
            delta = {"type": deltas[kind], field: text}
            wire.append(event("content_block_delta", {"index": block, "delta": delta}))
    if ending == "error":
        wire.append(event("error", {"error": {"type": "overloaded_error", "message": "busy"}}))
    elif ending == "malformed":
        wire.append(event("content_block_delta", {"index": block, "delta": "not a dict"}))
    elif ending != "cut":
        if open_kind:
            wire.append(event("content_block_stop", {"index": block}))
        stop = {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}
        wire.append(event("message_delta", stop))
        wire.append(event("message_stop", {}))
    return b"".join(wire)


# (client dialect, upstream): every client renderer, each translating
CASES = {
    "anthropic": ("anthropic", None, openai_bytes),
    "responses": ("responses", None, openai_bytes),
    "openai": ("openai", ANTHROPIC, anthropic_bytes),
}
# the first content event of each dialect's stream (what the first-token cut ends with)
FIRST_TOKEN = {
    "anthropic": re.compile(rb"event: content_block_delta\n"),
    "responses": re.compile(rb"event: response\.[a-z_]+\.delta\n"),
    # (not the "{}" a tool call that got no fragment is closed with)
    "openai": re.compile(
        rb'"delta":\{("content"|"reasoning_content"):"[^"]|"arguments":"(?!\{\}")[^"]'
    ),
}


class Reads(httpx.AsyncByteStream):
    """The upstream's bytes in reads cut at ``cuts``, each read after a turn of the loop."""

    def __init__(self, data: bytes, cuts: list[int]) -> None:
        self.data, self.cuts = data, cuts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        start = 0
        for end in [*sorted({c % (len(self.data) + 1) for c in self.cuts}), len(self.data)]:
            if end > start:
                await asyncio.sleep(0)
                yield self.data[start:end]
                start = end


async def run_pump(
    dialect: str, data: bytes, cuts: list[int], batched: bool
) -> tuple[list[bytes], Record]:
    records: list[Record] = []
    http.use_transport(
        httpx.MockTransport(
            lambda request: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=Reads(data, cuts)
            )
        )
    )
    saved_record, saved_batches = journal.record, pumps.EventBatches
    journal.record = records.append  # type: ignore[assignment]
    if not batched:  # no stream counts as batched: every one goes event by event
        pumps.EventBatches = type("NotBatches", (), {})  # type: ignore[assignment,misc]
    try:
        reply = await service.handle(
            "chat", dialect, orjson.dumps(request_body(dialect)), {}, service.Caller(key=MASTER)
        )
        assert isinstance(reply, service.StreamReply)
        chunks = [piece async for piece in reply.chunks]
    finally:
        journal.record, pumps.EventBatches = saved_record, saved_batches  # type: ignore[assignment]
        http.use_transport(None)
    (record,) = records
    return chunks, record


def request_body(dialect: str) -> dict[str, Any]:
    if dialect == "responses":
        return {"model": "r", "stream": True, "input": "hi", "store": False}
    return {
        "model": "r",
        "stream": True,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }


# what differs between two renderings of one stream: ids made up where the upstream
# sent none, and the seconds a response was created and completed in
RANDOM_ID = re.compile(rb'"[a-z]+[_-][0-9a-f]{16,}"|"(created|completed)(_at)?":[0-9]+')


def same_ids(chunks: list[bytes]) -> list[bytes]:
    return [RANDOM_ID.sub(b'"made-up"', piece) for piece in chunks]


def up_to_first_token(dialect: str, chunks: list[bytes]) -> bytes:
    """The bytes written up to the end of the chunk with the first content delta, which
    that delta ends."""
    written = b""
    for piece in same_ids(chunks):
        found = FIRST_TOKEN[dialect].search(piece)
        written += piece
        if found is not None:
            assert piece.index(b"\n\n", found.end()) + 2 == len(piece)
            return written
    return b""


def comparable(record: Record) -> dict[str, Any]:
    fields = (
        "status",
        "input_tokens",
        "output_tokens",
        "finish_reason",
        "error_kind",
        "error_message",
    )
    values = {name: getattr(record, name) for name in fields}
    values["first_token"] = record.ttft_ms is not None
    values["outbound"] = same_ids([record.outbound_response or b""])
    return values


@pytest.fixture(params=sorted(CASES))
def dialect(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, snapshot_reset: None
) -> str:
    """A client dialect, its route to an upstream of the other format."""
    monkeypatch.setattr(pumps, "BATCH_WINDOW", 10.0)  # no cut by time on a slow machine
    name, provider, _ = CASES[request.param]
    registry.install(snapshot(route("r", "up-1", max_attempts=1, provider=provider)))
    return str(name)


@pytest.fixture
def one_route(monkeypatch: pytest.MonkeyPatch, snapshot_reset: None) -> None:
    monkeypatch.setattr(pumps, "BATCH_WINDOW", 10.0)
    registry.install(snapshot(route("r", "up-1", max_attempts=1)))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=pieces,
    ending=endings,
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
)
def test_batched_and_event_by_event_pumps_write_the_same(
    dialect: str, body: list[tuple[str, str]], ending: str, cuts: list[int]
) -> None:
    data = CASES[dialect][2](body, ending)

    async def both() -> None:
        batched = await run_pump(dialect, data, cuts, batched=True)
        by_event = await run_pump(dialect, data, cuts, batched=False)
        # the same bytes, the first token's chunk ending with it either way (the rest
        # are cut where the upstream kept the pump waiting, which the ways reach at
        # different turns of the loop)
        assert b"".join(same_ids(batched[0])) == b"".join(same_ids(by_event[0]))
        assert up_to_first_token(dialect, batched[0]) == up_to_first_token(dialect, by_event[0])
        assert comparable(batched[1]) == comparable(by_event[1])

    asyncio.run(both())


async def test_a_codec_stream_comes_in_batches_and_the_anthropic_dialect_renders_them(
    one_route: None,
) -> None:
    """The fast way is the one taken: were the stream not ``EventBatches`` or the
    dialect without a renderer, the comparison above would compare one way with itself."""
    taken: list[str] = []
    original = pumps._pump_batches

    def spy(*args: Any) -> Any:
        taken.append("batches")
        return original(*args)

    pumps._pump_batches = spy  # type: ignore[assignment]
    try:
        chunks, record = await run_pump(
            "anthropic", openai_bytes([("text", "hi")], "done"), [], True
        )
    finally:
        pumps._pump_batches = original  # type: ignore[assignment]
    assert taken == ["batches"]
    assert record.status == 200 and b"message_stop" in chunks[-1]


async def test_event_batches_read_event_by_event_then_a_batch_at_a_time() -> None:
    closed: list[bool] = []

    async def source() -> AsyncIterator[list[Any]]:
        try:
            yield [1, 2, 3]
            yield [4]
            yield [5, 6]
        finally:
            closed.append(True)

    events = EventBatches(source())  # type: ignore[arg-type]
    assert await anext(events) == 1
    assert events.take_ready() == [2, 3]
    assert events.take_ready() == []
    assert await anext(events.batches()) == [4]
    assert [e async for e in events] == [5, 6]
    await events.aclose()
    assert closed == [True]


class GatedReads(httpx.AsyncByteStream):
    """The first read at once; the rest only when ``gate`` is set."""

    def __init__(self, first: bytes, rest: bytes, gate: asyncio.Event) -> None:
        self.first, self.rest, self.gate = first, rest, gate

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        await self.gate.wait()
        yield self.rest


async def served_chunks(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    """The chunks of an Anthropic-in streamed request the upstream answers with
    ``stream`` (its transport installed until they are read)."""
    http.use_transport(
        httpx.MockTransport(
            lambda request: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=stream
            )
        )
    )
    try:
        reply = await service.handle(
            "chat",
            "anthropic",
            orjson.dumps(request_body("anthropic")),
            {},
            service.Caller(key=MASTER),
        )
        assert isinstance(reply, service.StreamReply)
        async for chunk in reply.chunks:
            yield chunk
    finally:
        http.use_transport(None)


@pytest.mark.parametrize("batched", [True, False])
async def test_what_a_read_made_is_written_before_the_pump_waits_for_the_next(
    one_route: None, batched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = openai_bytes([("text", "first"), ("text", "early")], "done")
    cut = wire.index(b"data: ", wire.index(b'"early"'))  # the finish chunk comes later
    gate = asyncio.Event()
    stream = GatedReads(wire[:cut], wire[cut:], gate)
    monkeypatch.setattr(journal, "record", lambda rec: None)
    if not batched:
        monkeypatch.setattr(pumps, "EventBatches", type("NotBatches", (), {}))
    chunks = served_chunks(stream)
    written = b""
    while b'"early"' not in written:  # both deltas arrive while the upstream waits
        written += await asyncio.wait_for(anext(chunks), timeout=5)
    assert not gate.is_set()
    gate.set()
    written += b"".join([piece async for piece in chunks])
    assert written.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')


async def test_the_first_token_is_written_before_the_rest_of_its_read_is_parsed(
    one_route: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upstream that sends its whole answer in one read (a fast or cached one): the
    chunk with the first token comes out of the pump while the later events of that
    read are not decoded nor parsed yet, so they cost the first token nothing."""
    from gateway.codecs.openai_chat import outbound

    words = [f"w{n}" for n in range(12)]
    wire = openai_bytes([("text", word) for word in words], "done")
    parsed: list[str] = []
    feed = outbound.StreamParser.feed

    def noting(self: outbound.StreamParser, event: Any) -> Any:
        data = event.data
        if isinstance(data, dict) and data.get("choices"):
            parsed.append(data["choices"][0]["delta"].get("content") or "")
        return feed(self, event)

    monkeypatch.setattr(outbound.StreamParser, "feed", noting)
    decoded = noting_loads(monkeypatch)  # the JSON the SSE decoder parsed
    monkeypatch.setattr(journal, "record", lambda rec: None)
    chunks = served_chunks(Reads(wire, []))
    first = await anext(chunks)
    assert b'"text":"w0"' in first and b'"w1"' not in first
    assert "w1" not in parsed  # the rest of the read waits for the first token
    assert not any('"w1"' in data for data in decoded)  # not even decoded
    rest = b"".join([piece async for piece in chunks])
    assert all(f'"text":"{word}"'.encode() in rest for word in words[1:])
    # the first text opens its part, the second shows the decoder the shape of the
    # rest, which are read off their bytes (``TextDecoder``), never parsed
    assert [text for text in parsed if text] == words[:2]


def signed_tool_call_bytes() -> bytes:
    """An Anthropic stream whose answer calls a tool after signed thinking."""

    def event(kind: str, data: dict[str, Any]) -> bytes:
        return sse_bytes(orjson.dumps({"type": kind, **data}), kind)

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "up-1"}
    usage = {"input_tokens": 3, "output_tokens": 0}
    thinking = {"type": "thinking", "thinking": ""}
    tool = {"type": "tool_use", "id": "toolu_signed", "name": "f", "input": {}}
    return b"".join(
        [
            event("message_start", {"message": {**message, "content": [], "usage": usage}}),
            event("content_block_start", {"index": 0, "content_block": thinking}),
            event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Look."}},
            ),
            event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "signature_delta", "signature": "sig-9"}},
            ),
            event("content_block_stop", {"index": 0}),
            event("content_block_start", {"index": 1, "content_block": tool}),
            event(
                "content_block_delta",
                {"index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
            ),
            event("content_block_stop", {"index": 1}),
            event(
                "message_delta",
                {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
            ),
            event("message_stop", {}),
        ]
    )


@pytest.fixture
def slow_shared_store(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A shared reasoning store (Redis's place) whose writes take 50 ms: the call ids
    written, once written."""
    from gateway.core import reasoning_ledger

    written: list[str] = []

    async def store(client: Any, scope: str, entries: list[tuple[str, Any]]) -> None:
        await asyncio.sleep(0.05)
        written.extend(call_id for call_id, _ in entries)

    reasoning_ledger.reset()
    monkeypatch.setattr(reasoning_ledger._redis, "client", lambda: object())
    monkeypatch.setattr(reasoning_ledger, "_store_shared", store)
    monkeypatch.setattr(journal, "record", lambda rec: None)
    yield written
    reasoning_ledger.reset()


@pytest.mark.parametrize("batched", [True, False])
async def test_a_stream_ends_only_once_its_signed_reasoning_is_shared(
    batched: bool,
    slow_shared_store: list[str],
    monkeypatch: pytest.MonkeyPatch,
    snapshot_reset: None,
) -> None:
    """A client sends its next turn as soon as the answer has ended, often to another
    worker: that worker must find the turn's reasoning in the shared store."""
    monkeypatch.setattr(pumps, "BATCH_WINDOW", 10.0)
    registry.install(snapshot(route("r", "up-1", max_attempts=1, provider=ANTHROPIC)))
    if not batched:
        monkeypatch.setattr(pumps, "EventBatches", type("NotBatches", (), {}))
    http.use_transport(
        httpx.MockTransport(
            lambda request: httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                stream=Reads(signed_tool_call_bytes(), [200, 700]),
            )
        )
    )
    try:
        reply = await service.handle(
            "chat", "openai", orjson.dumps(request_body("openai")), {}, service.Caller(key=MASTER)
        )
        assert isinstance(reply, service.StreamReply)
        seen = [(piece, list(slow_shared_store)) async for piece in reply.chunks]
    finally:
        http.use_transport(None)
    (written,) = [w for p, w in seen if b'"finish_reason":"tool_calls"' in p]
    assert written == ["toolu_signed"]  # shared before the finish went out


async def test_a_whole_answer_is_returned_only_once_its_signed_reasoning_is_shared(
    slow_shared_store: list[str], snapshot_reset: None
) -> None:
    registry.install(snapshot(route("r", "up-1", max_attempts=1, provider=ANTHROPIC)))
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up-1",
        "content": [
            {"type": "thinking", "thinking": "Look.", "signature": "sig-9"},
            {"type": "tool_use", "id": "toolu_signed", "name": "f", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 5},
    }
    http.use_transport(httpx.MockTransport(lambda request: httpx.Response(200, json=answer)))
    body = {**request_body("openai"), "stream": False}
    try:
        await service.handle("chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER))
    finally:
        http.use_transport(None)
    assert slow_shared_store == ["toolu_signed"]
