"""What a codec is: one wire format, both directions, no Django, no HTTP.

A **wire format** (OpenAI chat completions, Anthropic Messages, Gemini
``generateContent``, Bedrock Converse, Cohere v2 chat, the OpenAI Responses API) is one
package under ``gateway/codecs/`` that translates between its JSON and the canonical
types of ``gateway.base.types``. A codec imports ``gateway.base.types``, ``gateway.base.errors``,
``gateway.base.streaming`` and ``gateway.codecs.base`` only: never Django, a provider, the
service or another codec. How an upstream is *reached* (base URL, auth, signing) is a
provider's job; what is *said* is the codec's.

A codec has one or both halves:

- ``ClientCodec`` (clients speak it to us): parse a request body into a
  ``ChatRequest``, render a ``ChatResponse`` or a stream of canonical events, render a
  ``GatewayError`` in the dialect's envelope.
- ``UpstreamCodec`` (we speak it to an upstream): build the request body for a
  ``ChatRequest`` and a ``Target``, parse the upstream's answer, its stream (as
  ``WireEvent``s, already de-framed by the transport) and its errors.

A ``Codec`` (below) is one wire format with its halves; ``gateway.codecs.CODECS`` names
every codec. The service picks the client codec by endpoint (the dialect
``gateway.edge.dialects`` names, looked up with ``gateway.codecs.client()``) and the
upstream codec by deployment (the provider's ``speaks``), never branching on a name: a
body passes through untouched when both are the same ``Codec`` object.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import astuple, dataclass, field
from typing import Any, Final, Literal, Protocol, runtime_checkable

import orjson

from gateway.base.errors import GatewayError, UpstreamError
from gateway.base.streaming import SSEDecoder, SSEMessage, strings_apart
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    ModelInfo,
    PartStart,
    PartStop,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
    UsageEvent,
)


@dataclass(slots=True, frozen=True)
class ApiVersion:
    """One version of an upstream's API and what it refuses that another version takes
    (Anthropic's ``anthropic-version``: ``gateway.codecs.anthropic.versions``). Declared
    once, read by the gateway's mediation (``gateway.core.mediation``: what a request
    loses, refused on a strict route) and by the codec writing the body (a deployment's
    params are held to it too)."""

    name: str
    # request parameters answered with a 400 even at their default values (canonical
    # names, which are the Messages API's own)
    refuses: frozenset[str] = frozenset()
    assistant_documents: bool = True  # ``document`` blocks in assistant turns
    user_citations: bool = True  # non-empty ``citations`` on user text blocks

    @property
    def lenient(self) -> bool:
        """Nothing to change for it (the common case: a few attribute reads)."""
        return not self.refuses and self.assistant_documents and self.user_citations

    def why(self) -> str:
        return f"API version {self.name} refuses it"


@dataclass(slots=True, frozen=True)
class Target:
    """What an upstream codec may know about the deployment it writes for: the
    upstream model id and the deployment's capabilities and defaults. Built by the
    service from the registry snapshot; no Django, no secrets."""

    model: str
    params: Mapping[str, Any] = field(
        default_factory=dict
    )  # deployment defaults (temperature, ...)
    max_output_tokens: int | None = None
    supports_tools: bool = True
    supports_vision: bool = True
    supports_reasoning: bool = False
    supports_top_k: bool = False
    # Send earlier turns' reasoning back (DeepSeek-style ``reasoning_content``).
    echo_reasoning: bool = False
    # False for models that always reason and take no effort setting.
    takes_reasoning_effort: bool = True
    # The upstream's host name, for format quirks of known hosts (Gemini's OpenAI
    # endpoint takes a JSON-schema subset); "" when unknown.
    host: str = ""
    # The upstream API version the deployment speaks (None: the kind has no versions);
    # the codec holds what it writes to it, the deployment's params included.
    api_version: ApiVersion | None = None
    # The model takes adaptive thinking only (catalog rule ``reasoning.budget_tokens:
    # map adaptive``): a reasoning setting is sent as adaptive thinking with its effort.
    adaptive_thinking: bool = False
    # Parameters the model refuses whatever the version (the catalog's ``rejects``):
    # the deployment's params do not bring them back either.
    refuses: frozenset[str] = frozenset()

    def capped(self, max_tokens: int | None) -> int | None:
        """``max_tokens`` held to the model's ``max_output_tokens`` (None stays None: the
        upstream's own default)."""
        if max_tokens is not None and self.max_output_tokens:
            return min(max_tokens, self.max_output_tokens)
        return max_tokens


