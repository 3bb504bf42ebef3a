"""What both halves of the Gemini wire format read: finish reasons, usage and the error
envelope (``{"error": {"code", "message", "status"}}``) with its canonical status."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.errors import UpstreamError
from gateway.types import FinishReason, Usage

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

# Canonical -> Gemini, for the inbound half (a Gemini client reading our answer).
FINISH_REASONS_OUT: dict[FinishReason, str] = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "error": "OTHER",
}

# google.rpc.Code names -> the HTTP status Gemini pairs them with.
STATUS_CODES: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

# Gemini words an over-long prompt this way; routing recognises "context length".
_TOO_LONG = re.compile(r"input token count.*exceeds the maximum", re.IGNORECASE | re.DOTALL)


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
    error = error if isinstance(error, dict) else {}
    code_name = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    if status is None:
        code = error.get("code")
        status = code if isinstance(code, int) and code >= 400 else None
    if status is None:
        status = STATUS_CODES.get(code_name or "", 502)
    if _reason(error) in ("API_KEY_INVALID", "API_KEY_EXPIRED"):
        status = 401
    if _TOO_LONG.search(message):
        message += " (context length exceeded)"
    text = f"Gemini upstream: {message or code_name or f'status {status}'}"
    if code_name and code_name not in text:
        text += f" [{code_name}]"
    return UpstreamError(text, status=status, code=code_name, retry_after=_retry_delay(error))


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
    """The upstream's error body (an object, or a one-element list as the non-SSE
    stream endpoint writes it) as an ``UpstreamError`` carrying ``status``."""
    try:
        payload: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        text = body.decode("utf-8", "replace").strip()[:500]
        error = {"message": text or f"answered {status}"}
    return error_from_object(error, status)
