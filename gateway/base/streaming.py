"""Helpers over canonical stream events: folding a stream into one response, and
reading server-sent events from an upstream byte stream. No Django imports."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.types import (
    ErrorEvent,
    Finish,
    PartStart,
    PartStop,
    Start,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    Usage,
    UsageEvent,
)

# the parts whose text comes in deltas (a tuple: a union written in the call is built anew)
_TEXTUAL = (t.Text, Thinking)


class StreamFolder:
    """Accumulates stream events into a ChatResponse as they pass by (the journal
    uses it as a tap; tests use it to prove stream == complete).

    Texts are kept as lists of deltas, joined once in ``result`` (``part.text +=``
    copied the whole text at every delta: a 20 MB answer took 7-17 s). With
    ``max_chars`` the folded text, thinking and arguments stop growing past that many
    characters and ``truncated`` says so (the usage and finish are still read): what
    keeps it (the response cache) must then not."""

    def __init__(self, max_chars: int | None = None) -> None:
        self.response = t.ChatResponse(id="", model="")
        self._parts: dict[int, t.Part] = {}
        self._texts: dict[int, list[str]] = {}
        self._signatures: dict[int, list[str]] = {}
        self._args: dict[int, list[str]] = {}
        self.error: object | None = None
        self.finished = False
        self.max_chars = max_chars
        self.kept_chars = 0
        self.truncated = False

    def _room(self, text: str) -> bool:
        """Whether ``text`` may be kept (counts it when so)."""
        if self.max_chars is None:
            return True
        if self.truncated or self.kept_chars + len(text) > self.max_chars:
            self.truncated = True
            return False
        self.kept_chars += len(text)
        return True

    def feed(self, event: t.StreamEvent) -> None:
        if isinstance(event, TextDelta):  # most of a stream: tested before any other case
            i, text = event.index, event.text
            if i not in self._parts:
                self._parts[i] = t.Text("")
            if not self.truncated and self._room(text):  # (no call once full)
                self._texts.setdefault(i, []).append(text)
            return
        r = self.response
        match event:
            case Start(id=id_, model=model, created=created, usage=usage):
                r.id, r.model, r.created = id_, model, created
                if usage:
                    r.usage.merge(usage)
            case PartStart(index=i, kind="text", phase=phase):
                self._parts[i] = t.Text("", phase=phase)
            case PartStart(index=i, kind="thinking"):
                self._parts[i] = Thinking("")
            case PartStart(index=i, kind="tool_call", tool_id=tid, tool_name=name):
                self._parts[i] = t.ToolCall(id=tid or "", name=name or "")
                self._args[i] = []
            case ThinkingDelta(index=i, text=text, signature=sig, redacted=red):
                part = self._parts.setdefault(i, Thinking(""))
                if text and not self.truncated and self._room(text):
                    self._texts.setdefault(i, []).append(text)
                if sig:
                    self._signatures.setdefault(i, []).append(sig)
                if red:
                    part.redacted = red  # type: ignore[union-attr]
            case ToolArgsDelta(index=i, fragment=fragment):
                if not self.truncated and self._room(fragment):
                    self._args.setdefault(i, []).append(fragment)
            case PartStop():
                pass
            case UsageEvent(usage=usage):
                r.usage.merge(usage)
            case Finish(reason=reason, stop_sequence=seq):
                r.finish_reason, r.stop_sequence = reason, seq
                self.finished = True
            case ErrorEvent(error=error):
                self.error = error

    def result(self) -> t.ChatResponse:
        parts: list[t.Part] = []
        for index in sorted(self._parts):
            part = self._parts[index]
            if isinstance(part, _TEXTUAL) and index in self._texts:
                part.text += "".join(self._texts.pop(index))
            if isinstance(part, Thinking) and index in self._signatures:
                part.signature = (part.signature or "") + "".join(self._signatures.pop(index))
            if isinstance(part, t.ToolCall):
                raw = "".join(self._args.get(index, []))
                try:
                    part.arguments = orjson.loads(raw) if raw.strip() else {}
                except orjson.JSONDecodeError:
                    part.arguments, part.raw_arguments = {}, raw
            parts.append(part)
        self.response.parts = parts
        return self.response


def fold_events(events: Iterable[t.StreamEvent]) -> t.ChatResponse:
    folder = StreamFolder()
    for event in events:
        folder.feed(event)
    return folder.result()


async def afold_events(events: AsyncIterator[t.StreamEvent]) -> t.ChatResponse:
    folder = StreamFolder()
    async for event in events:
        folder.feed(event)
    return folder.result()


class EventBatches:
    """A stream's canonical events, made a batch at a time (what one upstream read
    carried) and read either way: event by event (``async for``, what the wrappers that
    transform a stream use) or a list at a time (``batches``, the translated pump's way:
    no generator hops an event between the upstream's parser and the client's
    renderer). ``aclose`` closes the source (its upstream connection)."""

    __slots__ = ("_source", "_ready", "_next")

    def __init__(self, source: AsyncGenerator[list[t.StreamEvent], None]) -> None:
        self._source = source
        self._ready: list[t.StreamEvent] = []
        self._next = 0  # the first event of ``_ready`` not read yet

    def __aiter__(self) -> EventBatches:
        return self

    async def __anext__(self) -> t.StreamEvent:
        while self._next >= len(self._ready):
            self._ready = await self._source.__anext__()
            self._next = 0
        event = self._ready[self._next]
        self._next += 1
        return event

    def take_ready(self) -> list[t.StreamEvent]:
        """What event-by-event reading left of the current batch (read without waiting)."""
        rest = self._ready[self._next :]
        self._ready, self._next = [], 0
        return rest

    def batches(self) -> AsyncGenerator[list[t.StreamEvent], None]:
        """The batches after the current one (``take_ready`` first)."""
        return self._source

    async def aclose(self) -> None:
        await self._source.aclose()


@dataclass(slots=True)
class SSEMessage:
    event: str | None
    data: str


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[SSEMessage]:
    """Parse server-sent events from an async iterator of text lines (httpx's
    ``Response.aiter_lines``). Multi-line ``data:`` fields are joined with newlines;
    comments (``:``) and ``id``/``retry`` fields are ignored."""
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield SSEMessage(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield SSEMessage(event, "\n".join(data))


class SSEDecoder:
    """Server-sent events decoded off raw body chunks: ``feed`` each chunk, get the
    messages it completed; ``end`` after the last. The same messages as ``iter_sse``
    over the chunks' UTF-8 lines (``\\n`` or ``\\r\\n``, undecodable bytes replaced).
    ``events`` is ``feed`` decoding each message as it is read."""

    __slots__ = ("event", "data", "pending")

    def __init__(self) -> None:
        self.event: str | None = None
        self.data: list[str] = []
        self.pending = b""

    def feed(self, chunk: bytes) -> list[Any]:
        return list(self.events(chunk))

    def events(self, chunk: bytes) -> Iterator[Any]:
        """The messages ``chunk`` completes, each decoded when it is read: a reader that
        stops at one (a stream's first token, written before the rest) has the rest
        decoded when it goes on. The chunk is split into lines at once; read what this
        hands back to its end before the next ``events``, ``feed`` or ``end``."""
        if self.pending:
            chunk = self.pending + chunk
        *lines, self.pending = chunk.split(b"\n")
        return self._decoded(lines)

    def _decoded(self, lines: list[bytes]) -> Iterator[Any]:
        for raw in lines:
            # the two lines nearly every event is made of, read without decoding the
            # line first: a blank one (the event's end) and a "data: " one (LF-ended)
            if not raw:
                message = self._take()
                if message is not None:
                    yield message
                continue
            if raw[:6] == b"data: " and raw[-1] != 13:  # 13: a CRLF line's "\r"
                self.data.append(raw[6:].decode("utf-8", "replace"))
                continue
            line = raw.decode("utf-8", "replace")
            if line.endswith("\r"):
                line = line.rstrip("\r")
            if not line:
                message = self._take()
                if message is not None:
                    yield message
                continue
            if line[0] == ":":
                continue
            self._field(line)

    def _take(self) -> Any:
        """A blank line: the event read so far, if it has data, is complete (None:
        nothing to hand on)."""
        message = SSEMessage(self.event, "\n".join(self.data)) if self.data else None
        self.event, self.data = None, []
        return message

    def end(self) -> list[Any]:
        if self.pending:
            line = self.pending.decode("utf-8", "replace").rstrip("\r")
            self.pending = b""
            if line and line[0] != ":":
                self._field(line)
        if not self.data:
            return []
        message = SSEMessage(self.event, "\n".join(self.data))
        self.event, self.data = None, []
        return [message]

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value


class SkimmingDecoder(SSEDecoder):
    """An ``SSEDecoder`` for a passed-through stream whose later text nobody reads: once
    told of an event that is only text (``learn``), an event whose bytes are that one's
    but for the strings ``keys`` name is handed on as those bytes (``bytes``: a run of
    such events as one piece, each up to and with its empty line), neither decoded nor
    made a message; anything else is a message as ``SSEDecoder`` makes it.

    ``keys`` are what comes right before such strings in the event's data, as the format
    writes them: the text's first (OpenAI chat: ``"content":"``), then any padding the
    format adds (OpenAI's ``"obfuscation":"``, another in each event). A JSON string ends
    at its first quote no backslash escapes; so an event made of the learnt event's bytes
    with, in place of each such string, one without a quote, a backslash before its end
    or a line break is the learnt event with other strings there, which the parser reads
    as more text only. Its bytes are those ``sse_bytes`` writes of the message it decodes
    to (valid UTF-8). Asking the codec's ``skims`` of it (a dozen substring scans of the
    whole event) cost most of a skimmed stream's reading."""

    __slots__ = ("keys", "pieces", "lines")

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        super().__init__()
        self.keys = keys
        # the learnt event's bytes around the strings (the first: from "event: "/"data: "
        # on; the last: with the empty line), and how many line ends it has
        self.pieces: tuple[bytes, ...] = ()
        self.lines = 0

    def learn(self, sent: bytes) -> None:
        """``sent`` (as ``sse_bytes`` wrote an event) is only text: events like it are
        handed on as their bytes from now on, this read's later ones too. Forgets what it
        had learnt when ``sent`` has no text where the first key says, or several data
        lines."""
        self.pieces = ()
        cut = strings_apart(sent, self.keys)
        if cut is not None:
            self.pieces, self.lines = cut[0], sent.count(b"\n")

    def events(self, chunk: bytes) -> Iterator[Any]:
        """``SSEDecoder.events``, an event at a time: what ``learn`` was told while this
        read's earlier events were handed on applies to its later ones."""
        if self.pending:
            chunk, self.pending = self.pending + chunk, b""
        return self._blocks(chunk)

    def _blocks(self, chunk: bytes) -> Iterator[Any]:
        """The events of ``chunk`` (``pending`` before it): a run of events like the
        learnt one as one piece of bytes, the others as messages."""
        find, start, run = chunk.find, 0, -1  # run: where the events being skimmed start
        fresh = not self.data and self.event is None  # no event under way from the last read
        pieces, lines = self.pieces, self.lines  # (learn runs only while this waits at a yield)
        while True:
            if fresh and pieces and chunk.startswith(pieces[0], start):
                at = start + len(pieces[0])
                for piece in pieces[1:]:
                    closing = find(b'"', at)  # the string's end, if nothing escapes it
                    if (
                        closing < 0
                        or chunk[closing - 1] == 92
                        or not chunk.startswith(piece, closing)
                    ):
                        break
                    at = closing + len(piece)
                else:
                    event = chunk[start:at]
                    if event.count(b"\n") == lines and (event.isascii() or _utf8(event)):
                        run = start if run < 0 else run
                        start = at
                        continue
            end = find(b"\n\n", start)  # an event's lines, then the empty line ending it
            if end < 0:
                break
            if run >= 0:
                yield chunk[run:start]
                run = -1
            yield from self._decoded(chunk[start:end].split(b"\n"))
            message = self._take()
            if message is not None:
                yield message
            start, fresh = end + 2, True
            pieces, lines = self.pieces, self.lines
        if run >= 0:
            yield chunk[run:start]
        *rest, self.pending = chunk[start:].split(b"\n")
        yield from self._decoded(rest)


def strings_apart(sent: bytes, keys: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], bytes] | None:
    """``sent`` (an event as ``sse_bytes`` writes it) cut around the JSON strings ``keys``
    name (the first's, then padding that may be absent): the bytes around them (the
    first from the event's start, the last with its empty line) and the first string's
    bytes. None when it has several data lines, no first key, or a string whose closing
    quote is escaped. What ``SkimmingDecoder`` and ``codecs.base.TextDecoder`` learn."""
    data = sent.find(b"data: ")
    if data < 0 or sent.find(b"\n", data) != len(sent) - 2:
        return None  # several lines of data
    pieces, at, first = [], 0, b""
    for number, key in enumerate(keys):
        start = sent.find(key, max(at, data))
        if start < 0 and number:
            continue  # no padding in it
        end = sent.find(b'"', start + len(key))
        if start < 0 or end < 0 or sent[end - 1] == 92:  # 92: "\\" (escapes a quote)
            return None
        if not number:
            first = sent[start + len(key) : end]
        pieces.append(sent[at : start + len(key)])
        at = end
    return (*pieces, sent[at:]), first


