"""Responses API items as the gateway keeps them (stored responses, conversations) and
sends them back (a chain's or a conversation's history): ids given, message content as
lists, the server's fields dropped on the way back in."""

from __future__ import annotations

import uuid
from typing import Any

# Output item types that are conversation (and so go into the next turn's input).
# Hosted MCP items (gateway/features/mcp/hosted) are carried with their ids: an approval
# response names its request's id, and a call's id is its place in the conversation.
_MCP_ITEMS = frozenset({"mcp_list_tools", "mcp_call", "mcp_approval_request"})
# A web search's item (OpenAI's, or the gateway's: gateway/features/server_tools) goes
# back whole: OpenAI reads it by its id and status, the parser as the call it was.
_WHOLE_ITEMS = frozenset({*_MCP_ITEMS, "web_search_call"})
_CARRIED_OUTPUT = frozenset({"message", "function_call", "reasoning", *_WHOLE_ITEMS})
_ID_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _message_content(role: str, content: Any) -> Any:
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        part: dict[str, Any] = {"type": kind, "text": content}
        if kind == "output_text":
            part["annotations"] = []
        return [part]
    return content


def normalize_input(raw: Any) -> list[dict[str, Any]]:
    """This turn's input as stored items (as ``input_items`` lists them): a string is a
    user message, every item gets an id and messages a content list. Shapes the parser
    refuses are left to it (this runs only on input it accepted or will judge)."""
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        return []
    items: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind is None:
            continue
        item["type"] = kind
        if kind == "message":
            item["content"] = _message_content(str(item.get("role")), item.get("content"))
            item.setdefault("status", "completed")
        if not item.get("id"):
            item["id"] = new_id(_ID_PREFIX.get(kind, "item"))
        items.append(item)
    return items


def as_input(item: dict[str, Any]) -> dict[str, Any]:
    """An item as it goes back into a request: without the server's id and status (an
    upstream that keeps no state of its own must not look them up)."""
    if item.get("type") == "web_search_call":
        return dict(item)
    if item.get("type") in _MCP_ITEMS:
        return {k: v for k, v in item.items() if k != "status"}
    return {k: v for k, v in item.items() if k not in ("id", "status")}


def carried_output(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in output if item.get("type") in _CARRIED_OUTPUT]
