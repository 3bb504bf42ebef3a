"""What both halves of the Gemini Interactions wire format read: the codec's name, the
interaction statuses and the canonical finish reasons they stand for, usage
(``total_*_tokens``), the error envelope and its codes, and the id and SSE helpers.

The error envelope is ``{"error": {"code": "<status name>", "message": ...}}`` with a
*string* code (the SDK's ``Error`` model: ``code: str``): Google's lowercase
``google.rpc.Code`` names (``invalid_argument``, ``not_found``, ``resource_exhausted``,
...), paired with the HTTP status Google pairs them with. A numeric code, as
``generateContent``'s envelope has, fails the SDK's error model."""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from gateway.base.types import FinishReason, Usage

NAME = "gemini_interactions"  # the codec's name (``outbound.NAME``)

# HTTP status -> the error code an Interactions client reads.
ERROR_CODES: dict[int, str] = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    409: "aborted",
    413: "invalid_argument",
    429: "resource_exhausted",
    431: "invalid_argument",
    499: "cancelled",
    500: "internal",
    501: "unimplemented",
    502: "unavailable",
    503: "unavailable",
    504: "deadline_exceeded",
}

# A status a finished turn may have (a background one still runs while it is none).
FINAL_STATUSES = frozenset({"completed", "requires_action", "failed", "cancelled", "incomplete"})

# Canonical finish reason -> the interaction's status: a turn that ends calling
# functions waits for their results (``requires_action``); one cut by the token
# ceiling is ``incomplete``.
STATUS_OF_FINISH: dict[FinishReason, str] = {
    "stop": "completed",
    "stop_sequence": "completed",
    "tool_calls": "requires_action",
    "length": "incomplete",
    "content_filter": "incomplete",
    "error": "failed",
}


def usage_body(value: Usage) -> dict[str, int]:
    """Canonical -> the interaction's ``usage`` (the inverse of
    ``upstream_maps.usage``, which reads it). ``total_input_tokens`` includes the
    cached tokens (``total_cached_tokens`` is part of it); thoughts are counted apart
    from the output (``total_output_tokens`` excludes them), and ``total_tokens`` is
    the sum of input and all output, as Gemini bills them."""
    thoughts = value.reasoning_tokens
    out = {
        "total_input_tokens": value.prompt_tokens,
        "total_output_tokens": max(value.output_tokens - thoughts, 0),
        "total_tokens": value.total_tokens,
    }
    if thoughts:
        out["total_thought_tokens"] = thoughts
    if value.cache_read_tokens:
        out["total_cached_tokens"] = value.cache_read_tokens
    return out


def error_body(status: int, message: str) -> dict[str, Any]:
    """The error envelope a client of the Interactions API reads."""
    code = ERROR_CODES.get(status) or ("invalid_argument" if status < 500 else "internal")
    return {"error": {"code": code, "message": message}}


def new_id(prefix: str = "int") -> str:
    """A fresh id (``int_`` for interactions)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def sse(payload: dict[str, Any]) -> bytes:
    """One server-sent event: ``event: <event_type>`` and its JSON data."""
    kind = str(payload.get("event_type") or "message")
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


# How a stream ends, after its last event (the SDKs read up to this sentinel).
DONE = b"data: [DONE]\n\n"