def _utf8(text: bytes) -> bool:
    """Whether ``text`` is valid UTF-8 (decoded with replacement, it is the same bytes)."""
    try:
        text.decode()
    except UnicodeDecodeError:
        return False
    return True


def iter_sse_batches(
    chunks: AsyncIterator[bytes], on_chunk: Callable[[bytes], None] | None = None
) -> AsyncIterator[list[SSEMessage]]:
    """Server-sent events off raw body chunks (httpx's ``aiter_bytes``), a list at a
    time: the messages each chunk completed (never an empty list), so a reader handles
    what arrived together in one go. ``on_chunk`` sees each chunk as it arrives (the
    exchange's raw record)."""
    return decoded_batches(chunks, SSEDecoder(), on_chunk)


async def decoded_batches(
    chunks: AsyncIterator[bytes],
    decoder: SSEDecoder,
    on_chunk: Callable[[bytes], None] | None = None,
) -> AsyncIterator[list[Any]]:
    """``iter_sse_batches`` by ``decoder``, which may make something else of each
    message than an ``SSEMessage`` (``codecs.base.WireEventDecoder``)."""
    async for chunk in chunks:
        if on_chunk is not None:
            on_chunk(chunk)
        messages = decoder.feed(chunk)
        if messages:
            yield messages
    messages = decoder.end()
    if messages:
        yield messages


async def decoded_lazily(
    chunks: AsyncIterator[bytes],
    decoder: SSEDecoder,
    on_chunk: Callable[[bytes], None] | None = None,
) -> AsyncIterator[Iterable[Any]]:
    """``decoded_batches`` with each chunk's messages decoded as they are read
    (``SSEDecoder.events``): a chunk may turn out to complete none. Read each to its
    end before asking for the next."""
    async for chunk in chunks:
        if on_chunk is not None:
            on_chunk(chunk)
        yield decoder.events(chunk)
    yield decoder.end()


def sse_bytes(data: bytes | str, event: str | None = None) -> bytes:
    """One server-sent event, ready to write."""
    if isinstance(data, str):
        data = data.encode()
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


__all__ = [
    "SSEDecoder",
    "SSEMessage",
    "StreamFolder",
    "afold_events",
    "fold_events",
    "iter_sse",
    "iter_sse_batches",
    "sse_bytes",
    "Usage",
]
