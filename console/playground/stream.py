"""What a playground column gets back, read through the codecs: the SSE bytes of its
stream are de-framed by the gateway's SSE reader (``gateway.base.streaming.SSEDecoder``) into
``WireEvent``s as the provider path de-frames an upstream's stream, turned into canonical events by the stream parser of the codec the column
speaks (``CODECS[name].upstream.stream_parser()``) and folded by ``StreamFolder``, with the raw
transcript kept for the raw exchange.

The console knows no dialect's JSON here: a column on the OpenAI chat dialect reads the
gateway's answer with the OpenAI chat codec, an Anthropic column with the Anthropic
codec, and a logged stream of any format a codec parses (Responses, Gemini, ...) folds
the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.base.streaming import SSEDecoder, SSEMessage, StreamFolder
from gateway.base.types import (
    ErrorEvent,
    Finish,
    PartStart,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)
from gateway.codecs import CODECS
from gateway.codecs.base import UpstreamCodec, WireEvent, sse_wire_event

TRANSCRIPT_LIMIT = 256 * 1024


def upstream_codec(name: str) -> UpstreamCodec:
    """The codec that parses streams of wire format ``name`` (a ``CODECS`` key: the
    playground's dialects ``openai`` and ``anthropic`` are codec names)."""
    codec = CODECS.get(name)
    if codec is None or codec.upstream is None:
        raise ValueError(f"no codec reads {name!r} streams")
    return codec.upstream


@dataclass(slots=True)
class Fold:
    """Everything read so far from one column's stream."""

    text: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    finish_reason: str = ""  # canonical (stop, length, tool_calls, ...)
    error: str = ""
    content_chunks: int = 0


def _message(error: Any) -> str:
    return str(getattr(error, "message", None) or error)


class TranscriptReader:
    """Feed it the chunks of a StreamReply; ``feed`` returns the new visible text (and
    updates ``fold``); ``close`` reads what the end of the stream still owes. Events may
    be split across chunks: the de-framer buffers."""

    def __init__(self, codec: str) -> None:
        self.codec = upstream_codec(codec)
        self.fold = Fold()
        self.folder = StreamFolder()
        self.transcript = bytearray()
        self.truncated = False
        self._sse = SSEDecoder()  # the gateway's one SSE reader
        self._parser = self.codec.stream_parser()
        self._tool_calls: dict[int, dict[str, str]] = {}  # part index -> its tool call
        self._text_part: int | None = None  # the part the last text came in

    def feed(self, chunk: bytes) -> str:
        if len(self.transcript) < TRANSCRIPT_LIMIT:
            self.transcript += chunk[: TRANSCRIPT_LIMIT - len(self.transcript)]
        else:
            self.truncated = True
        return self._read_messages(self._sse.feed(chunk))

    def close(self) -> str:
        """The stream ended: its last event, then what the codec owes at the end (a held
        finish, or the error of a stream cut before it finished)."""
        shown = self._read_messages(self._sse.end())
        return shown + self._apply(self._parser.finish())

    def _read_messages(self, messages: list[SSEMessage]) -> str:
        """Server-sent events as the codec's parser reads them (its own framing: the
        OpenAI family sees ``[DONE]``), as the provider path hands them on."""
        framing = self.codec.framing
        events = (sse_wire_event(m, framing) for m in messages)
        return "".join(self._read(event) for event in events if event is not None)

    def _read(self, event: WireEvent) -> str:
        events = self._parser.feed(event)
        if not events and self.folder.finished:
            # A parser reads nothing after its stream's end, but the gateway may still
            # report a failure there (an in-stream error): read it on its own.
            late = self.codec.stream_parser().feed(event)
            events = [e for e in late if isinstance(e, ErrorEvent)]
        return self._apply(events)

    def _apply(self, events: list[StreamEvent]) -> str:
        fold, shown = self.fold, []
        for event in events:
            self.folder.feed(event)
            match event:
                case TextDelta(index=index, text=text):
                    if index != self._text_part and fold.text and not fold.text.endswith("\n"):
                        fold.text += "\n\n"  # another text block: its own paragraph
                        shown.append("\n\n")
                    self._text_part = index
                    fold.text += text
                    fold.content_chunks += 1
                    shown.append(text)
                case ThinkingDelta(text=text):
                    fold.thinking += text
                    fold.content_chunks += 1
                case PartStart(index=index, kind="tool_call", tool_id=call_id, tool_name=name):
                    call = {"id": call_id or "", "name": name or "", "arguments": ""}
                    self._tool_calls[index] = call
                    fold.tool_calls.append(call)
                case ToolArgsDelta(index=index, fragment=fragment) if index in self._tool_calls:
                    self._tool_calls[index]["arguments"] += fragment
                    fold.content_chunks += 1
                case Finish(reason=reason):
                    fold.finish_reason = reason
                case ErrorEvent(error=error):
                    fold.error = _message(error)
        usage = self.folder.response.usage
        fold.input_tokens, fold.output_tokens = usage.input_tokens, usage.output_tokens
        fold.cache_read_tokens = usage.cache_read_tokens
        fold.cache_write_tokens = usage.cache_write_tokens
        return "".join(shown)


def fold_transcript(codec: str, transcript: bytes) -> Fold:
    """A whole logged stream of wire format ``codec``, folded."""
    reader = TranscriptReader(codec)
    reader.feed(transcript)
    reader.close()
    return reader.fold


def error_message(body: bytes, codec: str) -> str:
    """The message of an error reply in a client dialect. A dialect's error body is the
    same envelope as its in-stream error event, so the codec's stream parser reads it;
    a body that is not one is quoted."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        parsed = upstream_codec(codec).stream_parser().feed(WireEvent("error", payload))
        for event in parsed:
            if isinstance(event, ErrorEvent):
                return _message(event.error)
    return body[:500].decode(errors="replace")
