"""The client half of the Gemini wire format: what Gemini CLI and the ``google-genai``
SDK send to ``models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``,
``:countTokens``), and the bodies, SSE chunks, model lists and errors they expect back.

Translation choices worth knowing:

- Field names are read in camelCase or snake_case (Google's API takes both); schemas,
  function arguments and responses keep their own keys untouched.
- The model and whether to stream come from the URL; the endpoint puts them in the body
  as ``model`` and ``stream`` before this module reads it.
- Function calls: a ``functionCall`` with an ``id`` keeps it; one without gets an id
  made from its position and name (stable within the request). A ``functionResponse``
  answers the call with its ``id``, else the first unanswered call of that name, in
  order. A call's ``thoughtSignature`` is folded into its id the way the outbound half
  does (``ids``), so Gemini -> gateway -> Gemini keeps the signature; rendering puts the
  upstream's tool-call id in ``functionCall.id`` (which clients echo back) and a carried
  signature back in ``thoughtSignature``.
- Thinking: ``thought: true`` parts are canonical thinking (the answer renders them
  back that way); ``thinkingConfig`` maps to a token budget or an effort level.
- ``responseSchema`` (Google's OpenAPI subset, upper-case types) and
  ``responseJsonSchema`` become a JSON-schema response format; tool ``parameters`` the
  same way. Fields no canonical field holds (``safetySettings``, ``cachedContent``,
  other tools such as ``googleSearch``, extra ``generationConfig`` keys) go to
  ``extra`` and ``unmapped``: forwarded to a Gemini upstream, dropped or refused for
  others per the route's ``drop_params``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.errors import BUDGET_EXCEEDED, GatewayError, InvalidRequest
from gateway.base.streaming import sse_bytes
from gateway.base.types import PartStart, PartStop, Start, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.base import gateway_status
from gateway.codecs.gemini import ids, maps
from gateway.codecs.gemini.outbound import PLACEHOLDER_SIGNATURE
from gateway.codecs.google_common import arguments_object, call_arguments, config_number
from gateway.codecs.inbound_common import client_dialect

name = "gemini"

# Top-level request fields the canonical request models (camelCase). ``model`` and
# ``stream`` are the endpoint's (from the URL); ``max_tokens`` is what the service's
# token counter adds to a count request.
_MODELED = {
    "model",
    "stream",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
}
# Top-level names a route's default params (or the token counter's ``max_tokens``) use:
# each fills its ``generationConfig`` field when the client left it unset.
_DEFAULTS = {
    "temperature": "temperature",
    "topP": "topP",
    "topK": "topK",
    "maxTokens": "maxOutputTokens",
    "maxOutputTokens": "maxOutputTokens",
    "stop": "stopSequences",
    "stopSequences": "stopSequences",
}
# generationConfig fields the canonical request models; the others are forwarded to a
# Gemini upstream (extra) and named in unmapped.
_GENERATION_MODELED = {
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "candidateCount",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
}
_LEVELS = {"minimal", "low", "medium", "high"}
# HTTP status -> google.rpc.Code name, as Google pairs them.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    431: "INVALID_ARGUMENT",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_SNAKE = re.compile(r"_([a-z0-9])")


# --- request ---------------------------------------------------------------------------


def camel(key: str) -> str:
    """``max_output_tokens`` -> ``maxOutputTokens`` (camelCase names unchanged)."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), key) if "_" in key else key