@dataclass(slots=True)
class WireEvent:
    """One event of an upstream stream after de-framing: an SSE message (``event`` is
    its ``event:`` field), or an AWS event-stream message (``event`` is its
    ``:event-type`` header). ``data`` is the parsed JSON payload."""

    event: str | None
    data: Any
    # The event's data as sent (SSE only), so a passthrough forwards it unparsed; not
    # part of the event's identity (equal data is the same event).
    text: str = field(default="", compare=False)


class _Done:
    """The type of ``DONE``."""

    def __repr__(self) -> str:
        return "DONE"


# The data of the ``data: [DONE]`` message an OpenAI-family stream ends with, as the
# ``sse+done`` framing hands it to the parser.
DONE: Final = _Done()


# How an upstream frames its stream, which picks the transport's de-framer:
# - ``sse``: server-sent events with JSON data; ``[DONE]`` and data that is not JSON
#   (keep-alive noise) are dropped;
# - ``sse+done``: server-sent events ended by ``data: [DONE]`` (the OpenAI family): every
#   message reaches the parser, ``[DONE]`` as ``DONE`` and data that is not JSON as
#   None, so the parser sees the end of the stream and a passthrough forwards every
#   message as the upstream sent it;
# - ``aws-eventstream``: AWS event-stream messages (Bedrock).
Framing = Literal["sse", "sse+done", "aws-eventstream"]


def sse_wire_event(message: SSEMessage, framing: Framing = "sse") -> WireEvent | None:
    """A server-sent event (``gateway.base.streaming.SSEDecoder``'s message) as the parser of
    a stream framed ``framing`` reads it: JSON data parsed; ``[DONE]`` and data that is
    not JSON dropped (None), or for ``sse+done`` handed on as ``DONE`` and None."""
    keep_all = framing == "sse+done"
    data = message.data.strip()
    if data == "[DONE]":
        return WireEvent(message.event, DONE, message.data) if keep_all else None
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return WireEvent(message.event, None, message.data) if keep_all else None
    return WireEvent(message.event, payload, message.data)


class WireEventDecoder(SSEDecoder):
    """An ``SSEDecoder`` whose messages come out as ``sse_wire_event`` makes them (the
    ``sse`` framing's dropped ones left out): no ``SSEMessage`` between the bytes and the
    parser."""

    __slots__ = ("keep_all",)

    def __init__(self, framing: Framing = "sse") -> None:
        super().__init__()
        self.keep_all = framing == "sse+done"

    def _take(self) -> WireEvent | None:
        data = self.data
        made = None
        if data:
            text = data[0] if len(data) == 1 else "\n".join(data)
            stripped = text.strip()
            if stripped == "[DONE]":
                if self.keep_all:
                    made = WireEvent(self.event, DONE, text)
            else:
                try:
                    made = WireEvent(self.event, orjson.loads(stripped), text)
                except orjson.JSONDecodeError:
                    if self.keep_all:
                        made = WireEvent(self.event, None, text)
        self.event, self.data = None, []
        return made

    def end(self) -> list[Any]:
        framing: Framing = "sse+done" if self.keep_all else "sse"
        made = (sse_wire_event(message, framing) for message in super().end())
        return [event for event in made if event is not None]


# The bytes the event ``TextDecoder`` learns from may not hold but for its line feeds: a
# backslash (an escape, perhaps in a key) and control characters.
_NOT_PLAIN = bytes(range(32)) + b"\\"


