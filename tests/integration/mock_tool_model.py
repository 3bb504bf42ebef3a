"""A mock model that uses tools, for the mock upstream (``MockUpstream.default``).

Offered a tool whose name ends with ``suffix``, it calls it (with ``arguments``); once
the conversation holds tool results, it answers with their text. Reads both upstream
protocols: OpenAI chat (``tools[].function.name``, ``role: tool`` messages) and
Anthropic Messages (``tools[].name``, ``tool_result`` blocks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .mock_upstream import Reply, Seen, ToolUse


def _results(body: dict[str, Any]) -> list[str]:
    out = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if message.get("role") == "tool":
            out.append(content if isinstance(content, str) else json.dumps(content))
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    inner = block.get("content")
                    if isinstance(inner, list):
                        inner = " ".join(b.get("text", "") for b in inner if isinstance(b, dict))
                    out.append(str(inner or ""))
    return out


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [(t.get("function") or t).get("name", "") for t in body.get("tools") or []]


def tool_caller(suffix: str, arguments: dict[str, Any] | None = None) -> Callable[[Seen], Reply]:
    def reply(seen: Seen) -> Reply:
        body = seen.body or {}
        results = _results(body)
        if results:
            return Reply(text="The tool said: " + " | ".join(results))
        target = next((n for n in _tool_names(body) if n.endswith(suffix)), None)
        if target is None:
            return Reply(text="No tool was offered.")
        call = ToolUse(id="call_mock_1", name=target, arguments=json.dumps(arguments or {}))
        return Reply(tool_calls=[call])

    return reply


def chatty_caller(steps: list[tuple[str, str, dict[str, Any]]]) -> Callable[[Seen], Reply]:
    """A model that talks between its tool calls: step ``n`` (once ``n`` tool results
    are in the conversation) says its text and calls the tool ending with its suffix;
    after the last step it answers with every result."""

    def reply(seen: Seen) -> Reply:
        body = seen.body or {}
        results = _results(body)
        if len(results) >= len(steps):
            return Reply(text="Done: " + " | ".join(results))
        text, suffix, arguments = steps[len(results)]
        target = next((n for n in _tool_names(body) if n.endswith(suffix)), None)
        if target is None:
            return Reply(text="No tool was offered.")
        call = ToolUse(id=f"call_mock_{len(results)}", name=target, arguments=json.dumps(arguments))
        return Reply(text=text, tool_calls=[call])

    return reply
