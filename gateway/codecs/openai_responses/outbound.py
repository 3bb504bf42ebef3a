"""The OpenAI Responses API as an upstream: canonical requests -> ``POST /responses``
bodies, and response objects, typed SSE streams and error envelopes -> canonical.

Stateless by design: every body says ``store: false`` and, for reasoning deployments,
asks for ``reasoning.encrypted_content``, so a reasoning item can travel back to the
upstream on the next turn inside the conversation itself. Reasoning items become
``Thinking`` parts whose signature (or redacted data, when there is no summary text)
carries the encrypted content (``maps.pack_reasoning``): Anthropic clients echo both
unchanged, the Responses client half sends the signature back as
``encrypted_content``; the item's id rides along, as OpenAI wants it back. Chat
Completions clients see the summary as ``reasoning_content`` and cannot return the
encrypted content: the reasoning ledger (``gateway.core.reasoning_ledger``) restores it,
id included, on the turn that answers its tool calls. Thinking from another vendor (a signature
that is not ours) cannot be sent to OpenAI and is left out.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.base import types as t
from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.types import PartStart, PartStop, Text, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs import openai_common as common
from gateway.codecs.base import Target, WireEvent, tool_call_arguments, tool_call_text
from gateway.codecs.openai_responses import maps

# isinstance against tuples: a union written in the call is built anew each time
_MEDIA = (t.Image, t.Document)
_CONTENT = (Text, t.Image, t.Document)
MAX_USER_CHARS = 64  # OpenAI's limit on ``user``; longer ids are hashed

# --- canonical -> upstream -------------------------------------------------------------


def _image(image: t.Image) -> dict[str, Any]:
    if image.url:
        url = image.url
    elif image.data:
        url = f"data:{image.media_type or 'image/png'};base64,{image.data}"
    else:
        raise InvalidRequest("an image has neither a URL nor data", param="messages")
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _file(doc: t.Document) -> dict[str, Any]:
    """An ``input_file``: text documents as ``input_text``, files inline or by URL."""
    if doc.text is not None:
        return {"type": "input_text", "text": doc.text}
    if doc.data is not None:
        data_url = f"data:{doc.media_type or 'application/pdf'};base64,{doc.data}"
        return {"type": "input_file", "filename": doc.name(), "file_data": data_url}
    out: dict[str, Any] = {"type": "input_file", "file_url": doc.url or ""}
    if doc.filename:
        out["filename"] = doc.filename
    return out


def _user_content(parts: list[Text | t.Image | t.Document]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, Text):
            if part.text:
                content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, t.Document):
            content.append(_file(part))
        else:
            content.append(_image(part))
    return content


def _tool_output(result: t.ToolResult) -> dict[str, Any]:
    """A function_call_output item: the output as a string when it is text only (what
    every Responses server takes), as content parts when it carries images or files."""
    if any(isinstance(p, _MEDIA) for p in result.content):
        output: Any = _user_content(result.content)
    else:
        output = "".join(p.text for p in result.content if isinstance(p, Text))
    return {"type": "function_call_output", "call_id": result.call_id, "output": output}


def _reasoning_item(part: t.Thinking) -> dict[str, Any] | None:
    """The reasoning input item for a Thinking part we made, with the id it came with
    (see ``maps.REASONING_PREFIX``); None for plain text or another vendor's signature."""
    unpacked = maps.unpack_reasoning_item(part.signature) or maps.unpack_reasoning_item(
        part.redacted
    )
    if unpacked is None:
        return None
    item_id, encrypted = unpacked
    if encrypted.startswith(maps.COMPACTION_MARK):  # a compaction item, as it came
        return {"type": "compaction", "encrypted_content": encrypted[len(maps.COMPACTION_MARK) :]}
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    item: dict[str, Any] = {"type": "reasoning"}
    if item_id:
        item["id"] = item_id
    item["summary"] = summary
    item["encrypted_content"] = encrypted
    return item