class TextDecoder(WireEventDecoder):
    """A ``WireEventDecoder`` for a translated stream whose parser reads an event that
    is only more text for its open text part without changing (``StreamParser.text_index``):
    once told of one (``learn``), an event whose bytes are that one's but for the
    strings ``keys`` name is handed on as the ``TextDelta`` the parser would make of it
    (its first string's bytes, decoded), then the ``UsageEvent``s the learnt one's other
    bytes said (a Gemini chunk's ``usageMetadata``), neither decoded line by line, parsed
    as JSON nor fed to the parser. Any other event is a ``WireEvent`` as ``WireEventDecoder``
    makes it; whoever feeds it to the parser makes the decoder forget what it learnt
    (``pieces = ()``) when the parser moved on (``StreamParser.text_open``).

    ``keys`` as ``PassthroughCodec.skim_keys`` names them: the text's, then padding the
    parser ignores. A JSON string ends at its first quote no backslash escapes: an event
    of the learnt one's bytes with, in their place, strings without a backslash that are
    valid UTF-8 and printable (``str.isprintable``: no control character, which JSON
    does not allow in a string; a few rarer characters are read the long way too) is the
    learnt event with other strings there, and its text is its first string's bytes, not
    empty (an empty text is read as nothing). Checked so, string by string (a regular
    expression's search or ``bytes.translate`` of the whole event cost more than the
    parse they spare)."""

    __slots__ = ("keys", "pieces", "index", "usages", "whole")

    def __init__(self, framing: Framing, keys: tuple[bytes, ...]) -> None:
        super().__init__(framing)
        self.keys = keys
        self.pieces: tuple[bytes, ...] = ()  # as ``SkimmingDecoder``'s
        self.index = 0  # the text part's
        # the counts of the usage each such event reported too (Gemini's every chunk has
        # its ``usageMetadata``), as fields of a ``Usage``: one made anew an event
        self.usages: tuple[tuple[int, ...], ...] = ()
        self.whole = False  # such an event as a ``Piece`` (``PieceDecoder``), not a TextDelta

    def learn(self, sent: bytes, index: int, text: str, usages: tuple[Usage, ...] = ()) -> None:
        """``sent`` (an event as ``sse_bytes`` writes it) was read by the parser as only
        ``text`` for its part ``index`` (and ``usages``, which its bytes besides the text
        say): events like it are read off their bytes from now on, this read's later
        ones too. Learns nothing unless the first key's name is in
        ``sent`` once (``"content"`` nowhere else: the text the parser read is that
        key's), with ``text`` there, and ``sent`` has no backslash (no key written with
        escapes), no control character but its line feeds and one data line."""
        self.pieces = ()
        name = self.keys[0][: self.keys[0].index(b'"', 1) + 1]  # '"content"'
        plain = len(sent.translate(None, _NOT_PLAIN)) == len(sent) - sent.count(b"\n")
        if sent.count(name) != 1 or not plain:
            return
        cut = strings_apart(sent, self.keys)
        if cut is not None and cut[1] == text.encode():
            self.pieces, self.index = cut[0], index
            self.usages = tuple(astuple(usage) for usage in usages)

    def events(self, chunk: bytes) -> Iterator[Any]:
        """``WireEventDecoder.events``, an event at a time, those like the learnt one as
        ``TextDelta``s."""
        if self.pending:
            chunk, self.pending = self.pending + chunk, b""
        return self._read(chunk)

    def _read(self, chunk: bytes) -> Iterator[Any]:
        find, start = chunk.find, 0
        fresh = not self.data and self.event is None  # no event under way from the last read
        while True:
            pieces = self.pieces  # (learn runs while this waits at a yield)
            # (bytes compared as slices: ``startswith`` with a start parses its arguments
            # the slow way, a third of the time it takes)
            at = start + len(pieces[0]) if pieces else 0
            if fresh and pieces and chunk[start:at] == pieces[0]:
                text = None  # the first string
                for piece in pieces[1:]:
                    closing = find(b'"', at)
                    if closing < 0 or chunk[closing : closing + len(piece)] != piece:
                        break
                    string = chunk[at:closing]
                    if 92 in string:  # 92: "\\" (an escape: the text is not its bytes)
                        break
                    try:
                        plain = string.decode()
                    except UnicodeDecodeError:
                        break
                    if not plain.isprintable():  # a control character (or a rarer one)
                        break
                    text = plain if text is None else text
                    at = closing + len(piece)
                else:
                    if text:
                        begun, start = start, at
                        if self.whole:  # (``PieceDecoder``: the event's bytes with it)
                            yield Piece(chunk[begun:at], [], None, None, text, self.index)
                            continue
                        yield TextDelta(self.index, text)
                        for counts in self.usages:
                            yield UsageEvent(Usage(*counts))
                        continue
            end = find(b"\n\n", start)  # an event's lines, then the empty line ending it
            if end < 0:
                break
            yield from self._decoded(chunk[start:end].split(b"\n"))
            made = self._take()
            if made is not None:
                yield made
            start, fresh = end + 2, True
        *rest, self.pending = chunk[start:].split(b"\n")
        yield from self._decoded(rest)


