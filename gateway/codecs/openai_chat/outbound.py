"""The OpenAI Chat Completions wire format, outbound half: the body we send to an
OpenAI-compatible upstream (OpenAI, Azure OpenAI, DeepSeek, vLLM, Ollama, Groq,
Gemini's OpenAI endpoint, ...) and its answers, chunks and errors read back.

Host quirks ride on ``Target.host``: Gemini's OpenAI endpoint takes a JSON-schema
subset (``clean_schema_for_gemini``) and no ``strict``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import orjson

from gateway.base import documents, errors
from gateway.base import types as t
from gateway.base.types import (
    PartStart,
    PartStop,
    Text,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    UsageEvent,
)
from gateway.codecs import openai_common as common
from gateway.codecs.base import DONE, Target, WireEvent, arguments_from_text, chat_tool_calls
from gateway.codecs.openai_chat import maps

# isinstance against tuples: a union written in the call is built anew each time
_MEDIA = (t.Image, t.Document)
_CONTENT = (Text, t.Image, t.Document)

# target.params keys that steer this codec instead of going upstream.
CONTROL_PARAMS = frozenset({"max_tokens_field"})
MAX_USER_CHARS = 64
GEMINI_HOST = "generativelanguage.googleapis.com"
_REASONING_MODEL = re.compile(r"^(o\d+|gpt-5)([-.:].*)?$")


# --- canonical -> upstream -----------------------------------------------------------


def _texts(parts: list[Any]) -> str:
    return "\n\n".join(p.text for p in parts if isinstance(p, Text))


def _image_part(image: t.Image) -> dict[str, Any]:
    url = image.url or f"data:{image.media_type or 'image/png'};base64,{image.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _file_part(doc: t.Document) -> dict[str, Any]:
    """A ``file`` part with the document inline (``capabilities`` refused URLs)."""
    data_url = f"data:{doc.media_type or documents.PDF};base64,{doc.data}"
    return {"type": "file", "file": {"filename": doc.name(), "file_data": data_url}}


def _user_content(parts: list[t.Part]) -> str | list[dict[str, Any]]:
    """Text-only turns as one string (every server takes that); with images or files,
    parts. Text documents go as text."""
    parts = [Text(p.text) if isinstance(p, t.Document) and p.text is not None else p for p in parts]
    if all(isinstance(p, Text) for p in parts):
        return _texts(parts)
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, t.Image):
            content.append(_image_part(part))
        elif isinstance(part, t.Document):
            content.append(_file_part(part))
    return content


def _tool_messages(
    results: list[t.ToolResult],
) -> tuple[list[dict[str, Any]], list[t.Image | t.Document]]:
    """One ``role: tool`` message per call id (results sharing an id are joined).
    Tool messages carry text only (text documents included), so images and files in
    results are handed back to go in the user content that follows."""
    by_id: dict[str, list[str]] = {}
    images: list[t.Image | t.Document] = []
    for result in results:
        content = [
            Text(p.text) if isinstance(p, t.Document) and p.text is not None else p
            for p in result.content
        ]
        text = _texts(content)
        if result.is_error and not text:
            text = "error"
        by_id.setdefault(result.call_id, []).append(text)
        images.extend(p for p in content if isinstance(p, _MEDIA))
    messages = [
        {"role": "tool", "tool_call_id": call_id, "content": "\n\n".join(texts)}
        for call_id, texts in by_id.items()
    ]
    return messages, images


def _assistant_message(message: t.Message, target: Target) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = _texts(message.parts)
    calls = [p for p in message.parts if isinstance(p, t.ToolCall)]
    out["content"] = text if text or not calls else None
    if calls:
        out["tool_calls"] = chat_tool_calls(calls)
    reasoning = "".join(p.text for p in message.parts if isinstance(p, t.Thinking))
    if reasoning and target.echo_reasoning:  # DeepSeek-style thinking wants it back
        out["reasoning_content"] = reasoning
    if message.name:
        out["name"] = message.name
    return out


def _messages(request: t.ChatRequest, target: Target) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": _texts(request.system)})
    written = t.deferred_chat(request)  # (unbuilt messages, written off the caller's wire)
    if written is not None:
        out += written
        return out
    for message in request.messages:
        if message.role == "assistant":
            out.append(_assistant_message(message, target))
            continue
        if message.role == "system":
            out.append({"role": "system", "content": _texts(message.parts)})
            continue
        results = [p for p in message.parts if isinstance(p, t.ToolResult)]
        rest: list[t.Part] = [p for p in message.parts if isinstance(p, _CONTENT)]
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


def reasoning_effort(request: t.ChatRequest) -> str | None:
    """The effort bucket for a request's reasoning (a token budget is bucketed)."""
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if reasoning.effort:
        return reasoning.effort
    return common.budget_effort(reasoning.budget_tokens)


