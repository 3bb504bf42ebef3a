"""A server's ``sampling/createMessage`` answered by one of the gateway's own routes,
for a client that did not declare sampling, when the operator set the server's
``sampling_route``.

The request goes through the pipeline every model request takes (``core.service``,
as an OpenAI chat request) under the caller's own key: the key must be allowed the
route (the one authorization decision, as for any request), its limits and budget
apply, and the call is journaled and charged to it like any other. What the route
answers becomes the ``CreateMessageResult``; a refusal or failure becomes a JSON-RPC
error for the server (the server decides what its tool makes of it)."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import orjson

from gateway.base.entries import KeyEntry
from gateway.core import service

INTERNAL_ERROR = -32603
STOP_REASONS = {"stop": "endTurn", "length": "maxTokens", "tool_calls": "toolUse"}


def _content(block: Any) -> Any:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return [
            {
                "type": "image_url",
                "image_url": {"url": f"data:{block.mime_type};base64,{block.data}"},
            }
        ]
    if isinstance(block, types.AudioContent):
        fmt = block.mime_type.split("/")[-1].replace("mpeg", "mp3").replace("x-wav", "wav")
        return [{"type": "input_audio", "input_audio": {"data": block.data, "format": fmt}}]
    return None


def chat_body(route: str, params: types.CreateMessageRequestParams) -> dict[str, Any]:
    """The OpenAI chat request a sampling request asks for."""
    messages: list[dict[str, Any]] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    for message in params.messages:
        blocks = message.content if isinstance(message.content, list) else [message.content]
        parts: list[Any] = []
        for block in blocks:
            converted = _content(block)
            if converted is None:
                raise ValueError(f"sampling content of type {block.type!r} is not relayed")
            parts.extend(
                [{"type": "text", "text": converted}] if isinstance(converted, str) else converted
            )
        text_only = all(part.get("type") == "text" for part in parts)
        content: Any = "".join(p["text"] for p in parts) if text_only else parts
        messages.append({"role": message.role, "content": content})
    body: dict[str, Any] = {"model": route, "messages": messages, "max_tokens": params.max_tokens}
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.stop_sequences:
        body["stop"] = list(params.stop_sequences)[:4]
    return body


async def answer(
    key: KeyEntry, route: str, params: types.CreateMessageRequestParams, *, server: str
) -> types.CreateMessageResult | types.ErrorData:
    """Answer ``params`` with ``route`` under ``key`` (module docstring)."""
    try:
        body = chat_body(route, params)
    except ValueError as exc:
        return types.ErrorData(code=types.INVALID_PARAMS, message=str(exc))
    caller = service.Caller(key=key, user_agent=f"switchyard-mcp-sampling/{server}")
    reply = await service.handle("chat", "openai", orjson.dumps(body), {}, caller)
    if not isinstance(reply, service.Reply):  # a whole answer was asked for
        async for _ in reply.chunks:
            pass
        return types.ErrorData(code=INTERNAL_ERROR, message=f"route {route} answered a stream")
    try:
        answered = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        answered = {}
    if reply.status != 200:
        error = answered.get("error") if isinstance(answered, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return types.ErrorData(
            code=INTERNAL_ERROR,
            message=f"sampling through route {route} failed ({reply.status}): {message or 'error'}",
        )
    choice = (answered.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=text),
        model=str(answered.get("model") or route),
        stop_reason=STOP_REASONS.get(choice.get("finish_reason") or "", "endTurn"),
    )