class PieceDecoder(TextDecoder):
    """A ``TextDecoder`` for a passed-through stream a post_call guardrail reads
    (``CodecProvider.pieces``): an event like the learnt one is handed on as the
    ``Piece`` it is (its bytes as received, to forward; its text, read off them, to
    check; no canonical event, as a skimmed event has none), any other as the
    ``SSEMessage`` ``SSEDecoder`` makes (the codec's ``skims`` and the editor read its
    data as received). What it learns, and when it learns nothing, is ``TextDecoder``'s;
    its reader forgets (``pieces = ()``) when the text part it learnt closes."""

    __slots__ = ()

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        super().__init__("sse", keys)
        self.whole = True

    _take = SSEDecoder._take  # messages, not wire events
    end = SSEDecoder.end


class StreamParser(Protocol):
    """Turns one upstream stream's events into canonical events, statefully. Folded
    (``gateway.base.streaming.fold_events``), the result equals ``parse_response`` of the same
    answer given whole."""

    def feed(self, event: WireEvent) -> list[StreamEvent]: ...

    def finish(self) -> list[StreamEvent]:
        """Events owed when the upstream closes the stream (closing parts, a Finish the
        upstream never sent, or an ErrorEvent for a stream cut short)."""
        ...


@runtime_checkable
class UpstreamCodec(Protocol):
    name: str
    framing: Framing

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        """The upstream JSON body for ``request`` (``request.stream`` tells whether the
        stream variant is wanted). Raises ``InvalidRequest`` for what the format cannot
        carry (naming the field and the model), never drops content silently."""
        ...

    def parse_response(self, data: Any) -> ChatResponse: ...

    def stream_parser(self) -> StreamParser: ...

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        """The upstream's error envelope as an ``UpstreamError`` with its status and
        message (never echoing request headers or secrets)."""
        ...


@runtime_checkable
class ModelLister(Protocol):
    """An upstream codec that reads its format's model list (``GET .../models``)."""

    def model_list(self, data: Any) -> tuple[list[str], str]:
        """The model ids of one page of the upstream's model list, and the token of the
        next page ("" when it was the last)."""
        ...


class Outbound(Protocol):
    """What a codec's ``outbound`` module offers ``OutboundCodec``: its functions and
    its ``StreamParser`` class."""

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]: ...

    def parse_response(self, data: Any) -> ChatResponse: ...

    @property
    def StreamParser(self) -> Callable[[], StreamParser]: ...  # noqa: N802 (the class)

    def parse_error(self, status: int, body: bytes) -> UpstreamError: ...


class OutboundCodec:
    """An ``UpstreamCodec`` whose halves are its ``outbound`` module's functions, as
    most codecs' are: a codec names its module (and ``name``, ``framing``) and overrides
    what it does otherwise."""

    outbound: Outbound

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return self.outbound.build_request(request, target)

    def parse_response(self, data: Any) -> ChatResponse:
        return self.outbound.parse_response(data)

    def stream_parser(self) -> StreamParser:
        return self.outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return self.outbound.parse_error(status, body)


@dataclass(slots=True, eq=False)
class Piece:
    """One upstream event of a passed-through stream checked by a post_call guardrail
    (``PassthroughCodec.stream_editor``): the bytes to forward, its canonical events
    (none when skimmed), the event as parsed (None when skimmed) and as received, and
    the answer text it carries. ``wait`` counts what must be checked
    before it may go (its text, the tool calls it carries arguments of)."""

    raw: bytes
    events: list[StreamEvent]
    data: Any = None
    # as received (None: the parser's own events, or read off its bytes: ``PieceDecoder``)
    message: SSEMessage | None = None
    text: str = ""
    part: int = -1  # the canonical text part its text belongs to
    wait: int = 0
    approved: list[str] = field(default_factory=list)  # its text as checked (empty: as it came)
    edited: bool = False  # a check changed its text or its tool-call arguments