def _fields(value: Any, where: str) -> dict[str, Any]:
    """One object of the request with its keys camelCased (one level only: nested
    schemas and arguments keep their keys)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be an object", param=where)
    return {camel(k): v for k, v in value.items()}


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"{where} must be a list", param=where)
    return value


def json_schema(schema: Any) -> Any:
    """Google's OpenAPI-subset ``Schema`` (``type: "OBJECT"``, ``nullable``,
    ``propertyOrdering``) as JSON Schema; a JSON schema passes through unchanged apart
    from lower-cased type names."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    nullable = False
    for key, value in schema.items():
        key = camel(key) if key in ("any_of", "max_items", "min_items") else key
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "nullable":
            nullable = value is True
        elif key == "propertyOrdering" or key == "property_ordering":
            continue
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {prop: json_schema(sub) for prop, sub in value.items()}
        elif key in ("enum", "const", "default", "example", "examples", "required"):
            out[key] = value
        else:
            out[key] = json_schema(value)
    if nullable and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _same_signature(ours: str | None, theirs: str) -> bool:
    """Whether two spellings are one signature: a signature is bytes, which Google's
    SDKs hold decoded and send back in URL-safe base64 whatever the spelling received."""
    if ours is None:
        return False
    if ours == theirs:
        return True

    def norm(text: str) -> str:
        return text.rstrip("=").replace("+", "-").replace("/", "_")

    return norm(ours) == norm(theirs)


class _Calls:
    """Canonical ids of the conversation's function calls, and which are answered."""

    def __init__(self) -> None:
        self.count = 0
        self.pending: list[t.ToolCall] = []  # calls not answered yet, in order
        self.aliases: dict[str, str] = {}  # client id -> canonical id, where they differ

    def call(self, raw: dict[str, Any], signature: Any, where: str) -> t.ToolCall:
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{where}.name must be a non-empty string", param=where)
        args = raw.get("args")
        if args is not None and not isinstance(args, dict):
            raise InvalidRequest(f"{where}.args must be an object", param=where)
        given = raw.get("id")
        if not isinstance(signature, str) or signature in ("", PLACEHOLDER_SIGNATURE):
            signature = None  # Gemini CLI vouches for unsigned calls with the placeholder
        if isinstance(given, str) and given:
            call_id = given
            if signature and not _same_signature(ids.signature_of(given), signature):
                # a client id cannot carry the signature: ours, made from the position
                call_id = ids.call_id(f"gemini-in:{given}", self.count, name, signature)
        else:
            call_id = ids.call_id("gemini-in", self.count, name, signature)
        self.count += 1
        call = t.ToolCall(id=call_id, name=name, arguments=dict(args or {}))
        self.pending.append(call)
        if isinstance(given, str) and given and given != call_id:
            self.aliases[given] = call_id
        return call

    def answer(self, raw: dict[str, Any], where: str) -> str:
        """The id of the call ``raw`` (a ``functionResponse``) answers."""
        name = raw.get("name")
        given = raw.get("id")
        if isinstance(given, str) and given:
            wanted = self.aliases.get(given, given)
            for i, call in enumerate(self.pending):
                if call.id == wanted:
                    del self.pending[i]
                    return wanted
        for i, call in enumerate(self.pending):
            if call.name == name:
                del self.pending[i]
                return call.id
        raise InvalidRequest(
            f"{where} answers no earlier functionCall (no unanswered call named {name!r})",
            param=where,
        )


def _result_content(response: Any) -> tuple[list[t.Text | t.Image | t.Document], bool]:
    """A ``functionResponse.response`` as tool-result text. Google's convention:
    ``{"output": ...}`` or ``{"result": ...}`` for success, ``{"error": ...}`` for a
    failure; any other object is sent as its JSON."""
    if isinstance(response, dict) and len(response) == 1:
        ((key, value),) = response.items()
        if key in ("output", "result", "error", "content"):
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            return [t.Text(text)], key == "error"
    if response is None:
        return [t.Text("")], False
    return [t.Text(orjson.dumps(response).decode())], False


def _media(data: dict[str, Any], where: str, inline: bool) -> t.Image:
    mime = data.get("mimeType")
    if inline:
        payload = data.get("data")
        if not isinstance(payload, str):
            raise InvalidRequest(f"{where}.data must be a base64 string", param=where)
        return t.Image(data=payload, media_type=mime if isinstance(mime, str) else None)
    uri = data.get("fileUri")
    if not isinstance(uri, str) or not uri:
        raise InvalidRequest(f"{where}.fileUri must be a non-empty string", param=where)
    return t.Image(url=uri, media_type=mime if isinstance(mime, str) else None)


