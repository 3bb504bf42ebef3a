"""What both halves of the OpenAI Chat Completions wire format read: finish reasons
(both ways), usage (both ways) and the error envelope with the error types and codes
each canonical error kind is reported with (whole-body and in-stream). The legacy
completions and embeddings endpoints share them."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.base.errors import GatewayError
from gateway.base.streaming import sse_bytes
from gateway.base.types import FinishReason, Usage

# The error envelope is every OpenAI format's: one copy, in openai_common.
from gateway.codecs.openai_common import ERROR_SHAPES, error_body  # noqa: F401 (re-exported)

# Upstream ``finish_reason`` -> canonical (``function_call``: the pre-tools name).
FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# Canonical -> the ``finish_reason`` a client reads.
FINISH_OUT: dict[str, str] = {
    "stop": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "error": "stop",
}


def finish_reason(raw: str | None, has_tool_calls: bool) -> FinishReason:
    """The canonical finish reason of an upstream's ``finish_reason``."""
    reason = FINISH_REASONS.get(raw or "stop", "stop")
    # Some servers (Ollama, Gemini) say "stop" after tool calls; clients act on tool_calls.
    if reason == "stop" and has_tool_calls:
        return "tool_calls"
    return reason


def usage(data: dict[str, Any] | None) -> Usage:
    """OpenAI usage -> canonical (prompt_tokens includes cached tokens; DeepSeek reports
    them as ``prompt_cache_hit_tokens``)."""
    if not data:
        return Usage()
    prompt = data.get("prompt_tokens") or 0
    details = data.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or data.get("prompt_cache_hit_tokens") or 0
    completion_details = data.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=data.get("completion_tokens") or 0,
        cache_read_tokens=cached,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    """Canonical -> OpenAI usage: prompt_tokens counts cached input too."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def stream_error(error: BaseException) -> bytes:
    """The in-stream error chunk: the whole-body envelope as one SSE ``data`` line, the
    same on every path (translated or passed through)."""
    if not isinstance(error, GatewayError):
        error = GatewayError(str(error))
    return sse_bytes(orjson.dumps(error_body(error)))
