"""A passed-through chat stream edited for a post_call guardrail (``StreamEditor``).

A chunk that is only more text is read for its ``choices[0].delta.content``; an edit
writes the chunk again with its text or a tool call's arguments replaced (the chunk's
other fields as the upstream sent them); a stopped answer ends with a chunk whose
``finish_reason`` is ``content_filter``, the usage chunk when the caller asked for it
(``stream_options.include_usage``), then ``[DONE]``, in the id, ``created`` and model
of the chunks already sent."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from gateway.base.streaming import sse_bytes
from gateway.base.types import Usage
from gateway.codecs.openai_chat import maps

ENVELOPE = ("id", "object", "created", "model", "system_fingerprint")


def editor(body: dict[str, Any]) -> ChunkEditor | None:
    """None when the caller asked for several choices: the ones after the first would
    pass unchecked (a translated answer serves the first only)."""
    n = body.get("n")
    return ChunkEditor(body) if n is None or n == 1 else None


class ChunkEditor:
    def __init__(self, body: dict[str, Any]) -> None:
        options = body.get("stream_options")
        self.include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.envelope: dict[str, Any] = {}

    def text_of(self, data: str) -> str | None:
        try:
            choice = orjson.loads(data)["choices"][0]
            content = choice["delta"]["content"] if not choice.get("index") else None
        except (orjson.JSONDecodeError, LookupError, TypeError, AttributeError):
            return None
        return content if isinstance(content, str) else None

    def sent(self, data: Any) -> None:
        if not self.envelope and isinstance(data, dict) and data.get("id"):
            self.envelope = {name: data[name] for name in ENVELOPE if name in data}

    def set_text(self, data: dict[str, Any], text: str) -> None:
        delta = _first_delta(data)
        if delta is None:
            return
        # the key the text came in (a refusal reads as text, ChunkTranslator)
        key = "content" if delta.get("content") or not delta.get("refusal") else "refusal"
        delta[key] = text

    def set_arguments(self, data: dict[str, Any], fragment: str, arguments: str) -> bool:
        delta = _first_delta(data)
        calls = delta.get("tool_calls") if delta is not None else None
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and function.get("arguments") == fragment:
                function["arguments"] = arguments
                return True
        return False

    def stopped(self, usage: Usage) -> bytes:
        envelope = self.envelope or {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
        }
        finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}
        out = sse_bytes(orjson.dumps({**envelope, "choices": [finish]}))
        if self.include_usage:
            tail = {**envelope, "choices": [], "usage": maps.usage_body(usage)}
            out += sse_bytes(orjson.dumps(tail))
        return out + b"data: [DONE]\n\n"


def _first_delta(data: dict[str, Any]) -> dict[str, Any] | None:
    """The delta of choice 0, the one the gateway serves (``ChunkTranslator``)."""
    for choice in data.get("choices") or ():
        if isinstance(choice, dict) and (choice.get("index") or 0) == 0:
            delta = choice.get("delta")
            return delta if isinstance(delta, dict) else None
    return None
