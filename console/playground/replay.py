"""Open a logged request in the playground: its inbound body, parsed by the gateway's own
dialect parser (chat, responses or anthropic) into a canonical ChatRequest, becomes the
playground's prefill (system, conversation, params, tools, route and dialect).

Parsing through the client codecs (``gateway.codecs``) rather than by hand means a replay reads a body
exactly as the gateway did when it served it: a Responses request's ``instructions``
and ``input`` items, an Anthropic system prompt given as blocks, system messages in the
middle of a conversation. The playground's conversation is text, so tool calls, tool
results and images are written out as bracketed text instead of being dropped."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.service import protocol
from gateway.types import (
    ChatRequest,
    Document,
    Image,
    Message,
    Part,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)

from . import spec as specs

REPLAYABLE_DIALECTS = ("openai", "anthropic", "responses")


def _part_text(part: Part) -> str:
    if isinstance(part, Text):
        return part.text
    if isinstance(part, Image):
        return "[image]"
    if isinstance(part, Document):
        if part.text is not None:
            return part.text
        return f"[document {part.filename or part.media_type or ''}]".replace(" ]", "]")
    if isinstance(part, ToolCall):
        args = part.raw_arguments or orjson.dumps(part.arguments).decode()
        return f"[called {part.name}({args})]"
    if isinstance(part, ToolResult):
        content = "\n".join(_part_text(p) for p in part.content)
        return f"[tool error: {content}]" if part.is_error else f"[tool result: {content}]"
    if isinstance(part, Thinking):
        return ""  # the model's own reasoning is not part of what the user sent
    return f"[{getattr(part, 'kind', 'part')}]"  # e.g. a document: named, not lost


def _message_text(message: Message) -> str:
    return "\n".join(t for t in (_part_text(p) for p in message.parts) if t).strip()


def _conversation(request: ChatRequest) -> tuple[str, list[dict[str, str]]]:
    """The system prompt (top-level plus any system message found mid-conversation)
    and the user/assistant turns, neighbours of the same role merged."""
    system = [t.text for t in request.system if t.text]
    merged: list[dict[str, str]] = []
    for message in request.messages:
        text = _message_text(message)
        if message.role == "system":
            if text:
                system.append(text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if not text:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] += "\n\n" + text
        else:
            merged.append({"role": role, "content": text})
    while merged and merged[-1]["role"] == "assistant":  # a prefill: the prompt ends before
        merged.pop()
    return "\n\n".join(system), merged


def _params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    reasoning = request.reasoning
    if reasoning is not None:
        if reasoning.effort in specs.EFFORTS:
            params["reasoning_effort"] = reasoning.effort
        elif reasoning.effort == "minimal":
            params["reasoning_effort"] = "low"
        elif reasoning.budget_tokens is not None:
            budget = reasoning.budget_tokens
            params["reasoning_effort"] = next(
                (e for e, b in specs.THINKING_BUDGET.items() if budget <= b), "high"
            )
    return params


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description or "", "parameters": t.parameters}
        for t in request.tools
    ]


def parse_logged(dialect: str, inbound: str) -> ChatRequest:
    """The canonical request of a logged inbound body, or a ``ValueError`` saying why
    it cannot be replayed (not JSON, cut short by the journal, refused by its parser)."""
    if dialect not in REPLAYABLE_DIALECTS:
        raise ValueError(f"requests in the {dialect or 'unknown'} dialect cannot be replayed")
    try:
        body = orjson.loads(inbound or b"")
    except orjson.JSONDecodeError:
        raise ValueError(
            "its body was not kept whole (body logging off, or cut at the size limit)"
        ) from None
    try:
        return protocol(dialect).parse_request(body, {})
    except GatewayError as exc:
        raise ValueError(f"its body does not parse: {exc}") from None


def prefill_from_log(route: str, dialect: str, request_id: str, inbound: str) -> dict[str, Any]:
    """The playground prefill for a journaled request (its body as the client sent it).
    A body that cannot be replayed gives an empty prompt and ``replay_error``."""
    column_dialect = "anthropic" if dialect == "anthropic" else "openai"
    prefill: dict[str, Any] = {
        "system": "",
        "messages": [{"role": "user", "content": ""}],
        "params": {},
        "tools": [],
        "columns": [{"route": route, "dialect": column_dialect, "params": {}}],
        "blind": False,
        "replay_of": request_id,
    }
    try:
        request = parse_logged(dialect, inbound)
    except ValueError as exc:
        prefill["replay_error"] = str(exc)
        return prefill
    system, messages = _conversation(request)
    prefill.update(
        system=system,
        messages=messages or prefill["messages"],
        params=_params(request),
        tools=_tools(request),
    )
    if not route:
        prefill["columns"][0]["route"] = request.model
    return prefill
