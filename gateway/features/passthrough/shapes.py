"""What the gateway reads of a body it passes through, without changing a byte of it.

- **Texts**, for the guardrails: a body of a known shape is read as a chat request by
  the client codec of its format: ``messages`` (OpenAI chat, or Anthropic Messages
  under an Anthropic prefix), ``contents`` (Gemini), ``input`` on a ``/responses`` path
  (the Responses API); the strings of ``input`` or ``prompt`` (embeddings, moderations,
  legacy completions) as one user turn each. An empty body carries no text. Any other
  body is of no known shape (a pre_call guardrail applying refuses it).
- **Usage**, for the cost, from the answer as it streams by: a JSON answer's ``usage``
  (OpenAI, Anthropic, the Responses API, Bedrock Converse, Cohere, told apart by their
  field names) or ``usageMetadata`` (Gemini); an SSE answer's events the same way
  (OpenAI's last chunk, Anthropic's ``message_start`` and ``message_delta`` merged,
  ``response.completed``, Gemini's last chunk). None when the answer reports none.
- **The model** it names (the body's ``model``, the path's ``models/NAME``, Bedrock's
  ``model/ID``, the answer's ``model`` or ``modelVersion``), for the prices."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import orjson

from gateway import codecs
from gateway.base.streaming import SSEDecoder
from gateway.base.types import ChatRequest, Message, Text, Usage
from gateway.codecs.anthropic import maps as anthropic_maps
from gateway.codecs.bedrock import maps as bedrock_maps
from gateway.codecs.cohere import maps as cohere_maps
from gateway.codecs.gemini import maps as gemini_maps
from gateway.codecs.openai_chat import maps as openai_maps
from gateway.codecs.openai_responses import maps as responses_maps

# A JSON answer larger than this is relayed without being read for its usage.
READ_AT_MOST = 8 * 1024 * 1024


def json_object(content: bytes, content_type: str) -> dict[str, Any] | None:
    """The body as a JSON object, when it is one (None: another body, or none)."""
    kind = content_type.partition(";")[0].strip().lower()
    if not content or not (kind.endswith("json") or (not kind and content[:1] == b"{")):
        return None
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def readable(body: dict[str, Any] | None, dialect: str, path: str) -> ChatRequest | None:
    """The body's texts as a chat request, when it is of a known shape (None: not)."""
    if body is None:
        return None
    try:
        if isinstance(body.get("messages"), list):
            own = dialect if dialect == "anthropic" else "openai"
            return _parsed(own, {"max_tokens": 1, **body, "model": "passthrough"})
        if isinstance(body.get("contents"), list):
            return _parsed("gemini", {**body, "model": "passthrough"})
        if "input" in body and path.rstrip("/").endswith("/responses"):
            return _parsed("responses", {**body, "model": "passthrough"})
    except Exception:  # a body its codec cannot read: of no known shape
        return None
    strings = _strings(body.get("input", body.get("prompt")))
    if strings is None:
        return None
    return ChatRequest(
        model="passthrough", messages=[Message("user", [Text(text)]) for text in strings]
    )


def _parsed(dialect: str, body: dict[str, Any]) -> ChatRequest:
    return codecs.client(dialect).parse_request(body, {})


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def same_texts(a: ChatRequest, b: ChatRequest) -> bool:
    """Whether two readings of a body carry the same texts where a guardrail reads."""
    return (a.system, a.messages, a.tools) == (b.system, b.messages, b.tools)