class StreamEditor(Protocol):
    """What a post_call guardrail needs to check a passed-through stream in the
    upstream's own bytes, so that a stream no check changes is forwarded as received
    (and mostly unparsed) instead of translated: the text of a skimmed event, an event
    with its text or a tool call's arguments replaced, and the end of a stopped answer
    in the format's own words. One per stream (it follows what was sent)."""

    def text_of(self, data: str) -> str | None:
        """The answer text of a skimmed event's data (None: parse it instead)."""
        ...

    def sent(self, data: Any) -> None:
        """A parsed event went to the client (what is open, the envelope to reuse)."""
        ...

    def set_text(self, data: dict[str, Any], text: str) -> None:
        """Replace the answer text ``data`` carries with ``text``."""
        ...

    def set_arguments(self, data: dict[str, Any], fragment: str, arguments: str) -> bool:
        """Replace the tool-call argument ``fragment`` ``data`` carries with
        ``arguments``; False when ``data`` does not carry it as one string."""
        ...

    def stopped(self, usage: Usage) -> bytes:
        """The end of an answer a guardrail stopped: what is open closed, the finish
        reason ``content_filter`` in the format's words, the usage, the last event."""
        ...


@runtime_checkable
class PassthroughCodec(UpstreamCodec, Protocol):
    """An upstream codec whose clients may speak to its upstream unchanged (same-format
    passthrough): what the shared path needs to journal and end such an exchange."""

    def usage_of(self, data: Any) -> Usage:
        """The usage of a whole answer body, read without parsing the rest."""
        ...

    def stream_error(self, error: GatewayError) -> bytes:
        """The in-stream error event a client of this format reads."""
        ...

    def answer_error(self, data: Any) -> UpstreamError | None:
        """The upstream error a 2xx answer body stands for (some servers answer 200
        with an error envelope), or None when it is an answer."""
        ...

    def answer_texts(self, data: Any) -> list[str] | None:
        """The texts the guardrails read of a whole answer body (those of
        ``parse_response(data)``: its text parts, its tool calls' arguments as JSON),
        read without building the answer; None when they cannot be (then it is parsed).
        A post_call check of a passed-through answer parses it only for a rewrite."""
        ...

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """A passed-through body as sent for a stream: the stream flag set, and what
        the journal needs the upstream to send (OpenAI: usage, asked for always)."""
        ...

    def withheld(self, event: WireEvent, body: dict[str, Any]) -> bool:
        """Whether a passed-through stream event is kept from the caller who sent
        ``body`` (its canonical events still count, handed on with the next event
        forwarded): what the upstream sends only because ``stream_body`` asked."""
        ...

    def skims(self, event: str | None, data: str) -> bool:
        """Whether a passed-through stream event (its SSE ``event`` name and ``data`` as
        sent) is nothing but more answer text, so it may be forwarded without being
        parsed once the first text went out: no usage, finish, error, tool call or
        reasoning in it. Read off the text by substrings; a doubt says False (parsed)."""
        ...

    # What comes right before the JSON strings two events ``skims`` admits may differ in
    # (their text's first, then any padding), as the format writes it: a skimmed stream
    # hands on events that differ from a skimmed one only there without asking ``skims``
    # (``streaming.SkimmingDecoder``).
    skim_keys: tuple[bytes, ...]

    def stream_editor(self, body: dict[str, Any]) -> StreamEditor | None:
        """An editor for one stream answering ``body`` (the caller's, as received), or
        None when such a stream cannot be checked in its own bytes (it is translated)."""
        ...

    def with_output_ceiling(
        self, body: dict[str, Any], ceiling: int, target: Target
    ) -> dict[str, Any]:
        """A passed-through ``body`` that names no output ceiling, given ``ceiling`` in
        this format's own field (a budget hold assumed it: gateway/core/jobs.py); a
        body naming one is returned as it is."""
        ...


