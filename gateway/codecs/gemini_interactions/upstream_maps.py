"""What the upstream half of the Gemini Interactions format reads besides the steps:
tool-call ids that carry the upstream's call id and thought signature, the
interaction's status as a finish reason, its usage, and Google's error envelope.

Facts of the wire (the ``steps`` schema, ``Api-Revision: 2026-05-20``, the only one
since June 2026; ai.google.dev/gemini-api/docs/interactions-breaking-changes-may-2026
and the ``google-genai`` SDK's generated types):

- a function call is a ``function_call`` step with an ``id`` of the upstream's making;
  its result is a ``function_result`` step naming it in ``call_id``;
- thought signatures live on ``thought`` steps (``signature``, always present; the
  ``summary`` is optional), which come right before the function calls they sign. A
  stateless client must send those thought steps back with their calls (the model's
  reasoning state between the call and its result).

Ids: a client echoes a tool-call id unchanged but has no field for a signature, so the
id is ``gi_<upstream id in hex>`` and, for a call the thought step before it signed,
``_<the signature in base64url>`` after it. Any worker restores both from the id
alone (no ledger entry, no shared state), and the ids stay within
``^[A-Za-z0-9_-]+$``, which Anthropic requires of ``tool_use`` ids.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from gateway.base.errors import UpstreamError
from gateway.base.types import FinishReason, Usage
from gateway.codecs import google_common

# The schema revision the codec speaks (sent as the ``Api-Revision`` header).
API_REVISION = "2026-05-20"

_ID = re.compile(r"^gi_(?P<id>(?:[0-9a-f]{2})+)(?:_(?P<sig>[A-Za-z0-9_-]+))?$")


def call_id(upstream_id: str, signature: str | None) -> str:
    """The client-facing id of the upstream's function call ``upstream_id`` (signed
    with ``signature`` by the thought step before it, if any)."""
    out = "gi_" + upstream_id.encode().hex()
    if signature:
        out += "_" + base64.urlsafe_b64encode(signature.encode()).decode().rstrip("=")
    return out


def split_call_id(tool_call_id: str) -> tuple[str, str | None]:
    """The upstream's call id and the signature a ``call_id`` carries; an id of
    another origin (history from another model) is its own upstream id, unsigned."""
    match = _ID.match(tool_call_id)
    if match is None:
        return tool_call_id, None
    try:
        upstream = bytes.fromhex(match["id"]).decode()
    except UnicodeDecodeError:
        return tool_call_id, None
    sig = match["sig"]
    if not sig:
        return upstream, None
    try:
        return upstream, base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return upstream, None


# Interaction ``status`` -> canonical finish reason (``completed``: stop, the default).
# ``requires_action`` is how an interaction that called functions ends; ``incomplete``
# ran out of output tokens.
FINISH_REASONS: dict[str, FinishReason] = {
    "requires_action": "tool_calls",
    "incomplete": "length",
    "budget_exceeded": "length",
}
# Statuses that are a failure, not an answer.
FAILED = frozenset({"failed", "cancelled"})


def finish_reason(status: str | None, calls_tools: bool) -> FinishReason:
    reason = FINISH_REASONS.get(status or "completed", "stop")
    if calls_tools and reason == "stop":
        return "tool_calls"
    return reason


def usage(raw: Any) -> Usage:
    """The interaction's ``usage`` -> canonical. ``total_input_tokens`` includes the
    cached tokens (canonical input excludes them); thoughts count toward output, as
    Gemini bills them."""
    if not isinstance(raw, dict):
        return Usage()
    prompt = _int(raw.get("total_input_tokens")) + _int(raw.get("total_tool_use_tokens"))
    cached = _int(raw.get("total_cached_tokens"))
    thoughts = _int(raw.get("total_thought_tokens"))
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=_int(raw.get("total_output_tokens")) + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def created(value: Any) -> int:
    """An ISO 8601 time (``created``) as Unix seconds; 0 when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def error_from_object(error: Any, status: int | None = None) -> UpstreamError:
    """An ``UpstreamError`` from Google's error object (``{"code", "message",
    "status"}`` over HTTP; ``{"code": <uri>, "message"}`` in a stream's ``error``
    event). A key Google refuses is a 400 with reason ``API_KEY_INVALID``: a 401."""
    error, name, message, status = google_common.error_fields(error, status)
    reasons = [
        d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)
    ]  # fmt: skip
    if "API_KEY_INVALID" in reasons or "API_KEY_EXPIRED" in reasons:
        status = 401
    return google_common.upstream_error("Gemini Interactions", name, message, status)


def parse_error(status: int, body: bytes) -> UpstreamError:
    """The upstream's error body as an ``UpstreamError`` carrying ``status``."""
    return google_common.parse_error(status, body, error_from_object)
