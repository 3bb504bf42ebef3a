"""What both halves of the Anthropic Messages wire format read: stop reasons (both
ways), error types with their statuses, usage, and the error envelope (whole-body and
in-stream). One copy, so a client reading our stream and an upstream's stream passed
through see the same words for the same failure."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.base.errors import BUDGET_EXCEEDED, GatewayError
from gateway.base.streaming import sse_bytes
from gateway.base.types import FinishReason, Usage

# Anthropic ``stop_reason`` -> canonical. ``pause_turn`` (a server tool loop paused; the
# caller resends to continue) ends this answer like ``end_turn``.
FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "content_filter",
}

# Canonical -> Anthropic ``stop_reason``, for clients reading our answer.
STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "stop_sequence": "stop_sequence",
    "error": "end_turn",
}

# Anthropic's error types and the HTTP status each is documented with.
ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
ERROR_TYPES = frozenset(ERROR_TYPE_STATUS)

# HTTP status -> error type, for gateway errors whose kind is not an Anthropic type.
ERROR_TYPE_FOR_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def finish_reason(stop_reason: str | None) -> FinishReason:
    """The canonical finish reason of an Anthropic ``stop_reason`` (unknown: ``stop``)."""
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def stop_reason(reason: str | None, has_tool_calls: bool) -> str:
    """Anthropic's stop_reason; tool calls with a plain stop still mean ``tool_use``
    (some OpenAI-compatible upstreams finish tool turns with ``stop``)."""
    mapped = STOP_REASONS.get(reason or "stop", "end_turn")
    if has_tool_calls and mapped == "end_turn":
        return "tool_use"
    return mapped


def usage(data: dict[str, Any] | None) -> Usage:
    """An Anthropic ``usage`` object -> canonical (input excludes cached tokens in both)."""
    data = data or {}
    return Usage(
        input_tokens=data.get("input_tokens") or 0,
        output_tokens=data.get("output_tokens") or 0,
        cache_read_tokens=data.get("cache_read_input_tokens") or 0,
        cache_write_tokens=data.get("cache_creation_input_tokens") or 0,
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    """Canonical usage -> an Anthropic ``usage`` object (``server_tool_use`` when server
    tools ran)."""
    body: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
    }
    if usage.web_search_requests or usage.web_fetch_requests:
        body["server_tool_use"] = {
            "web_search_requests": usage.web_search_requests,
            "web_fetch_requests": usage.web_fetch_requests,
        }
    return body


def error_type(error: GatewayError) -> str:
    """The Anthropic error type a gateway error is reported with."""
    if error.kind in ERROR_TYPES:
        return error.kind
    return ERROR_TYPE_FOR_STATUS.get(error.status, "api_error")


def error_body(error: GatewayError) -> dict[str, Any]:
    """Anthropic's error envelope for ``error``; a budget refusal also names its code
    (``budget_exceeded``) beside the ``rate_limit_error`` type the SDKs retry on."""
    inner = {"type": error_type(error), "message": error.message}
    if error.code == BUDGET_EXCEEDED:
        inner["code"] = BUDGET_EXCEEDED
    return {"type": "error", "error": inner}


def stream_error(error: BaseException) -> bytes:
    """The in-stream ``error`` event for ``error``: the same envelope and type as a
    whole-body error, on every path (translated or passed through)."""
    if not isinstance(error, GatewayError):
        error = GatewayError(str(error))
    return sse_bytes(orjson.dumps(error_body(error)), "error")
