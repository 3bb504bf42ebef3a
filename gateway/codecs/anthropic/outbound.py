"""The Anthropic Messages wire format, outbound half: the body we send to Anthropic's
Messages API for a canonical request, and its answer, stream and errors read back.

Translation choices worth knowing:

- System text (top-level, and leading ``system`` messages) becomes the ``system``
  blocks. A mid-conversation ``system`` message stays in place only where Anthropic
  accepts one (Claude Opus 4.8, or a deployment with ``params.mid_conversation_system``
  true) and its placement is legal (after a user turn, before an assistant turn or
  last, never next to another); everywhere else it is merged into ``system``.
- Turns must alternate: consecutive same-role messages merge, and tool results
  (canonical ``tool`` messages or ToolResult parts) lead their user turn.
- Thinking without a signature is dropped (Anthropic rejects unsigned thinking).
- Extended thinking is sent only to deployments that support reasoning, never together
  with a forced tool choice (the API rejects that pair; the forced tool wins) nor when
  the last assistant turn calls tools without a signed thinking block (history from
  another model; the API would reject it), and
  with ``temperature``/``top_k`` left out and ``top_p`` only when >= 0.95 (the limits
  the API puts on sampling while thinking).
- ``response_format`` JSON: without caller tools, a forced tool ``switchyard_json``
  whose input is the answer; its ``tool_use`` comes back as the JSON text (a text part,
  finish ``stop``), in ``parse_response`` and in the stream alike. With caller tools
  (a forced tool would hide them) a system instruction asks for JSON instead.
- ``request.extra`` is forwarded only when the caller spoke Anthropic
  (``request.dialect``), so OpenAI-only parameters never reach Anthropic.
- The deployment's params that are Messages fields (``versions.PARAM_FIELDS``:
  sampling, ``stop``, ``service_tier``...) are sent as defaults the request's own values
  win over; the body is then held to the deployment's API version (``versions.conform``)
  and a model that takes adaptive thinking only gets its reasoning as adaptive thinking
  at an effort (``output_config.effort``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.documents import PDF
from gateway.base.errors import (
    InvalidRequest,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamOverloaded,
)
from gateway.base.types import PartStart, PartStop, Text, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.anthropic import maps, versions
from gateway.codecs.base import DATA_URL, Target, WireEvent, add_turn

DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "switchyard_json"
MIN_THINKING_BUDGET = 1024
EFFORT_BUDGETS = {"minimal": MIN_THINKING_BUDGET, "low": 2048, "medium": 8192, "high": 24576}
MID_SYSTEM_MODELS = re.compile(r"claude-opus-4-8")

# What count_tokens accepts of a Messages body.
COUNT_FIELDS = (
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
    "context_management",
    "output_config",
)

# Anthropic top-level fields worth forwarding from ``request.extra``.
FORWARDABLE_EXTRA = {
    "output_config",
    "context_management",
    "container",
    "mcp_servers",
    "service_tier",
    "cache_control",
    "inference_geo",
}

_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


# --- request ---------------------------------------------------------------------------


def _image_block(image: t.Image) -> dict[str, Any]:
    if image.data is not None:
        source = {
            "type": "base64",
            "media_type": image.media_type or "image/png",
            "data": image.data,
        }
    elif image.url and (match := DATA_URL.match(image.url)):
        source = {"type": "base64", "media_type": match["type"], "data": match["data"]}
    else:
        source = {"type": "url", "url": image.url or ""}
    return {"type": "image", "source": source}


def _document_block(doc: t.Document) -> dict[str, Any]:
    """A ``document`` block: text as a text source, a PDF as base64 or by URL
    (``capabilities`` refused other media types)."""
    if doc.text is not None:
        source = {"type": "text", "media_type": "text/plain", "data": doc.text}
    elif doc.data is not None:
        source = {"type": "base64", "media_type": doc.media_type or PDF, "data": doc.data}
    else:
        source = {"type": "url", "url": doc.url or ""}
    block: dict[str, Any] = {"type": "document", "source": source}
    if doc.filename:
        block["title"] = doc.filename
    return block


def cache_control(ttl: str) -> dict[str, str]:
    """Anthropic's breakpoint object; 5 minutes is its default and goes unsaid."""
    return {"type": "ephemeral", "ttl": ttl} if ttl == "1h" else {"type": "ephemeral"}


