"""The built-in ``echo`` provider: deterministic, needs no key and no network.

It lets a fresh install, the tests and the playground exercise every path offline:
- it answers ``Echo: <last user text>``, streamed word by word;
- it calls a tool when the request forces one (tool_choice required / a named tool) or
  when the last user message says "use the <name> tool" or "call <name>": the
  arguments fill the tool's required properties from its JSON schema;
- after tool results it says what each tool returned;
- on ``/v1/embeddings`` it returns a unit vector per input derived from a hash of its
  text (the same text, the same vector; ``dimensions`` as asked, default 16), as
  floats or, with ``encoding_format: base64``, as the OpenAI SDK's packed float32.

Deployment params tune it for tests and demos: ``delay`` (seconds between streamed
chunks), ``first_delay`` (seconds before the first), ``fail_status`` (answer with that
upstream status instead), ``reply`` (fixed text instead of the echo).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import re
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.types import PartStart, PartStop, Text, TextDelta, ToolArgsDelta, ToolCall
from gateway.catalog.matching import KindVendor
from gateway.providers.base import Exchange, Provider
from gateway.providers.kinds import FormHelp, Keyless


def _words(text: str) -> int:
    return len(text.split())


def _last_user(request: t.ChatRequest) -> t.Message | None:
    for message in reversed(request.messages):
        if message.role == "user":
            return message
    return None


def _example_value(schema: dict[str, Any], name: str, prompt: str) -> Any:
    kind = schema.get("type")
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [_example_value(schema.get("items") or {"type": "string"}, name, prompt)]
    if kind == "object":
        return _arguments_for(schema, prompt)
    return prompt[:80] if name in ("query", "text", "input", "prompt", "command") else name


def _arguments_for(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties") or {}
    required = schema.get("required") or list(props)[:1]
    return {name: _example_value(props.get(name) or {}, name, prompt) for name in required}


def _tool_to_call(request: t.ChatRequest, prompt: str) -> t.Tool | None:
    if not request.tools:
        return None
    choice = request.tool_choice
    if choice is not None and choice.mode == "none":
        return None
    if choice is not None and choice.mode == "tool" and choice.name:
        return next((tool for tool in request.tools if tool.name == choice.name), None)
    lowered = prompt.lower()
    for tool in request.tools:
        name = re.escape(tool.name.lower())
        if re.search(rf"(use|call|run) (the )?{name}( tool)?\b", lowered):
            return tool
    if choice is not None and choice.mode == "required":
        return request.tools[0]
    return None


def plan_reply(request: t.ChatRequest, deployment: DeploymentEntry) -> list[t.Part]:
    """The deterministic answer's parts for ``request``."""
    fixed = deployment.params.get("reply")
    if isinstance(fixed, str):
        return [Text(fixed)]
    last = request.messages[-1] if request.messages else None
    results = [p for p in (last.parts if last else []) if isinstance(p, t.ToolResult)]
    if results:
        said = "; ".join(
            f"{r.call_id} {'failed' if r.is_error else 'returned'}: "
            + " ".join(c.text for c in r.content if isinstance(c, Text))
            for r in results
        )
        return [Text(f"Tool results received. {said}")]
    user = _last_user(request)
    prompt = user.text() if user else ""
    tool = _tool_to_call(request, prompt)
    if tool is not None:
        call = ToolCall(
            id="call_" + uuid.uuid4().hex[:24],
            name=tool.name,
            arguments=_arguments_for(tool.parameters or {}, prompt),
        )
        return [Text(f"Calling {tool.name}."), call]
    return [Text(f"Echo: {prompt}" if prompt else "Echo: (no text)")]


def _usage(request: t.ChatRequest, parts: list[t.Part]) -> t.Usage:
    prompt = sum(_words(m.text()) + 3 for m in request.messages)
    prompt += sum(_words(p.text) for p in request.system)
    out = 0
    for part in parts:
        if isinstance(part, Text):
            out += _words(part.text)
        elif isinstance(part, ToolCall):
            out += _words(part.name) + len(orjson.dumps(part.arguments)) // 4 + 1
    return t.Usage(input_tokens=max(1, prompt), output_tokens=max(1, out))


def _truncate(parts: list[t.Part], max_tokens: int | None) -> tuple[list[t.Part], bool]:
    if not max_tokens:
        return parts, False
    out: list[t.Part] = []
    budget = max_tokens
    for part in parts:
        if isinstance(part, Text):
            words = part.text.split(" ")
            if len(words) > budget:
                out.append(Text(" ".join(words[:budget])))
                return out, True
            budget -= len(words)
        out.append(part)
    return out, False


EMBEDDING_DIMENSIONS = 16
MAX_EMBEDDING_DIMENSIONS = 4096


