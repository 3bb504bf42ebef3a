"""Open a logged request in the playground: its inbound body (either dialect) as the
playground's prefill (system, text conversation, params, tools, route and dialect)."""

from __future__ import annotations

from typing import Any

import orjson

from . import playground_spec as specs


def _text_of(content: Any) -> str:
    """Text of a message's content in either dialect; other parts are named, not lost."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    pieces = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            pieces.append(str(part.get("text") or ""))
        elif kind in ("image", "image_url"):
            pieces.append("[image]")
        elif kind == "tool_use":
            args = orjson.dumps(part.get("input") or {}).decode()
            pieces.append(f"[called {part.get('name')}({args})]")
        elif kind == "tool_result":
            pieces.append(f"[tool result: {_text_of(part.get('content'))}]")
        elif kind in ("thinking", "redacted_thinking"):
            continue
    return "\n".join(p for p in pieces if p)


def _openai_message(message: dict[str, Any]) -> tuple[str, str]:
    role = message.get("role")
    text = _text_of(message.get("content"))
    if role == "tool":
        return "user", f"[tool result: {text}]"
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        text += f"\n[called {fn.get('name')}({fn.get('arguments', '')})]"
    return ("assistant" if role == "assistant" else "user"), text.strip()


def _conversation(body: dict[str, Any], dialect: str) -> tuple[str, list[dict[str, str]]]:
    system_parts: list[str] = []
    turns: list[tuple[str, str]] = []
    if dialect == "anthropic":
        system_parts.append(_text_of(body.get("system")))
        for message in body.get("messages") or []:
            if isinstance(message, dict):
                role = "assistant" if message.get("role") == "assistant" else "user"
                turns.append((role, _text_of(message.get("content"))))
    else:
        for message in body.get("messages") or []:
            if not isinstance(message, dict):
                continue
            if message.get("role") in ("system", "developer"):
                system_parts.append(_text_of(message.get("content")))
            else:
                turns.append(_openai_message(message))
    merged: list[dict[str, str]] = []
    for role, text in turns:  # tool turns become user text: merge neighbours
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] += "\n\n" + text
        else:
            merged.append({"role": role, "content": text})
    while merged and merged[-1]["role"] == "assistant":  # a prefill: the prompt ends before
        merged.pop()
    return "\n\n".join(p for p in system_parts if p), merged


def _params(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if isinstance(body.get("temperature"), int | float):
        params["temperature"] = body["temperature"]
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if isinstance(max_tokens, int):
        params["max_tokens"] = max_tokens
    effort = body.get("reasoning_effort")
    if effort in specs.EFFORTS:
        params["reasoning_effort"] = effort
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
        budget = thinking["budget_tokens"]
        params["reasoning_effort"] = next(
            (e for e, b in specs.THINKING_BUDGET.items() if budget <= b), "high"
        )
    return params


def prefill_from_log(route: str, dialect: str, request_id: str, inbound: str) -> dict[str, Any]:
    """The playground prefill for a journaled request (its body as the client sent it)."""
    try:
        body = orjson.loads(inbound or b"{}")
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    dialect = dialect if dialect in specs.DIALECTS else "openai"
    system, messages = _conversation(body, dialect)
    try:
        tools = specs.parse_tools(body.get("tools"))
    except specs.SpecError:
        tools = []
    route = route or str(body.get("model") or "")
    return {
        "system": system,
        "messages": messages or [{"role": "user", "content": ""}],
        "params": _params(body),
        "tools": tools,
        "columns": [{"route": route, "dialect": dialect, "params": {}}],
        "blind": False,
        "replay_of": request_id,
    }