@runtime_checkable
class ClientCodec(Protocol):
    """What an inbound half must do. The service serves a client codec as a ``Dialect``
    (below), which adds the optional differences between dialects with defaults."""

    name: str

    def parse_request(self, body: dict[str, Any], headers: Mapping[str, str]) -> ChatRequest: ...

    def render_response(self, response: ChatResponse, request: ChatRequest) -> dict[str, Any]: ...

    def render_stream(
        self, events: AsyncIterator[StreamEvent], request: ChatRequest
    ) -> AsyncIterator[bytes]: ...

    def render_error(self, error: GatewayError) -> dict[str, Any]: ...

    def render_stream_error(self, error: GatewayError) -> bytes: ...


class StreamRendering(Protocol):
    """A client dialect's stream renderer fed one canonical event at a time:
    ``feed`` returns the chunks the event makes (an ErrorEvent makes the dialect's
    in-stream error and sets ``ended``: nothing more is rendered); ``end``, the chunks
    owed when the events run out."""

    ended: bool

    def feed(self, event: StreamEvent) -> list[bytes]: ...

    def end(self) -> list[bytes]: ...


async def render_events(
    renderer: StreamRendering, events: AsyncIterator[StreamEvent]
) -> AsyncIterator[bytes]:
    """``render_stream`` of a dialect with a ``StreamRendering``: one chunk at a time."""
    async for event in events:
        for chunk in renderer.feed(event):
            yield chunk
        if renderer.ended:
            return
    for chunk in renderer.end():
        yield chunk


def tool_call_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """An upstream tool call's arguments: an object, or text that is none (a call cut
    off by max_tokens) kept as the raw text beside an empty object."""
    if isinstance(raw, dict):
        return raw, None
    return arguments_from_text(raw if isinstance(raw, str) else "")


def arguments_from_text(text: str) -> tuple[dict[str, Any], str | None]:
    """Tool call arguments written as JSON text: the object, or (when the text is not
    one, say a call cut off by max_tokens) an empty object with the text kept beside it.
    Blank text is no arguments."""
    if not text.strip():
        return {}, None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}, text
    return (parsed, None) if isinstance(parsed, dict) else ({}, text)


class OnePartOpen:
    """An upstream stream decoder's canonical parts when at most one is open at a time,
    numbered in order: opening one stops the one before it."""

    def __init__(self) -> None:
        self.index = -1  # the last opened part's index
        self.kind: str | None = None  # the open part's kind; None: none is open

    def open(self, kind: str, **tool: str) -> list[StreamEvent]:
        """Stop the open part, if any, and start the next, of ``kind``."""
        out = self.close()
        self.index += 1
        self.kind = kind
        return [*out, PartStart(self.index, kind, **tool)]  # type: ignore[arg-type]

    def go_on(self, kind: str) -> list[StreamEvent]:
        """Nothing when a part of ``kind`` is open (what follows continues it), else
        ``open(kind)``."""
        return [] if self.kind == kind else self.open(kind)

    def close(self) -> list[StreamEvent]:
        """Stop the open part, if any."""
        if self.kind is None:
            return []
        self.kind = None
        return [PartStop(self.index)]


# A base64 data URL (``data:<media type>;base64,<data>``) as the upstream halves read an
# image or document URL that carries its bytes.
DATA_URL = re.compile(r"^data:(?P<type>[\w/+.-]+);base64,(?P<data>.*)$", re.DOTALL)


def add_turn(
    turns: list[dict[str, Any]], role: str, items: list[Any], key: str = "content"
) -> None:
    """``items`` (a message's blocks or parts) added to upstream turns that must alternate
    user and assistant: to the last turn when it is of ``role``, else as a new turn."""
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})


def tool_call_text(call: ToolCall) -> str:
    """A tool call's arguments as the JSON text the OpenAI-style wires carry: the raw
    text the call kept (arguments that were not an object) or its object serialised."""
    if call.raw_arguments is not None:
        return call.raw_arguments
    return orjson.dumps(call.arguments).decode()