def _content_blocks(parts: list[Text | t.Image | t.Document]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        block: dict[str, Any]
        if isinstance(part, Text):
            if not part.text:
                continue
            block = {"type": "text", "text": part.text}
        elif isinstance(part, t.Document):
            block = _document_block(part)
        else:
            block = _image_block(part)
        if part.cache:
            block["cache_control"] = cache_control(part.cache)
        blocks.append(block)
    return blocks


def _block(part: t.Part) -> dict[str, Any] | None:
    block = _plain_block(part)
    cache = getattr(part, "cache", None)
    if block is not None and cache:
        block["cache_control"] = cache_control(cache)
    return block


def _plain_block(part: t.Part) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, t.Image):
        return _image_block(part)
    if isinstance(part, t.Document):
        return _document_block(part)
    if isinstance(part, t.ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    if isinstance(part, t.ToolResult):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id}
        content = _content_blocks(part.content)
        if content:
            block["content"] = content
        if part.is_error:
            block["is_error"] = True
        return block
    if isinstance(part, t.Thinking) and part.claude_signed():  # not OpenAI's encrypted
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.redacted}
        if part.signature:
            return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None  # unsigned thinking: Anthropic would reject it


def _turns(
    messages: list[t.Message], keep_mid_system: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """Anthropic turns from canonical messages, and the system texts moved out of them."""
    turns: list[dict[str, Any]] = []
    system: list[str] = []
    for message in messages:
        if message.role == "system":
            text = message.text()
            if not text:
                continue
            if keep_mid_system and turns and turns[-1]["role"] in ("user", "system"):
                if turns[-1]["role"] == "system":  # never two in a row: join them
                    turns[-1]["content"][0]["text"] += "\n\n" + text
                else:
                    turns.append({"role": "system", "content": [{"type": "text", "text": text}]})
            else:
                system.append(text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [b for part in message.parts if (b := _block(part)) is not None]
        if not blocks:
            continue
        add_turn(turns, role, blocks)
    # A kept system message must be last or followed by an assistant turn.
    legal: list[dict[str, Any]] = []
    for i, turn in enumerate(turns):
        following = turns[i + 1]["role"] if i + 1 < len(turns) else None
        if turn["role"] == "system" and following not in (None, "assistant"):
            system.append(turn["content"][0]["text"])
            continue
        if legal and legal[-1]["role"] == turn["role"]:  # rejoin turns a move split
            legal[-1]["content"].extend(turn["content"])
        else:
            legal.append(turn)
    for turn in legal:  # tool results must open their user turn
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return legal, system


def _supports_mid_system(target: Target) -> bool:
    flag = target.params.get("mid_conversation_system")
    if flag is not None:
        return bool(flag)
    return bool(MID_SYSTEM_MODELS.search(target.model))


def _max_tokens(request: t.ChatRequest, target: Target) -> int:
    ceiling = target.max_output_tokens
    wanted = request.max_tokens
    if wanted is None:
        wanted = ceiling or DEFAULT_MAX_TOKENS
    return min(wanted, ceiling) if ceiling else wanted


def _thinking(
    request: t.ChatRequest, target: Target, max_tokens: int
) -> tuple[dict[str, Any] | None, int]:
    """The ``thinking`` field and the max_tokens that leaves room for its budget."""
    reasoning = request.reasoning
    if reasoning is None or not target.supports_reasoning:
        return None, max_tokens
    if reasoning.budget_tokens is None and reasoning.effort is None:
        return {"type": "adaptive"}, max_tokens
    budget = reasoning.budget_tokens or EFFORT_BUDGETS.get(reasoning.effort or "", 8192)
    budget = max(MIN_THINKING_BUDGET, budget)
    if max_tokens <= budget:
        ceiling = target.max_output_tokens
        max_tokens = budget + max_tokens
        if ceiling:
            max_tokens = min(max_tokens, ceiling)
        budget = min(budget, max_tokens - 1)
        if budget < MIN_THINKING_BUDGET:
            return None, _max_tokens(request, target)
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def _unsigned_tool_turn(turns: list[dict[str, Any]]) -> bool:
    """Whether the last assistant turn calls tools without opening with a thinking block:
    with thinking on, Anthropic rejects that (history from a non-Anthropic model)."""
    for turn in reversed(turns):
        if turn["role"] == "assistant":
            content = turn["content"]
            calls = any(block["type"] == "tool_use" for block in content)
            return calls and content[0]["type"] not in ("thinking", "redacted_thinking")
    return False


def _json_instruction(request: t.ChatRequest) -> str:
    fmt = request.response_format
    text = "Respond with a single JSON object and nothing else."
    if fmt is not None and fmt.schema:
        text += " It must match this JSON schema: " + orjson.dumps(fmt.schema).decode()
    return text


def upstream_user(user: str) -> str:
    """``metadata.user_id`` as Anthropic takes it (an opaque id: letters, digits, ``_``
    and ``-``, at most 256 characters); any other id (an OpenAI caller's e-mail address,
    say) is sent as its SHA-256 hex digest, still one per user."""
    if _USER_ID.match(user):
        return user
    return hashlib.sha256(user.encode()).hexdigest()


def build_body(request: t.ChatRequest, target: Target) -> dict[str, Any]:
    """The Messages API body for ``request`` on ``target`` (no ``stream`` key)."""
    if request.n is not None and request.n > 1:
        raise InvalidRequest("Anthropic does not support n > 1 (several choices)", param="n")
    fields = versions.param_fields(target.params) if target.params else {}
    if fields:
        request = _with_param_defaults(request, fields, target.refuses)
    system, turns = _system_and_turns(request, target)

    body: dict[str, Any] = {"model": target.model, "messages": turns}
    max_tokens = _max_tokens(request, target)

    tools, tool_choice = _tools(request)

    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        schema = fmt.schema or {"type": "object"}
        if not tools and schema.get("type", "object") == "object":
            tools = [
                {
                    "name": JSON_TOOL,
                    "description": "Give your answer as this tool's input.",
                    "input_schema": schema,
                }
            ]
            tool_choice = {"type": "tool", "name": JSON_TOOL}
        else:
            system.append(Text(_json_instruction(request)))

    thinking, max_tokens = _thinking(request, target, max_tokens)
    forced = tool_choice is not None and tool_choice["type"] in ("any", "tool")
    if thinking and (forced or _unsigned_tool_turn(turns)):
        thinking, max_tokens = None, _max_tokens(request, target)

    body["max_tokens"] = max_tokens
    if system:
        body["system"] = [_system_block(part) for part in system]
    if tools:
        body["tools"] = tools
    if tool_choice and tools:
        body["tool_choice"] = tool_choice
    adaptive_at = None  # a model of adaptive thinking only: the effort it is asked for
    if thinking and target.adaptive_thinking:
        body["thinking"] = {"type": "adaptive"}
        if thinking.get("budget_tokens") is not None:
            adaptive_at = versions.anthropic_effort(_effort(request))
    elif thinking:
        body["thinking"] = thinking
    if thinking:
        if request.top_p is not None and request.top_p >= 0.95:
            body["top_p"] = request.top_p
    else:
        for name in ("temperature", "top_p", "top_k"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": upstream_user(request.user)}
    if request.dialect == "anthropic":
        for name, value in request.extra.items():
            if name in FORWARDABLE_EXTRA:
                body[name] = value
    for name, value in fields.items():
        if name not in _SAMPLING and name not in target.refuses:
            body.setdefault(name, value)
    if adaptive_at is not None:
        config = body.get("output_config")
        body["output_config"] = {
            "effort": adaptive_at,
            **(config if isinstance(config, dict) else {}),
        }
    if target.api_version is not None:
        body, _changes = versions.conform(body, target.api_version)  # noted by mediation
    return body


def _system_and_turns(
    request: t.ChatRequest, target: Target
) -> tuple[list[Text], list[dict[str, Any]]]:
    """The system blocks (the request's, its leading system messages', and the ones
    ``target`` cannot take mid-conversation) and the Messages API turns."""
    messages = list(request.messages)
    system: list[Text] = [part for part in request.system if part.text]
    while messages and messages[0].role == "system":
        lead = messages.pop(0)
        if text := lead.text():  # a breakpoint on any of its parts marks the whole
            system.append(
                Text(
                    text,
                    cache=next((c for p in lead.parts if (c := getattr(p, "cache", None))), None),
                )
            )
    turns, moved = _turns(messages, _supports_mid_system(target))
    system += [Text(text) for text in moved]
    return system, turns


def _tools(request: t.ChatRequest) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The request's tools and tool choice as the Messages API takes them."""
    tools = [
        {
            "name": tool.name,
            **({"description": tool.description} if tool.description else {}),
            "input_schema": tool.parameters,
            **({"cache_control": cache_control(tool.cache)} if tool.cache else {}),
        }
        for tool in request.tools
    ]
    choice = request.tool_choice
    tool_choice: dict[str, Any] | None = None
    if choice is not None:
        tool_choice = {"type": {"required": "any"}.get(choice.mode, choice.mode)}
        if choice.mode == "tool":
            tool_choice["name"] = choice.name
        if choice.parallel is False and choice.mode != "none":
            tool_choice["disable_parallel_tool_use"] = True
    return tools, tool_choice


_SAMPLING = ("temperature", "top_p", "top_k", "stop_sequences")


def _with_param_defaults(
    request: t.ChatRequest, fields: dict[str, Any], refused: frozenset[str]
) -> t.ChatRequest:
    """``request`` with the deployment's sampling params where it sets none (so the
    thinking rules below hold for them too), leaving out what the model refuses."""
    changes: dict[str, Any] = {}
    for name in ("temperature", "top_p", "top_k"):
        if name in fields and name not in refused and getattr(request, name) is None:
            changes[name] = fields[name]
    if "stop_sequences" in fields and not request.stop:
        changes["stop"] = fields["stop_sequences"]
    return dataclasses.replace(request, **changes) if changes else request


def _effort(request: t.ChatRequest) -> str:
    """The effort a reasoning setting stands for (a budget: the nearest bucket)."""
    reasoning = request.reasoning
    if reasoning is None or reasoning.effort is not None:
        return (reasoning.effort if reasoning else None) or "medium"
    budget = reasoning.budget_tokens or EFFORT_BUDGETS["medium"]
    return min(EFFORT_BUDGETS, key=lambda e: abs(math.log(EFFORT_BUDGETS[e] / max(budget, 1))))


def _system_block(part: Text) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.text}
    if part.cache:
        block["cache_control"] = cache_control(part.cache)
    return block


# --- response --------------------------------------------------------------------------


def _finish(stop_reason: str | None, only_json_tool: bool) -> t.FinishReason:
    reason = maps.finish_reason(stop_reason)
    if reason == "tool_calls" and only_json_tool:
        return "stop"
    return reason


def answer_texts(data: dict[str, Any]) -> list[str]:
    """What the guardrails read of a whole answer (``parse_response``'s text parts and
    tool calls' arguments, as ``guardrails.texts.response_slots`` takes them), read off
    the body without building the answer: read as ``parse_response`` reads it, which a
    test holds it to."""
    texts = []
    for block in data.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text", "")
        elif kind == "tool_use":  # the JSON tool's input is a text part, the same dump
            text = orjson.dumps(block.get("input") or {}).decode()
        else:
            continue
        if text:
            texts.append(text)
    return texts


def parse_response(data: dict[str, Any]) -> t.ChatResponse:
    parts: list[t.Part] = []
    real_tools = False
    for block in data.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            parts.append(Text(block.get("text", "")))
        elif kind == "thinking":
            parts.append(
                t.Thinking(text=block.get("thinking", ""), signature=block.get("signature"))
            )
        elif kind == "redacted_thinking":
            parts.append(t.Thinking(redacted=block.get("data")))
        elif kind == "tool_use" and block.get("name") == JSON_TOOL:
            parts.append(Text(orjson.dumps(block.get("input") or {}).decode()))
        elif kind == "tool_use":
            real_tools = True
            parts.append(
                t.ToolCall(
                    id=block.get("id", ""),
                    name=block.get("name", ""),
                    arguments=block.get("input") or {},
                )
            )
    return t.ChatResponse(
        id=data.get("id", ""),
        model=data.get("model", ""),
        parts=parts,
        finish_reason=_finish(data.get("stop_reason"), not real_tools),
        stop_sequence=data.get("stop_sequence"),
        usage=maps.usage(data.get("usage")),
    )


def error_from_body(error: dict[str, Any] | None, status: int | None = None) -> UpstreamError:
    """An upstream error from Anthropic's ``{"type", "message"}`` error object."""
    error = error or {}
    kind = error.get("type") or "api_error"
    message = error.get("message") or kind
    if kind == "overloaded_error" or status == 529:
        return UpstreamOverloaded(message)
    if status is None:
        status = maps.ERROR_TYPE_STATUS.get(kind, 500)
    return UpstreamError(message, status=status)


class StreamTranslator:
    """Anthropic stream events (parsed ``data`` objects) -> canonical events.

    Blocks Anthropic runs itself (server tools and their results) have no canonical
    part: they are skipped and the remaining parts renumbered from 0."""

    def __init__(self) -> None:
        self._parts: dict[int, int] = {}  # Anthropic block index -> canonical part index
        self._json_text: set[int] = set()  # blocks of the JSON-output tool, sent as text
        self._real_tools = False
        # the canonical part of the block last started, when it is answer text (what an
        # event that is only more text is read as: ``StreamParser.text_open``), else None
        self.text_open: int | None = None
        self.finished = False  # message_delta with a stop reason seen
        self.done = False  # message_stop seen
        self.failed = False  # an error event seen (given as an ErrorEvent)

    def feed(self, event: dict[str, Any]) -> list[t.StreamEvent]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            return [
                t.Start(
                    id=message.get("id", ""),
                    model=message.get("model", ""),
                    usage=maps.usage(message.get("usage")),
                )
            ]
        if kind == "content_block_start":
            return self._start(event.get("index", 0), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._delta(event.get("index", 0), event.get("delta") or {})
        if kind == "content_block_stop":
            part = self._parts.get(event.get("index", 0))
            return [PartStop(part)] if part is not None else []
        if kind == "message_delta":
            out: list[t.StreamEvent] = []
            if event.get("usage"):
                out.append(t.UsageEvent(maps.usage(event["usage"])))
            delta = event.get("delta") or {}
            if delta.get("stop_reason"):
                self.finished = True
                out.append(
                    t.Finish(
                        _finish(delta["stop_reason"], not self._real_tools),
                        delta.get("stop_sequence"),
                    )
                )
            return out
        if kind == "message_stop":
            self.done = True
        elif kind == "error":
            self.failed = True
            return [t.ErrorEvent(error_from_body(event.get("error")))]
        return []  # ping and anything new

    def _start(self, index: int, block: dict[str, Any]) -> list[t.StreamEvent]:
        kind = block.get("type")
        part = len(self._parts)
        self.text_open = part if kind == "text" else None
        if kind == "text":
            self._parts[index] = part
            out: list[t.StreamEvent] = [PartStart(part, "text")]
            if block.get("text"):
                out.append(TextDelta(part, block["text"]))
            return out
        if kind == "tool_use" and block.get("name") == JSON_TOOL:
            self._parts[index] = part
            self._json_text.add(index)
            return [PartStart(part, "text")]
        if kind == "tool_use":
            self._parts[index] = part
            self._real_tools = True
            return [PartStart(part, "tool_call", block.get("id"), block.get("name"))]
        if kind == "thinking":
            self._parts[index] = part
            out = [PartStart(part, "thinking")]
            if block.get("thinking") or block.get("signature"):
                out.append(ThinkingDelta(part, block.get("thinking", ""), block.get("signature")))
            return out
        if kind == "redacted_thinking":
            self._parts[index] = part
            return [PartStart(part, "thinking"), ThinkingDelta(part, redacted=block.get("data"))]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[t.StreamEvent]:
        part = self._parts.get(index)
        if part is None:
            return []
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [TextDelta(part, delta["text"])]
        if kind == "input_json_delta" and delta.get("partial_json"):
            if index in self._json_text:
                return [TextDelta(part, delta["partial_json"])]
            return [ToolArgsDelta(part, delta["partial_json"])]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [ThinkingDelta(part, delta["thinking"])]
        if kind == "signature_delta" and delta.get("signature"):
            return [ThinkingDelta(part, signature=delta["signature"])]
        return []

    def text_index(self, event: dict[str, Any]) -> int | None:
        """The canonical part ``event`` is only more text for (a ``text_delta`` with
        text, of a block that has a part), read without changing anything; None for any
        other event. An event differing from it only in that text (not empty) is read
        as a ``TextDelta`` of the same part, as long as that block is not started again
        (which changes ``text_open``)."""
        if event.get("type") != "content_block_delta":
            return None
        delta = event.get("delta")
        if type(delta) is not dict or delta.get("type") != "text_delta":
            return None
        text = delta.get("text")
        if type(text) is not str or not text:
            return None
        return self._parts.get(event.get("index", 0))

    def finish(self) -> list[t.StreamEvent]:
        """At end of stream: nothing is held back (message_delta carries both usage and
        the stop reason); an unfinished stream is an error the caller reports."""
        return []


def parse_error(status: int, body: bytes) -> UpstreamError:
    """An Anthropic error answer (``{"type": "error", "error": {...}}``) as an
    ``UpstreamError``; a body that is not that envelope is quoted (first 500 chars)."""
    try:
        payload = orjson.loads(body)
        error = payload.get("error") if isinstance(payload, dict) else None
    except orjson.JSONDecodeError:
        error = None
    if not isinstance(error, dict):
        text = body.decode(errors="replace").strip()[:500]
        error = {"message": text or f"Anthropic upstream answered {status}"}
    return error_from_body(error, status)


def stream_cut() -> UpstreamError:
    """The failure of a stream that closed before its stop reason."""
    return UpstreamConnectionError("Anthropic upstream stream ended before message_stop")


def skims(event: str | None, data: str) -> bool:
    """A ``content_block_delta`` of answer text (``text_delta``): the parser would only
    make a TextDelta of it (see ``PassthroughCodec.skims``). A ``"type"`` inside the
    text is escaped (``\\"``), so it cannot pass for the delta's own."""
    return event == "content_block_delta" and (
        '"type":"text_delta"' in data or '"type": "text_delta"' in data
    )


class StreamParser:
    """The ``UpstreamCodec`` stream parser: ``StreamTranslator`` over de-framed events,
    reporting a stream closed before its stop reason as an error. An error event ends
    the stream: nothing after it counts."""

    def __init__(self) -> None:
        self.translator = StreamTranslator()
        self.failed = False  # an error event ended the stream

    def feed(self, event: WireEvent) -> list[t.StreamEvent]:
        if self.failed or self.translator.done or not isinstance(event.data, dict):
            return []
        events = self.translator.feed(event.data)
        self.failed = self.translator.failed
        return events

    def text_index(self, event: WireEvent) -> int | None:
        """The index of the text part ``event`` is only more text for, read without
        changing anything (``StreamTranslator.text_index``): an event differing from it
        only in that text (not empty) would be read so too while ``text_open`` stays
        that part. None for any other event, or once the stream ended."""
        data = event.data
        if self.failed or self.translator.done or type(data) is not dict:
            return None
        return self.translator.text_index(data)

    def text_open(self) -> int | None:
        """The part of the text block last started, while the stream goes on: what
        ``text_index`` of an event learnt from it depends on (its block's part changes
        only when a block is started, and nothing is read after the stream ended), or
        None."""
        if self.failed or self.translator.done:
            return None
        return self.translator.text_open

    def finish(self) -> list[t.StreamEvent]:
        if self.failed:
            return []
        if not self.translator.finished:
            return [t.ErrorEvent(stream_cut())]
        return self.translator.finish()