def upstream_user(user: str) -> str:
    """The end-user id as OpenAI takes it: at most 64 characters. Longer ids (Claude
    Code's ``metadata.user_id`` is about 150; OpenAI answers 400, OpenRouter above 128)
    become their SHA-256 hex digest, which still tells users apart, as OpenAI's abuse
    monitoring wants."""
    if len(user) <= MAX_USER_CHARS:
        return user
    return hashlib.sha256(user.encode()).hexdigest()


def max_tokens_field(target: Target) -> str:
    configured = target.params.get("max_tokens_field")
    if configured in ("max_tokens", "max_completion_tokens"):
        return str(configured)
    model = target.model.rsplit("/", 1)[-1].lower()
    return "max_completion_tokens" if _REASONING_MODEL.match(model) else "max_tokens"


def _tool_choice(request: t.ChatRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


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


def build_body(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    """The upstream Chat Completions body for ``request`` on ``target``.

    ``request.extra`` is forwarded only when the caller spoke OpenAI
    (``request.dialect``), so Anthropic-only fields never reach this upstream;
    ``target.params`` are the deployment's fixed upstream settings and win over the
    request (control keys such as ``max_tokens_field`` are not sent)."""
    body: dict[str, Any] = {"model": target.model, "messages": _messages(request, target)}
    if request.tools:
        clean = target.host == GEMINI_HOST
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
    max_tokens = target.capped(request.max_tokens)  # optional: absent, its own default
    if max_tokens is not None:
        body[max_tokens_field(target)] = max_tokens
    for name in ("temperature", "top_p", "n"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.user:
        body["user"] = upstream_user(request.user)
    if request.top_k is not None and target.supports_top_k:
        body["top_k"] = request.top_k
    if request.stop:
        body["stop"] = list(request.stop)
    effort = reasoning_effort(request)
    if effort and target.supports_reasoning and target.takes_reasoning_effort:
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
    common.render_prompt_cache(request, body, target.host)
    if request.dialect == "openai":
        body.update(request.extra)
    body.update({k: v for k, v in target.params.items() if k not in CONTROL_PARAMS})
    return body


# --- upstream -> canonical -----------------------------------------------------------


def _parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    return arguments_from_text(raw or "")


def _reasoning_text(message: dict[str, Any]) -> str:
    value = message.get("reasoning_content") or message.get("reasoning") or ""
    return value if isinstance(value, str) else ""


def _content_text(content: Any) -> str:
    if isinstance(content, list):  # a few servers answer in parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def answer_texts(data: dict[str, Any]) -> list[str] | None:
    """What the guardrails read of a whole answer (``parse_response``'s text part, as
    ``guardrails.texts.response_slots`` takes it), read off the body without building
    the answer; None when it has tool calls (their arguments are read as parsed and
    dumped again), text in parts, or another shape: ``parse_response`` then. Read as
    ``parse_response`` reads it, which a test holds it to."""
    try:  # (subscripts, not calls: on every checked answer)
        message = data["choices"][0]["message"]
        if message.get("tool_calls"):
            return None
        content = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None  # no choice, no message: parsed (as an empty answer, or refused)
    if isinstance(content, list):  # a few servers answer in parts: parsed
        return None
    text = content or message.get("refusal") or ""  # ``_content_text`` of a string
    return [text] if text else []


def parse_response(data: dict[str, Any]) -> t.ChatResponse:
    """A non-streamed ``chat.completion`` -> ``ChatResponse`` (thinking, text, calls)."""
    choices = data.get("choices") or [{}]
    choice = choices[0] or {}
    message = choice.get("message") or {}
    parts: list[t.Part] = []
    reasoning = _reasoning_text(message)
    if reasoning:
        parts.append(t.Thinking(reasoning))
    text = _content_text(message.get("content")) or message.get("refusal") or ""
    if text:
        parts.append(Text(text))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        arguments, raw = _parse_arguments(fn.get("arguments"))
        parts.append(
            t.ToolCall(
                id=call.get("id") or _call_id(),
                name=fn.get("name") or "",
                arguments=arguments,
                raw_arguments=raw,
            )
        )
    has_calls = any(isinstance(p, t.ToolCall) for p in parts)
    return t.ChatResponse(
        id=data.get("id") or "",
        model=data.get("model") or "",
        parts=parts,
        finish_reason=maps.finish_reason(choice.get("finish_reason"), has_calls),
        usage=maps.usage(data.get("usage")),
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

    def feed(self, chunk: dict[str, Any]) -> list[t.StreamEvent]:
        more_text = self._more_text(chunk)
        if more_text is not None:
            return [more_text]
        if self.done:
            return []
        if "error" in chunk and chunk["error"]:
            self.done = self.failed = True
            return [t.ErrorEvent(chunk_error(chunk))]
        events: list[t.StreamEvent] = []
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
                self._pending = maps.finish_reason(choice["finish_reason"], bool(self._tool_parts))
        usage = chunk.get("usage")
        if usage:
            events.append(UsageEvent(maps.usage(usage)))
            if self._pending:
                events.append(self._finish())
        return events

    def finish(self) -> list[t.StreamEvent]:
        """The stream ended (``[DONE]`` or end of body): close what is open, Finish."""
        if self.done:
            return []
        events: list[t.StreamEvent] = []
        if not self.started:
            events.append(self._start({}))
        events += self._close()
        if self._pending is None:
            self._pending = maps.finish_reason(None, bool(self._tool_parts))
        events.append(self._finish())
        return events

    def _more_text(self, chunk: dict[str, Any]) -> TextDelta | None:
        """The TextDelta of a chunk that is only more text for the open text part (most
        chunks of an answer: one choice whose delta holds ``content``, and perhaps its
        role, and nothing else), read the short way; None for any other chunk."""
        choices = chunk.get("choices")
        if (
            self._open is None
            or self._open[1] != "text"
            or self.done
            or type(choices) is not list
            or len(choices) != 1
            or chunk.get("usage")
            or chunk.get("error")
        ):
            return None
        choice = choices[0]
        if type(choice) is not dict or choice.get("index") or choice.get("finish_reason"):
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or not (
            len(delta) == 1 or (len(delta) == 2 and "role" in delta)
        ):
            return None
        content = delta.get("content")
        if type(content) is not str or not content:
            return None
        return TextDelta(self._open[0], content)

    @property
    def saw_finish_reason(self) -> bool:
        return self._pending is not None

    # -- internals --
    def _start(self, chunk: dict[str, Any]) -> t.Start:
        self.started = True
        return t.Start(
            id=chunk.get("id") or "",
            model=chunk.get("model") or "",
            created=chunk.get("created") or 0,
        )

    def _finish(self) -> t.Finish:
        self.done = True
        return t.Finish(self._pending or "stop")  # type: ignore[arg-type]

    def _close(self) -> list[t.StreamEvent]:
        """Close the open part, then send every held tool call whole."""
        events: list[t.StreamEvent] = []
        if self._open is not None:
            events.append(PartStop(self._open[0]))
            self._open = None
        while self._held:
            events += self._release(stay_open=False)
        return events

    def _release(self, stay_open: bool) -> list[t.StreamEvent]:
        upstream_index = next(iter(self._held))
        call_id, name, fragments = self._held.pop(upstream_index)
        index = self._next_index
        self._next_index += 1
        self._tool_parts[upstream_index] = index
        self._arguments[index] = fragments
        events: list[t.StreamEvent] = [
            PartStart(index, "tool_call", tool_id=call_id, tool_name=name)
        ]
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

    def _advance(self) -> list[t.StreamEvent]:
        """Release held calls one after another while the open one is complete."""
        events: list[t.StreamEvent] = []
        while self._held and self._open_call_complete():
            if self._open is not None:
                events.append(PartStop(self._open[0]))
                self._open = None
            events += self._release(stay_open=True)
        return events

    def _open_part(self, kind: str, **tool: str) -> list[t.StreamEvent]:
        events = self._close()
        index = self._next_index
        self._next_index += 1
        self._open = (index, kind)
        events.append(PartStart(index, kind, **tool))  # type: ignore[arg-type]
        return events

    def _delta(self, kind: str, make: type, text: str) -> list[t.StreamEvent]:
        events: list[t.StreamEvent] = []
        if self._open is None or self._open[1] != kind:
            events = self._open_part(kind)
        events.append(make(self._open[0], text))  # type: ignore[index]
        return events

    def _tool_call(self, call: dict[str, Any], position: int) -> list[t.StreamEvent]:
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
        events: list[t.StreamEvent] = []
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


def parse_error(status: int, raw: bytes) -> errors.UpstreamError:
    """A non-2xx upstream answer -> UpstreamError carrying the upstream's own message."""
    return common.http_error(status, raw, top_message=True)


def stream_cut() -> errors.UpstreamError:
    """The failure of a stream that ended without a finish reason."""
    return errors.UpstreamError("upstream stream ended before finishing")


def unsupported_params(request: t.ChatRequest, target: Target) -> list[str]:
    """Chat Completions has no top_k; only servers marked ``supports_top_k`` take it."""
    return ["top_k"] if request.top_k is not None and not target.supports_top_k else []


def answer_error(data: Any) -> errors.UpstreamError | None:
    """The failure a 2xx answer stands for: JSON that is no object, or an error
    envelope (some servers answer 200 with ``{"error": ...}``). An embeddings list
    (``data``) or a completion (``choices``) is an answer even beside an ``error`` key."""
    if not isinstance(data, dict):
        return errors.UpstreamError("upstream answered with unexpected JSON", status=502)
    if data.get("error") and not data.get("choices") and "data" not in data:
        return chunk_error(data)
    return None


def stream_body(body: dict[str, Any]) -> dict[str, Any]:
    """A passed-through body (chat or legacy completions) as sent for a stream: usage
    is asked for always, so the journal has it whatever the caller asked."""
    body = dict(body)
    options = dict(body.get("stream_options") or {})
    options["include_usage"] = True
    body["stream"], body["stream_options"] = True, options
    return body


def withheld(event: WireEvent, body: dict[str, Any]) -> bool:
    """The usage-only chunk (``choices: []``), when the caller did not ask for usage:
    the upstream sent it because ``stream_body`` asked."""
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        return False
    data = event.data
    return isinstance(data, dict) and data.get("choices") == [] and bool(data.get("usage"))


def skims(event: str | None, data: str) -> bool:
    """A chunk that holds nothing but more of the answer's text (``"content":"..."``)
    and no tool call, reasoning, refusal, finish reason, usage or error: the parser would
    only make a TextDelta of it (see ``PassthroughCodec.skims``). Substring tests, both
    spacings; a key's name inside the text is escaped (``\\"``), so it cannot pass for
    one, and a word such as "error" in the text only means the chunk is parsed."""
    return (
        event is None
        and ('"content":"' in data or '"content": "' in data)
        and "error" not in data
        and "tool_calls" not in data
        and "function_call" not in data
        and "reasoning" not in data
        and '"finish_reason":"' not in data
        and '"finish_reason": "' not in data
        and '"usage":{' not in data
        and '"usage": {' not in data
        and '"refusal":"' not in data
        and '"refusal": "' not in data
    )


class StreamParser:
    """The ``UpstreamCodec`` stream parser: ``ChunkTranslator`` over de-framed chunks
    (``sse+done`` framing). ``[DONE]`` ends the stream (a Finish, ``stop`` when no
    finish reason came); an ``event: error`` message or an ``{"error": ...}`` chunk is
    an error in the stream; a stream that ends without ``[DONE]`` or a finish reason is
    an error (a cut connection)."""

    def __init__(self) -> None:
        self.translator = ChunkTranslator()

    def feed(self, event: WireEvent) -> list[t.StreamEvent]:
        data = event.data
        if data is DONE:
            return self.translator.finish()
        if not isinstance(data, dict):
            return []  # keep-alive noise some proxies inject
        if event.event == "error" and "error" not in data:
            data = {"error": data}
        return self.translator.feed(data)

    def text_index(self, event: WireEvent) -> int | None:
        """The index of the text part ``event`` is only more text for, read without
        changing anything (the short way, ``ChunkTranslator._more_text``): an event
        differing from it only in that text (not empty) would be read so too, as a
        ``TextDelta`` of this part. None for any other event."""
        data = event.data
        if event.event == "error" or not isinstance(data, dict):
            return None
        more_text = self.translator._more_text(data)
        return None if more_text is None else more_text.index

    def text_open(self) -> int | None:
        """The index of the text part an event that is only text would be more text for
        (``text_index``: what it depends on), or None."""
        translator = self.translator
        open_part = translator._open
        if open_part is None or open_part[1] != "text" or translator.done:
            return None
        return open_part[0]

    def finish(self) -> list[t.StreamEvent]:
        translator = self.translator
        if translator.done:
            return []
        if not translator.saw_finish_reason:
            translator.done = translator.failed = True
            return [t.ErrorEvent(stream_cut())]
        return translator.finish()
