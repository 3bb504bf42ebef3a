"""What Anthropic's Messages API refuses, per API version and model, for the test mocks
(the mock server in ``tests/integration/mock_upstream.py`` and the ``httpx.MockTransport``
handlers of the unit tests): a mock that accepts everything lets a gateway send
requests the real service answers 400, and no test notices.

Written from the vendor's facts (docs/providers.md, "Anthropic API versions"), not from
the gateway's declarations, so a wrong declaration fails a test instead of agreeing
with itself:

- ``anthropic-version`` is required and must be a version the API has;
- under ``2026-10-21``: ``temperature``, ``top_p`` and ``top_k`` (even at default
  values), a ``document`` block in an assistant turn, non-empty ``citations`` on a
  user's text block (a tool result's too) are each a 400; ``2023-06-01`` takes them;
- Claude Opus 4.7 and later: thinking with ``budget_tokens`` is a 400 (adaptive
  thinking only), and so are ``temperature``, ``top_p`` and ``top_k`` on any version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

KNOWN_VERSIONS = ("2023-06-01", "2026-10-21")
NEW_VERSION = "2026-10-21"
SAMPLING = ("temperature", "top_p", "top_k")
ADAPTIVE_ONLY = re.compile(r"claude-opus-(4-([7-9]|\d\d)|[5-9])")


def refusal(headers: Mapping[str, str], body: Any) -> str | None:
    """Why the API answers 400 to ``body`` sent with ``headers`` (lower-cased names),
    or None when it takes it."""
    version = headers.get("anthropic-version")
    if not version:
        return "anthropic-version: header is required"
    if version not in KNOWN_VERSIONS:
        return f"anthropic-version: {version!r} is not a valid version"
    if not isinstance(body, dict):
        return None
    model = str(body.get("model") or "")
    if ADAPTIVE_ONLY.search(model):
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and "budget_tokens" in thinking:
            return (
                "thinking.budget_tokens: not supported on this model; use thinking.type "
                "'adaptive' with output_config.effort"
            )
        for name in SAMPLING:
            if name in body:
                return f"{name}: not supported on this model"
    if version != NEW_VERSION:
        return None
    for name in SAMPLING:
        if name in body:
            return f"{name}: Extra inputs are not permitted (anthropic-version {version})"
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for j, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            at = f"messages.{i}.content.{j}"
            if message.get("role") == "assistant" and block.get("type") == "document":
                return f"{at}.type: document blocks are not allowed in assistant messages"
            if message.get("role") != "user":
                continue
            if block.get("type") == "text" and block.get("citations"):
                return f"{at}.citations: citations are not allowed on user text blocks"
            inner = block.get("content") if block.get("type") == "tool_result" else None
            for k, item in enumerate(inner if isinstance(inner, list) else []):
                if isinstance(item, dict) and item.get("type") == "text" and item.get("citations"):
                    return f"{at}.content.{k}.citations: citations are not allowed here"
    return None


def error_body(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def refused(request: httpx.Request) -> httpx.Response | None:
    """A 400 as the API gives it for a request it refuses (None: it takes it), for
    ``httpx.MockTransport`` handlers: ``refused(request) or <the handler's answer>``."""
    if not request.url.path.endswith(("/v1/messages", "/v1/messages/count_tokens")):
        return None
    try:
        body = orjson.loads(request.content) if request.content else None
    except orjson.JSONDecodeError:
        return None
    headers = {k.lower(): v for k, v in request.headers.items()}
    problem = refusal(headers, body)
    return None if problem is None else httpx.Response(400, json=error_body(problem))
