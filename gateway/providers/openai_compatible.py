"""Outbound adapter for OpenAI-compatible Chat Completions upstreams (OpenAI, DeepSeek,
vLLM, Ollama, Groq, Gemini's OpenAI endpoint, ...) and Azure OpenAI.

Pure translation lives in module functions (``build_body``, ``parse_response``,
``ChunkTranslator``, ``clean_schema_for_gemini``) so it is tested without HTTP; the
adapter classes only add the wire: URL, headers, error mapping and the ``Exchange``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .. import documents, errors, http
from ..models import MissingSecret, resolve_secret
from ..registry import DeploymentEntry
from ..streaming import SSEMessage, iter_sse, sse_bytes
from ..types import (
    ChatRequest,
    ChatResponse,
    Document,
    ErrorEvent,
    Finish,
    Image,
    Message,
    Part,
    PartStart,
    PartStop,
    Start,
    StreamEvent,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    ToolResult,
    Usage,
    UsageEvent,
)
from . import wire
from .base import Exchange, Provider, register

# deployment.params keys that steer this adapter instead of going upstream.
CONTROL_PARAMS = frozenset({"max_tokens_field"})
AZURE_DEFAULT_API_VERSION = "2024-10-21"
MAX_USER_CHARS = 64
GEMINI_HOST = "generativelanguage.googleapis.com"
_REASONING_MODEL = re.compile(r"^(o\d+|gpt-5)([-.:].*)?$")
_FINISH_IN = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


# --- canonical -> upstream -----------------------------------------------------------


def _texts(parts: list[Any]) -> str:
    return "\n\n".join(p.text for p in parts if isinstance(p, Text))


def _image_part(image: Image) -> dict[str, Any]:
    url = image.url or f"data:{image.media_type or 'image/png'};base64,{image.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _file_part(doc: Document) -> dict[str, Any]:
    """A ``file`` part with the document inline (``capabilities`` refused URLs)."""
    data_url = f"data:{doc.media_type or documents.PDF};base64,{doc.data}"
    return {"type": "file", "file": {"filename": doc.name(), "file_data": data_url}}


def _user_content(parts: list[Part]) -> str | list[dict[str, Any]]:
    """Text-only turns as one string (every server takes that); with images or files,
    parts. Text documents go as text."""
    parts = [Text(p.text) if isinstance(p, Document) and p.text is not None else p for p in parts]
    if all(isinstance(p, Text) for p in parts):
        return _texts(parts)
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, Image):
            content.append(_image_part(part))
        elif isinstance(part, Document):
            content.append(_file_part(part))
    return content


def _tool_messages(results: list[ToolResult]) -> tuple[list[dict], list[Image | Document]]:
    """One ``role: tool`` message per call id (results sharing an id are joined).
    Tool messages carry text only (text documents included), so images and files in
    results are handed back to go in the user content that follows."""
    by_id: dict[str, list[str]] = {}
    images: list[Image | Document] = []
    for result in results:
        content = [
            Text(p.text) if isinstance(p, Document) and p.text is not None else p
            for p in result.content
        ]
        text = _texts(content)
        if result.is_error and not text:
            text = "error"
        by_id.setdefault(result.call_id, []).append(text)
        images.extend(p for p in content if isinstance(p, Image | Document))
    messages = [
        {"role": "tool", "tool_call_id": call_id, "content": "\n\n".join(texts)}
        for call_id, texts in by_id.items()
    ]
    return messages, images


def _assistant_message(message: Message, deployment: DeploymentEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = _texts(message.parts)
    calls = [p for p in message.parts if isinstance(p, ToolCall)]
    out["content"] = text if text or not calls else None
    if calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.raw_arguments
                    if call.raw_arguments is not None
                    else orjson.dumps(call.arguments).decode(),
                },
            }
            for call in calls
        ]
    reasoning = "".join(p.text for p in message.parts if isinstance(p, Thinking))
    if reasoning and deployment.echo_reasoning:  # DeepSeek-style thinking wants it back
        out["reasoning_content"] = reasoning
    if message.name:
        out["name"] = message.name
    return out


def _messages(request: ChatRequest, deployment: DeploymentEntry) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": _texts(request.system)})
    for message in request.messages:
        if message.role == "assistant":
            out.append(_assistant_message(message, deployment))
            continue
        if message.role == "system":
            out.append({"role": "system", "content": _texts(message.parts)})
            continue
        results = [p for p in message.parts if isinstance(p, ToolResult)]
        rest: list[Part] = [p for p in message.parts if isinstance(p, Text | Image | Document)]
        if results:
            tool_messages, images = _tool_messages(results)
            out.extend(tool_messages)
            rest.extend(images)
        if rest:
            user: dict[str, Any] = {"role": "user", "content": _user_content(rest)}
            if message.name:
                user["name"] = message.name
            out.append(user)
    return out


def reasoning_effort(request: ChatRequest) -> str | None:
    """The effort bucket for a request's reasoning (a token budget is bucketed)."""
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if reasoning.effort:
        return reasoning.effort
    budget = reasoning.budget_tokens
    if budget is None:
        return None
    if budget <= 4096:
        return "low"
    return "medium" if budget <= 16384 else "high"


