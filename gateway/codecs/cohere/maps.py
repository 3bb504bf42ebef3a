"""Cohere v2 chat facts both halves read: finish reasons, error statuses, usage.

Cohere answers errors as ``{"id": ..., "message": ...}`` with the HTTP status telling
the kind (docs.cohere.com, "Errors"): 400 invalid request (``too many tokens: ...`` for
an over-long prompt), 401 and 498 a bad or expired key, 402 billing, 404 unknown model,
422 unprocessable, 429 rate limit, 499 cancelled, 500/501 server, 503 unavailable, 504
timeout.
"""

from __future__ import annotations

from typing import Any

from gateway.base.types import FinishReason, Usage

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
    match the invoice) win over ``tokens`` (which also counts the chat template).
    ``cached_tokens`` are prompt tokens served from the inference cache: Cohere does not
    bill them, so ``billed_units.input_tokens`` already leaves them out (the canonical
    input's convention) while ``tokens.input_tokens`` counts every prompt token, cached
    ones included. Measured: 5 billed + 7 cached is a 12-token prompt."""
    if not isinstance(data, dict):
        return Usage()
    billed: dict[str, Any] = (
        data["billed_units"] if isinstance(data.get("billed_units"), dict) else {}
    )
    tokens: dict[str, Any] = data["tokens"] if isinstance(data.get("tokens"), dict) else {}

    def number(value: Any) -> int:
        return int(value) if isinstance(value, int | float) and value > 0 else 0

    cached = number(data.get("cached_tokens"))
    billed_input = number(billed.get("input_tokens"))
    if billed_input or (cached and "input_tokens" in billed):
        uncached = billed_input
    else:
        uncached = max(number(tokens.get("input_tokens")) - cached, 0)
    return Usage(
        input_tokens=uncached,
        output_tokens=number(billed.get("output_tokens")) or number(tokens.get("output_tokens")),
        cache_read_tokens=cached,
    )