def embedding_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector for ``text``: SHA-256 blocks of the text (and a
    counter) read as signed 16-bit values, normalised to length 1."""
    values: list[float] = []
    block = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        values += [v / 32768 for v in struct.unpack("<16h", digest)]
        block += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def _embedding_inputs(raw: Any) -> list[str]:
    """``input`` as texts: a string, a list of strings, or token ids (one list of ints,
    or a list of such lists), which are embedded by their printed form."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(item, str) for item in raw):
            return list(raw)
        if all(isinstance(item, int) for item in raw):
            return [" ".join(map(str, raw))]
        if all(isinstance(item, list) and all(isinstance(i, int) for i in item) for item in raw):
            return [" ".join(map(str, item)) for item in raw]
    raise InvalidRequest("input must be a string, a list of strings, or token ids", param="input")


class EchoProvider(Provider):
    kind = "echo"
    documents = Accepts()
    catalog_vendor = KindVendor()  # no catalog entry: its figures are its own
    keyless = Keyless()  # needs nothing
    trace_name = "echo"
    needs_base_url = False
    form_help = FormHelp(
        base_url="Not used: echo answers from inside the gateway.",
        secret="Not used by echo (stored encrypted all the same).",
    )
    also_serves = frozenset({"embeddings"})  # besides chat: /v1/embeddings, deterministically
    # its answer is the prompt's last text back: a budget's hold needs a ceiling, and
    # demo and test prompts are far shorter than this
    max_output_tokens = 4096

    async def embeddings(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        exchange.begin("echo://" + deployment.model + "/embeddings", b"")
        self._fail_if_asked(deployment)
        texts = _embedding_inputs(body.get("input"))
        dimensions = body.get("dimensions", EMBEDDING_DIMENSIONS)
        if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_EMBEDDING_DIMENSIONS:
            raise InvalidRequest(
                f"dimensions must be a whole number from 1 to {MAX_EMBEDDING_DIMENSIONS}",
                param="dimensions",
            )
        packed = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector: Any = embedding_vector(text, dimensions)
            if packed:
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(max(1, _words(text)) for text in texts)
        exchange.usage = t.Usage(input_tokens=tokens)
        exchange.end()
        return {
            "object": "list",
            "data": data,
            "model": deployment.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _fail_if_asked(self, deployment: DeploymentEntry) -> None:
        status = deployment.params.get("fail_status")
        if status:
            raise UpstreamError(
                f"echo deployment configured to fail with {status}", status=int(status)
            )

    def _answer(self, request: t.ChatRequest, deployment: DeploymentEntry):  # type: ignore[no-untyped-def]
        parts, truncated = _truncate(plan_reply(request, deployment), request.max_tokens)
        if truncated:
            reason = "length"
        elif any(isinstance(p, ToolCall) for p in parts):
            reason = "tool_calls"
        else:
            reason = "stop"
        return parts, reason, _usage(request, parts)

    async def complete(
        self, request: t.ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> t.ChatResponse:
        exchange.begin("echo://" + deployment.model, b"")
        self._fail_if_asked(deployment)
        delay = float(deployment.params.get("first_delay") or 0)
        if delay:
            await asyncio.sleep(delay)
        parts, reason, usage = self._answer(request, deployment)
        exchange.usage = usage
        exchange.end()
        return t.ChatResponse(
            id="echo-" + uuid.uuid4().hex[:24],
            model=deployment.model,
            parts=parts,
            finish_reason=reason,
            usage=usage,
            created=int(time.time()),
        )

    async def stream(
        self, request: t.ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[t.StreamEvent]:
        exchange.begin("echo://" + deployment.model, b"")
        self._fail_if_asked(deployment)
        delay = float(deployment.params.get("delay") or 0)
        first_delay = float(deployment.params.get("first_delay") or 0)
        if first_delay:
            await asyncio.sleep(first_delay)
        parts, reason, usage = self._answer(request, deployment)
        exchange.received(b"")
        yield t.Start(
            id="echo-" + uuid.uuid4().hex[:24],
            model=deployment.model,
            created=int(time.time()),
            usage=t.Usage(input_tokens=usage.input_tokens),
        )
        for index, part in enumerate(parts):
            if isinstance(part, Text):
                yield PartStart(index, "text")
                words = part.text.split(" ")
                for n, word in enumerate(words):
                    if delay:
                        await asyncio.sleep(delay)
                    yield TextDelta(index, word if n == 0 else " " + word)
            elif isinstance(part, ToolCall):
                yield PartStart(index, "tool_call", tool_id=part.id, tool_name=part.name)
                text = orjson.dumps(part.arguments).decode()
                for start in range(0, len(text), 8):  # arguments in pieces, like real upstreams
                    if delay:
                        await asyncio.sleep(delay)
                    yield ToolArgsDelta(index, text[start : start + 8])
            yield PartStop(index)
        exchange.usage = usage
        exchange.end()
        yield t.UsageEvent(usage)
        yield t.Finish(reason)

    answers_any_model = True  # echo answers whatever model a deployment names

    async def list_models(self) -> list[str]:
        return ["echo"]
