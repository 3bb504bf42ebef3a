"""The upstream half of the Gemini wire format (``generateContent``,
``streamGenerateContent?alt=sse``, ``countTokens``), shared by the Gemini API (AI
Studio) and Vertex AI: canonical request -> Gemini body, Gemini answer -> canonical.

Translation choices worth knowing:

- System text (top-level and ``system`` messages anywhere) becomes the one
  ``systemInstruction``; turns alternate ``user``/``model`` (same-role messages merge;
  tool results are ``functionResponse`` parts of a user turn, named after the call they
  answer, found in the history).
- Function calls get ids of the gateway's making that carry their thought signature
  (``ids``); a call coming back is restored with its ``thoughtSignature``. On Gemini 3
  and later, a model turn whose calls have no signature at all (history from another
  model) gets Google's placeholder signature on its first call instead of a 400. Thinking
  parts are not sent back (Gemini needs the signatures, not the thought summaries; an
  Anthropic or OpenAI thinking signature means nothing to Gemini), and they come out
  unsigned: a Gemini signature on a thought or answer-text part (optional to return,
  unlike a call's) is left out, so a client never hands Gemini's signature to an
  Anthropic upstream that would reject it.
- Tools go as ``functionDeclarations`` with ``parametersJsonSchema`` (JSON Schema, less
  restricted than the OpenAPI ``parameters`` subset; only ``$schema``/``$id``/
  ``$comment`` are removed); tool choice -> ``toolConfig.functionCallingConfig``.
- ``response_format`` -> ``responseMimeType: application/json`` (+ ``responseJsonSchema``).
- Reasoning -> ``thinkingConfig`` with ``includeThoughts`` for reasoning deployments:
  Gemini 3 models take an effort as ``thinkingLevel``; a token budget (or an effort on
  Gemini 2.5) is a ``thinkingBudget``.
- Images and documents (any media type: PDFs too) -> ``inlineData``; URLs -> ``fileData``.
- ``Target.params`` (deployment defaults, control keys and what the model refuses already
  stripped by the provider) go into ``generationConfig`` (snake_case names are
  camelCased), except Gemini's top-level fields (``safetySettings``, ``cachedContent``,
  ``labels``...). A sampling parameter the model refuses (``Target.refuses``) is never
  written (the pipeline drops it from the request first, noted).
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.errors import InvalidRequest, UpstreamConnectionError, UpstreamError
from gateway.base.types import Text, TextDelta, ThinkingDelta, ToolArgsDelta, UsageEvent
from gateway.codecs.base import DATA_URL, OnePartOpen, Target, WireEvent, add_turn
from gateway.codecs.gemini import ids, maps
from gateway.codecs.google_common import camel, clean_schema

# isinstance against tuples: a union written in the call is built anew each time
_TEXTUAL = (Text, t.Document)
# Google's placeholder for function calls whose real signature is unknown (see
# ``_vouch_for_foreign_calls``).
PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
# Gemini 3 and later take a thinking *level*; 2.5 a budget.
_LEVEL_MODELS = re.compile(r"(^|/)gemini-([3-9]|\d{2,})")
_TOP_LEVEL = {
    "safetySettings": "safetySettings",
    "safety_settings": "safetySettings",
    "cachedContent": "cachedContent",
    "cached_content": "cachedContent",
    "labels": "labels",
    "serviceTier": "serviceTier",
    "service_tier": "serviceTier",
}
_GENERATION_NAMES = {
    "max_tokens": "maxOutputTokens",
    "max_output_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "n": "candidateCount",
}


# --- request ---------------------------------------------------------------------------


def _media_part(image: t.Image) -> dict[str, Any]:
    if image.data is not None:
        return {"inlineData": {"mimeType": image.media_type or "image/png", "data": image.data}}
    url = image.url or ""
    if match := DATA_URL.match(url):
        return {"inlineData": {"mimeType": match["type"], "data": match["data"]}}
    mime = image.media_type or mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _document_part(doc: t.Document) -> dict[str, Any]:
    """Text documents as text; files (PDFs...) as ``inlineData``, by URL ``fileData``."""
    if doc.text is not None:
        return {"text": doc.text}
    if doc.data is not None:
        return {"inlineData": {"mimeType": doc.media_type or "application/pdf", "data": doc.data}}
    url = doc.url or ""
    mime = doc.media_type or mimetypes.guess_type(url.split("?", 1)[0])[0] or "application/pdf"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _tool_result_parts(result: t.ToolResult, name: str) -> list[dict[str, Any]]:
    text = "\n\n".join(
        p.text for p in result.content if isinstance(p, _TEXTUAL) and p.text is not None
    )
    response = {"error": text} if result.is_error else {"result": text}
    parts: list[dict[str, Any]] = [{"functionResponse": {"name": name, "response": response}}]
    parts.extend(_media_part(p) for p in result.content if isinstance(p, t.Image))
    parts.extend(
        _document_part(p) for p in result.content if isinstance(p, t.Document) and p.text is None
    )
    return parts


def _parts(message: t.Message, names: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, Text):
            if part.text:
                out.append({"text": part.text})
        elif isinstance(part, t.Image):
            out.append(_media_part(part))
        elif isinstance(part, t.Document):
            out.append(_document_part(part))
        elif isinstance(part, t.ToolCall):
            names[part.id] = part.name
            call: dict[str, Any] = {"functionCall": {"name": part.name, "args": part.arguments}}
            if signature := ids.signature_of(part.id):
                call["thoughtSignature"] = signature
            out.append(call)
        elif isinstance(part, t.ToolResult):
            name = names.get(part.call_id)
            if name is None:
                raise InvalidRequest(
                    f"tool result for call {part.call_id!r} answers no tool call in the "
                    "conversation (Gemini needs the function's name)",
                    param="messages",
                )
            out.extend(_tool_result_parts(part, name))
        # Thinking: not sent back (see the module docstring).
    return out


def _vouch_for_foreign_calls(contents: list[dict[str, Any]]) -> None:
    """Gemini 3 rejects a model turn whose function calls carry no thought signature;
    history from another model (or a client that rewrote our ids) has none. Google's
    documented way to send such a trace is a placeholder signature on the turn's first
    call; a turn with any real signature is left alone."""
    for turn in contents:
        if turn["role"] != "model":
            continue
        calls = [p for p in turn["parts"] if "functionCall" in p]
        if calls and not any("thoughtSignature" in p for p in calls):
            calls[0]["thoughtSignature"] = PLACEHOLDER_SIGNATURE


def _contents(request: t.ChatRequest) -> tuple[list[dict[str, Any]], list[str]]:
    """Gemini turns, and the system texts found among the messages."""
    contents: list[dict[str, Any]] = []
    system: list[str] = []
    names: dict[str, str] = {}
    for message in request.messages:
        if message.role == "system":
            if text := message.text():
                system.append(text)
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = _parts(message, names)
        if not parts:
            continue
        add_turn(contents, role, parts, key="parts")
    for turn in contents:  # function responses lead their user turn
        if turn["role"] == "user":
            turn["parts"].sort(key=lambda p: "functionResponse" not in p)
    return contents, system


def _tool_config(request: t.ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode == "none":
        config: dict[str, Any] = {"mode": "NONE"}
    elif choice.mode == "required":
        config = {"mode": "ANY"}
    elif choice.mode == "tool" and choice.name:
        config = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    else:
        config = {"mode": "AUTO"}
    return {"functionCallingConfig": config}


def _thinking(request: t.ChatRequest, target: Target) -> dict[str, Any] | None:
    reasoning = request.reasoning
    if reasoning is None or not target.supports_reasoning:
        return None
    config: dict[str, Any] = {"includeThoughts": True}
    if reasoning.budget_tokens is not None:
        config["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort is not None:
        if _LEVEL_MODELS.search(target.model):
            config["thinkingLevel"] = reasoning.effort
        else:
            config["thinkingBudget"] = EFFORT_BUDGETS[reasoning.effort]
    return config


def _generation_config(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = target.capped(request.max_tokens)
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    for name, field in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        value = getattr(request, name)
        if value is not None and name not in target.refuses:  # (dropped and noted before)
            config[field] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            config["responseJsonSchema"] = clean_schema(fmt.schema)
    if thinking := _thinking(request, target):
        config["thinkingConfig"] = thinking
    return config


def build_request(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    """The ``generateContent`` body for ``request`` (the same body streams: the
    endpoint, not the body, asks for a stream)."""
    if request.n is not None and request.n > 1:
        raise InvalidRequest("Gemini upstreams answer one choice per request (n > 1)", param="n")
    contents, mid_system = _contents(request)
    if _LEVEL_MODELS.search(target.model):
        _vouch_for_foreign_calls(contents)
    body: dict[str, Any] = {"contents": contents}
    system = [p.text for p in request.system if p.text] + mid_system
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    if request.tools and not (request.tool_choice and request.tool_choice.mode == "none"):
        declarations = []
        for tool in request.tools:
            declaration: dict[str, Any] = {"name": tool.name}
            if tool.description:
                declaration["description"] = tool.description
            declaration["parametersJsonSchema"] = clean_schema(tool.parameters)
            declarations.append(declaration)
        body["tools"] = [{"functionDeclarations": declarations}]
        if config := _tool_config(request):
            body["toolConfig"] = config
    generation = _generation_config(request, target)
    for name, value in target.params.items():
        if name in _TOP_LEVEL:
            body[_TOP_LEVEL[name]] = value
        elif name in ("generationConfig", "generation_config") and isinstance(value, dict):
            generation.update(value)
        else:
            generation[_GENERATION_NAMES.get(name) or camel(name)] = value
    if generation:
        body["generationConfig"] = generation
    if request.dialect == "gemini":  # a Gemini client's own fields (codecs/gemini/inbound)
        for name, value in request.extra.items():
            if name == "generationConfig" and isinstance(value, dict):
                body.setdefault("generationConfig", {}).update(value)
            else:
                body[name] = value
    return body


def count_tokens_body(request: t.ChatRequest, target: Target, wrapped: bool) -> dict[str, Any]:
    """The ``countTokens`` body: the Gemini API wants the whole request under
    ``generateContentRequest`` (with ``models/<id>``); Vertex AI takes its fields."""
    body = build_request(request, target)
    if wrapped:
        return {"generateContentRequest": {"model": f"models/{target.model}", **body}}
    return {k: body[k] for k in ("contents", "systemInstruction", "tools") if k in body}


# --- answer ----------------------------------------------------------------------------


def _candidate(data: dict[str, Any]) -> dict[str, Any]:
    candidates = data.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return {}


def _blocked(data: dict[str, Any]) -> bool:
    feedback = data.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def parse_response(data: Any) -> t.ChatResponse:
    """A whole ``GenerateContentResponse`` as a canonical response."""
    if not isinstance(data, dict):
        raise UpstreamError("Gemini upstream answered with something other than an object")
    if "error" in data:
        raise maps.error_from_object(data["error"])
    candidate = _candidate(data)
    response_id = str(data.get("responseId") or "")
    parts: list[t.Part] = []
    joined: dict[int, list[str]] = {}  # part index -> its texts, for consecutive text parts
    calls = 0
    for raw in (candidate.get("content") or {}).get("parts") or []:
        if not isinstance(raw, dict):
            continue
        signature = raw.get("thoughtSignature")
        if isinstance(raw.get("functionCall"), dict):
            call = raw["functionCall"]
            name = str(call.get("name") or "")
            args = call.get("args")
            parts.append(
                t.ToolCall(
                    id=ids.call_id(response_id, calls, name, signature),
                    name=name,
                    arguments=args if isinstance(args, dict) else {},
                )
            )
            calls += 1
        elif raw.get("thought"):
            if not isinstance(raw.get("text"), str) or not raw["text"]:
                continue
            if parts and isinstance(parts[-1], t.Thinking):
                joined.setdefault(len(parts) - 1, [parts[-1].text]).append(raw["text"])
            else:
                parts.append(t.Thinking(raw["text"]))
        elif isinstance(raw.get("text"), str) and raw["text"]:
            if parts and isinstance(parts[-1], Text):
                joined.setdefault(len(parts) - 1, [parts[-1].text]).append(raw["text"])
            else:
                parts.append(Text(raw["text"]))
    for index, texts in joined.items():  # joined once: += per part copies it all each time
        parts[index].text = "".join(texts)  # type: ignore[union-attr]
    reason = candidate.get("finishReason")
    finish = maps.finish_reason(reason, calls > 0)
    if not candidate and _blocked(data):
        finish = "content_filter"
    return t.ChatResponse(
        id=response_id,
        model=str(data.get("modelVersion") or ""),
        parts=parts,
        finish_reason=finish,
        usage=maps.usage(data.get("usageMetadata")),
    )


class StreamParser:
    """``streamGenerateContent?alt=sse`` chunks -> canonical events. Each chunk is a
    ``GenerateContentResponse`` holding the next parts; consecutive text (or thought)
    parts continue one canonical part, a function call is a whole part of its own.
    ``usageMetadata`` is cumulative: the last one wins."""

    def __init__(self) -> None:
        self._started = False
        self._parts = OnePartOpen()
        self._calls = 0
        self._response_id = ""
        self._reason: str | None = None
        self._finished = False

    def feed(self, event: WireEvent) -> list[t.StreamEvent]:
        data = event.data
        if not isinstance(data, dict):
            return []
        if "error" in data:
            self._finished = True  # the error ends the stream: finish() owes nothing more
            return [*self._parts.close(), t.ErrorEvent(maps.error_from_object(data["error"]))]
        out: list[t.StreamEvent] = []
        if not self._started:
            self._started = True
            self._response_id = str(data.get("responseId") or "")
            out.append(t.Start(id=self._response_id, model=str(data.get("modelVersion") or "")))
        candidate = _candidate(data)
        for raw in (candidate.get("content") or {}).get("parts") or []:
            if isinstance(raw, dict):
                out.extend(self._part(raw))
        if data.get("usageMetadata"):
            out.append(UsageEvent(maps.usage(data["usageMetadata"])))
        if candidate.get("finishReason") or (not candidate and _blocked(data)):
            out.extend(self._parts.close())
            reason = maps.finish_reason(candidate.get("finishReason"), self._calls > 0)
            if not candidate:
                reason = "content_filter"
            if not self._finished:
                self._finished = True
                out.append(t.Finish(reason))
        return out

    def text_index(self, event: WireEvent) -> int | None:
        """The index of the open text part ``event`` is only more text for (one part of
        answer text, not empty, and nothing else in its candidate but what
        ``usageMetadata`` says: no finish, no error), read without changing anything: an
        event differing from it only in that text (not empty) would be read so too, as a
        ``TextDelta`` of this part and the same ``UsageEvent``. None for any other."""
        data, parts = event.data, self._parts
        if type(data) is not dict or parts.kind != "text" or not self._started or "error" in data:
            return None
        candidate = _candidate(data)
        content = candidate.get("content")
        raws = content.get("parts") if type(content) is dict else None
        if candidate.get("finishReason") or type(raws) is not list or len(raws) != 1:
            return None
        raw = raws[0]
        if type(raw) is not dict or len(raw) != 1 or type(raw.get("text")) is not str:
            return None
        return parts.index if raw["text"] else None

    def text_open(self) -> int | None:
        """The index of the open part when it is answer text: what ``text_index`` of an
        event learnt from it depends on (the stream has started once it is), or None."""
        parts = self._parts
        return parts.index if parts.kind == "text" else None

    def _part(self, raw: dict[str, Any]) -> list[t.StreamEvent]:
        signature = raw.get("thoughtSignature")
        if isinstance(raw.get("functionCall"), dict):
            call = raw["functionCall"]
            name = str(call.get("name") or "")
            args = call.get("args") if isinstance(call.get("args"), dict) else {}
            tool_id = ids.call_id(self._response_id, self._calls, name, signature)
            self._calls += 1
            out = self._parts.open("tool_call", tool_id=tool_id, tool_name=name)
            out.append(ToolArgsDelta(self._parts.index, _json(args)))
            return [*out, *self._parts.close()]
        text = raw.get("text")
        if not isinstance(text, str):
            return []
        if raw.get("thought"):
            if not text:
                return []
            out = self._parts.go_on("thinking")
            out.append(ThinkingDelta(self._parts.index, text))
            return out
        if not text:
            return []  # a bare signature on answer text: nothing to show (see docstring)
        out = self._parts.go_on("text")
        out.append(TextDelta(self._parts.index, text))
        return out

    def finish(self) -> list[t.StreamEvent]:
        if self._finished:
            return []
        error = UpstreamConnectionError("Gemini upstream stream ended without a finish reason")
        return [*self._parts.close(), t.ErrorEvent(error)]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


parse_error = maps.parse_error  # (status, body): the error body as an UpstreamError