def _turn(content: Any, i: int, calls: _Calls, unmapped: list[str]) -> tuple[str, list[t.Part]]:
    where = f"contents[{i}]"
    turn = _fields(content, where)
    role = turn.get("role") or "user"
    if role not in ("user", "model", "function", "tool"):
        raise InvalidRequest(f"{where}.role must be 'user' or 'model'", param=f"{where}.role")
    parts: list[t.Part] = []
    for j, raw_part in enumerate(_list(turn.get("parts"), f"{where}.parts")):
        at = f"{where}.parts[{j}]"
        part = _fields(raw_part, at)
        if "functionCall" in part:
            parts.append(
                calls.call(
                    _fields(part["functionCall"], f"{at}.functionCall"),
                    part.get("thoughtSignature"),
                    f"{at}.functionCall",
                )
            )
        elif "functionResponse" in part:
            response = _fields(part["functionResponse"], f"{at}.functionResponse")
            call_id = calls.answer(response, f"{at}.functionResponse")
            content_parts, is_error = _result_content(response.get("response"))
            parts.append(t.ToolResult(call_id=call_id, content=content_parts, is_error=is_error))
        elif "inlineData" in part:
            parts.append(_media(_fields(part["inlineData"], at), f"{at}.inlineData", True))
        elif "fileData" in part:
            parts.append(_media(_fields(part["fileData"], at), f"{at}.fileData", False))
        elif "text" in part:
            text = part["text"]
            if not isinstance(text, str):
                raise InvalidRequest(f"{at}.text must be a string", param=at)
            if part.get("thought"):
                if text:
                    parts.append(t.Thinking(text))
            elif text or not part.get("thoughtSignature"):
                parts.append(t.Text(text))
        elif "thoughtSignature" in part or "thought" in part:
            continue  # a bare signature or empty thought: nothing to carry
        else:
            kinds = sorted(k for k in part if k not in ("thought", "thoughtSignature"))
            if not kinds:
                raise InvalidRequest(f"{at} is empty", param=at)
            unmapped.extend(kinds)  # executableCode, codeExecutionResult, videoMetadata...
    return ("assistant" if role == "model" else "user"), parts


def _system(value: Any) -> list[t.Text]:
    if value is None:
        return []
    if isinstance(value, str):
        return [t.Text(value)] if value else []
    instruction = _fields(value, "systemInstruction")
    out = []
    for j, raw in enumerate(_list(instruction.get("parts"), "systemInstruction.parts")):
        part = _fields(raw, f"systemInstruction.parts[{j}]")
        if isinstance(part.get("text"), str) and part["text"]:
            out.append(t.Text(part["text"]))
    return out


def _tools(value: Any, extra_tools: list[Any]) -> list[t.Tool]:
    tools: list[t.Tool] = []
    for i, raw in enumerate(_list(value, "tools")):
        entry = _fields(raw, f"tools[{i}]")
        declarations = entry.pop("functionDeclarations", None)
        for j, decl in enumerate(_list(declarations, f"tools[{i}].functionDeclarations")):
            where = f"tools[{i}].functionDeclarations[{j}]"
            fields = _fields(decl, where)
            tool_name = fields.get("name")
            if not isinstance(tool_name, str) or not tool_name:
                raise InvalidRequest(f"{where}.name must be a non-empty string", param=where)
            schema = fields.get("parametersJsonSchema") or fields.get("parameters")
            parameters = json_schema(schema) if isinstance(schema, dict) else None
            description = fields.get("description")
            tools.append(
                t.Tool(
                    name=tool_name,
                    description=description if isinstance(description, str) else None,
                    parameters=parameters or {"type": "object", "properties": {}},
                )
            )
        if entry:  # googleSearch, codeExecution, urlContext...: Gemini's own tools
            extra_tools.append(entry)
    return tools