def upstream_user(user: str) -> str:
    """The end-user id as OpenAI takes it: at most 64 characters. Longer ids (Claude
    Code's ``metadata.user_id`` is about 150; OpenAI answers 400, OpenRouter above 128)
    become their SHA-256 hex digest, which still tells users apart, as OpenAI's abuse
    monitoring wants."""
    if len(user) <= MAX_USER_CHARS:
        return user
    return hashlib.sha256(user.encode()).hexdigest()


def max_tokens_field(deployment: DeploymentEntry) -> str:
    configured = deployment.params.get("max_tokens_field")
    if configured in ("max_tokens", "max_completion_tokens"):
        return configured
    model = deployment.model.rsplit("/", 1)[-1].lower()
    return "max_completion_tokens" if _REASONING_MODEL.match(model) else "max_tokens"


def _tool_choice(request: ChatRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def _host(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "").lower()


def _known_base(deployment: DeploymentEntry) -> str:
    """The base URL when it can be known now: an unset ``os.environ/NAME`` gives ""
    here (the request itself then fails naming the variable, in ``url``)."""
    try:
        return resolve_secret(deployment.provider.base_url)
    except MissingSecret:
        return ""


def is_gemini(base_url: str) -> bool:
    return _host(base_url) == GEMINI_HOST


_GEMINI_DROP = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "additionalProperties",
        "patternProperties",
        "unevaluatedProperties",
        "propertyNames",
        "examples",
        "const",
    }
)
_GEMINI_FORMATS = {
    "string": {"enum", "date-time"},
    "integer": {"int32", "int64"},
    "number": {"float", "double"},
}
_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def clean_schema_for_gemini(schema: Any) -> Any:
    """A copy of a JSON schema without the keywords Gemini's OpenAI endpoint rejects
    (``$schema``, ``additionalProperties``, ``format`` values it does not know, ...).
    Property *names* are kept even when they look like keywords."""
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _GEMINI_DROP:
            continue
        if key == "format":
            kind = schema.get("type")
            if value not in _GEMINI_FORMATS.get(kind if isinstance(kind, str) else "", ()):
                continue
            cleaned[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            cleaned[key] = {name: clean_schema_for_gemini(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            cleaned[key] = [clean_schema_for_gemini(sub) for sub in value]
        elif key in ("items", "not") and isinstance(value, dict):
            cleaned[key] = clean_schema_for_gemini(value)
        else:
            cleaned[key] = value
    return cleaned


def build_body(request: ChatRequest, deployment: DeploymentEntry) -> dict[str, Any]:
    """The upstream Chat Completions body for ``request`` on ``deployment``.

    ``request.extra`` is forwarded only when the caller spoke OpenAI
    (``request.dialect``), so Anthropic-only fields never reach this upstream;
    ``deployment.params`` are the deployment's fixed upstream settings and win over the
    request (control keys such as ``max_tokens_field`` are not sent)."""
    body: dict[str, Any] = {"model": deployment.model, "messages": _messages(request, deployment)}
    if request.tools:
        clean = is_gemini(_known_base(deployment))
        body["tools"] = []
        for tool in request.tools:
            fn: dict[str, Any] = {"name": tool.name}
            if tool.description:
                fn["description"] = tool.description
            fn["parameters"] = (
                clean_schema_for_gemini(tool.parameters) if clean else tool.parameters
            )
            if tool.strict is not None and not clean:  # Gemini's schema subset has no strict
                fn["strict"] = tool.strict
            body["tools"].append({"type": "function", "function": fn})
        choice = _tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
        if request.tool_choice and request.tool_choice.parallel is not None:
            body["parallel_tool_calls"] = request.tool_choice.parallel
    max_tokens = request.max_tokens  # optional upstream: absent means its own default
    if max_tokens is not None and deployment.max_output_tokens:
        max_tokens = min(max_tokens, deployment.max_output_tokens)
    if max_tokens is not None:
        body[max_tokens_field(deployment)] = max_tokens
    for name in ("temperature", "top_p", "n"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.user:
        body["user"] = upstream_user(request.user)
    if request.top_k is not None and deployment.supports_top_k:
        body["top_k"] = request.top_k
    if request.stop:
        body["stop"] = list(request.stop)
    effort = reasoning_effort(request)
    if effort and deployment.supports_reasoning and deployment.takes_reasoning_effort:
        body["reasoning_effort"] = effort
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            spec: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        else:
            body["response_format"] = {"type": fmt.type}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.dialect == "openai":
        body.update(request.extra)
    body.update({k: v for k, v in deployment.params.items() if k not in CONTROL_PARAMS})
    return body


# --- upstream -> canonical -----------------------------------------------------------


def parse_usage(data: dict[str, Any] | None) -> Usage:
    """OpenAI usage -> canonical (prompt_tokens includes cached tokens; DeepSeek reports
    them as ``prompt_cache_hit_tokens``)."""
    if not data:
        return Usage()
    prompt = data.get("prompt_tokens") or 0
    details = data.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or data.get("prompt_cache_hit_tokens") or 0
    completion_details = data.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=data.get("completion_tokens") or 0,
        cache_read_tokens=cached,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


def _finish_reason(raw: str | None, has_tool_calls: bool) -> str:
    reason = _FINISH_IN.get(raw or "stop", "stop")
    # Some servers (Ollama, Gemini) say "stop" after tool calls; clients act on tool_calls.
    if reason == "stop" and has_tool_calls:
        return "tool_calls"
    return reason


def _parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    text = raw or ""
    if not text.strip():
        return {}, None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}, text
    return (parsed, None) if isinstance(parsed, dict) else ({}, text)


def _reasoning_text(message: dict[str, Any]) -> str:
    value = message.get("reasoning_content") or message.get("reasoning") or ""
    return value if isinstance(value, str) else ""


def _content_text(content: Any) -> str:
    if isinstance(content, list):  # a few servers answer in parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def parse_response(data: dict[str, Any]) -> ChatResponse:
    """A non-streamed ``chat.completion`` -> ``ChatResponse`` (thinking, text, calls)."""
    choices = data.get("choices") or [{}]
    choice = choices[0] or {}
    message = choice.get("message") or {}
    parts: list[Part] = []
    reasoning = _reasoning_text(message)
    if reasoning:
        parts.append(Thinking(reasoning))
    text = _content_text(message.get("content")) or message.get("refusal") or ""
    if text:
        parts.append(Text(text))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        arguments, raw = _parse_arguments(fn.get("arguments"))
        parts.append(
            ToolCall(
                id=call.get("id") or _call_id(),
                name=fn.get("name") or "",
                arguments=arguments,
                raw_arguments=raw,
            )
        )
    has_calls = any(isinstance(p, ToolCall) for p in parts)
    return ChatResponse(
        id=data.get("id") or "",
        model=data.get("model") or "",
        parts=parts,
        finish_reason=_finish_reason(choice.get("finish_reason"), has_calls),  # type: ignore[arg-type]
        usage=parse_usage(data.get("usage")),
        created=data.get("created") or 0,
    )


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def chunk_error(payload: Any) -> errors.UpstreamError:
    """An ``{"error": {...}}`` body or chunk -> UpstreamError (status from its code)."""
    detail = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(detail, dict):
        message = detail.get("message") or "upstream error"
        code = detail.get("code")
    else:
        message, code = str(detail or payload or "upstream error"), None
    status = code if isinstance(code, int) and 400 <= code <= 599 else None
    if status is None and isinstance(code, str) and code.isdigit():
        status = int(code)
    return errors.UpstreamError(
        str(message),
        status=status or 502,
        code=code if isinstance(code, str) and not code.isdigit() else None,
    )


class ChunkTranslator:
    """Turns OpenAI ``chat.completion.chunk`` dicts into canonical stream events.

    A part opens on its first non-empty delta; a change of kind (reasoning -> text ->
    tool call) or a new tool-call index closes the open part and opens the next, keeping
    the delta that caused it. ``finish_reason`` closes the open part but ``Finish`` is
    held until usage arrives (OpenAI sends it in a later chunk with no choices) or the
    stream ends (``finish``).

    Some servers interleave parallel tool calls (call 0 goes on after call 1 began). A
    closed part cannot take more arguments (Anthropic blocks cannot be reopened), so a
    call that begins while the open call's arguments are not yet a whole JSON object is
    held back, with its fragments, until that call is complete or the stream finishes."""

    def __init__(self) -> None:
        self.started = False
        self.done = False  # Finish (or an error) was emitted
        self.failed = False
        self._next_index = 0
        self._open: tuple[int, str] | None = None  # (part index, kind)
        self._tool_parts: dict[int, int] = {}  # upstream tool-call index -> part index
        self._arguments: dict[int, list[str]] = {}  # tool part index -> fragments so far
        self._held: dict[int, tuple[str, str, list[str]]] = {}  # upstream index -> id, name, args
        self._pending: str | None = None  # finish reason held for usage

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if self.done:
            return []
        if "error" in chunk and chunk["error"]:
            self.done = self.failed = True
            return [ErrorEvent(chunk_error(chunk))]
        events: list[StreamEvent] = []
        if not self.started:
            events.append(self._start(chunk))
        for choice in chunk.get("choices") or []:
            if (choice.get("index") or 0) != 0:
                continue  # n > 1 upstream: the gateway serves the first choice
            delta = choice.get("delta") or {}
            reasoning = _reasoning_text(delta)
            if reasoning:
                events += self._delta("thinking", ThinkingDelta, reasoning)
            content = _content_text(delta.get("content")) or delta.get("refusal")
            if content and isinstance(content, str):  # a refusal reads as text, as unstreamed
                events += self._delta("text", TextDelta, content)
            for position, call in enumerate(delta.get("tool_calls") or []):
                events += self._tool_call(call, position)
            if choice.get("finish_reason"):
                events += self._close()
                self._pending = _finish_reason(choice["finish_reason"], bool(self._tool_parts))
        usage = chunk.get("usage")
        if usage:
            events.append(UsageEvent(parse_usage(usage)))
            if self._pending:
                events.append(self._finish())
        return events

    def finish(self) -> list[StreamEvent]:
        """The stream ended (``[DONE]`` or end of body): close what is open, Finish."""
        if self.done:
            return []
        events: list[StreamEvent] = []
        if not self.started:
            events.append(self._start({}))
        events += self._close()
        if self._pending is None:
            self._pending = _finish_reason(None, bool(self._tool_parts))
        events.append(self._finish())
        return events

    @property
    def saw_finish_reason(self) -> bool:
        return self._pending is not None

    # -- internals --
    def _start(self, chunk: dict[str, Any]) -> Start:
        self.started = True
        return Start(
            id=chunk.get("id") or "",
            model=chunk.get("model") or "",
            created=chunk.get("created") or 0,
        )

    def _finish(self) -> Finish:
        self.done = True
        return Finish(self._pending or "stop")  # type: ignore[arg-type]

    def _close(self) -> list[StreamEvent]:
        """Close the open part, then send every held tool call whole."""
        events: list[StreamEvent] = []
        if self._open is not None:
            events.append(PartStop(self._open[0]))
            self._open = None
        while self._held:
            events += self._release(stay_open=False)
        return events

    def _release(self, stay_open: bool) -> list[StreamEvent]:
        upstream_index = next(iter(self._held))
        call_id, name, fragments = self._held.pop(upstream_index)
        index = self._next_index
        self._next_index += 1
        self._tool_parts[upstream_index] = index
        self._arguments[index] = fragments
        events: list[StreamEvent] = [PartStart(index, "tool_call", tool_id=call_id, tool_name=name)]
        if fragments:
            events.append(ToolArgsDelta(index, "".join(fragments)))
        if stay_open:
            self._open = (index, "tool_call")
        else:
            events.append(PartStop(index))
        return events

    def _open_call_complete(self) -> bool:
        """Whether the open part is a tool call whose arguments are a whole JSON object
        (or is no tool call at all)."""
        if self._open is None or self._open[1] != "tool_call":
            return True
        text = "".join(self._arguments.get(self._open[0], ()))
        try:
            return isinstance(orjson.loads(text), dict)
        except orjson.JSONDecodeError:
            return False

    def _advance(self) -> list[StreamEvent]:
        """Release held calls one after another while the open one is complete."""
        events: list[StreamEvent] = []
        while self._held and self._open_call_complete():
            if self._open is not None:
                events.append(PartStop(self._open[0]))
                self._open = None
            events += self._release(stay_open=True)
        return events

    def _open_part(self, kind: str, **tool: str) -> list[StreamEvent]:
        events = self._close()
        index = self._next_index
        self._next_index += 1
        self._open = (index, kind)
        events.append(PartStart(index, kind, **tool))  # type: ignore[arg-type]
        return events

    def _delta(self, kind: str, make: type, text: str) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self._open is None or self._open[1] != kind:
            events = self._open_part(kind)
        events.append(make(self._open[0], text))  # type: ignore[index]
        return events

    def _tool_call(self, call: dict[str, Any], position: int) -> list[StreamEvent]:
        fn = call.get("function") or {}
        upstream_index = call.get("index")
        if not isinstance(upstream_index, int):
            # Servers that omit the index: a new id starts a new call.
            known = len(self._tool_parts)
            upstream_index = known if call.get("id") or not known else known - 1
        arguments = fn.get("arguments")
        if isinstance(arguments, dict):  # a few servers send the object itself
            arguments = orjson.dumps(arguments).decode()
        held = self._held.get(upstream_index)
        if held is not None:
            if arguments:
                held[2].append(arguments)
            return []
        events: list[StreamEvent] = []
        part = self._tool_parts.get(upstream_index)
        if part is None:
            call_id, name = call.get("id") or _call_id(), fn.get("name") or ""
            if self._held or not self._open_call_complete():  # interleaved: hold it
                self._held[upstream_index] = (call_id, name, [arguments] if arguments else [])
                return []
            events = self._open_part("tool_call", tool_id=call_id, tool_name=name)
            part = self._tool_parts[upstream_index] = self._open[0]  # type: ignore[index]
            self._arguments[part] = []
        if arguments:
            events.append(ToolArgsDelta(part, arguments))
            self._arguments[part].append(arguments)
            if self._held:
                events += self._advance()
        return events


# --- the wire ------------------------------------------------------------------------


def upstream_error(response: httpx.Response, raw: bytes) -> errors.UpstreamError:
    """A non-2xx upstream answer -> UpstreamError carrying the upstream's own message."""
    status = response.status_code
    message, code, param = "", None, None
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    detail = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(detail, dict):
        message = str(detail.get("message") or "")
        code = detail.get("code") if isinstance(detail.get("code"), str) else None
        param = detail.get("param") if isinstance(detail.get("param"), str) else None
    elif isinstance(detail, str):
        message = detail
    elif isinstance(payload, dict) and isinstance(payload.get("message"), str):
        message = payload["message"]
    if not message:
        message = raw.decode(errors="replace")[:500] or f"HTTP {status}"
    cls = errors.UpstreamOverloaded if status == 529 else errors.UpstreamError
    return cls(
        f"upstream returned {status}: {message}",
        status=status,
        code=code,
        param=param,
        retry_after=wire.retry_after(response),
    )


async def _lines(response: httpx.Response, exchange: Exchange) -> AsyncIterator[str]:
    """Text lines of the response body, recording raw bytes in the exchange."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in response.aiter_bytes():
        exchange.received(chunk)
        pending += decoder.decode(chunk)
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line.rstrip("\r")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.rstrip("\r")


_HOP_HEADERS = frozenset(
    {
        "authorization",
        "api-key",
        "x-api-key",
        "host",
        "content-length",
        "content-type",
        "connection",
    }
)


@register
class OpenAICompatibleProvider(Provider):
    kind = "openai"
    dialect = "openai"

    # -- addressing --
    def url(self, path: str, deployment: DeploymentEntry | None = None) -> str:
        return f"{wire.base_url(self.provider)}/{path}"

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def headers(self, forwarded: dict[str, str] | None = None) -> dict[str, str]:
        """Request headers: the provider secret (never the caller's key), the provider's
        extra headers, and any caller headers worth forwarding."""
        secret, extra = wire.credentials(self.provider)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for name, value in (forwarded or {}).items():
            if name.lower() not in _HOP_HEADERS:
                headers[name] = value
        headers.update(extra)
        headers.update(self.auth_headers(secret))
        return headers

    def _timeout(self) -> httpx.Timeout:
        return http.default_timeout(read=self.provider.timeout)

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        """Chat Completions has no top_k; only servers marked ``supports_top_k`` take it."""
        return ["top_k"] if request.top_k is not None and not deployment.supports_top_k else []

    # -- plumbing --
    async def _post_json(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        forwarded: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url, headers = self.url(path, deployment), self.headers(forwarded)
        content = orjson.dumps(body)
        exchange.begin(url, content)
        try:
            response = await http.client().post(
                url, content=content, headers=headers, timeout=self._timeout()
            )
        except httpx.TransportError as exc:
            exchange.end()
            raise wire.transport_error(exc, self.provider, url) from exc
        exchange.status = response.status_code
        exchange.received(response.content)
        exchange.end()
        if response.status_code >= 400:
            raise upstream_error(response, response.content)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise errors.UpstreamError("upstream answered with invalid JSON", status=502) from None
        if not isinstance(data, dict):
            raise errors.UpstreamError("upstream answered with unexpected JSON", status=502)
        if data.get("error") and not data.get("choices") and "data" not in data:
            raise chunk_error(data)
        return data

    async def _sse(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        forwarded: dict[str, str] | None = None,
    ) -> AsyncIterator[SSEMessage]:
        """Upstream SSE messages; non-2xx and wire failures raise UpstreamError. The
        response is closed when the consumer stops (client gone)."""
        url, headers = self.url(path, deployment), self.headers(forwarded)
        headers["Accept"] = "text/event-stream"
        content = orjson.dumps(body)
        exchange.begin(url, content)
        try:
            async with http.client().stream(
                "POST", url, content=content, headers=headers, timeout=self._timeout()
            ) as response:
                exchange.status = response.status_code
                if response.status_code >= 400:
                    raw = await response.aread()
                    exchange.received(raw)
                    raise upstream_error(response, raw)
                async for message in iter_sse(_lines(response, exchange)):
                    yield message
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        finally:
            exchange.end()

    # -- translated calls --
    async def complete(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> ChatResponse:
        body = build_body(request, deployment)
        body.pop("stream", None)
        body.pop("stream_options", None)
        data = await self._post_json("chat/completions", body, deployment, exchange)
        response = parse_response(data)
        exchange.usage = response.usage
        return response

    async def stream(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[StreamEvent]:
        """Canonical events as chunks arrive. Fails by raising until the first event is
        out (routing may retry elsewhere), by yielding ErrorEvent after."""
        body = build_body(request, deployment)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        translator = ChunkTranslator()
        yielded = False
        try:
            async for events in self._translate(body, deployment, exchange, translator):
                for event in events:
                    if isinstance(event, ErrorEvent) and not yielded:
                        raise event.error
                    if isinstance(event, UsageEvent):
                        exchange.usage.merge(event.usage)
                    yielded = True
                    yield event
        except errors.GatewayError as exc:
            if not yielded:
                raise
            yield ErrorEvent(exc)

    async def _translate(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        translator: ChunkTranslator,
        forwarded: dict[str, str] | None = None,
    ) -> AsyncIterator[list[StreamEvent]]:
        async for message in self._sse("chat/completions", body, deployment, exchange, forwarded):
            yield self._events_of(message, translator)
            if translator.failed:
                return
        yield self._end_events(translator)

    @staticmethod
    def _events_of(message: SSEMessage, translator: ChunkTranslator) -> list[StreamEvent]:
        data = message.data.strip()
        if data == "[DONE]":
            return translator.finish()
        if not data:
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []  # keep-alive noise some proxies inject
        if message.event == "error" and isinstance(chunk, dict) and "error" not in chunk:
            chunk = {"error": chunk}
        return translator.feed(chunk) if isinstance(chunk, dict) else []

    @staticmethod
    def _end_events(translator: ChunkTranslator) -> list[StreamEvent]:
        """The body ended: normal after ``[DONE]`` or a finish_reason, else a cut."""
        if translator.done:
            return []
        if not translator.saw_finish_reason:
            translator.done = translator.failed = True
            return [ErrorEvent(errors.UpstreamError("upstream stream ended before finishing"))]
        return translator.finish()

    # -- same-dialect passthrough --
    async def passthrough(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        return await self._relay("chat/completions", body, deployment, exchange, headers)

    async def _relay(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Post ``body`` as is and hand back the upstream JSON, usage read for the journal."""
        data = await self._post_json(path, body, deployment, exchange, headers)
        exchange.usage = parse_usage(data.get("usage"))
        return data

    async def passthrough_stream(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Forward upstream SSE events as they come, each with its canonical meaning.
        Usage is always requested upstream; a caller who did not ask for it does not
        get the usage-only chunk."""
        async for item in self._forward("chat/completions", body, deployment, exchange, headers):
            yield item

    async def _forward(
        self,
        path: str,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str] | None,
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        body = dict(body)
        options = dict(body.get("stream_options") or {})
        caller_wants_usage = bool(options.get("include_usage"))
        options["include_usage"] = True
        body["stream"], body["stream_options"] = True, options
        translator = ChunkTranslator()
        held: list[StreamEvent] = []  # events of chunks not forwarded
        yielded = False
        try:
            async for message in self._sse(path, body, deployment, exchange, headers):
                events = self._events_of(message, translator)
                for event in events:
                    if isinstance(event, UsageEvent):
                        exchange.usage.merge(event.usage)
                    if isinstance(event, ErrorEvent) and not yielded:
                        raise event.error
                if not caller_wants_usage and _usage_only(message):
                    held += events
                    continue
                yielded = True
                yield sse_bytes(message.data, message.event), held + events
                held = []
                if translator.failed:
                    return
            tail = self._end_events(translator)
            if tail or held:
                if any(isinstance(e, ErrorEvent) for e in tail) and not yielded:
                    raise next(e.error for e in tail if isinstance(e, ErrorEvent))
                yield _error_bytes(tail), held + tail
        except errors.GatewayError as exc:
            if not yielded:
                raise
            yield _error_bytes([ErrorEvent(exc)]), [ErrorEvent(exc)]

    # -- legacy and embeddings (OpenAI-compatible upstreams only; passthrough) --
    async def embeddings(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        return await self._relay("embeddings", body, deployment, exchange)

    async def text_completion(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        return await self._relay("completions", body, deployment, exchange)

    async def text_completion_stream(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Raw SSE events of a legacy completions stream, each with its canonical meaning
        (usage, finish, an in-stream error) for the journal."""
        async for item in self._forward("completions", body, deployment, exchange, None):
            yield item

    async def list_models(self) -> list[str]:
        url = self.url("models")
        try:
            response = await http.client().get(url, headers=self.headers(), timeout=self._timeout())
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        if response.status_code >= 400:
            raise upstream_error(response, response.content)
        data = orjson.loads(response.content)
        return [m["id"] for m in data.get("data") or [] if isinstance(m, dict) and m.get("id")]


def _usage_only(message: SSEMessage) -> bool:
    try:
        chunk = orjson.loads(message.data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


def _error_bytes(events: list[StreamEvent]) -> bytes:
    for event in events:
        if isinstance(event, ErrorEvent):
            from ..protocols.openai_chat import render_stream_error

            return render_stream_error(event.error)
    return b""


@register
class AzureOpenAIProvider(OpenAICompatibleProvider):
    """Azure OpenAI: the deployment name is in the path, the key in ``api-key``."""

    kind = "azure"
    dialect = "openai"

    def url(self, path: str, deployment: DeploymentEntry | None = None) -> str:
        base = wire.base_url(self.provider)
        version = (
            wire.setting(self.provider, self.provider.api_version, "api version")
            or AZURE_DEFAULT_API_VERSION
        )
        if deployment is None:
            return f"{base}/openai/{path}?api-version={version}"
        return f"{base}/openai/deployments/{deployment.model}/{path}?api-version={version}"

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"api-key": secret} if secret else {}
