"""Canonical request -> Converse body, Converse answer -> canonical response.

Translation choices worth knowing:

- System text (top-level and any ``system`` message) becomes ``system`` blocks; turns
  alternate user/assistant (consecutive same-role messages merge) and tool results lead
  their user turn. Empty text is never sent (Bedrock rejects blank text blocks).
- Images and documents travel as base64 ``bytes``; Bedrock cannot fetch a URL, so an
  image URL is a 400 naming the field rather than a silent drop. A base64 part whose
  media type is a document type (PDF, CSV, ...) becomes a ``document`` block.
- Tool blocks in the history need a ``toolConfig``: a tool the history uses but the
  request no longer lists is declared with an open schema. ``tool_choice: none`` has no
  Converse equivalent: tools are left out unless the history needs them.
- ``response_format`` JSON: without caller tools, a forced tool ``switchyard_json``
  whose input is the answer (returned as JSON text, finish ``stop``); with caller tools,
  a system instruction.
- Reasoning (deployments that support it): Claude's ``thinking`` budget in
  ``additionalModelRequestFields``, never with a forced tool or after an assistant tool
  turn that carries no reasoning block, and with temperature/top_k left out (Claude's
  rules while thinking). Unsigned thinking from another model is not sent back.
- ``Target.params`` are the deployment's fixed settings and win over the request:
  ``max_tokens``/``temperature``/``top_p``/``stop`` go to ``inferenceConfig``, Converse
  top-level fields (``guardrailConfig``, ``performanceConfig``...) are set as given,
  anything else is a model-specific field in ``additionalModelRequestFields``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.types import Document, Image, Text, Thinking, ToolCall, ToolResult
from gateway.codecs.base import Target, add_turn
from gateway.codecs.bedrock import cache_points, maps

JSON_TOOL = "switchyard_json"
MIN_THINKING_BUDGET = 1024
DEFAULT_MAX_TOKENS = 4096
EFFORT_BUDGETS = {"minimal": MIN_THINKING_BUDGET, "low": 2048, "medium": 8192, "high": 24576}
OPEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

# Converse top-level fields a deployment may fix through its params.
BODY_FIELDS = frozenset(
    {
        "guardrailConfig",
        "performanceConfig",
        "promptVariables",
        "requestMetadata",
        "additionalModelResponseFieldPaths",
    }
)
# The Converse response field path of the stop sequence that matched (Claude models).
STOP_SEQUENCE_PATH = "/stop_sequence"
# Deployment params under their canonical names -> inferenceConfig keys.
INFERENCE_PARAMS = {
    "max_tokens": "maxTokens",
    "maxTokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "topP": "topP",
    "stop": "stopSequences",
    "stopSequences": "stopSequences",
}


# --- request ---------------------------------------------------------------------------


def _media(part: Image, where: str) -> dict[str, Any]:
    if part.data is None:
        raise InvalidRequest(
            "Bedrock accepts images and documents as base64 data only, not URLs: send a "
            "data URL (data:<media type>;base64,...)",
            param=where,
        )
    media_type = (part.media_type or "image/png").lower()
    if media_type in maps.IMAGE_FORMATS:
        return {"image": {"format": maps.IMAGE_FORMATS[media_type], "source": {"bytes": part.data}}}
    if media_type in maps.DOCUMENT_FORMATS:
        fmt = maps.DOCUMENT_FORMATS[media_type]
        return {
            "document": {"format": fmt, "name": f"document-{fmt}", "source": {"bytes": part.data}}
        }
    raise InvalidRequest(f"Bedrock cannot take media of type {media_type!r}", param=where)


# Bedrock document names: letters, digits, spaces (not two in a row), hyphens,
# parentheses and square brackets.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9\-()\[\] ]+")


def _document(doc: Document, where: str, names: set[str]) -> dict[str, Any]:
    """Text documents as text; files as a ``document`` block whose name is unique in
    the request (Bedrock refuses two documents of one name)."""
    if doc.text is not None:
        return {"text": doc.text}
    fmt = maps.DOCUMENT_FORMATS.get((doc.media_type or "application/pdf").lower())
    if doc.data is None or fmt is None:  # capabilities refuses these first
        raise InvalidRequest(
            f"Bedrock cannot take a document of type {doc.content_type()}", param=where
        )
    stem = _NAME_UNSAFE.sub("-", doc.name().rsplit(".", 1)[0])
    stem = re.sub(r"\s+", " ", stem).strip()[:180] or "document"
    name, index = stem, 1
    while name in names:
        name, index = f"{stem}-{index}", index + 1
    names.add(name)
    return {"document": {"format": fmt, "name": name, "source": {"bytes": doc.data}}}


def _result_content(result: ToolResult, where: str, names: set[str]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in result.content:
        if isinstance(part, Text):
            if part.text:
                content.append({"text": part.text})
        elif isinstance(part, Document):
            content.append(_document(part, where, names))
        else:
            content.append(_media(part, where))
    return content or [{"text": "(empty)"}]


def _block(part: t.Part, where: str, names: set[str]) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"text": part.text} if part.text else None
    if isinstance(part, Image):
        return _media(part, where)
    if isinstance(part, Document):
        return _document(part, where, names)
    if isinstance(part, ToolCall):
        return {"toolUse": {"toolUseId": part.id, "name": part.name, "input": part.arguments}}
    if isinstance(part, ToolResult):
        result: dict[str, Any] = {
            "toolUseId": part.call_id,
            "content": _result_content(part, where, names),
        }
        if part.is_error:
            result["status"] = "error"
        return {"toolResult": result}
    if isinstance(part, Thinking) and part.claude_signed():  # not OpenAI's encrypted
        if part.redacted:
            return {"reasoningContent": {"redactedContent": part.redacted}}
        if part.signature:
            return {
                "reasoningContent": {
                    "reasoningText": {"text": part.text, "signature": part.signature}
                }
            }
    return None  # unsigned thinking (another model's): Claude would reject it


def _turns(
    messages: list[t.Message], caching: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """Alternating Converse turns, and the system texts moved out of the messages;
    ``caching``: a cachePoint follows each part with a breakpoint."""
    turns: list[dict[str, Any]] = []
    system: list[str] = []
    names: set[str] = set()
    for i, message in enumerate(messages):
        if message.role == "system":
            if text := message.text():
                system.append(text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        where = f"messages[{i}].content"
        blocks = []
        for part in message.parts:
            if (block := _block(part, where, names)) is not None:
                blocks.append(block)
                if caching and (ttl := cache_points.of_part(part)):
                    blocks.append(cache_points.point(ttl))
        if not blocks:
            continue
        add_turn(turns, role, blocks)
    for turn in turns:
        if turn["role"] == "user":  # tool results open their user turn
            turn["content"].sort(key=lambda block: "toolResult" not in block)
    return turns, system


def _used_tool_names(turns: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for turn in turns:
        for block in turn["content"]:
            name = block.get("toolUse", {}).get("name")
            if name and name not in names:
                names.append(name)
    return names


def _has_tool_blocks(turns: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for turn in turns for b in turn["content"])


def _unreasoned_tool_turn(turns: list[dict[str, Any]]) -> bool:
    """Whether the last assistant turn calls tools without opening with reasoning: with
    thinking on, Claude rejects that (history from another model)."""
    for turn in reversed(turns):
        if turn["role"] == "assistant":
            content = turn["content"]
            calls = any("toolUse" in block for block in content)
            return calls and "reasoningContent" not in content[0]
    return False


def _spec(name: str, description: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name}
    if description:
        spec["description"] = description
    spec["inputSchema"] = {"json": schema}
    return {"toolSpec": spec}


def _tool_config(
    request: t.ChatRequest, turns: list[dict[str, Any]], system: list[str]
) -> dict[str, Any] | None:
    choice = request.tool_choice
    mode = choice.mode if choice is not None else "auto"
    tools = []
    if request.tools and (mode != "none" or _has_tool_blocks(turns)):
        tools = [_spec(tool.name, tool.description, tool.parameters) for tool in request.tools]
    declared = {tool["toolSpec"]["name"] for tool in tools}
    for name in _used_tool_names(turns):
        if name not in declared:
            tools.append(_spec(name, None, OPEN_SCHEMA))
            declared.add(name)
    tool_choice: dict[str, Any] | None = None
    if tools and request.tools and mode == "required":
        tool_choice = {"any": {}}
    elif tools and request.tools and mode == "tool" and choice is not None and choice.name:
        tool_choice = {"tool": {"name": choice.name}}

    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        schema = fmt.schema or {"type": "object"}
        if not request.tools and schema.get("type", "object") == "object":
            tools.append(_spec(JSON_TOOL, "Give your answer as this tool's input.", schema))
            tool_choice = {"tool": {"name": JSON_TOOL}}
        else:
            text = "Respond with a single JSON object and nothing else."
            if fmt.schema:
                text += " It must match this JSON schema: " + orjson.dumps(fmt.schema).decode()
            system.append(text)
    if not tools:
        return None
    config: dict[str, Any] = {"tools": tools}
    if tool_choice is not None:
        config["toolChoice"] = tool_choice
    return config


def _max_tokens(request: t.ChatRequest, target: Target) -> int | None:
    ceiling = target.max_output_tokens
    wanted = request.max_tokens if request.max_tokens is not None else ceiling
    if wanted is not None and ceiling:
        return min(wanted, ceiling)
    return wanted


def _thinking(
    request: t.ChatRequest, target: Target, max_tokens: int | None
) -> tuple[dict[str, Any] | None, int | None]:
    """Claude's ``thinking`` field and a maxTokens that leaves room for its budget."""
    reasoning = request.reasoning
    if reasoning is None or not target.supports_reasoning:
        return None, max_tokens
    budget = reasoning.budget_tokens or EFFORT_BUDGETS.get(reasoning.effort or "", 8192)
    budget = max(MIN_THINKING_BUDGET, budget)
    if max_tokens is None or max_tokens <= budget:
        total = budget + (max_tokens or DEFAULT_MAX_TOKENS)
        if target.max_output_tokens:
            total = min(total, target.max_output_tokens)
        budget = min(budget, total - 1)
        if budget < MIN_THINKING_BUDGET:
            return None, max_tokens
        max_tokens = total
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def build_request(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    """The Converse (and ConverseStream: same body) request for ``request``."""
    if request.n is not None and request.n > 1:
        raise InvalidRequest("Bedrock does not support n > 1 (several choices)", param="n")
    caching = cache_points.supported(target.model)
    turns, moved = _turns(request.messages, caching)
    own_system = [part for part in request.system if part.text]
    system = [part.text for part in own_system] + moved
    body: dict[str, Any] = {"messages": turns}
    tool_config = _tool_config(request, turns, system)

    max_tokens = _max_tokens(request, target)
    thinking, max_tokens = _thinking(request, target, max_tokens)
    forced = tool_config is not None and any(
        key in tool_config.get("toolChoice", {}) for key in ("any", "tool")
    )
    if thinking and (forced or _unreasoned_tool_turn(turns)):
        thinking, max_tokens = None, _max_tokens(request, target)

    inference: dict[str, Any] = {}
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    if not thinking and request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None and (not thinking or request.top_p >= 0.95):
        inference["topP"] = request.top_p
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    additional: dict[str, Any] = {}
    if thinking:
        additional["thinking"] = thinking
    elif request.top_k is not None and target.supports_top_k:
        additional["top_k"] = request.top_k

    for name, value in target.params.items():
        if name in INFERENCE_PARAMS:
            inference[INFERENCE_PARAMS[name]] = value
        elif name == "inferenceConfig" and isinstance(value, dict):
            inference.update(value)
        elif name == "additionalModelRequestFields" and isinstance(value, dict):
            additional.update(value)
        elif name in BODY_FIELDS:
            body[name] = value
        else:
            additional[name] = value

    if system:
        body["system"] = [{"text": text} for text in system]
        if caching:
            body["system"] = cache_points.system(body["system"], own_system)
    if inference:
        body["inferenceConfig"] = inference
    if tool_config:
        if cache_points.tools_supported(target.model):
            cache_points.mark_tools(tool_config, request.tools)
        body["toolConfig"] = tool_config
    if additional:
        body["additionalModelRequestFields"] = additional
    if request.stop and "anthropic." in target.model:
        # Claude on Bedrock tells which stop sequence matched only when asked: an
        # Anthropic client reads it as ``stop_sequence``.
        paths = body.get("additionalModelResponseFieldPaths")
        paths = list(paths) if isinstance(paths, list) else []
        if STOP_SEQUENCE_PATH not in paths:
            body["additionalModelResponseFieldPaths"] = [*paths, STOP_SEQUENCE_PATH]
    return body


# --- response --------------------------------------------------------------------------


def parse_response(data: Any) -> t.ChatResponse:
    """A Converse answer as a canonical response. Converse names neither the response
    nor the model: the client codec fills in its own id and the public model name."""
    if not isinstance(data, dict):
        raise UpstreamError("Bedrock answer is not a JSON object", status=502)
    message = (data.get("output") or {}).get("message") or {}
    parts: list[t.Part] = []
    real_tools = False
    for block in message.get("content") or []:
        if "text" in block:
            parts.append(Text(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            if use.get("name") == JSON_TOOL:
                parts.append(Text(orjson.dumps(use.get("input") or {}).decode()))
            else:
                real_tools = True
                parts.append(
                    ToolCall(
                        id=use.get("toolUseId", ""),
                        name=use.get("name", ""),
                        arguments=use.get("input") or {},
                    )
                )
        elif "reasoningContent" in block:
            content = block["reasoningContent"]
            if "redactedContent" in content:
                parts.append(Thinking(redacted=content["redactedContent"]))
            else:
                text = content.get("reasoningText") or {}
                parts.append(Thinking(text=text.get("text", ""), signature=text.get("signature")))
    fields = data.get("additionalModelResponseFields") or {}
    return t.ChatResponse(
        id="",
        model="",
        parts=parts,
        finish_reason=maps.finish_reason(data.get("stopReason"), not real_tools),
        stop_sequence=fields.get("stop_sequence") if isinstance(fields, dict) else None,
        usage=maps.usage(data.get("usage")),
    )


def parse_error(status: int, body: bytes, error_type: str | None = None) -> UpstreamError:
    """A Bedrock error answer: ``{"message": ...}`` with the type in the
    ``x-amzn-errortype`` header (passed as ``error_type``) or a ``__type`` field."""
    message: str | None = None
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("Message")
        error_type = error_type or payload.get("__type")
    if message is None and not isinstance(payload, dict):
        message = body.decode("utf-8", "replace").strip()[:500] or None
    return maps.error(error_type, message, status)
