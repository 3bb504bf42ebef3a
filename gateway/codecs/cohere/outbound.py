"""The upstream half of Cohere v2 chat (``POST /v2/chat``): canonical request -> Cohere
body, Cohere answer, stream and error -> canonical.

Choices where the formats differ:

- Cohere wants one system turn, first ("system turn must be the first in the list"):
  every system text (top-level and mid-conversation) is merged into it, in order.
- Tool results become ``role: tool`` messages before the rest of their user turn; tool
  messages carry text only, so images in a result go into the user turn that follows.
- ``tool_plan`` (the model saying which tools it will call and why) is the model's
  reasoning, not its answer: it maps to ``Thinking``, so clients see it as
  reasoning_content / a thinking block and the answer text stays clean (JSON mode, tool
  turns with no text). An assistant turn sent back with tool calls returns its thinking
  as ``tool_plan``, as Cohere asks for multi-step tool use; on a reasoning deployment
  thinking goes back as ``thinking`` content instead.
- A forced tool (``tool_choice`` naming one) is ``tool_choice: REQUIRED`` with only
  that tool offered; ``parallel_tool_calls: false`` has no Cohere equivalent and is
  dropped (or refused, per the route's drop_params: ``unsupported``); a strict tool
  turns on ``strict_tools``, which Cohere applies to every tool.
- A reasoning budget or effort becomes ``thinking: {type: enabled, token_budget}`` on
  deployments that support reasoning, and is dropped elsewhere.
- A finish reason ERROR or TIMEOUT is an upstream failure, not an answer; a stream that
  ends without ``message-end`` is cut short: both are errors, never a silent success.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.errors import InvalidRequest, UpstreamError, UpstreamOverloaded, UpstreamTimeout
from gateway.base.types import PartStart, PartStop, Text, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.base import Target, WireEvent, chat_tool_calls, tool_call_arguments
from gateway.codecs.cohere import maps

# isinstance against tuples: a union written in the call is built anew each time
_TEXT_OR_IMAGE = (Text, t.Image)

# OpenAI-named deployment params (LiteLLM ``litellm_params``) -> Cohere names; params
# already in Cohere's names (``p``, ``k``, ``safety_mode``, ``strict_tools``, ...) pass.
PARAM_NAMES = {
    "top_p": "p",
    "top_k": "k",
    "stop": "stop_sequences",
    "max_completion_tokens": "max_tokens",
}
# OpenAI-only params Cohere has no field for (dropped), and those translated specially.
DROPPED_PARAMS = frozenset({"logit_bias", "parallel_tool_calls", "n", "user"})
# OpenAI request fields (``request.extra``) Cohere takes under the same name and meaning.
SHARED_EXTRA = ("seed", "frequency_penalty", "presence_penalty")


# --- canonical -> Cohere ---------------------------------------------------------------


def _texts(parts: list[Any]) -> str:
    return "\n\n".join(p.text for p in parts if isinstance(p, Text))


def _image(image: t.Image) -> dict[str, Any]:
    url = image.url or f"data:{image.media_type or 'image/png'};base64,{image.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _user_content(parts: list[Text | t.Image]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, Text) for p in parts):
        return _texts(parts)
    return [
        {"type": "text", "text": p.text} if isinstance(p, Text) else _image(p)
        for p in parts
        if isinstance(p, _TEXT_OR_IMAGE)
    ]


def _as_text(parts: list[Any]) -> list[Any]:
    """Text documents as text; a file (a PDF...) has no Cohere form (``capabilities``
    refuses it before the call; this guards a direct use of the codec)."""
    out = []
    for part in parts:
        if isinstance(part, t.Document):
            if part.text is None:
                raise InvalidRequest(
                    f"Cohere cannot take a document of type {part.content_type()}: "
                    "Cohere reads text documents only",
                    param="messages",
                )
            part = Text(part.text)
        out.append(part)
    return out


def _assistant(message: t.Message, target: Target) -> dict[str, Any] | None:
    out: dict[str, Any] = {"role": "assistant"}
    calls = [p for p in message.parts if isinstance(p, t.ToolCall)]
    thinking = [p.text for p in message.parts if isinstance(p, t.Thinking) and p.text]
    content: list[dict[str, Any]] = []
    if thinking and target.supports_reasoning:
        content += [{"type": "thinking", "thinking": text} for text in thinking]
    elif thinking and calls:
        out["tool_plan"] = "\n\n".join(thinking)
    text = _texts(message.parts)
    if text:
        content.append({"type": "text", "text": text})
    if content:
        only_text = len(content) == 1 and content[0]["type"] == "text"
        out["content"] = text if only_text else content
    if calls:
        out["tool_calls"] = chat_tool_calls(calls)
    return out if len(out) > 1 else None  # Cohere rejects an empty turn


def _tool_messages(results: list[t.ToolResult]) -> tuple[list[dict[str, Any]], list[t.Image]]:
    by_id: dict[str, list[str]] = {}
    images: list[t.Image] = []
    for result in results:
        content = _as_text(result.content)
        text = _texts(content)
        if result.is_error and not text:
            text = "error"
        by_id.setdefault(result.call_id, []).append(text)
        images += [p for p in content if isinstance(p, t.Image)]
    messages = [
        {
            "role": "tool",
            "tool_call_id": call_id,
            "content": [{"type": "text", "text": "\n\n".join(texts)}],
        }
        for call_id, texts in by_id.items()
    ]
    return messages, images


def _messages(request: t.ChatRequest, target: Target) -> list[dict[str, Any]]:
    system = [_texts(request.system)] if request.system else []
    out: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system.append(_texts(message.parts))
        elif message.role == "assistant":
            assistant = _assistant(message, target)
            if assistant is not None:
                out.append(assistant)
        else:
            results = [p for p in message.parts if isinstance(p, t.ToolResult)]
            parts = _as_text(message.parts)
            rest: list[Text | t.Image] = [p for p in parts if isinstance(p, _TEXT_OR_IMAGE)]
            if results:
                tool_messages, images = _tool_messages(results)
                out += tool_messages
                rest += images
            if rest:
                out.append({"role": "user", "content": _user_content(rest)})
    system = [s for s in system if s]
    if system:
        out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out


def _tools(request: t.ChatRequest, body: dict[str, Any]) -> None:
    choice = request.tool_choice
    tools = request.tools
    if choice is not None and choice.mode == "tool":
        tools = [tool for tool in tools if tool.name == choice.name]
        if not tools:
            raise InvalidRequest(
                f"tool_choice names tool {choice.name!r}, which is not among the tools",
                param="tool_choice",
            )
    if not tools:
        return
    body["tools"] = []
    for tool in tools:
        fn: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
        if tool.description:
            fn["description"] = tool.description
        body["tools"].append({"type": "function", "function": fn})
    if any(tool.strict for tool in tools):  # Cohere's switch covers every tool at once
        body["strict_tools"] = True
    if choice is not None and choice.mode in ("required", "tool"):
        body["tool_choice"] = "REQUIRED"
    elif choice is not None and choice.mode == "none":
        body["tool_choice"] = "NONE"


def _response_format(fmt: t.ResponseFormat) -> dict[str, Any] | None:
    if fmt.type == "text":
        return None
    out: dict[str, Any] = {"type": "json_object"}
    if fmt.type == "json_schema" and fmt.schema:
        out["json_schema"] = fmt.schema
    return out


def _thinking(request: t.ChatRequest) -> dict[str, Any] | None:
    reasoning = request.reasoning
    if reasoning is None:
        return None
    budget = reasoning.budget_tokens
    if budget is None and reasoning.effort:
        budget = maps.EFFORT_BUDGET.get(reasoning.effort)
    if not budget:
        return None
    return {"type": "enabled", "token_budget": budget}


def _param_defaults(target: Target, body: dict[str, Any]) -> None:
    """The deployment's params, translated to Cohere names; they win over the request
    (they are the deployment's fixed settings, as for every upstream)."""
    for name, value in target.params.items():
        if name in DROPPED_PARAMS:
            continue
        if name == "reasoning_effort":
            budget = maps.EFFORT_BUDGET.get(str(value))
            if budget and target.supports_reasoning:
                body["thinking"] = {"type": "enabled", "token_budget": budget}
            continue
        if name == "response_format" and isinstance(value, dict):
            fmt = t.ResponseFormat(
                type=value.get("type", "text"),
                schema=(value.get("json_schema") or {}).get("schema") or value.get("schema"),
            )
            translated = _response_format(fmt)
            if translated:
                body["response_format"] = translated
            continue
        name = PARAM_NAMES.get(name, name)
        if name == "stop_sequences" and isinstance(value, str):
            value = [value]
        body[name] = value


def unsupported(request: t.ChatRequest) -> list[str]:
    """Canonical parameters set on ``request`` that Cohere cannot honour (left out of
    the body; a route without drop_params refuses the request naming them)."""
    choice = request.tool_choice
    if choice is not None and choice.parallel is False and request.tools:
        return ["parallel_tool_calls"]
    return []


def build_request(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    """The Cohere ``/v2/chat`` body for ``request`` on ``target``."""
    if request.n is not None and request.n > 1:
        raise InvalidRequest(
            f"n={request.n} is not supported by Cohere model {target.model!r}", param="n"
        )
    body: dict[str, Any] = {"model": target.model, "messages": _messages(request, target)}
    if request.stream:
        body["stream"] = True
    _tools(request, body)
    max_tokens = target.capped(request.max_tokens)
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["p"] = request.top_p
    if request.top_k is not None:
        body["k"] = request.top_k
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.response_format is not None:
        fmt = _response_format(request.response_format)
        if fmt:
            body["response_format"] = fmt
    thinking = _thinking(request)
    if thinking and target.supports_reasoning:
        body["thinking"] = thinking
    if request.dialect == "openai":
        body.update({k: request.extra[k] for k in SHARED_EXTRA if k in request.extra})
    _param_defaults(target, body)
    return body


# --- Cohere -> canonical ---------------------------------------------------------------


def _failure(raw_reason: str, detail: Any) -> UpstreamError:
    message = detail if isinstance(detail, str) and detail else "generation failed"
    if raw_reason == "TIMEOUT":
        return UpstreamTimeout(f"Cohere timed out: {message}")
    return UpstreamError(f"Cohere finished with ERROR: {message}", status=502)


def parse_response(data: Any) -> t.ChatResponse:
    """A non-streamed ``/v2/chat`` answer -> ``ChatResponse``: content items in order
    (thinking, text), the tool plan as thinking, then the tool calls."""
    if not isinstance(data, dict):
        raise UpstreamError("Cohere answered with an unexpected body", status=502)
    reason = str(data.get("finish_reason") or "COMPLETE").upper()
    message = data.get("message")
    if not isinstance(message, dict):
        message = {}
    if reason in maps.FAILED_FINISH:
        raise _failure(reason, data.get("error") or message.get("error"))
    parts: list[t.Part] = []
    content = message.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "thinking" and item.get("thinking"):
            parts.append(t.Thinking(item["thinking"]))
        elif item.get("type") == "text" and item.get("text"):
            parts.append(Text(item["text"]))
    if message.get("tool_plan") and isinstance(message["tool_plan"], str):
        parts.append(t.Thinking(message["tool_plan"]))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        arguments, raw = tool_call_arguments(fn.get("arguments"))
        parts.append(
            t.ToolCall(
                id=str(call.get("id") or ""),
                name=str(fn.get("name") or ""),
                arguments=arguments,
                raw_arguments=raw,
            )
        )
    has_calls = any(isinstance(p, t.ToolCall) for p in parts)
    return t.ChatResponse(
        id=data.get("id") or "",
        model="",
        parts=parts,
        finish_reason=maps.finish_reason(reason, has_calls),
        usage=maps.usage(data.get("usage")),
    )


def _delta_message(data: dict[str, Any]) -> dict[str, Any]:
    delta = data.get("delta")
    message = delta.get("message") if isinstance(delta, dict) else None
    return message if isinstance(message, dict) else {}


def _field(message: dict[str, Any], name: str) -> dict[str, Any]:
    value = message.get(name)
    if isinstance(value, list):  # tolerate a one-item list where an object is documented
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _index(data: dict[str, Any]) -> int:
    value = data.get("index")
    return value if isinstance(value, int) else 0


class StreamParser:
    """Cohere SSE events -> canonical events. Parts are numbered in arrival order:
    content blocks (thinking, text), the tool plan, tool calls, so that the fold equals
    ``parse_response`` of the same answer. A content part opens on its first non-empty
    delta (an empty block is never shown to a client, as ``parse_response`` skips it).

    ``Start`` is held until the answer has something in it: a stream that fails (ERROR
    finish, cut) before its first part yields only the error, which the provider raises
    before anything reached the client, so routing may still retry or fail over."""

    def __init__(self) -> None:
        self.started = False
        self.done = False
        self._start: t.Start | None = None  # held until the first other event
        self._next = 0
        self._open: int | None = None  # our index of the open part
        self._open_kind: str | None = None  # "text", "thinking", "plan", "tool_call"
        self._open_content: int | None = None  # the Cohere content index it shows
        self._content_kind: dict[int, str] = {}  # Cohere content index -> text/thinking
        self._calls: dict[int, int] = {}  # Cohere tool-call index -> our index
        self._saw_calls = False

    def feed(self, event: WireEvent) -> list[t.StreamEvent]:
        data = event.data if isinstance(event.data, dict) else {}
        kind = data.get("type") or event.event
        if self.done:
            return []
        out: list[t.StreamEvent] = []
        if not self.started:
            self.started = True
            self._start = t.Start(id=str(data.get("id") or ""), model="")
        message = _delta_message(data)
        if kind == "content-start":
            item = _field(message, "content")
            index = _index(data)
            self._content_kind[index] = "thinking" if item.get("type") == "thinking" else "text"
            out += self._close()
            out += self._content(index, item)
        elif kind == "content-delta":
            out += self._content(_index(data), _field(message, "content"))
        elif kind == "content-end":
            if self._open_content is not None and self._open_content == _index(data):
                out += self._close()
        elif kind == "tool-plan-delta":
            plan = message.get("tool_plan")
            if plan and isinstance(plan, str):
                if self._open_kind != "plan":
                    out += self._open_part("thinking", "plan")
                out.append(ThinkingDelta(self._open, plan))  # type: ignore[arg-type]
        elif kind == "tool-call-start":
            call = _field(message, "tool_calls")
            fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
            out += self._open_part(
                "tool_call",
                "tool_call",
                tool_id=str(call.get("id") or ""),
                tool_name=str(fn.get("name") or ""),
            )
            self._calls[_index(data)] = self._open  # type: ignore[assignment]
            self._saw_calls = True
            out += self._arguments(self._open, fn)
        elif kind == "tool-call-delta":
            call = _field(message, "tool_calls")
            delta_fn = call["function"] if isinstance(call.get("function"), dict) else {}
            ours = self._calls.get(_index(data))
            if ours is not None and ours == self._open:
                out += self._arguments(ours, delta_fn)
        elif kind == "tool-call-end":
            ours = self._calls.get(_index(data))
            if ours is not None and ours == self._open:
                out += self._close()
        elif kind == "message-end":
            delta = data.get("delta")
            out += self._end(delta if isinstance(delta, dict) else {})
        return self._flush(out)

    def finish(self) -> list[t.StreamEvent]:
        if self.done:
            return []
        self.done = True
        out = self._close()
        out.append(
            t.ErrorEvent(UpstreamError("Cohere stream ended before message-end", status=502))
        )
        return self._flush(out)

    # -- internals --
    def _open_part(self, kind: str, role: str, **tool: str) -> list[t.StreamEvent]:
        out = self._close()
        self._open, self._open_kind = self._next, role
        self._next += 1
        return [*out, PartStart(self._open, kind, **tool)]  # type: ignore[arg-type]

    def _close(self) -> list[t.StreamEvent]:
        if self._open is None:
            return []
        index, self._open, self._open_kind, self._open_content = self._open, None, None, None
        return [PartStop(index)]

    def _content(self, index: int, item: dict[str, Any]) -> list[t.StreamEvent]:
        """A content block's text: opens its part on the first non-empty piece."""
        kind = self._content_kind.get(index) or ("thinking" if "thinking" in item else "text")
        self._content_kind[index] = kind
        text = item.get(kind)
        if not text or not isinstance(text, str):
            return []
        out: list[t.StreamEvent] = []
        if self._open_content != index or self._open_kind != kind:
            out += self._open_part(kind, kind)
            self._open_content = index
        delta = ThinkingDelta if kind == "thinking" else TextDelta
        return [*out, delta(self._open, text)]  # type: ignore[arg-type]

    @staticmethod
    def _arguments(index: int | None, fn: dict[str, Any]) -> list[t.StreamEvent]:
        fragment = fn.get("arguments")
        if index is None or not fragment or not isinstance(fragment, str):
            return []
        return [ToolArgsDelta(index, fragment)]

    def _flush(self, out: list[t.StreamEvent]) -> list[t.StreamEvent]:
        """Put the held ``Start`` before ``out`` unless ``out`` is a lone error."""
        if self._start is not None and out and not isinstance(out[0], t.ErrorEvent):
            out.insert(0, self._start)
            self._start = None
        return out

    def _end(self, delta: dict[str, Any]) -> list[t.StreamEvent]:
        self.done = True
        out = self._close()
        reason = str(delta.get("finish_reason") or "COMPLETE").upper()
        if reason in maps.FAILED_FINISH and self._start is not None:
            return [t.ErrorEvent(_failure(reason, delta.get("error")))]  # nothing began
        if delta.get("usage"):
            out.append(t.UsageEvent(maps.usage(delta["usage"])))
        if reason in maps.FAILED_FINISH:
            out.append(t.ErrorEvent(_failure(reason, delta.get("error"))))
        else:
            out.append(t.Finish(maps.finish_reason(reason, self._saw_calls)))
        return out


def parse_error(status: int, body: bytes) -> UpstreamError:
    """Cohere's ``{"message": ...}`` error as an ``UpstreamError`` with the status the
    gateway reasons with (see ``maps.STATUS``); the upstream's words are kept."""
    message = ""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        value = payload.get("message") or payload.get("error")
        if isinstance(value, dict):
            value = value.get("message")
        message = str(value or "")
    if not message:
        message = body.decode(errors="replace")[:500] or f"HTTP {status}"
    mapped = maps.STATUS.get(status, status)
    text = f"Cohere returned {status}: {message}"
    if mapped == 504:
        return UpstreamTimeout(text)
    if mapped == 529:
        return UpstreamOverloaded(text)
    return UpstreamError(text, status=mapped)
