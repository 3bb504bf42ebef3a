"""A passed-through Messages stream edited for a post_call guardrail (``StreamEditor``).

A ``text_delta`` is read for its text; an edit writes an event again with its text
(a block's opening text, a ``text_delta``, or the ``input_json_delta`` of the JSON
tool that carries a structured answer) or a tool's ``partial_json`` replaced; a
stopped answer closes the blocks it opened, then ``message_delta`` with the stop
reason ``refusal`` and the usage, then ``message_stop``."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.base.streaming import sse_bytes
from gateway.base.types import Usage
from gateway.codecs.anthropic.maps import usage_body


def editor(body: dict[str, Any]) -> EventEditor:
    return EventEditor()


class EventEditor:
    def __init__(self) -> None:
        self.open: list[int] = []  # block indexes sent open, in order

    def text_of(self, data: str) -> str | None:
        try:
            text = orjson.loads(data)["delta"]["text"]
        except (orjson.JSONDecodeError, LookupError, TypeError):
            return None
        return text if isinstance(text, str) else None

    def sent(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        kind, index = data.get("type"), data.get("index")
        if kind == "content_block_start" and isinstance(index, int):
            self.open.append(index)
        elif kind == "content_block_stop" and index in self.open:
            self.open.remove(index)

    def set_text(self, data: dict[str, Any], text: str) -> None:
        if data.get("type") == "content_block_start":
            block = data.get("content_block")
            if isinstance(block, dict) and block.get("type") == "text":
                block["text"] = text
            return
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return
        if delta.get("type") == "text_delta":
            delta["text"] = text
        elif delta.get("type") == "input_json_delta":
            delta["partial_json"] = text

    def set_arguments(self, data: dict[str, Any], fragment: str, arguments: str) -> bool:
        delta = data.get("delta")
        if (
            isinstance(delta, dict)
            and delta.get("type") == "input_json_delta"
            and delta.get("partial_json") == fragment
        ):
            delta["partial_json"] = arguments
            return True
        return False

    def stopped(self, usage: Usage) -> bytes:
        out = [
            _event("content_block_stop", {"type": "content_block_stop", "index": index})
            for index in self.open
        ]
        self.open = []
        end = {
            "type": "message_delta",
            "delta": {"stop_reason": "refusal", "stop_sequence": None},
            "usage": usage_body(usage),
        }
        out.append(_event("message_delta", end))
        out.append(_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return sse_bytes(orjson.dumps(payload), name)
