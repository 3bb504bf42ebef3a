"""Context compaction for the Responses API (``POST /v1/responses/compact``) on
upstreams that have no compaction of their own.

What the endpoint answers (Open Responses 2026-04-24, ``CompactResource``; the
``openai`` SDK's ``CompactedResponse``): ``object: "response.compaction"`` whose
``output`` is every user message of the conversation, in order, followed by ONE
``compaction`` item standing for everything else (assistant messages, tool calls and
their outputs, reasoning). The client sends that window back as the base ``input`` of
a new response (``previous_response_id`` omitted) and appends its next items.

Here the route's model writes the summary (``summary_request``); the compaction item's
``encrypted_content`` is that summary sealed with the gateway's key (Fernet, as
provider secrets are: ``gateway.base.secrets.crypto``), so it is opaque to the client and cannot be
forged into a "summary" the gateway never wrote. When the window comes back,
``open_items`` turns each of our compaction items into a user message carrying the
summary, before the request is parsed, so the next turn reads it on any upstream.
A compaction item the gateway did not seal (an OpenAI upstream's) is left alone: it
goes on unchanged to a same-format upstream, and other upstreams cannot read it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from gateway.base.entries import same_named
from gateway.base.errors import InvalidRequest
from gateway.base.secrets import crypto
from gateway.base.types import ChatRequest, Document, Image, Message, Text, ToolCall, ToolResult

# encrypted_content of a compaction item the gateway sealed: PREFIX + crypto.encrypt(...)
PREFIX = "switchyard-compaction:"
# The user message a sealed summary becomes when the window is sent back.
SUMMARY_HEADING = "Summary of the earlier conversation (compacted):\n\n"
# Ids of the messages a summary is opened into: a later compaction does not keep them as
# user messages (the new summary covers them).
OPENED_ID_PREFIX = "cmpmsg_"

INSTRUCTIONS = (
    "You compact conversations. Write a summary of the conversation below that lets "
    "the assistant continue it without the original: the user's goals and constraints, "
    "decisions made, facts and results established (tool calls and what they returned), "
    "open tasks and questions, and anything the user asked to remember, with exact "
    "names, numbers and identifiers. Write it as notes to yourself, in the "
    "conversation's language. Answer with the summary only."
)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


# --- sealing ------------------------------------------------------------------------------


def seal(summary: str) -> str:
    return PREFIX + crypto.encrypt(summary)


def unseal(content: str, param: str) -> str:
    try:
        return crypto.decrypt(content[len(PREFIX) :])
    except (ImproperlyConfigured, ValueError):
        raise InvalidRequest(
            "this compaction item cannot be opened: it was sealed with another key "
            "(SECRET_KEY or SWITCHYARD_ENCRYPTION_KEY changed) or altered; compact the "
            "conversation again",
            param=param,
        ) from None


def is_ours(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.get("type") == "compaction"
        and isinstance(item.get("encrypted_content"), str)
        and item["encrypted_content"].startswith(PREFIX)
    )


def open_items(raw: Any) -> Any:
    """``input`` with each compaction item the gateway sealed replaced by a user message
    carrying its summary (anything else, and a non-list ``input``, as it was)."""
    if not isinstance(raw, list) or not any(is_ours(item) for item in raw):
        return raw
    opened: list[Any] = []
    for i, item in enumerate(raw):
        if not is_ours(item):
            opened.append(item)
            continue
        summary = unseal(item["encrypted_content"], f"input[{i}].encrypted_content")
        opened.append(
            {
                "type": "message",
                "role": "user",
                "id": OPENED_ID_PREFIX + uuid.uuid4().hex,
                "content": [{"type": "input_text", "text": SUMMARY_HEADING + summary}],
            }
        )
    return opened


# --- the summary call -----------------------------------------------------------------------


def _transcript(request: ChatRequest) -> str:
    """The conversation as plain text for the summariser (images and files named, not
    sent: the summary is about what was said and done)."""
    lines: list[str] = []
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text) and part.text:
                lines.append(f"{message.role}: {part.text}")
            elif isinstance(part, ToolCall):
                arguments = part.raw_arguments if part.raw_arguments is not None else part.arguments
                lines.append(f"assistant called tool {part.name} ({part.id}) with {arguments}")
            elif isinstance(part, ToolResult):
                text = " ".join(p.text for p in part.content if isinstance(p, Text))
                lines.append(f"tool result for {part.call_id}: {text}")
            elif isinstance(part, Image | Document):
                lines.append(f"{message.role}: [{part.kind}]")
    return "\n".join(lines)


def summary_request(request: ChatRequest) -> ChatRequest:
    """The request that asks the route's model for the summary of ``request``'s
    conversation (its instructions kept as context, its tools not offered)."""
    context = "".join(t.text for t in request.system)
    prompt = _transcript(request)
    if context:
        prompt = f"The assistant's instructions were:\n{context}\n\nThe conversation:\n{prompt}"
    else:
        prompt = f"The conversation:\n{prompt}"
    return ChatRequest(
        **same_named(request, "dialect model headers user prompt_cache_key"),
        system=[Text(INSTRUCTIONS)],
        messages=[Message("user", [Text(prompt)])],
        stream=False,
    )


# --- the answer -------------------------------------------------------------------------------


def kept_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user messages of the conversation, as output items (ids kept, status
    completed), without messages opened from an earlier summary."""
    kept = []
    for item in items:
        if item.get("type", "message") != "message" or item.get("role") != "user":
            continue
        if str(item.get("id") or "").startswith(OPENED_ID_PREFIX):
            continue
        content = item.get("content")
        if isinstance(content, str):
            content = [{"type": "input_text", "text": content}]
        kept.append(
            {
                "id": item.get("id") or _new_id("msg"),
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": content,
            }
        )
    return kept


def resource(items: list[dict[str, Any]], summary: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The ``response.compaction`` object: the user messages, then the compaction item."""
    compaction = {
        "id": _new_id("cmp"),
        "type": "compaction",
        "encrypted_content": seal(summary),
        "created_by": "switchyard",
    }
    return {
        "id": _new_id("resp"),
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [*kept_messages(items), compaction],
        "usage": usage,
    }