def chat_tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """Tool calls as Chat Completions' ``tool_calls`` entries (Cohere v2 takes the same)."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": tool_call_text(call)},
        }
        for call in calls
    ]


# --- a client dialect as the service serves it ---------------------------------------------

SSE_COMMENT_KEEPALIVE = b": keep-alive\n\n"


def gateway_status(error: GatewayError) -> int:
    """The HTTP status a client gets for ``error`` unless its dialect says otherwise: an
    upstream's server failure is the gateway's 502 Bad Gateway (a 500 would blame the
    gateway itself), its timeout 504; everything else keeps its own status."""
    if not isinstance(error, UpstreamError) or error.status < 500:
        return error.status
    if error.status == 504:
        return 504
    return 502


def input_tokens_body(count: int) -> dict[str, Any]:
    return {"input_tokens": count}


def choices_finish_reason(data: Mapping[str, Any]) -> str:
    """The finish reason of an OpenAI-style answer body (``choices[0].finish_reason``)."""
    choices = data.get("choices") or [{}]
    return str((choices[0] or {}).get("finish_reason") or "")


@dataclass(frozen=True, slots=True)
class Dialect:
    """A client codec as the service and the endpoints serve it: the ``ClientCodec``
    functions of an inbound half, and everything else that differs between client
    dialects, each with a default, so that neither the service nor the endpoints ask
    which dialect they serve (they read these instead). An inbound module builds its
    ``CLIENT``, the client half of its format's ``Codec``; ``gateway.edge.dialects`` names
    the endpoints that speak it."""

    # What the journal records and the console filters on ("openai", "anthropic", ...).
    name: str
    label: str
    parse_request: Callable[[dict[str, Any], Mapping[str, str]], ChatRequest]
    render_response: Callable[[ChatResponse, ChatRequest], dict[str, Any]]
    render_stream: Callable[[AsyncIterator[StreamEvent], ChatRequest], AsyncIterator[bytes]]
    render_error: Callable[[GatewayError], dict[str, Any]]
    render_stream_error: Callable[[GatewayError], bytes]
    # The HTTP status of an error reply.
    client_status: Callable[[GatewayError], int] = gateway_status
    # ``GET .../models`` in the dialect's shape (None: the dialect lists no models).
    render_models: Callable[[list[ModelInfo]], dict[str, Any]] | None = None
    render_count_tokens: Callable[[int], dict[str, Any]] = input_tokens_body
    # The canonical finish reason of a same-format answer passed through unparsed.
    finish_reason_of: Callable[[Mapping[str, Any]], str] = choices_finish_reason
    # The stream's first event states the prompt's tokens (Anthropic's message_start):
    # a translated stream needs the gateway's own count (``ChatRequest.prompt_tokens``).
    counts_prompt_in_stream: bool = False
    # What a silent stream sends to keep intermediaries from timing it out.
    keepalive: bytes = SSE_COMMENT_KEEPALIVE
    # What follows the in-stream error event when the server's shutdown ends a stream
    # (OpenAI chat's ``data: [DONE]``).
    stream_end: bytes = b""
    # A header naming the request id besides ``x-request-id`` (Anthropic's request-id).
    request_id_header: bytes = b""
    # The key may come the Google way (``x-goog-api-key``, ``?key=``) besides a bearer.
    google_key: bool = False
    # Hosted MCP steps are items or blocks of their own in the dialect (Responses,
    # Anthropic); elsewhere the model's text between tool calls joins the final message.
    renders_hosted: bool = False
    # A renderer of the dialect's stream that is fed events synchronously (None: only
    # ``render_stream``): the translated pump renders an upstream read's events at once.
    stream_renderer: Callable[[ChatRequest], StreamRendering] | None = None
    # Checks of the bodies of the dialect's endpoints beyond chat that pass through
    # untranslated (OpenAI's embeddings and legacy completions), by endpoint: each
    # raises an ``InvalidRequest`` before routing, so a malformed body costs no call.
    body_checks: Mapping[str, Callable[[dict[str, Any]], None]] = field(default_factory=dict)


class Codec:
    """One wire format: its one name (what the journal records, the console filters on,
    the endpoint table and the providers name), its label, and its halves: ``client``
    when clients speak it to us, ``upstream`` when we speak it to an upstream. Each
    format package's ``__init__`` builds its ``CODEC``; ``gateway.codecs.CODECS`` holds
    them all. A codec is compared by identity: a request passes through untouched when
    the codec its client speaks *is* the codec its upstream speaks.

    ``client`` is the client half or, as the format packages give it, where it lives
    (``"module:attribute"``), imported when first read: an adapter that speaks the
    format to its upstream never loads the client half.

    What the format cannot carry upstream is declared here too (``takes_stop``,
    ``min_output_tokens``, ``media_urls``, ``reasoning_as``, ``past_reasoning``), each with its default, set by the formats
    that differ: the gateway does it instead (``gateway.core.upstream``), reading these
    declarations rather than probing a codec."""

    __slots__ = {
        "_client": "The client half, once imported.",
        "_client_at": "Where the client half lives (``module:attribute``), until imported.",
        "label": "The format's name for people (the console).",
        "name": "The format's one name (the journal, the console's filters, the providers).",
        "passes_through": "Whether a client of this format may speak to its upstream unchanged.",
        "upstream": "The upstream half (None: the gateway speaks no upstream in this format).",
        "takes_stop": "The format has stop sequences (False: the gateway cuts at them).",
        "min_output_tokens": "The smallest max_tokens the upstream takes (0: none).",
        "media_urls": "Part kinds the upstream takes by URL (others are fetched as bytes).",
        "reasoning_as": "How the upstream states reasoning: effort, budget or either.",
        "past_reasoning": "Whether a rendered request carries earlier turns' reasoning.",
    }

    def __init__(
        self,
        name: str,
        label: str,
        *,
        client: Dialect | str | None = None,
        upstream: UpstreamCodec | None = None,
        takes_stop: bool = True,
        min_output_tokens: int = 0,
        media_urls: frozenset[str] = frozenset({"image", "document"}),
        reasoning_as: Literal["effort", "budget", "either"] = "either",
        past_reasoning: Literal["always", "echoed", "never"] = "always",
    ) -> None:
        self.name, self.label, self.upstream = name, label, upstream
        self.reasoning_as = reasoning_as
        # Whether a request rendered for this upstream carries the reasoning of earlier
        # assistant turns (``Thinking`` parts): ``always``; only to a deployment that
        # wants it echoed (``echoed``: DeepSeek-style ``reasoning_content``); ``never``.
        # What the reasoning ledger restores is read only where it is carried.
        self.past_reasoning = past_reasoning
        self.takes_stop = takes_stop
        self.min_output_tokens = min_output_tokens
        self.media_urls = media_urls
        self._client: Dialect | None = None
        self._client_at = ""
        if isinstance(client, str):
            self._client_at = client
        elif client is not None:
            self._client = self._named(client)
        if upstream is not None:
            self._named(upstream)
        # Whether a client of this format may speak to its upstream unchanged: its
        # upstream half is a ``PassthroughCodec`` (checked once here: a runtime-checkable
        # Protocol's isinstance() walks its members).
        self.passes_through = upstream is not None and isinstance(upstream, PassthroughCodec)

    def _named(self, half: Any) -> Any:
        if half.name != self.name:
            raise ValueError(f"codec {self.name!r} has a half named {half.name!r}")
        return half

    @property
    def has_client(self) -> bool:
        """Whether clients may speak this format to the gateway (without loading the
        client half)."""
        return self._client is not None or bool(self._client_at)

    @property
    def client(self) -> Dialect | None:
        """The client half (None: clients cannot speak this format to the gateway)."""
        if self._client is not None or not self._client_at:
            return self._client
        module, _, attribute = self._client_at.partition(":")
        self._client = self._named(getattr(importlib.import_module(module), attribute))
        return self._client

    def __repr__(self) -> str:
        return f"Codec({self.name!r})"


def register(registry: dict[str, Codec], codec: Codec) -> Codec:
    """Add ``codec`` to ``registry`` under its name; a second, different codec of the
    same name is refused (names are the formats' identities in the journal)."""
    known = registry.get(codec.name)
    if known is not None and known is not codec:
        raise ValueError(f"two codecs are named {codec.name!r}")
    registry[codec.name] = codec
    return codec
