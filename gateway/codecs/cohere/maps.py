"""Cohere v2 chat facts both halves read: finish reasons, error statuses, usage.

Cohere answers errors as ``{"id": ..., "message": ...}`` with the HTTP status telling
the kind (docs.cohere.com, "Errors"): 400 invalid request (``too many tokens: ...`` for
an over-long prompt), 401 and 498 a bad or expired key, 402 billing, 404 unknown model,
422 unprocessable, 429 rate limit, 499 cancelled, 500/501 server, 503 unavailable, 504
timeout.
"""

from __future__ import annotations

from typing import Any

from ...types import FinishReason, Usage

# Cohere finish_reason -> canonical. ERROR and TIMEOUT are failures, not reasons
# (outbound turns them into upstream errors).
FINISH: dict[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop_sequence",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
FAILED_FINISH = frozenset({"ERROR", "TIMEOUT"})

# Cohere status -> the status the gateway reasons with. 498 ("invalid token") is a bad
# key like 401; 402 (billing) is the gateway's account, not the caller's request, so it
# fails over like a rejected credential; 422 is a bad request; 499 (cancelled upstream)
# is worth another attempt.
STATUS: dict[int, int] = {498: 401, 402: 403, 422: 400, 499: 502}

# A reasoning effort bucket -> Cohere ``thinking.token_budget``.
EFFORT_BUDGET: dict[str, int] = {"minimal": 1024, "low": 4096, "medium": 16384, "high": 32768}


def finish_reason(raw: str | None, has_tool_calls: bool) -> FinishReason:
    reason = FINISH.get((raw or "COMPLETE").upper(), "stop")
    if reason == "stop" and has_tool_calls:
        return "tool_calls"
    return reason


def usage(data: dict[str, Any] | None) -> Usage:
    """Cohere usage -> canonical. ``billed_units`` (what Cohere charges, so journal costs
    match the invoice) win over ``tokens`` (which also counts the chat template);
    ``cached_tokens`` are prompt tokens served from cache, a part of the input."""
    if not isinstance(data, dict):
        return Usage()
    billed = data.get("billed_units")
    tokens = data.get("tokens")

    def number(value: Any) -> int:
        return int(value) if isinstance(value, int | float) and value > 0 else 0

    def count(name: str) -> int:
        value = number(billed.get(name)) if isinstance(billed, dict) else 0
        if not value and isinstance(tokens, dict):
            value = number(tokens.get(name))
        return value

    cached = number(data.get("cached_tokens"))
    return Usage(
        input_tokens=max(count("input_tokens") - cached, 0),
        output_tokens=count("output_tokens"),
        cache_read_tokens=cached,
    )
