"""The client half of the Gemini Interactions API (``POST /v1beta/interactions``): a
create body as a canonical request, an answer as an ``Interaction`` resource, a stream
as its server-sent events, an error in its envelope.

- **Input** is a string, one content object, a list of contents (one user turn) or a
  list of steps: ``user_input``, ``model_output``, ``thought`` (its summary and
  ``signature``), ``function_call`` (``id``, ``name``, ``arguments`` as an object) and
  ``function_result`` (``call_id``, ``result``: a string, contents or an object,
  ``is_error``). A result must answer a call of the input (the API pairs them); a
  chained request (``previous_interaction_id``) is handed here with the earlier steps
  already in front (``gateway.features.interactions.state``).
- **Tools** are flat: ``{"type": "function", "name", "description", "parameters"}``;
  Google's built-in tools (search, code execution, ...) are refused, not dropped.
- **The answer** lists only the steps the model made (the create response; the stored
  resource adds the input: ``render_timeline``). Its status says how the turn ended:
  ``completed``, ``requires_action`` (it calls functions), ``incomplete`` (cut).
- **A stream** is ``interaction.created``, then per step ``step.start``, its
  ``step.delta``s and ``step.stop``, then ``interaction.completed`` (the resource with
  usage and no steps), each with an ``event_id`` that ``GET ...?last_event_id=`` resumes
  after, and ends with ``data: [DONE]``. A failure after the start is an ``error``
  event, then ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.errors import GatewayError, InvalidRequest
from gateway.base.types import PartStart, PartStop, Start, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.base import gateway_status
from gateway.codecs.gemini_interactions import maps
from gateway.codecs.google_common import arguments_object, call_arguments, config_number
from gateway.codecs.inbound_common import client_dialect

name = maps.NAME

CONTENT_TYPES = frozenset({"text", "image", "audio", "document", "video"})
# thinking_level -> canonical effort (xhigh is the most there is)
_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}
# generation_config fields read here; others are named in ``unmapped``
_GENERATION = frozenset(
    {
        "temperature",
        "top_p",
        "max_output_tokens",
        "stop_sequences",
        "seed",
        "thinking_level",
        "thinking_summaries",
        "tool_choice",
    }
)
# top-level create fields read here or by the state (store, background, the chain)
_FIELDS = frozenset(
    {
        "model",
        "input",
        "system_instruction",
        "generation_config",
        "tools",
        "stream",
        "store",
        "background",
        "previous_interaction_id",
        "response_format",
        "response_mime_type",
        "response_modalities",
        "safety_settings",
        "labels",
        "service_tier",
    }
)


# --- request ---------------------------------------------------------------------------


def _fields(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be an object", param=where)
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{where} must be a string", param=where)
    return value


def _content(raw: Any, where: str) -> t.Text | t.Image | t.Document:
    """One content object (``text``, ``image``, ``document``) as a canonical part."""
    item = _fields(raw, where)
    kind = item.get("type")
    if kind == "text":
        return t.Text(_string(item.get("text"), f"{where}.text"))
    if kind in ("image", "document"):
        mime = item.get("mime_type")
        mime = mime if isinstance(mime, str) else None
        data, uri = item.get("data"), item.get("uri")
        if not isinstance(data, str) and not isinstance(uri, str):
            raise InvalidRequest(f"{where} needs data (base64) or uri", param=where)
        if kind == "image":
            if isinstance(data, str):
                return t.Image(data=data, media_type=mime)
            return t.Image(url=uri, media_type=mime)
        if isinstance(data, str):
            return t.Document(data=data, media_type=mime or "application/pdf")
        return t.Document(url=uri, media_type=mime)
    if kind in ("audio", "video"):
        raise InvalidRequest(f"{where}: {kind} input is not supported by this gateway", param=where)
    raise InvalidRequest(
        f"{where}.type must be one of text, image, document (got {kind!r})", param=f"{where}.type"
    )


def _contents(raw: Any, where: str) -> list[t.Part]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest(f"{where} must be a list of contents", param=where)
    return [_content(item, f"{where}[{i}]") for i, item in enumerate(raw)]


def _result(raw: Any, where: str) -> list[t.Text | t.Image | t.Document]:
    """A function result's ``result``: a string, a list of contents or any JSON value
    (sent on as its JSON text)."""
    if isinstance(raw, str):
        return [t.Text(raw)]
    if isinstance(raw, list) and all(
        isinstance(item, dict) and item.get("type") in CONTENT_TYPES for item in raw
    ):
        return [_content(item, f"{where}[{i}]") for i, item in enumerate(raw)]
    if raw is None:
        raise InvalidRequest(f"{where} is required", param=where)
    return [t.Text(orjson.dumps(raw).decode())]


class _Turns:
    """Steps folded into canonical messages: consecutive model steps (thought, output,
    calls) make one assistant message, results and user input user messages."""

    def __init__(self) -> None:
        self.messages: list[t.Message] = []
        self.calls: dict[str, str] = {}  # call id -> function name
        self.answered: set[str] = set()

    def add(self, role: str, part: t.Part) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role:
            last.parts.append(part)
        else:
            self.messages.append(t.Message(role, [part]))  # type: ignore[arg-type]

    def step(self, raw: Any, where: str) -> None:
        step = _fields(raw, where)
        kind = step.get("type")
        if kind in CONTENT_TYPES:
            self.add("user", _content(step, where))
        elif kind == "user_input":
            for part in _contents(step.get("content"), f"{where}.content"):
                self.add("user", part)
        elif kind == "model_output":
            for part in _contents(step.get("content"), f"{where}.content"):
                self.add("assistant", part)
        elif kind == "thought":
            summary = step.get("summary") or []
            text = "".join(
                part.text
                for part in _contents(summary, f"{where}.summary")
                if isinstance(part, t.Text)
            )
            signature = step.get("signature")
            signature = signature if isinstance(signature, str) and signature else None
            if text or signature:
                self.add("assistant", t.Thinking(text, signature=signature))
        elif kind == "function_call":
            call_id = _string(step.get("id"), f"{where}.id")
            call_name = _string(step.get("name"), f"{where}.name")
            arguments = step.get("arguments")
            if arguments is None:
                arguments = {}
            if not isinstance(arguments, dict):
                raise InvalidRequest(
                    f"{where}.arguments must be an object", param=f"{where}.arguments"
                )
            self.calls[call_id] = call_name
            self.add("assistant", t.ToolCall(call_id, call_name, arguments))
        elif kind == "function_result":
            call_id = _string(step.get("call_id"), f"{where}.call_id")
            if call_id not in self.calls:
                raise InvalidRequest(
                    f"{where}.call_id {call_id[:80]!r} answers no function_call of this "
                    "interaction's input or its previous interactions",
                    param=f"{where}.call_id",
                )
            self.answered.add(call_id)
            content = _result(step.get("result"), f"{where}.result")
            is_error = step.get("is_error") is True
            self.add("user", t.ToolResult(call_id=call_id, content=content, is_error=is_error))
        else:
            raise InvalidRequest(
                f"{where}.type {kind!r} is not supported by this gateway (steps: "
                "user_input, model_output, thought, function_call, function_result)",
                param=f"{where}.type",
            )


def parse_input(value: Any) -> list[t.Message]:
    """``input`` (a string, a content, a list of contents or of steps) as messages."""
    turns = _Turns()
    if isinstance(value, str):
        turns.add("user", t.Text(value))
    elif isinstance(value, dict):
        turns.step(value, "input")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            turns.step(item, f"input[{i}]")
    elif value is not None:
        raise InvalidRequest(
            "input must be a string, a content object or a list of contents or steps",
            param="input",
        )
    return turns.messages


def _tools(value: Any) -> list[t.Tool]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest("tools must be a list", param="tools")
    tools: list[t.Tool] = []
    for i, raw in enumerate(value):
        where = f"tools[{i}]"
        tool = _fields(raw, where)
        kind = tool.get("type")
        if kind != "function":
            raise InvalidRequest(
                f"{where}.type {kind!r} is not supported by this gateway: only function "
                "tools ({'type': 'function', 'name', 'description', 'parameters'})",
                param=f"{where}.type",
            )
        if "function" in tool or "function_declarations" in tool:
            raise InvalidRequest(
                f"{where}: function tools are flat (name, description and parameters on "
                "the tool itself)",
                param=where,
            )
        tool_name = _string(tool.get("name"), f"{where}.name")
        description = tool.get("description")
        parameters = tool.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        tools.append(
            t.Tool(
                tool_name,
                description if isinstance(description, str) else None,
                _fields(parameters, f"{where}.parameters"),
            )
        )
    return tools


def _tool_choice(value: Any) -> t.ToolChoice | None:
    where = "generation_config.tool_choice"
    allowed: Any = None
    mode = value
    if isinstance(value, dict):
        config = _fields(value.get("allowed_tools"), f"{where}.allowed_tools")
        mode, allowed = config.get("mode") or "auto", config.get("tools")
    if mode is None:
        return None
    if mode == "none":
        return t.ToolChoice("none")
    if mode == "auto":
        return t.ToolChoice("auto")
    if mode in ("any", "validated"):
        if isinstance(allowed, list) and len(allowed) == 1 and isinstance(allowed[0], str):
            return t.ToolChoice("tool", name=allowed[0])
        return t.ToolChoice("required")
    raise InvalidRequest(f"{where} {mode!r} is not one of auto, any, none, validated", param=where)


def _response_format(body: dict[str, Any]) -> t.ResponseFormat | None:
    value = body.get("response_format")
    if isinstance(value, list):  # one format per modality: the text one is ours
        value = next((v for v in value if isinstance(v, dict) and v.get("type") == "text"), None)
    if value is None:
        return None
    fmt = _fields(value, "response_format")
    if fmt.get("type") == "text":
        mime, schema = fmt.get("mime_type"), fmt.get("schema")
    else:  # the earlier shape: the schema itself, with response_mime_type beside it
        mime, schema = body.get("response_mime_type"), fmt
    if mime not in (None, "text/plain", "application/json"):
        raise InvalidRequest(f"response_format mime_type {mime!r} is not supported")
    if isinstance(schema, dict) and schema:
        return t.ResponseFormat("json_schema", schema=schema, name="response")
    if mime == "application/json":
        return t.ResponseFormat("json_object")
    return None


def parse_request(body: dict[str, Any], headers: Mapping[str, str]) -> t.ChatRequest:
    """A create body (``CreateModelInteraction``) as a canonical request."""
    if "agent" in body and "model" not in body:
        raise InvalidRequest(
            "agent interactions are not served by this gateway; name a model", param="agent"
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required and must be a string", param="model")
    messages = parse_input(body.get("input"))
    if not messages:
        raise InvalidRequest("input is required", param="input")
    system = body.get("system_instruction")
    if system is not None and not isinstance(system, str):
        raise InvalidRequest("system_instruction must be a string", param="system_instruction")
    generation = _fields(body.get("generation_config") or {}, "generation_config")
    unmapped = sorted(f"generation_config.{k}" for k in generation if k not in _GENERATION)
    unmapped += sorted(k for k in body if k not in _FIELDS)
    modalities = body.get("response_modalities")
    if isinstance(modalities, list) and any(str(m).lower() != "text" for m in modalities):
        raise InvalidRequest(
            "response_modalities: this gateway answers text only", param="response_modalities"
        )
    stop = generation.get("stop_sequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise InvalidRequest("generation_config.stop_sequences must be a list of strings")
    level = generation.get("thinking_level")
    reasoning = None
    if isinstance(level, str) and level in _LEVELS:
        reasoning = t.Reasoning(effort=_LEVELS[level])  # type: ignore[arg-type]
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("stream must be a boolean", param="stream")
    echo: dict[str, Any] = {}
    previous = body.get("previous_interaction_id")
    if isinstance(previous, str) and previous:
        echo["previous_interaction_id"] = previous
    extra: dict[str, Any] = {}
    seed = config_number(generation, "seed", "generation_config", int)
    if seed is not None:
        extra["seed"] = seed
    return t.ChatRequest(
        model=model.removeprefix("models/"),
        messages=messages,
        system=[t.Text(system)] if system else [],
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(generation.get("tool_choice")),
        max_tokens=config_number(generation, "max_output_tokens", "generation_config", int),
        temperature=config_number(generation, "temperature", "generation_config"),
        top_p=config_number(generation, "top_p", "generation_config"),
        stop=list(stop),
        stream=stream,
        response_format=_response_format(body),
        reasoning=reasoning,
        extra=extra,
        echo=echo,
        unmapped=unmapped,
        headers=dict(headers),
        dialect=name,
    )


# --- answer ----------------------------------------------------------------------------


def timestamp(seconds: int | float | None = None) -> str:
    """ISO 8601 in UTC (``YYYY-MM-DDThh:mm:ssZ``), now when not given."""
    moment = datetime.fromtimestamp(seconds, UTC) if seconds else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def interaction_id(response_id: str) -> str:
    """The interaction id of an answer: an upstream's own ``int_`` id is kept."""
    return response_id if response_id.startswith("int_") else maps.new_id()