def _tool_choice(value: Any) -> t.ToolChoice | None:
    config = _fields(_fields(value, "toolConfig").get("functionCallingConfig"), "toolConfig")
    mode = str(config.get("mode") or "").upper()
    if not mode or mode == "MODE_UNSPECIFIED":
        return None
    if mode == "NONE":
        return t.ToolChoice("none")
    if mode in ("ANY", "VALIDATED"):
        allowed = config.get("allowedFunctionNames") or []
        if isinstance(allowed, list) and len(allowed) == 1 and isinstance(allowed[0], str):
            return t.ToolChoice("tool", name=allowed[0])
        return t.ToolChoice("required")
    if mode == "AUTO":
        return t.ToolChoice("auto")
    raise InvalidRequest(
        f"toolConfig.functionCallingConfig.mode {mode!r} is not one of AUTO, ANY, NONE",
        param="toolConfig.functionCallingConfig.mode",
    )


def _reasoning(value: Any) -> t.Reasoning | None:
    config = _fields(value, "generationConfig.thinkingConfig")
    level = config.get("thinkingLevel")
    if isinstance(level, str) and level.lower() in _LEVELS:
        return t.Reasoning(effort=level.lower())  # type: ignore[arg-type]
    budget = config.get("thinkingBudget")
    if isinstance(budget, int) and not isinstance(budget, bool):
        if budget == 0:
            return None  # thinking off
        if budget < 0:
            return t.Reasoning(effort="medium")  # -1: dynamic, the model decides
        return t.Reasoning(budget_tokens=budget)
    if config.get("includeThoughts"):
        return t.Reasoning(effort="medium")
    return None


def parse_request(body: dict[str, Any], headers: Mapping[str, str]) -> t.ChatRequest:
    """A ``GenerateContentRequest`` (or a ``countTokens`` body) as a canonical request."""
    body = {camel(k): v for k, v in body.items()}
    if isinstance(body.get("generateContentRequest"), dict):  # countTokens, wrapped
        wrapped = {camel(k): v for k, v in body.pop("generateContentRequest").items()}
        body = {**wrapped, "model": body.get("model"), "stream": False}
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("the model is missing from the URL", param="model")
    unmapped: list[str] = []
    extra: dict[str, Any] = {}
    calls = _Calls()
    messages: list[t.Message] = []
    contents = body.get("contents")
    contents = [contents] if isinstance(contents, dict) else _list(contents, "contents")
    for i, content in enumerate(contents):
        role, parts = _turn(content, i, calls, unmapped)
        if not parts:
            continue
        if messages and messages[-1].role == role:
            messages[-1].parts.extend(parts)
        else:
            messages.append(t.Message(role, parts))  # type: ignore[arg-type]
    if not messages:
        raise InvalidRequest("contents must hold at least one part", param="contents")
    extra_tools: list[Any] = []
    tools = _tools(body.get("tools"), extra_tools)
    if extra_tools:
        extra["tools"] = body["tools"]
        unmapped.extend(sorted({k for entry in extra_tools for k in entry}))
    generation = _fields(body.get("generationConfig"), "generationConfig")
    for key, field in _DEFAULTS.items():
        if key in body:
            value = body.pop(key)
            generation.setdefault(
                field, [value] if field == "stopSequences" and isinstance(value, str) else value
            )
    request = t.ChatRequest(
        model=model.removeprefix("models/"),
        messages=messages,
        system=_system(body.get("systemInstruction")),
        tools=tools,
        tool_choice=_tool_choice(body.get("toolConfig")) if body.get("toolConfig") else None,
        max_tokens=config_number(generation, "maxOutputTokens", "generationConfig", int),
        temperature=config_number(generation, "temperature", "generationConfig"),
        top_p=config_number(generation, "topP", "generationConfig"),
        top_k=config_number(generation, "topK", "generationConfig", int),
        stream=body.get("stream") is True,
        include_usage=True,
        reasoning=_reasoning(generation.get("thinkingConfig")),
        n=config_number(generation, "candidateCount", "generationConfig", int),
        dialect=name,
    )
    stops = generation.get("stopSequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidRequest(
                "generationConfig.stopSequences must be a list of strings", param="stopSequences"
            )
        request.stop = list(stops)
    request.response_format = _response_format(generation)
    rest = {k: v for k, v in generation.items() if k not in _GENERATION_MODELED}
    if rest:
        extra["generationConfig"] = rest
        unmapped.extend(f"generationConfig.{k}" for k in sorted(rest))
    for key, value in body.items():
        if key not in _MODELED and key != "generateContentRequest":
            extra[key] = value
            unmapped.append(key)
    request.extra, request.unmapped = extra, unmapped
    request.end_user, request.session = _attribution(body.get("labels"))
    return request


