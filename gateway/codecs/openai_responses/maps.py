"""Facts of the OpenAI Responses wire format both directions read: finish reasons,
usage, error codes, effort buckets, and how a reasoning item rides in a canonical
``Thinking`` part.
"""

from __future__ import annotations

from typing import Any

from gateway.base.errors import UpstreamError
from gateway.base.types import OPENAI_REASONING_PREFIX, FinishReason, Reasoning, Usage
from gateway.codecs import openai_common as common

# deployment.params keys that steer the codec instead of going upstream as body fields.
# reasoning_summary: what ``reasoning.summary`` asks for (auto, concise, detailed; "none"
# leaves it out). encrypted_reasoning: whether to ask for encrypted reasoning items;
# by default only reasoning deployments do (OpenAI answers 400 "Encrypted content is not
# supported with this model" for gpt-4o, gpt-4.1, gpt-5-chat).
CONTROL_PARAMS = frozenset({"reasoning_summary", "encrypted_reasoning"})

# Body fields the codec owns: a caller's or a deployment's value never replaces them.
OWNED_FIELDS = frozenset({"model", "input", "stream", "store"})

ENCRYPTED_REASONING = "reasoning.encrypted_content"

# The API refuses max_output_tokens below 16 (a 400); clients probe with max_tokens 1
# (Claude Code's quota check), so smaller asks are raised to it.
MIN_OUTPUT_TOKENS = 16

# incomplete_details.reason -> canonical finish reason.
INCOMPLETE_REASONS: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}

# In-stream error codes (``error`` events, ``response.failed``) -> the HTTP status the
# same failure would have had before the stream began (routing reads it for retries).
ERROR_CODE_STATUS: dict[str, int] = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "server_is_overloaded": 503,
    "slow_down": 503,
    "invalid_prompt": 400,
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "invalid_image": 400,
    "invalid_image_format": 400,
    "invalid_base64_image": 400,
    "invalid_image_url": 400,
    "image_too_large": 400,
    "image_too_small": 400,
    "image_parse_error": 400,
    "image_content_policy_violation": 400,
    "invalid_image_mode": 400,
    "image_file_too_large": 400,
    "unsupported_image_media_type": 400,
    "empty_image_file": 400,
    "failed_to_download_image": 400,
    "image_file_not_found": 400,
    "vector_store_timeout": 504,
}

# Canonical effort -> the Responses API's reasoning.effort (same words).
EFFORTS = ("minimal", "low", "medium", "high")

# A client's reasoning.effort -> canonical (``xhigh`` is bucketed to ``high``).
CLIENT_EFFORTS: dict[str, str] = {
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}

# A reasoning item rides in Thinking.signature (or .redacted when it has no summary) as
# PREFIX + ITEM_MARK + its id + ":" + its encrypted_content: Anthropic clients echo
# signatures and redacted data unchanged, and so does the ledger for clients that cannot.
# A signature without the prefix came from another vendor (or was never encrypted) and
# cannot be sent to OpenAI. The id goes back with the encrypted content: OpenAI verifies
# the content against its item and refuses one replayed without its id ("The encrypted
# content for item None could not be verified", ``invalid_encrypted_content``). Carried
# values packed before ids were kept (PREFIX + encrypted_content) still unpack, id-less.
REASONING_PREFIX = OPENAI_REASONING_PREFIX
ITEM_MARK = "item:"


# A compaction item another server sealed (OpenAI's ``/responses/compact``) rides in a
# redacted Thinking as PREFIX + COMPACTION_MARK + its encrypted_content: only a Responses
# API upstream reads it (other families drop OpenAI's encrypted items), and there it goes
# back as the compaction item it was.
COMPACTION_MARK = "compaction:"


def pack_compaction(encrypted: str) -> str:
    return REASONING_PREFIX + COMPACTION_MARK + encrypted


def pack_reasoning(encrypted: str, item_id: str | None = None) -> str:
    """A reasoning item's encrypted content (and id, when it has one) as one string a
    client can carry in a signature."""
    if item_id and ":" not in item_id:
        return f"{REASONING_PREFIX}{ITEM_MARK}{item_id}:{encrypted}"
    return REASONING_PREFIX + encrypted


def unpack_reasoning_item(carried: str | None) -> tuple[str | None, str] | None:
    """The item id (None when it was not kept) and encrypted content in a packed
    signature, or None when ``carried`` is not one of ours."""
    if not carried or not carried.startswith(REASONING_PREFIX):
        return None
    rest = carried[len(REASONING_PREFIX) :]
    if rest.startswith(ITEM_MARK):
        item_id, sep, encrypted = rest[len(ITEM_MARK) :].partition(":")
        return (item_id, encrypted) if sep and item_id and encrypted else None
    return (None, rest) if rest else None


def wants_encrypted_reasoning(params: Any, supports_reasoning: bool) -> bool:
    """Whether to ask for ``reasoning.encrypted_content``: the deployment's
    ``encrypted_reasoning`` param when set, else whether it is a reasoning deployment."""
    value = params.get("encrypted_reasoning")
    if value is None:
        return supports_reasoning
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def effort(reasoning: Reasoning | None) -> str | None:
    """The effort for a request's reasoning; a token budget (Anthropic's thinking) is
    bucketed: up to 4k low, up to 16k medium, above high."""
    if reasoning is None:
        return None
    if reasoning.effort in EFFORTS:
        return reasoning.effort
    return common.budget_effort(reasoning.budget_tokens)


def parse_usage(data: Any) -> Usage:
    """Responses usage -> canonical: ``input_tokens`` includes cached tokens there, the
    canonical input excludes them; ``output_tokens`` includes reasoning tokens."""
    if not isinstance(data, dict):
        return Usage()
    prompt = data.get("input_tokens") or 0
    cached = (data.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (data.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=data.get("output_tokens") or 0,
        cache_read_tokens=cached,
        reasoning_tokens=reasoning,
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    """Canonical -> Responses usage: input_tokens counts cached input too (OpenAI's
    convention)."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def finish_reason(response: dict[str, Any], saw_tool_call: bool, saw_refusal: bool) -> FinishReason:
    """The canonical finish reason of a completed or incomplete response object."""
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return INCOMPLETE_REASONS.get(reason or "", "length")
    if saw_tool_call:
        return "tool_calls"
    return "content_filter" if saw_refusal else "stop"


def summary_refused(error: UpstreamError) -> bool:
    """OpenAI's 400 for ``reasoning.summary`` from an organization it has not verified
    ("Your organization must be verified to generate reasoning summaries")."""
    return error.status == 400 and error.param == "reasoning.summary"


def stream_error(detail: Any, fallback: str) -> UpstreamError:
    """An ``error`` event's payload or a failed response's ``error`` object as an
    UpstreamError with the status the code implies (unknown codes: 502)."""
    detail = detail if isinstance(detail, dict) else {}
    code = detail.get("code") if isinstance(detail.get("code"), str) else None
    message = detail.get("message") if isinstance(detail.get("message"), str) else ""
    status = ERROR_CODE_STATUS.get(code or "", 502)
    text = f"upstream stream failed ({code}): {message}" if code else f"upstream: {message}"
    return UpstreamError(text if message else fallback, status=status, code=code)