def thought_step(text: str, signature: str | None) -> dict[str, Any]:
    step: dict[str, Any] = {"type": "thought"}
    if signature:
        step["signature"] = signature
    if text:
        step["summary"] = [{"type": "text", "text": text}]
    return step


def output_steps(parts: list[t.Part]) -> list[dict[str, Any]]:
    """An answer's parts as the steps the model made: thoughts, one ``model_output`` per
    run of text, and each function call."""
    steps: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, t.Thinking):
            if part.text or part.signature:
                steps.append(thought_step(part.text, part.signature))
        elif isinstance(part, t.Text | t.Image):
            if isinstance(part, t.Text):
                if not part.text:
                    continue
                content: dict[str, Any] = {"type": "text", "text": part.text}
            else:
                content = {"type": "image", "mime_type": part.media_type or "image/png"}
                content.update({"data": part.data} if part.data else {"uri": part.url})
            last = steps[-1] if steps else None
            if last is not None and last["type"] == "model_output":
                last["content"].append(content)
            else:
                steps.append({"type": "model_output", "content": [content]})
        elif isinstance(part, t.ToolCall):
            steps.append(
                {
                    "type": "function_call",
                    "id": part.id,
                    "name": part.name,
                    "arguments": call_arguments(part),
                }
            )
    return steps


