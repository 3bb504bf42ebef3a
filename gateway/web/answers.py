"""A logged answer's text, read back from the body the client got (``RequestBody.
outbound_response``) with the codec of the client's own format: a whole JSON answer
through its ``parse_response``, a stream through its stream parser and folded, as the
gateway reads an upstream that speaks the same format. Used where two answers to the
same request are set side by side (shadow traffic), and a logged answer replayed
through a guardrail (the guardrails feature and the console share it: the web kit)."""

from __future__ import annotations

import orjson

from gateway.base.streaming import SSEDecoder, fold_events
from gateway.base.types import ChatResponse, Text
from gateway.codecs import CODECS
from gateway.codecs.base import UpstreamCodec, sse_wire_event


def _folded(upstream: UpstreamCodec, raw: bytes) -> ChatResponse:
    parser = upstream.stream_parser()
    decoder = SSEDecoder()
    events = []
    for message in decoder.feed(raw) + decoder.end():
        wire = sse_wire_event(message, upstream.framing)
        if wire is not None:
            events += parser.feed(wire)
    events += parser.finish()
    return fold_events(events)


def logged_answer(dialect: str, body: bytes | str | None) -> ChatResponse | None:
    """An answer in ``dialect``'s format, parsed, or None when it cannot be read (no
    body logged, an error body, a format without an upstream half)."""
    if not body:
        return None
    raw = body.encode() if isinstance(body, str) else bytes(body)
    codec = CODECS.get(dialect)
    upstream = codec.upstream if codec is not None else None
    if upstream is None:
        return None
    try:
        if raw.lstrip()[:1] in (b"{", b"["):
            return upstream.parse_response(orjson.loads(raw))
        return _folded(upstream, raw)
    except Exception:  # a body of another shape (an error, a cut stream): unreadable
        return None


def answer_text(dialect: str, body: bytes | str | None) -> str | None:
    """The text of an answer in ``dialect``'s format, or None when it cannot be read."""
    response = logged_answer(dialect, body)
    if response is None:
        return None
    return "".join(part.text for part in response.parts if isinstance(part, Text))