# ``labels`` keys (Vertex AI's request labels) read as the end user and the session.
USER_LABELS = ("end_user", "user", "user_id")
SESSION_LABELS = ("session", "session_id")


def _attribution(labels: Any) -> tuple[str | None, str | None]:
    """(end user, session) from the request's ``labels``, when it names them."""
    if not isinstance(labels, dict):
        return None, None

    def first(names: tuple[str, ...]) -> str | None:
        return next((v for n in names if isinstance(v := labels.get(n), str) and v), None)

    return first(USER_LABELS), first(SESSION_LABELS)


def _response_format(generation: dict[str, Any]) -> t.ResponseFormat | None:
    mime = generation.get("responseMimeType")
    schema = generation.get("responseJsonSchema") or generation.get("responseSchema")
    if mime not in (None, "text/plain", "application/json"):
        raise InvalidRequest(
            f"generationConfig.responseMimeType {mime!r} is not supported "
            "(text/plain or application/json)",
            param="responseMimeType",
        )
    if isinstance(schema, dict):
        return t.ResponseFormat("json_schema", schema=json_schema(schema), name="response")
    if mime == "application/json":
        return t.ResponseFormat("json_object")
    return None


# --- answer ----------------------------------------------------------------------------


def _call_part(call_id: str, call_name: str, args: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"id": call_id, "name": call_name, "args": args}}
    if signature := ids.signature_of(call_id):
        part["thoughtSignature"] = signature
    return part


