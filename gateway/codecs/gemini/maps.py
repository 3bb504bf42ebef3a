"""What both halves of the Gemini wire format read: finish reasons, usage and the error
envelope (``{"error": {"code", "message", "status"}}``) with its canonical status."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import UpstreamError
from gateway.base.types import FinishReason, Usage
from gateway.codecs import google_common

# Gemini ``finishReason`` -> canonical. A STOP whose answer calls functions becomes
# ``tool_calls`` (Gemini has no finish reason of its own for that).
FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "OTHER": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
}

# Canonical -> Gemini, for the inbound half (a Gemini client reading our answer); the
# other reasons (stop, stop_sequence, tool_calls) are Gemini's STOP, the readers' default.
FINISH_REASONS_OUT: dict[FinishReason, str] = {
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "error": "OTHER",
}


def finish_reason(raw: str | None, calls_tools: bool) -> FinishReason:
    reason = FINISH_REASONS.get(raw or "STOP", "stop")
    if calls_tools and reason == "stop":
        return "tool_calls"
    return reason


def usage(meta: dict[str, Any] | None) -> Usage:
    """``usageMetadata`` -> canonical. ``promptTokenCount`` includes the cached tokens
    (canonical input excludes them); thoughts count toward output, as Gemini bills them."""
    if not meta:
        return Usage()
    prompt = (meta.get("promptTokenCount") or 0) + (meta.get("toolUsePromptTokenCount") or 0)
    cached = meta.get("cachedContentTokenCount") or 0
    thoughts = meta.get("thoughtsTokenCount") or 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=(meta.get("candidatesTokenCount") or 0) + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )


def usage_metadata(value: Usage) -> dict[str, int]:
    """Canonical -> ``usageMetadata`` (the inbound half's rendering)."""
    out = {
        "promptTokenCount": value.prompt_tokens,
        "candidatesTokenCount": max(value.output_tokens - value.reasoning_tokens, 0),
        "totalTokenCount": value.total_tokens,
    }
    if value.reasoning_tokens:
        out["thoughtsTokenCount"] = value.reasoning_tokens
    if value.cache_read_tokens:
        out["cachedContentTokenCount"] = value.cache_read_tokens
    return out


def error_from_object(error: Any, status: int | None = None) -> UpstreamError:
    """An ``UpstreamError`` from Gemini's error object. An API key Gemini refuses comes
    as 400 INVALID_ARGUMENT with reason ``API_KEY_INVALID``: that is a 401."""
    error, name, message, status = google_common.error_fields(error, status)
    if _reason(error) in ("API_KEY_INVALID", "API_KEY_EXPIRED"):
        status = 401
    retry_after = _retry_delay(error)
    return google_common.upstream_error("Gemini", name, message, status, retry_after=retry_after)


def _retry_delay(error: dict[str, Any]) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` ("21s", "0.5s") in seconds."""
    for detail in error.get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(float(delay[:-1]), 0.0)
            except ValueError:
                return None
    return None


def _reason(error: dict[str, Any]) -> str | None:
    for detail in error.get("details") or []:
        reason = detail.get("reason") if isinstance(detail, dict) else None
        if isinstance(reason, str):
            return reason
    return None


def parse_error(status: int, body: bytes) -> UpstreamError:
    """The upstream's error body as an ``UpstreamError`` carrying ``status``."""
    return google_common.parse_error(status, body, error_from_object)
