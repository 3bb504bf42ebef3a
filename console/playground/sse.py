"""Reading what a playground column gets back: the SSE bytes of an OpenAI chat
completions or Anthropic messages stream, folded as they arrive into text, thinking,
tool calls, usage, finish reason and in-stream errors, with the raw transcript kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

TRANSCRIPT_LIMIT = 256 * 1024


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
    finish_reason: str = ""
    error: str = ""
    content_chunks: int = 0


class TranscriptReader:
    """Feed it the chunks of a StreamReply; ``feed`` returns the new visible text (and
    updates ``fold``). Events may be split across chunks: the reader buffers."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.fold = Fold()
        self.transcript = bytearray()
        self.truncated = False
        self._buffer = b""
        self._tool_slots: dict[int, int] = {}  # stream index -> position in tool_calls

    def feed(self, chunk: bytes) -> str:
        if len(self.transcript) < TRANSCRIPT_LIMIT:
            self.transcript += chunk[: TRANSCRIPT_LIMIT - len(self.transcript)]
        else:
            self.truncated = True
        self._buffer += chunk.replace(b"\r\n", b"\n")
        shown = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            data = b"\n".join(
                line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")
            )
            if not data or data == b"[DONE]":
                continue
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(payload, dict):
                shown.append(self._read(payload))
        return "".join(shown)

    def _read(self, payload: dict[str, Any]) -> str:
        if self.dialect == "anthropic":
            return self._anthropic(payload)
        return self._openai(payload)

    # --- OpenAI chat completion chunks ------------------------------------------------------

    def _openai(self, payload: dict[str, Any]) -> str:
        fold = self.fold
        if isinstance(payload.get("error"), dict):
            fold.error = str(payload["error"].get("message") or payload["error"])
            return ""
        usage = payload.get("usage")
        if isinstance(usage, dict):
            cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            fold.input_tokens = int(usage.get("prompt_tokens") or 0) - cached
            fold.cache_read_tokens = cached
            fold.output_tokens = int(usage.get("completion_tokens") or 0)
        shown = ""
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                fold.text += text
                fold.content_chunks += 1
                shown += text
            thinking = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thinking, str) and thinking:
                fold.thinking += thinking
                fold.content_chunks += 1
            for call in delta.get("tool_calls") or []:
                fn = call.get("function") or {}
                slot = self._tool_slot(int(call.get("index") or 0), call.get("id"), fn.get("name"))
                slot["arguments"] += fn.get("arguments") or ""
                fold.content_chunks += 1
            if choice.get("finish_reason"):
                fold.finish_reason = choice["finish_reason"]
        return shown

    # --- Anthropic message events -----------------------------------------------------------

    def _anthropic(self, payload: dict[str, Any]) -> str:
        fold = self.fold
        kind = payload.get("type")
        if kind == "error":
            error = payload.get("error") or {}
            fold.error = str(error.get("message") or error)
        elif kind == "message_start":
            self._anthropic_usage((payload.get("message") or {}).get("usage"))
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._tool_slot(int(payload.get("index") or 0), block.get("id"), block.get("name"))
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            fold.content_chunks += 1
            if delta.get("type") == "text_delta":
                fold.text += delta.get("text") or ""
                return delta.get("text") or ""
            if delta.get("type") == "thinking_delta":
                fold.thinking += delta.get("thinking") or ""
            elif delta.get("type") == "input_json_delta":
                slot = self._tool_slot(int(payload.get("index") or 0), None, None)
                slot["arguments"] += delta.get("partial_json") or ""
        elif kind == "message_delta":
            self._anthropic_usage(payload.get("usage"))
            reason = (payload.get("delta") or {}).get("stop_reason")
            if reason:
                fold.finish_reason = reason
        return ""

    def _anthropic_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        fold = self.fold
        for name, attr in (
            ("input_tokens", "input_tokens"),
            ("output_tokens", "output_tokens"),
            ("cache_read_input_tokens", "cache_read_tokens"),
            ("cache_creation_input_tokens", "cache_write_tokens"),
        ):
            if usage.get(name):
                setattr(fold, attr, int(usage[name]))

    def _tool_slot(self, index: int, call_id: Any, name: Any) -> dict[str, str]:
        calls = self.fold.tool_calls
        if index not in self._tool_slots:
            self._tool_slots[index] = len(calls)
            calls.append({"id": "", "name": "", "arguments": ""})
        slot = calls[self._tool_slots[index]]
        if call_id:
            slot["id"] = str(call_id)
        if name:
            slot["name"] = str(name)
        return slot


def error_message(body: bytes) -> str:
    """The message of an error reply body in either dialect."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:500].decode(errors="replace")
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return body[:500].decode(errors="replace")