def max_output(body: dict[str, Any] | None) -> int | None:
    """The output ceiling the body names, in any vendor's spelling (None: none)."""
    if body is None:
        return None
    config = body.get("generationConfig")
    inference = body.get("inferenceConfig")
    for value in (
        body.get("max_tokens"),
        body.get("max_completion_tokens"),
        body.get("max_output_tokens"),
        config.get("maxOutputTokens") if isinstance(config, dict) else None,
        inference.get("maxTokens") if isinstance(inference, dict) else None,
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


_PATH_MODEL = re.compile(r"/models/([^/:]+)|/model/([^/]+)/")


def models_named(body: dict[str, Any] | None, path: str) -> list[str]:
    """The model names the request gives: its body's, its path's."""
    names: list[str] = []
    if body is not None and isinstance(body.get("model"), str):
        names.append(body["model"])
    found = _PATH_MODEL.search(path)
    if found:
        names.append(unquote(found.group(1) or found.group(2)))
    return [name.removeprefix("models/") for name in names if name]


class AnswerReader:
    """Reads the usage and the model out of an answer as its chunks go by (``feed``),
    never holding an SSE stream (only its current event) and a JSON answer at most
    ``READ_AT_MOST`` bytes of it."""

    def __init__(self, content_type: str) -> None:
        kind = content_type.partition(";")[0].strip().lower()
        self.events = SSEDecoder() if kind == "text/event-stream" else None
        self.whole: bytearray | None = bytearray() if kind.endswith("json") else None
        self.usage: Usage | None = None
        self.model = ""
        self._anthropic: dict[str, Any] = {}  # a Messages stream's usage, merged

    def feed(self, chunk: bytes) -> None:
        if self.events is not None:
            for message in self.events.events(chunk):
                self._event(message.data)
        elif self.whole is not None:
            if len(self.whole) + len(chunk) > READ_AT_MOST:
                self.whole = None  # too large to read: relayed unread
            else:
                self.whole += chunk

    def end(self) -> tuple[Usage | None, str]:
        """What the answer reported: its usage (None: none in a known shape) and model."""
        if self.events is not None:
            for message in self.events.end():
                self._event(message.data)
        elif self.whole:
            try:
                answer = orjson.loads(self.whole)
            except orjson.JSONDecodeError:
                answer = None
            for item in answer if isinstance(answer, list) else [answer]:
                if isinstance(item, dict):  # (Gemini's stream without alt=sse: a list)
                    self.observe(item)
        if self._anthropic:
            self.usage = anthropic_maps.usage(self._anthropic)
        return self.usage, self.model

    def _event(self, data: str) -> None:
        if "sage" not in data and ("model" not in data or self.model):
            return  # no usage, no model: not parsed (most events are only more text)
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(event, dict):
            self.observe(event)

    def observe(self, answer: dict[str, Any]) -> None:
        """One JSON object of the answer (the whole answer, or one event of a stream)."""
        kind = answer.get("type")
        inner = answer.get("message") if kind == "message_start" else answer.get("response")
        if not self.model:
            for holder in (answer, inner):
                if isinstance(holder, dict):
                    name = holder.get("model") or holder.get("modelVersion")
                    if isinstance(name, str) and name:
                        self.model = name.removeprefix("models/")
                        break
        if isinstance(answer.get("usageMetadata"), dict):
            self.usage = gemini_maps.usage(answer["usageMetadata"])  # cumulative: the last
        elif kind in ("message_start", "message_delta"):
            source = inner if kind == "message_start" else answer
            if isinstance(source, dict) and isinstance(source.get("usage"), dict):
                self._anthropic.update(source["usage"])
        elif isinstance(inner, dict) and isinstance(inner.get("usage"), dict):
            self.usage = usage_of(inner["usage"])  # response.completed and the like
        elif isinstance(answer.get("usage"), dict):
            self.usage = usage_of(answer["usage"])


def usage_of(data: dict[str, Any]) -> Usage | None:
    """A ``usage`` object in whichever vendor's shape it is (None: none known)."""
    if "prompt_tokens" in data or "completion_tokens" in data:
        return openai_maps.usage(data)
    if "inputTokens" in data or "outputTokens" in data:
        return bedrock_maps.usage(data)
    if "billed_units" in data or "tokens" in data:
        return cohere_maps.usage(data)
    if "input_tokens" in data or "output_tokens" in data:
        if {"total_tokens", "input_tokens_details", "output_tokens_details"} & data.keys():
            return responses_maps.parse_usage(data)
        return anthropic_maps.usage(data)
    return None