def _assistant_items(message: t.Message) -> list[dict[str, Any]]:
    """Reasoning, text and function calls in the order the model produced them; runs of
    text become one assistant message item."""
    items: list[dict[str, Any]] = []
    text: list[str] = []
    phase: list[t.Phase | None] = [None]  # of the text gathered

    def flush() -> None:
        if text:
            item = {"type": "message", "role": "assistant", "content": "".join(text)}
            if phase[0] is not None:  # sent back as it came (OpenAI asks to keep it)
                item["phase"] = phase[0]
            items.append(item)
            text.clear()

    for part in message.parts:
        if isinstance(part, Text):
            if text and part.phase != phase[0]:
                flush()
            phase[0] = part.phase
            text.append(part.text)
        elif isinstance(part, t.Thinking):
            flush()
            item = _reasoning_item(part)
            if item is not None:
                items.append(item)
        elif isinstance(part, t.ToolCall):
            flush()
            items.append(
                {
                    "type": "function_call",
                    "call_id": part.id,
                    "name": part.name,
                    "arguments": tool_call_text(part),
                }
            )
        else:
            raise InvalidRequest(
                f"an assistant message cannot carry a {part.kind} part", param="messages"
            )
    flush()
    if items and items[-1]["type"] == "reasoning":
        # reasoning with nothing after it in its turn (a reply cut short): OpenAI refuses
        # it ("provided without its required following item"), and it carries no answer
        items.pop()
    return items


def _input(request: t.ChatRequest) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "assistant":
            items += _assistant_items(message)
        elif message.role == "system":  # mid-conversation instructions keep their place
            text = message.text()
            if text:
                items.append({"type": "message", "role": "developer", "content": text})
        else:  # user and tool turns: tool outputs first, then what the user said
            results = [p for p in message.parts if isinstance(p, t.ToolResult)]
            items += [_tool_output(r) for r in results]
            rest = [p for p in message.parts if isinstance(p, _CONTENT)]
            content = _user_content(rest)
            if content:
                items.append({"type": "message", "role": "user", "content": content})
    return items


def _tools(request: t.ChatRequest) -> list[dict[str, Any]]:
    tools = []
    for tool in request.tools:
        spec: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description:
            spec["description"] = tool.description
        spec["parameters"] = tool.parameters
        # The Responses API enforces schemas unless told not to; a caller that did not ask
        # for strict (Chat Completions' and Anthropic's default) gets strict false.
        spec["strict"] = bool(tool.strict)
        tools.append(spec)
    return tools