def render_parts(parts: list[t.Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, t.Thinking):
            if part.text:
                out.append({"text": part.text, "thought": True})
        elif isinstance(part, t.Text):
            if part.text:
                out.append({"text": part.text})
        elif isinstance(part, t.ToolCall):
            out.append(_call_part(part.id, part.name, call_arguments(part)))
    return out


def _response_id(response_id: str) -> str:
    return response_id or "resp_" + os.urandom(12).hex()


def render_response(response: t.ChatResponse, request: t.ChatRequest) -> dict[str, Any]:
    """A ``GenerateContentResponse``: one candidate, usage, the public model name."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": render_parts(response.parts)},
                "finishReason": maps.FINISH_REASONS_OUT.get(response.finish_reason, "STOP"),
                "index": 0,
            }
        ],
        "usageMetadata": maps.usage_metadata(response.usage),
        "modelVersion": request.model,
        "responseId": _response_id(response.id),
    }


def _chunk(parts: list[dict[str, Any]], model: str, response_id: str, **more: Any) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    payload: dict[str, Any] = {"candidates": [candidate]}
    if "finishReason" in more:
        candidate["finishReason"] = more["finishReason"]
    if "usageMetadata" in more:
        payload["usageMetadata"] = more["usageMetadata"]
    payload["modelVersion"] = model
    payload["responseId"] = response_id
    return sse_bytes(orjson.dumps(payload))


async def render_stream(
    events: AsyncIterator[t.StreamEvent], request: t.ChatRequest
) -> AsyncIterator[bytes]:
    """Canonical events as ``streamGenerateContent?alt=sse`` chunks: each text or
    thought delta is a chunk, a function call one whole chunk when its arguments are
    complete; the last chunk carries the finish reason and the usage."""
    model = request.model
    response_id = ""
    usage = t.Usage()
    finish: str | None = None
    calls: dict[int, tuple[str, str, list[str]]] = {}  # index -> (id, name, fragments)
    async for event in events:
        if isinstance(event, Start):
            response_id = _response_id(event.id)
            if event.usage is not None:
                usage.merge(event.usage)
        elif isinstance(event, TextDelta):
            if event.text:
                yield _chunk([{"text": event.text}], model, response_id)
        elif isinstance(event, ThinkingDelta):
            if event.text:
                yield _chunk([{"text": event.text, "thought": True}], model, response_id)
        elif isinstance(event, PartStart):
            if event.kind == "tool_call":
                calls[event.index] = (event.tool_id or "", event.tool_name or "", [])
        elif isinstance(event, ToolArgsDelta):
            if event.index in calls:
                calls[event.index][2].append(event.fragment)
        elif isinstance(event, PartStop):
            if event.index in calls:
                call_id, call_name, fragments = calls.pop(event.index)
                args = arguments_object("".join(fragments))
                yield _chunk([_call_part(call_id, call_name, args)], model, response_id)
        elif isinstance(event, t.UsageEvent):
            usage.merge(event.usage)
        elif isinstance(event, t.Finish):
            finish = maps.FINISH_REASONS_OUT.get(event.reason, "STOP")
        elif isinstance(event, t.ErrorEvent):
            yield render_stream_error(event.error)
            return
    for call_id, call_name, fragments in calls.values():  # never closed: still sent
        args = arguments_object("".join(fragments))
        yield _chunk([_call_part(call_id, call_name, args)], model, response_id)
    yield _chunk(
        [],
        model,
        response_id or _response_id(""),
        finishReason=finish or "STOP",
        usageMetadata=maps.usage_metadata(usage),
    )


# --- errors, models, token counts ------------------------------------------------------


# The status a Gemini client gets: the gateway's (502 for an upstream's server failure,
# 504 for its timeout, else the error's own).
client_status = gateway_status


def render_error(error: GatewayError) -> dict[str, Any]:
    """Google's envelope: ``{"error": {"code", "message", "status"}}``; a budget
    refusal adds Google's ``ErrorInfo`` detail with the reason ``BUDGET_EXCEEDED``."""
    status = client_status(error)
    code_name = STATUS_NAMES.get(status) or ("INVALID_ARGUMENT" if status < 500 else "INTERNAL")
    body: dict[str, Any] = {"code": status, "message": error.message, "status": code_name}
    if error.code == BUDGET_EXCEEDED:
        body["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "BUDGET_EXCEEDED",
                "domain": "switchyard",
            }
        ]
    return {"error": body}


def render_stream_error(error: GatewayError) -> bytes:
    """An in-stream failure: one SSE event carrying the error envelope (what Google
    sends when a stream fails after it began)."""
    return sse_bytes(orjson.dumps(render_error(error)))


def model_entry(model: t.ModelInfo) -> dict[str, Any]:
    return {
        "name": f"models/{model.id}",
        "baseModelId": model.id,
        "version": "switchyard",
        "displayName": model.display_name or model.id,
        "description": f"Switchyard route {model.id}",
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


def render_models(models: list[t.ModelInfo]) -> dict[str, Any]:
    return {"models": [model_entry(m) for m in models]}


def render_count_tokens(total_tokens: int) -> dict[str, int]:
    return {"totalTokens": total_tokens}


CLIENT = client_dialect(
    globals(),
    name,
    "Gemini",
    render_models=render_models,
    render_count_tokens=render_count_tokens,
    # Google's SDKs read any line not starting with ``data:`` as JSON: a bare newline.
    keepalive=b"\n",
)
