"""The upstream half of the Gemini Interactions format (``POST {api_base}/interactions``):
canonical request -> interaction body, an interaction and its SSE stream -> canonical.

Stateless: every body says ``store: false`` and never names a
``previous_interaction_id``; the whole conversation goes as ``input`` steps each turn
(the gateway, not Google, keeps the timeline). The steps:

- a user turn is a ``user_input`` step (text, images and documents as ``text``,
  ``image`` and ``document`` content, inline ``data`` + ``mime_type`` or by ``uri``);
  tool results in it become ``function_result`` steps first (``call_id``, ``name``,
  ``result``: the text, or text and image content; ``is_error``);
- an assistant turn is ``model_output`` steps for its text and ``function_call`` steps
  (``id``, ``name``, ``arguments`` as an object) for its calls, each signed call
  preceded by the ``thought`` step that signed it: the signature rides in the tool-call
  id the client echoed (``upstream_maps.call_id``). Thinking parts are not sent back
  (their summaries are not what the model needs; the signatures are, and those come
  from the ids); a signature that signed only answer text is not replayed either.
- System text (top-level and ``system`` messages anywhere) is the one
  ``system_instruction`` string.

Tools are flat: ``{"type": "function", "name", "description", "parameters"}``; the
tool choice, sampling, stop sequences and reasoning (``thinking_level``, with
``thinking_summaries: auto`` so the client sees a summary) go in ``generation_config``;
JSON output is ``response_format: {"type": "text", "mime_type": "application/json",
"schema"}``. Every field is snake_case: the service refuses camelCase.

Back: ``thought`` steps -> ``Thinking`` (the summary's text, unsigned: the signature
goes into the next call's id, so a client never hands it to another vendor);
``model_output`` -> ``Text``; ``function_call`` -> ``ToolCall``. The interaction's
``status`` is the finish reason (``requires_action``: tool calls; ``incomplete``:
length). The stream (``step.start`` / ``step.delta`` / ``step.stop`` between
``interaction.created`` and ``interaction.completed``, then ``[DONE]``) folds into what
``parse_response`` makes of the same interaction.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.errors import InvalidRequest, UpstreamConnectionError, UpstreamError
from gateway.base.types import Text, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.base import DATA_URL, OnePartOpen, Target, WireEvent
from gateway.codecs.gemini_interactions import upstream_maps as maps
from gateway.codecs.google_common import clean_schema

NAME = "gemini_interactions"
# isinstance against tuples: a union written in the call is built anew each time
_TEXTUAL = (Text, t.Document)
_THINKING_OR_RESULT = (t.Thinking, t.ToolResult)
_THINKING_OR_CALL = (t.Thinking, t.ToolCall)
# Deployment params that are top-level fields of the body (the rest is generation_config).
_TOP_LEVEL = frozenset({"safety_settings", "labels", "service_tier", "response_modalities"})
# LiteLLM's (and OpenAI's) names for generation_config fields.
_GENERATION_NAMES = {
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "stop": "stop_sequences",
    "reasoning_effort": "thinking_level",
}
# A token budget as the nearest thinking level (the API takes levels only).
_BUDGET_LEVELS = ((512, "minimal"), (2048, "low"), (8192, "medium"))


# --- request ---------------------------------------------------------------------------


def _media(kind: str, data: str | None, url: str | None, mime: str | None) -> dict[str, Any]:
    if data is None and url and (match := DATA_URL.match(url)):
        data, mime, url = match["data"], match["type"], None
    out: dict[str, Any] = {"type": kind}
    if data is not None:
        out["data"] = data
    elif url:
        out["uri"] = url
    else:
        raise InvalidRequest(f"an {kind} has neither a URL nor data", param="messages")
    if mime:
        out["mime_type"] = mime
    elif data is not None:
        out["mime_type"] = "image/png" if kind == "image" else "application/pdf"
    return out


def _content(part: t.Part) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, t.Image):
        return _media("image", part.data, part.url, part.media_type)
    if isinstance(part, t.Document):
        if part.text is not None:
            return {"type": "text", "text": part.text}
        return _media("document", part.data, part.url, part.media_type)
    return None


def _result(result: t.ToolResult, name: str, call_id: str) -> dict[str, Any]:
    texts = [p.text for p in result.content if isinstance(p, _TEXTUAL) and p.text is not None]
    media = [c for p in result.content if not isinstance(p, Text) and (c := _content(p))]
    media = [c for c in media if c["type"] != "text"]
    value: Any = "\n\n".join(texts)
    if media:  # text and image content (what a function_result takes besides a string)
        value = [{"type": "text", "text": text} for text in texts if text] + media
    step: dict[str, Any] = {
        "type": "function_result",
        "call_id": call_id,
        "name": name,
        "result": value,
    }
    if result.is_error:
        step["is_error"] = True
    return step


def _assistant_steps(message: t.Message, names: dict[str, str]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []

    def flush() -> None:
        if content:
            steps.append({"type": "model_output", "content": list(content)})
            content.clear()

    for part in message.parts:
        if isinstance(part, t.ToolCall):
            flush()
            upstream_id, signature = maps.split_call_id(part.id)
            names[part.id] = part.name
            if signature:
                steps.append({"type": "thought", "signature": signature})
            steps.append(
                {
                    "type": "function_call",
                    "id": upstream_id,
                    "name": part.name,
                    "arguments": part.arguments,
                }
            )
        elif not isinstance(part, _THINKING_OR_RESULT) and (c := _content(part)):
            content.append(c)
    flush()
    return steps


def _user_steps(message: t.Message, names: dict[str, str]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, t.ToolResult):
            name = names.get(part.call_id)
            if name is None:
                raise InvalidRequest(
                    f"tool result for call {part.call_id!r} answers no tool call in the "
                    "conversation (the Interactions API pairs each result with its call)",
                    param="messages",
                )
            results.append(_result(part, name, maps.split_call_id(part.call_id)[0]))
        elif not isinstance(part, _THINKING_OR_CALL) and (c := _content(part)):
            content.append(c)
    if content:
        results.append({"type": "user_input", "content": content})
    return results


def input_steps(request: t.ChatRequest) -> tuple[list[dict[str, Any]], list[str]]:
    """The conversation as ``input`` steps, and the system texts among the messages."""
    steps: list[dict[str, Any]] = []
    system: list[str] = []
    names: dict[str, str] = {}  # tool-call id -> function name
    for message in request.messages:
        if message.role == "system":
            if text := message.text():
                system.append(text)
        elif message.role == "assistant":
            steps += _assistant_steps(message, names)
        else:  # user, tool
            steps += _user_steps(message, names)
    return steps, system


def _tool_choice(request: t.ChatRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode == "tool" and choice.name:
        return {"allowed_tools": {"mode": "any", "tools": [choice.name]}}
    return {"auto": "auto", "required": "any", "none": "none"}.get(choice.mode, "auto")


def _thinking_level(request: t.ChatRequest, target: Target) -> str | None:
    reasoning = request.reasoning
    if reasoning is None or not target.supports_reasoning:
        return None
    if reasoning.effort is not None:
        return reasoning.effort
    if reasoning.budget_tokens is not None:
        for ceiling, level in _BUDGET_LEVELS:
            if reasoning.budget_tokens <= ceiling:
                return level
        return "high"
    return None


def _generation_config(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = target.capped(request.max_tokens)
    if max_tokens is not None:
        config["max_output_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = getattr(request, name)
        if value is not None and name not in target.refuses:  # (dropped and noted before)
            config[name] = value
    if request.stop:
        config["stop_sequences"] = list(request.stop)
    if level := _thinking_level(request, target):
        config["thinking_level"] = level
        config["thinking_summaries"] = "auto"
    if request.tools and (choice := _tool_choice(request)) is not None:
        config["tool_choice"] = choice
    return config


def unsupported_params(request: t.ChatRequest, target: Target) -> list[str]:
    """Canonical parameters the Interactions API has no field for: ``top_k`` and more
    than one choice. ``build_request`` leaves them out; a strict route refuses."""
    names = []
    if request.top_k is not None:
        names.append("top_k")
    if request.n is not None and request.n > 1:
        names.append("n")
    return names


def build_request(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    """The ``POST /interactions`` body for ``request`` on ``target`` (``stream`` set
    when the stream variant is wanted)."""
    steps, mid_system = input_steps(request)
    body: dict[str, Any] = {"model": target.model, "input": steps, "store": False}
    if request.stream:
        body["stream"] = True
    system = [p.text for p in request.system if p.text] + mid_system
    if system:
        body["system_instruction"] = "\n\n".join(system)
    if request.tools and not (request.tool_choice and request.tool_choice.mode == "none"):
        tools = []
        for tool in request.tools:
            declared: dict[str, Any] = {"type": "function", "name": tool.name}
            if tool.description:
                declared["description"] = tool.description
            declared["parameters"] = clean_schema(tool.parameters)
            tools.append(declared)
        body["tools"] = tools
    generation = _generation_config(request, target)
    if not body.get("tools"):
        generation.pop("tool_choice", None)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        response_format: dict[str, Any] = {"type": "text", "mime_type": "application/json"}
        if fmt.type == "json_schema" and fmt.schema:
            response_format["schema"] = clean_schema(fmt.schema)
        body["response_format"] = response_format
    for name, value in target.params.items():
        if name in _TOP_LEVEL:
            body[name] = value
        elif name == "generation_config" and isinstance(value, dict):
            generation.update(value)
        else:
            generation[_GENERATION_NAMES.get(name, name)] = value
    if generation:
        body["generation_config"] = generation
    if request.dialect == NAME:  # an Interactions client's own fields, as it sent them
        for name, value in request.extra.items():
            if name == "generation_config" and isinstance(value, dict):
                body.setdefault("generation_config", {}).update(value)
            elif name not in ("store", "previous_interaction_id", "background", "stream"):
                body[name] = value
    return body


# --- answer ----------------------------------------------------------------------------


def _object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _texts(content: Any) -> str:
    """The text of a list of content (or of one content object)."""
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return ""
    return "".join(
        c["text"]
        for c in content
        if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str)
    )


def _failure(data: dict[str, Any]) -> UpstreamError:
    """The error of a failed (or cancelled) interaction."""
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return maps.error_from_object(errors[0])
    for step in data.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("error"), dict):
            return maps.error_from_object(step["error"])
    status = data.get("status")
    return UpstreamError(f"Gemini Interactions upstream: the interaction {status}", status=502)


def parse_response(data: Any) -> t.ChatResponse:
    """A whole interaction (``steps`` are the output steps only) as canonical."""
    if not isinstance(data, dict):
        raise UpstreamError(
            "Gemini Interactions upstream answered with something other than an object"
        )
    if isinstance(data.get("error"), dict):
        raise maps.error_from_object(data["error"])
    status = data.get("status")
    if status in maps.FAILED:
        raise _failure(data)
    parts: list[t.Part] = []
    signature: str | None = None  # of the last thought step, for the next call
    calls = 0
    for step in data.get("steps") or []:
        if not isinstance(step, dict):
            continue
        kind = step.get("type")
        if kind == "thought":
            signature = step.get("signature") or None
            if text := _texts(step.get("summary")):
                parts.append(t.Thinking(text))
        elif kind == "model_output":
            if text := _texts(step.get("content")):
                parts.append(Text(text))
        elif kind == "function_call":
            args = step.get("arguments")
            parts.append(
                t.ToolCall(
                    id=maps.call_id(str(step.get("id") or ""), signature),
                    name=str(step.get("name") or ""),
                    arguments=args if isinstance(args, dict) else {},
                )
            )
            signature = None
            calls += 1
    return t.ChatResponse(
        id=str(data.get("id") or ""),
        model=str(data.get("model") or ""),
        parts=parts,
        finish_reason=maps.finish_reason(status, calls > 0),
        usage=maps.usage(data.get("usage")),
        created=maps.created(data.get("created")),
    )


class StreamParser:
    """Interaction SSE events -> canonical events. Each upstream step is at most one
    canonical part, opened at its first content (a thought without a summary, or a
    model output without text, opens none) and closed at ``step.stop``; a function
    call is opened at its ``step.start`` (its id and name are known there) and its
    arguments follow as ``arguments_delta`` fragments."""

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._parts = OnePartOpen()
        self._steps: dict[int, str] = {}  # upstream step index -> its type
        self._args: dict[int, tuple[bool, Any]] = {}  # call step -> (fragments seen, start args)
        self._signature: str | None = None
        self._calls = 0

    def feed(self, event: WireEvent) -> list[t.StreamEvent]:
        data = event.data
        if not isinstance(data, dict):
            return []
        kind = data.get("event_type") or event.event
        out: list[t.StreamEvent] = []
        if kind == "error":
            self._finished = True
            return [*self._parts.close(), t.ErrorEvent(maps.error_from_object(data.get("error")))]
        if not self._started:
            self._started = True
            interaction = _object(data.get("interaction"))
            out.append(
                t.Start(
                    id=str(interaction.get("id") or ""),
                    model=str(interaction.get("model") or ""),
                    created=maps.created(interaction.get("created")),
                )
            )
        if kind == "step.start":
            out += self._step_start(data)
        elif kind == "step.delta":
            out += self._step_delta(data)
        elif kind == "step.stop":
            out += self._step_stop(data)
        elif kind == "interaction.completed":
            out += self._completed(data.get("interaction"))
        return out

    # -- steps ------------------------------------------------------------------------
    def _step_start(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        step = _object(data.get("step"))
        index = data.get("index")
        kind = str(step.get("type") or "")
        if isinstance(index, int):
            self._steps[index] = kind
        out = self._parts.close()
        if kind == "thought":
            self._signature = step.get("signature") or None
            out += self._thinking(_texts(step.get("summary")))
        elif kind == "model_output":
            out += self._text(_texts(step.get("content")))
        elif kind == "function_call":
            tool_id = maps.call_id(str(step.get("id") or ""), self._signature)
            self._signature = None
            self._calls += 1
            out += self._parts.open(
                "tool_call", tool_id=tool_id, tool_name=str(step.get("name") or "")
            )
            if isinstance(index, int):
                self._args[index] = (False, step.get("arguments"))
        return out

    def _step_delta(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        delta = _object(data.get("delta"))
        index = data.get("index")
        kind = delta.get("type")
        if kind == "text":
            text = delta.get("text")
            return self._text(text if isinstance(text, str) else "")
        if kind == "thought_summary":
            return self._thinking(_texts(delta.get("content")))
        if kind == "thought_signature":
            if isinstance(delta.get("signature"), str):
                self._signature = (self._signature or "") + delta["signature"]
            return []
        if kind == "arguments_delta" and self._parts.kind == "tool_call":
            fragment = delta.get("arguments")
            if isinstance(index, int) and index in self._args:
                self._args[index] = (True, self._args[index][1])
            return (
                [ToolArgsDelta(self._parts.index, fragment)]
                if isinstance(fragment, str) and fragment
                else []
            )
        return []

    def _step_stop(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        index = data.get("index")
        out: list[t.StreamEvent] = []
        if isinstance(index, int) and index in self._args and self._parts.kind == "tool_call":
            seen, start_args = self._args.pop(index)
            if not seen:  # the whole arguments came with the step's start
                args = start_args if isinstance(start_args, dict) else {}
                out.append(ToolArgsDelta(self._parts.index, orjson.dumps(args).decode()))
        return [*out, *self._parts.close()]

    def _completed(self, interaction: Any) -> list[t.StreamEvent]:
        interaction = interaction if isinstance(interaction, dict) else {}
        out = self._parts.close()
        if interaction.get("usage"):
            out.append(t.UsageEvent(maps.usage(interaction["usage"])))
        self._finished = True
        status = interaction.get("status")
        if status in maps.FAILED:
            return [*out, t.ErrorEvent(_failure(interaction))]
        return [*out, t.Finish(maps.finish_reason(status, self._calls > 0))]

    # -- canonical parts --------------------------------------------------------------
    def _text(self, text: str) -> list[t.StreamEvent]:
        if not text:
            return []
        out = self._parts.go_on("text")
        return [*out, TextDelta(self._parts.index, text)]

    def _thinking(self, text: str) -> list[t.StreamEvent]:
        if not text:
            return []
        out = self._parts.go_on("thinking")
        return [*out, ThinkingDelta(self._parts.index, text)]

    def finish(self) -> list[t.StreamEvent]:
        if self._finished:
            return []
        error = UpstreamConnectionError(
            "Gemini Interactions upstream stream ended before interaction.completed"
        )
        return [*self._parts.close(), t.ErrorEvent(error)]


parse_error = maps.parse_error  # (status, body): the error body as an UpstreamError