def _tool_choice(request: t.ChatRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    return choice.mode


def _text_format(request: t.ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {
        "type": "json_schema",
        "name": fmt.name or "response",
        "schema": fmt.schema or {},
    }
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return spec


def _user(user: str) -> str:
    if len(user) <= MAX_USER_CHARS:
        return user
    return hashlib.sha256(user.encode()).hexdigest()


def unsupported_params(request: t.ChatRequest, target: Target) -> list[str]:
    """Canonical parameters set on ``request`` that the Responses API has no field for
    (``top_k``, ``n`` > 1), or that reasoning models refuse (``temperature``, ``top_p``).
    ``build_request`` leaves them out; a route without drop_params refuses. ``stop`` is
    not one: the gateway cuts at stop sequences itself (``gateway.core.emulation``)."""
    names = []
    if request.top_k is not None:
        names.append("top_k")
    if request.n is not None and request.n > 1:
        names.append("n")
    if target.supports_reasoning:
        names += [n for n in ("temperature", "top_p") if getattr(request, n) is not None]
    return names


def build_request(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    """The ``POST /responses`` body for ``request`` on ``target``.

    ``request.extra`` is forwarded only when the caller spoke the Responses API;
    ``target.params`` are the deployment's fixed settings and win over the request,
    except the control keys (``maps.CONTROL_PARAMS``) and the fields the codec owns."""
    params = dict(target.params)
    body: dict[str, Any] = {"model": target.model, "input": _input(request), "store": False}
    encrypted = maps.wants_encrypted_reasoning(params, target.supports_reasoning)
    include = [maps.ENCRYPTED_REASONING] if encrypted else []
    instructions = "\n\n".join(p.text for p in request.system if p.text)
    if instructions:
        body["instructions"] = instructions
    if request.tools:
        body["tools"] = _tools(request)
        choice = _tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
        if request.tool_choice and request.tool_choice.parallel is not None:
            body["parallel_tool_calls"] = request.tool_choice.parallel
    max_tokens = target.capped(request.max_tokens)
    if max_tokens is not None:
        body["max_output_tokens"] = max(max_tokens, maps.MIN_OUTPUT_TOKENS)
    skipped = set(unsupported_params(request, target))
    for name in ("temperature", "top_p"):
        value = getattr(request, name)
        if value is not None and name not in skipped:
            body[name] = value
    if request.user:
        body["user"] = _user(request.user)
    text_format = _text_format(request)
    if text_format is not None:
        body["text"] = {"format": text_format}
    chosen = maps.effort(request.reasoning)
    if chosen and target.supports_reasoning:
        reasoning: dict[str, Any] = {"effort": chosen}
        summary = params.get("reasoning_summary", "auto")
        if summary and summary != "none":
            reasoning["summary"] = summary
        body["reasoning"] = reasoning
    if request.stream:
        body["stream"] = True
    common.render_prompt_cache(request, body)
    if request.dialect == "responses":
        for name, value in request.extra.items():
            if name == "include" and isinstance(value, list):
                include += [v for v in value if v not in include]
            elif name not in maps.OWNED_FIELDS:
                body[name] = value
    for name, value in params.items():
        if name not in maps.CONTROL_PARAMS and name not in maps.OWNED_FIELDS:
            body[name] = value
    if include:
        body["include"] = include
    return body


# --- upstream -> canonical -------------------------------------------------------------


def _reasoning_text(item: dict[str, Any]) -> str:
    """A reasoning item's summary; failing that its raw ``reasoning_text`` content (what
    Responses-compatible servers running open-weight models send). Raw reasoning is not
    streamed live: it goes out whole at ``output_item.done``, so a stream that carries
    both kinds still folds to what ``parse_response`` reads."""
    for name in ("summary", "content"):
        texts = [
            entry["text"]
            for entry in item.get(name) or []
            if isinstance(entry, dict) and isinstance(entry.get("text"), str) and entry["text"]
        ]
        if texts:
            return "\n\n".join(texts)
    return ""


def _thinking(item: dict[str, Any]) -> t.Thinking | None:
    """A reasoning output item as Thinking: the summary as text, the encrypted content
    packed into the signature (or redacted, when there is no summary)."""
    text = _reasoning_text(item)
    encrypted, item_id = item.get("encrypted_content"), item.get("id")
    packed = (
        maps.pack_reasoning(encrypted, item_id if isinstance(item_id, str) else None)
        if isinstance(encrypted, str) and encrypted
        else None
    )
    if text:
        return t.Thinking(text, signature=packed)
    if packed:
        return t.Thinking("", redacted=packed)
    return None


def _message_text(item: dict[str, Any]) -> tuple[str, bool]:
    """The text of a message item's content parts, and whether one was a refusal."""
    texts, refused = [], False
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "output_text":
            texts.append(part.get("text") or "")
        elif part.get("type") == "refusal":
            texts.append(part.get("refusal") or "")
            refused = True
    return "".join(texts), refused


def _phase(item: dict[str, Any]) -> t.Phase | None:
    phase = item.get("phase")
    return phase if phase in ("commentary", "final_answer") else None


def parse_response(data: Any) -> t.ChatResponse:
    """A response object -> ChatResponse. A ``failed`` response raises its error."""
    if not isinstance(data, dict):
        raise UpstreamError("upstream answered with something other than a response object")
    if data.get("status") == "failed":
        raise maps.stream_error(data.get("error"), "upstream response failed")
    parts: list[t.Part] = []
    saw_call = refused = False
    for item in data.get("output") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            thinking = _thinking(item)
            if thinking is not None:
                parts.append(thinking)
        elif kind == "message":
            text, was_refusal = _message_text(item)
            refused = refused or was_refusal
            if text:
                parts.append(Text(text, phase=_phase(item)))
        elif kind == "function_call":
            saw_call = True
            args, raw = tool_call_arguments(item.get("arguments"))
            parts.append(
                t.ToolCall(
                    id=item.get("call_id") or item.get("id") or "",
                    name=item.get("name") or "",
                    arguments=args,
                    raw_arguments=raw,
                )
            )
    return t.ChatResponse(
        id=data.get("id") or "",
        model=data.get("model") or "",
        parts=parts,
        finish_reason=maps.finish_reason(data, saw_call, refused),
        usage=maps.parse_usage(data.get("usage")),
        created=int(data.get("created_at") or 0),
    )


def parse_error(status: int, body: bytes) -> UpstreamError:
    return common.http_error(status, body)


class StreamParser:
    """Typed Responses SSE events -> canonical events. One canonical part per output
    item (a message's text parts join into one text part), opened on its first content
    so empty items leave no trace, closed at ``response.output_item.done``.

    ``Start`` is held back until the first content or the end, so a stream that fails
    before saying anything (``response.failed``, ``error``) raises, and routing can
    retry or fail over."""

    def __init__(self) -> None:
        self._start: t.Start | None = None
        self._started = False
        self._parts: dict[int, int] = {}  # output_index -> canonical part index
        self._kinds: dict[int, str] = {}  # output_index -> item type
        self._phases: dict[int, t.Phase] = {}  # output_index -> a message item's phase
        self._streamed: set[int] = set()  # output indexes that got a delta
        self._closed: set[int] = set()  # output indexes whose part was stopped
        self._summary: dict[int, Any] = {}  # output_index -> summary_index last streamed
        self._next = 0
        self._saw_call = False
        self._refused = False
        self._done = False

    # -- helpers --
    def _begin(self) -> list[t.StreamEvent]:
        if self._started:
            return []
        self._started = True
        return [self._start or t.Start(id="", model="")]

    def _open(self, output: int, kind: str, **tool: str) -> list[t.StreamEvent]:
        events = self._begin()
        if output not in self._parts:
            self._parts[output] = self._next
            self._next += 1
            start = PartStart(self._parts[output], kind, **tool)  # type: ignore[arg-type]
            if kind == "text":
                start.phase = self._phases.get(output)
            events.append(start)
        return events

    @staticmethod
    def _index(data: dict[str, Any]) -> int:
        value = data.get("output_index")
        return value if isinstance(value, int) else 0

    # -- events --
    def feed(self, event: WireEvent) -> list[t.StreamEvent]:
        data = event.data if isinstance(event.data, dict) else {}
        kind = data.get("type") or event.event or ""
        if self._done:
            return []
        handler = _HANDLERS.get(kind)
        return handler(self, data) if handler else []

    def _created(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        response = data.get("response") or {}
        self._start = t.Start(
            id=response.get("id") or "",
            model=response.get("model") or "",
            created=int(response.get("created_at") or 0),
        )
        return []

    def _item_added(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        item = data.get("item") or {}
        output = self._index(data)
        self._kinds[output] = item.get("type") or ""
        phase = _phase(item)
        if phase is not None:
            self._phases[output] = phase
        if item.get("type") == "function_call":
            self._saw_call = True
            return self._open(
                output,
                "tool_call",
                tool_id=item.get("call_id") or item.get("id") or "",
                tool_name=item.get("name") or "",
            )
        return []

    def _text_delta(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        delta = data.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        output = self._index(data)
        self._streamed.add(output)
        events = self._open(output, "text")
        return [*events, TextDelta(self._parts[output], delta)]

    def _refusal_delta(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        self._refused = True
        return self._text_delta(data)

    def _args_delta(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        delta = data.get("delta")
        output = self._index(data)
        if not isinstance(delta, str) or not delta or output not in self._parts:
            return []
        self._streamed.add(output)
        return [ToolArgsDelta(self._parts[output], delta)]

    def _args_done(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        output = self._index(data)
        arguments = data.get("arguments")
        if output in self._streamed or output not in self._parts or not arguments:
            return []
        self._streamed.add(output)  # arguments given whole, never in deltas
        return [ToolArgsDelta(self._parts[output], arguments)]

    def _summary_delta(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        delta = data.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        output = self._index(data)
        summary = data.get("summary_index", 0)
        if output in self._summary and self._summary[output] != summary:
            delta = "\n\n" + delta  # a further summary part, joined as parse_response does
        self._summary[output] = summary
        self._streamed.add(output)
        events = self._open(output, "thinking")
        return [*events, ThinkingDelta(self._parts[output], delta)]

    def _item_done(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        item = data.get("item") or {}
        output = self._index(data)
        kind = item.get("type") or self._kinds.get(output)
        events: list[t.StreamEvent] = []
        if kind == "reasoning":
            events += self._reasoning_done(output, item)
        elif kind == "message" and output not in self._streamed:
            text, refused = _message_text(item)  # text given whole, never in deltas
            self._refused = self._refused or refused
            if text:
                events += self._open(output, "text")
                events.append(TextDelta(self._parts[output], text))
        elif kind == "function_call" and output not in self._parts:
            self._saw_call = True
            events += self._open(
                output,
                "tool_call",
                tool_id=item.get("call_id") or item.get("id") or "",
                tool_name=item.get("name") or "",
            )
            if item.get("arguments"):
                events.append(ToolArgsDelta(self._parts[output], item["arguments"]))
        elif kind == "function_call" and output not in self._streamed and item.get("arguments"):
            events.append(ToolArgsDelta(self._parts[output], item["arguments"]))
        if output in self._parts and output not in self._closed:
            self._closed.add(output)
            events.append(PartStop(self._parts[output]))
        return events

    def _reasoning_done(self, output: int, item: dict[str, Any]) -> list[t.StreamEvent]:
        thinking = _thinking(item)
        if thinking is None:
            return []
        events: list[t.StreamEvent] = []
        if output not in self._streamed and thinking.text:
            events += self._open(output, "thinking")
            events.append(ThinkingDelta(self._parts[output], thinking.text))
        if output in self._parts:
            if thinking.signature:
                events.append(ThinkingDelta(self._parts[output], signature=thinking.signature))
            return events
        if thinking.redacted:
            events += self._open(output, "thinking")
            events.append(ThinkingDelta(self._parts[output], redacted=thinking.redacted))
        return events

    def _terminal(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        response = data.get("response") or {}
        if data.get("type") == "response.incomplete" and not response.get("status"):
            response = {**response, "status": "incomplete"}  # terse compatible servers
        self._done = True
        if self._start is None and response:
            self._created(data)
        events = self._begin()
        for output in sorted(set(self._parts) - self._closed):  # never got output_item.done
            self._closed.add(output)
            events.append(PartStop(self._parts[output]))
        events.append(t.UsageEvent(maps.parse_usage(response.get("usage"))))
        events.append(t.Finish(maps.finish_reason(response, self._saw_call, self._refused)))
        return events

    def _failed(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        self._done = True
        response = data.get("response") or {}
        return [t.ErrorEvent(maps.stream_error(response.get("error"), "upstream response failed"))]

    def _error(self, data: dict[str, Any]) -> list[t.StreamEvent]:
        self._done = True
        return [t.ErrorEvent(maps.stream_error(data, "upstream stream error"))]

    def finish(self) -> list[t.StreamEvent]:
        if self._done:
            return []
        self._done = True
        return [
            t.ErrorEvent(
                UpstreamError("upstream stream ended before the response completed", status=502)
            )
        ]


_HANDLERS = {
    "response.created": StreamParser._created,
    "response.output_item.added": StreamParser._item_added,
    "response.output_text.delta": StreamParser._text_delta,
    "response.refusal.delta": StreamParser._refusal_delta,
    "response.function_call_arguments.delta": StreamParser._args_delta,
    "response.function_call_arguments.done": StreamParser._args_done,
    "response.reasoning_summary_text.delta": StreamParser._summary_delta,
    "response.output_item.done": StreamParser._item_done,
    "response.completed": StreamParser._terminal,
    "response.incomplete": StreamParser._terminal,
    "response.failed": StreamParser._failed,
    "error": StreamParser._error,
}