def resource(
    interaction: str,
    model: str,
    status: str,
    steps: list[dict[str, Any]],
    usage: t.Usage | None,
    created: str,
    echo: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``Interaction`` resource (the fields every answer carries, and what the
    request asked to be echoed: ``previous_interaction_id``)."""
    body: dict[str, Any] = {
        "id": interaction,
        "object": "interaction",
        "model": model,
        "status": status,
        "created": created,
        "updated": timestamp(),
        "steps": steps,
    }
    body.update(echo or {})
    if usage is not None:
        body["usage"] = maps.usage_body(usage)
    return body


def render_response(response: t.ChatResponse, request: t.ChatRequest) -> dict[str, Any]:
    """The create response: the model's steps only, the status the turn ended with."""
    status = maps.STATUS_OF_FINISH.get(response.finish_reason, "completed")
    if any(isinstance(p, t.ToolCall) for p in response.parts):
        status = "requires_action"
    return resource(
        interaction_id(response.id),
        request.model,
        status,
        output_steps(response.parts),
        response.usage,
        timestamp(response.created or None),
        request.echo,
    )


def render_timeline(
    interaction: dict[str, Any], input_steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """The stored resource as ``GET /interactions/{id}`` answers it: the turn's input
    steps in front of the model's."""
    return {**interaction, "steps": [*input_steps, *(interaction.get("steps") or [])]}


def input_steps(value: Any) -> list[dict[str, Any]]:
    """A create body's ``input`` as the steps the stored timeline shows: a string or
    contents become one ``user_input`` step; steps stay as they are."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    items = value if isinstance(value, list) else [value]
    steps: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict) and item.get("type") in CONTENT_TYPES:
            last = steps[-1] if steps else None
            if last is not None and last.get("type") == "user_input" and last.get("_contents"):
                last["content"].append(item)
            else:
                steps.append({"type": "user_input", "content": [item], "_contents": True})
        elif isinstance(item, dict):
            steps.append(item)
    for step in steps:
        step.pop("_contents", None)
    return steps


# --- stream ------------------------------------------------------------------------------


class _Events:
    """Numbers the stream's events: every one carries its ``event_id``."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, payload: dict[str, Any]) -> bytes:
        self.count += 1
        return maps.sse(
            {"event_type": payload.pop("event_type"), **payload, "event_id": event_id(self.count)}
        )


def event_id(ordinal: int) -> str:
    """The ``event_id`` of a stream's ``ordinal``-th event (1-based)."""
    return f"evt_{ordinal:06d}"


async def render_stream(
    events: AsyncIterator[t.StreamEvent], request: t.ChatRequest
) -> AsyncIterator[bytes]:
    """Canonical events as the Interactions stream: created, the steps (start, deltas,
    stop), completed with the usage, then ``[DONE]``."""
    emit = _Events()
    interaction = maps.new_id()
    created = timestamp()
    usage = t.Usage()
    reason = None
    steps = _Steps(emit)
    calls = False
    started = False

    async for event in events:
        if isinstance(event, Start):
            interaction = interaction_id(event.id)
            if event.usage is not None:
                usage.merge(event.usage)
            if not started:
                started = True
                yield _opening(emit, interaction, created, request)
            continue
        if not started:
            started = True
            yield _opening(emit, interaction, created, request)
        if isinstance(event, PartStart):
            calls = calls or event.kind == "tool_call"
            yield steps.start(event.index, _step_of(event))
        elif isinstance(event, TextDelta):
            if event.index not in steps.at:
                yield steps.start(event.index, {"type": "model_output"})
            if event.text:
                delta: dict[str, Any] = {"type": "text", "text": event.text}
                yield emit(
                    {"event_type": "step.delta", "index": steps.at[event.index], "delta": delta}
                )
        elif isinstance(event, ThinkingDelta):
            if event.index not in steps.at:
                yield steps.start(event.index, {"type": "thought"})
            at = steps.at[event.index]
            if event.text:
                delta = {"type": "thought_summary", "content": {"type": "text", "text": event.text}}
                yield emit({"event_type": "step.delta", "index": at, "delta": delta})
            if event.signature:
                delta = {"type": "thought_signature", "signature": event.signature}
                yield emit({"event_type": "step.delta", "index": at, "delta": delta})
        elif isinstance(event, ToolArgsDelta):
            if event.index in steps.at and event.fragment:
                delta = {"type": "arguments_delta", "arguments": event.fragment}
                yield emit(
                    {"event_type": "step.delta", "index": steps.at[event.index], "delta": delta}
                )
        elif isinstance(event, PartStop):
            if event.index in steps.at:
                yield emit({"event_type": "step.stop", "index": steps.at.pop(event.index)})
        elif isinstance(event, t.UsageEvent):
            usage.merge(event.usage)
        elif isinstance(event, t.Finish):
            reason = event.reason
        elif isinstance(event, t.ErrorEvent):
            yield _error_event(event.error, emit)
            yield maps.DONE
            return
    if not started:
        yield _opening(emit, interaction, created, request)
    for at in steps.at.values():  # never closed by the upstream: closed here
        yield emit({"event_type": "step.stop", "index": at})
    status = maps.STATUS_OF_FINISH.get(reason or "stop", "completed")
    if calls:
        status = "requires_action"
    final = resource(interaction, request.model, status, [], usage, created, request.echo)
    yield emit({"event_type": "interaction.completed", "interaction": final})
    yield maps.DONE


class _Steps:
    """The steps of an Interactions stream: each open canonical part's step index."""

    __slots__ = ("at", "count", "emit")

    def __init__(self, emit: _Events) -> None:
        self.emit = emit
        self.at: dict[int, int] = {}  # canonical index of an open part -> its step's index
        self.count = 0  # steps started

    def start(self, index: int, step: dict[str, Any]) -> bytes:
        self.at[index] = self.count
        self.count += 1
        return self.emit({"event_type": "step.start", "index": self.at[index], "step": step})


def _opening(emit: _Events, interaction: str, created: str, request: t.ChatRequest) -> bytes:
    """The stream's ``interaction.created`` event."""
    body: dict[str, Any] = {"id": interaction, "object": "interaction", "model": request.model}
    body.update({"status": "in_progress", "created": created, **request.echo})
    return emit({"event_type": "interaction.created", "interaction": body})


def _step_of(event: PartStart) -> dict[str, Any]:
    """The step a canonical part starts: a function call, a thought or model output."""
    if event.kind == "tool_call":
        step: dict[str, Any] = {"type": "function_call", "id": event.tool_id or ""}
        step["name"] = event.tool_name or ""
        return {**step, "arguments": {}}
    if event.kind == "thinking":
        return {"type": "thought"}
    return {"type": "model_output"}


def _append_text(items: list[dict[str, Any]], text: str) -> None:
    if items and items[-1].get("type") == "text":
        items[-1]["text"] += text
    else:
        items.append({"type": "text", "text": text})


def fold_steps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stream's events folded into the steps they made, in order: what the stored
    resource keeps (the ``interaction.completed`` event carries no steps)."""
    steps: dict[int, dict[str, Any]] = {}
    arguments: dict[int, list[str]] = {}
    for event in events:
        kind, index = event.get("event_type"), event.get("index")
        if not isinstance(index, int):
            continue
        if kind == "step.start" and isinstance(event.get("step"), dict):
            steps[index] = dict(event["step"])
            if steps[index].get("type") == "model_output":
                steps[index].setdefault("content", [])
        elif kind == "step.delta" and index in steps and isinstance(event.get("delta"), dict):
            step, delta = steps[index], event["delta"]
            what = delta.get("type")
            if what == "text":
                _append_text(step.setdefault("content", []), str(delta.get("text") or ""))
            elif what == "thought_summary":
                content = delta.get("content") if isinstance(delta.get("content"), dict) else {}
                _append_text(step.setdefault("summary", []), str(content.get("text") or ""))
            elif what == "thought_signature" and isinstance(delta.get("signature"), str):
                step["signature"] = delta["signature"]
            elif what == "arguments_delta":
                arguments.setdefault(index, []).append(str(delta.get("arguments") or ""))
            elif what in CONTENT_TYPES:
                step.setdefault("content", []).append(dict(delta))
    for index, fragments in arguments.items():
        steps[index]["arguments"] = arguments_object("".join(fragments))
    return [steps[i] for i in sorted(steps)]


def replay_events(interaction: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored interaction as the events a stream of it carries (without their ids):
    created, each model step (start, its deltas, stop), and, once it ended,
    completed. What ``GET ...?stream=true`` answers for an interaction that was not
    streamed when made."""
    opening = {k: interaction[k] for k in ("id", "object", "model", "created") if k in interaction}
    events: list[dict[str, Any]] = [
        {"event_type": "interaction.created", "interaction": {**opening, "status": "in_progress"}}
    ]
    for index, step in enumerate(interaction.get("steps") or []):
        kind = step.get("type")
        deltas: list[dict[str, Any]] = []
        head = {"type": kind}
        if kind == "model_output":
            for content in step.get("content") or []:
                deltas.append(dict(content))
        elif kind == "thought":
            for summary in step.get("summary") or []:
                deltas.append({"type": "thought_summary", "content": summary})
            if step.get("signature"):
                deltas.append({"type": "thought_signature", "signature": step["signature"]})
        elif kind == "function_call":
            head = {**step, "arguments": {}}
            text = orjson.dumps(step.get("arguments") or {}).decode()
            deltas.append({"type": "arguments_delta", "arguments": text})
        else:
            head = dict(step)
        events.append({"event_type": "step.start", "index": index, "step": head})
        events += [{"event_type": "step.delta", "index": index, "delta": d} for d in deltas]
        events.append({"event_type": "step.stop", "index": index})
    status = interaction.get("status")
    if status in maps.FINAL_STATUSES:
        events.append(
            {"event_type": "interaction.completed", "interaction": {**interaction, "steps": []}}
        )
    else:
        update = {"interaction_id": interaction.get("id"), "status": status}
        events.append({"event_type": "interaction.status_update", **update})
    return events


def sse_events(payloads: list[dict[str, Any]], after: str | None = None) -> bytes:
    """Events as a stream: those after the one whose ``event_id`` is ``after`` (all of
    them when it is None or names none), each given its id when it has none, then
    ``[DONE]``."""
    numbered = [
        p if p.get("event_id") else {**p, "event_id": event_id(i + 1)}
        for i, p in enumerate(payloads)
    ]
    ids = [p["event_id"] for p in numbered]
    if after is not None and after in ids:
        numbered = numbered[ids.index(after) + 1 :]
    return b"".join(maps.sse(p) for p in numbered) + maps.DONE


def parse_sse(text: bytes | str) -> list[dict[str, Any]]:
    """The JSON payloads of a stream's ``data:`` lines (``[DONE]`` and noise left out)."""
    raw = text.encode() if isinstance(text, str) else text
    payloads: list[dict[str, Any]] = []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        try:
            value = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            payloads.append(value)
    return payloads


def _error_event(error: Any, emit: _Events) -> bytes:
    if not isinstance(error, GatewayError):
        error = GatewayError(str(error))
    return emit({"event_type": "error", **maps.error_body(client_status(error), error.message)})


# --- errors ------------------------------------------------------------------------------


# An upstream's server failure is the gateway's 502, its timeout 504; everything else
# keeps its own status.
client_status = gateway_status


def render_error(error: GatewayError) -> dict[str, Any]:
    return maps.error_body(client_status(error), error.message)


def render_stream_error(error: GatewayError) -> bytes:
    """A failure once the stream began: an ``error`` event (with an event id of its
    own) and the end of the stream."""
    body = {"event_type": "error", **render_error(error), "event_id": maps.new_id("evt")}
    return maps.sse(body) + maps.DONE


CLIENT = client_dialect(globals(), name, "Gemini Interactions", google_key=True)
