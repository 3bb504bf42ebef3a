"""The OpenAI Chat Completions wire format, inbound half: the caller's body -> ``ChatRequest``, and canonical
responses, stream events and errors -> the shapes the ``openai`` SDK expects.

No Django imports. Validation errors name the offending field (``messages[2].content``)
so the SDK's ``BadRequestError`` tells the caller exactly what to fix.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from gateway.base import documents, errors
from gateway.base import types as t
from gateway.base.streaming import sse_bytes
from gateway.base.types import PartStart, PartStop, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs import openai_common as common
from gateway.codecs.base import chat_tool_calls, render_events
from gateway.codecs.inbound_common import client_dialect
from gateway.codecs.openai_chat import inputs, maps
from gateway.codecs.openai_chat.maps import usage_body as render_usage

# Top-level fields parse_request models; anything else goes to extra + unmapped.
_MODELLED = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "stream_options",
        "response_format",
        "reasoning_effort",
        "user",
        "n",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
_EFFORTS = ("minimal", "low", "medium", "high")
# --- requests ------------------------------------------------------------------------


def _file(part: dict[str, Any], param: str) -> t.Document:
    """A ``file`` part: ``file_data`` as a base64 data URL with its ``filename``. A
    ``file_id`` names a file uploaded to OpenAI's Files API, which the gateway does not
    have: refused, saying what to send instead."""
    spec = part.get("file")
    spec = common.expect(spec, dict, "an object", f"{param}.file")
    data, name = spec.get("file_data"), spec.get("filename")
    if name is not None:
        common.expect(name, str, "a string", f"{param}.file.filename")
    if data is None and spec.get("file_id") is not None:
        raise common.invalid(
            "file.file_id is not supported (no Files API: no files are stored); send the "
            "file inline as file.file_data, a base64 data URL (data:application/pdf;base64,...)",
            f"{param}.file.file_id",
        )
    common.expect(data, str, "a base64 data URL", f"{param}.file.file_data")
    match = common.DATA_URL.match(data) if data.startswith("data:") else None
    if match is None:
        # The SDKs' documented shape is a data URL; bare base64 is taken as a PDF.
        if not data or not common.BASE64.match(data):
            raise common.invalid(
                "file.file_data must be a base64 data URL (data:<media type>;base64,<data>)",
                f"{param}.file.file_data",
            )
        return documents.from_base64(data, documents.PDF, name)
    if not match.group("data"):
        raise common.invalid("file.file_data holds no data", f"{param}.file.file_data")
    return documents.from_base64(match.group("data"), match.group("media"), name)


def _content_parts(
    content: Any, param: str, unmapped: list[str], *, images: bool = True
) -> list[t.Text | t.Image | t.Document]:
    """A message's ``content``: a string or a list of text / image_url / file parts.
    Other part types OpenAI accepts (``input_audio``...) are named in ``unmapped``: a
    passthrough forwards them, a translation drops them or says which it cannot carry."""
    if content is None:
        return []
    if isinstance(content, str):
        return [t.Text(content)] if content else []
    common.expect(content, list, "a string or an array of content parts", param)
    parts: list[t.Text | t.Image | t.Document] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        common.expect(part, dict, "an object", where)
        kind = part.get("type")
        if kind in ("text", "refusal"):
            text = part.get(kind)
            common.expect(text, str, "a string", f"{where}.{kind}")
            if text:
                parts.append(t.Text(text))
        elif kind == "image_url" and images:
            parts.append(common.image(part, where))
        elif kind == "file" and images:
            parts.append(_file(part, where))
        elif isinstance(kind, str) and kind:
            name = f"{where} ({kind})"
            if name not in unmapped:
                unmapped.append(name)
        else:
            raise common.invalid("content parts need a string 'type'", f"{where}.type")
    return parts


def _assistant(msg: dict[str, Any], param: str, unmapped: list[str]) -> t.Message:
    parts: list[Any] = []
    reasoning = msg.get("reasoning_content")
    if reasoning is not None:
        common.expect(reasoning, str, "a string", f"{param}.reasoning_content")
        if reasoning:
            parts.append(t.Thinking(reasoning))
    content = msg.get("content")
    if isinstance(content, str):  # the common shape, without building a parameter path
        if content:
            parts.append(t.Text(content))
    elif content is not None:
        parts.extend(_content_parts(content, f"{param}.content", unmapped, images=False))
    if msg.get("refusal"):
        parts.append(t.Text(common.expect(msg["refusal"], str, "a string", f"{param}.refusal")))
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        common.expect(calls, list, "an array", f"{param}.tool_calls")
    for j, call in enumerate(calls):
        parts.append(_tool_call(call, param, j))
    legacy = msg.get("function_call")
    if isinstance(legacy, dict) and legacy.get("name"):
        args, raw = common.call_arguments(
            legacy.get("arguments", ""), f"{param}.function_call.arguments"
        )
        call_id = f"call_{legacy['name']}"
        parts.append(t.ToolCall(id=call_id, name=legacy["name"], arguments=args, raw_arguments=raw))
    return t.Message("assistant", parts, name=msg.get("name"))


def _tool_call(call: Any, param: str, j: int) -> t.ToolCall:
    """One of an assistant message's ``tool_calls``. An agent's history holds hundreds:
    the checks run first and a parameter's path is written only for its error."""
    fn: Any = call.get("function") if isinstance(call, dict) else None
    call_id: Any = call.get("id") if isinstance(call, dict) else None
    name: Any = fn.get("name") if isinstance(fn, dict) else None
    if not (isinstance(fn, dict) and isinstance(call_id, str) and isinstance(name, str)):
        where = f"{param}.tool_calls[{j}]"
        common.expect(call, dict, "an object", where)
        common.expect(fn, dict, "an object", f"{where}.function")
        common.expect(call_id, str, "a string", f"{where}.id")
        common.expect(name, str, "a string", f"{where}.function.name")
    raw_arguments = fn.get("arguments", "")
    # a string or an object never fails here (text that is no object is kept as sent), so
    # only another value's error needs the path
    where = "" if isinstance(raw_arguments, str | dict) else f"{param}.tool_calls[{j}]"
    args, raw = common.call_arguments(raw_arguments, f"{where}.function.arguments")
    return t.ToolCall(id=call_id, name=name, arguments=args, raw_arguments=raw)


def _tool_result(msg: dict[str, Any], param: str, unmapped: list[str]) -> t.ToolResult:
    call_id: Any = msg.get("tool_call_id")
    if not isinstance(call_id, str):
        common.expect(call_id, str, "a string", f"{param}.tool_call_id")
    content = msg.get("content")
    if isinstance(content, str):  # the common shape, without building a parameter path
        return t.ToolResult(call_id=call_id, content=[t.Text(content)] if content else [])
    parts = _content_parts(content, f"{param}.content", unmapped, images=False)
    return t.ToolResult(call_id=call_id, content=parts)


def _messages(raw: Any, unmapped: list[str]) -> tuple[list[t.Text], list[t.Message]]:
    """Leading system/developer messages become the system prompt; later ones stay in
    place as ``system`` messages; consecutive tool messages become one user turn of
    ToolResult parts (the shape every upstream can take)."""
    common.expect(raw, list, "an array of messages", "messages")
    if not raw:
        raise common.invalid("messages must contain at least one message", "messages")
    system: list[t.Text] = []
    messages: list[t.Message] = []
    for i, msg in enumerate(raw):
        param = f"messages[{i}]"
        if not isinstance(msg, dict):  # (checked here first: a call a message is many)
            common.expect(msg, dict, "an object", param)
        role = msg.get("role")
        if role in ("system", "developer", "user", "tool") and msg.get("content") is None:
            # OpenAI refuses these without content; forwarded, they reached the upstream
            raise common.invalid(f"missing required parameter: {param}.content", f"{param}.content")
        if role in ("system", "developer"):
            parts = _content_parts(msg.get("content"), f"{param}.content", unmapped, images=False)
            if messages:
                messages.append(t.Message("system", list(parts)))
            else:
                system.extend(parts)  # type: ignore[arg-type]
        elif role == "user":
            parts = _content_parts(msg.get("content"), f"{param}.content", unmapped)
            messages.append(t.Message("user", list(parts), name=msg.get("name")))
        elif role == "assistant":
            messages.append(_assistant(msg, param, unmapped))
        elif role == "tool":
            result = _tool_result(msg, param, unmapped)
            last = messages[-1] if messages else None
            if (
                last
                and last.role == "user"
                and all(isinstance(p, t.ToolResult) for p in last.parts)
            ):
                last.parts.append(result)
            else:
                messages.append(t.Message("user", [result]))
        elif role == "function":
            raise common.invalid(
                "role 'function' is deprecated; send role 'tool' with tool_call_id", f"{param}.role"
            )
        else:
            raise common.invalid(
                "role must be one of system, developer, user, assistant, tool", f"{param}.role"
            )
    return system, messages


def _built_messages(raw: list[Any]) -> list[t.Message]:
    """The canonical messages of wire messages ``_scan`` took, as ``_messages`` makes
    them (a test holds them equal) without its checks, which the scan made."""
    messages: list[t.Message] = []
    results: list[Any] | None = None  # a user turn of tool results only: a tool joins it
    for msg in raw:
        role = msg["role"]
        content = msg.get("content")
        if type(content) is str:
            texts: list[Any] = [t.Text(content)] if content else []
        elif content is None:
            texts = []
        else:
            texts = [t.Text(text) for text in _plain_texts(content) or ()]
        if role == "assistant":
            reasoning = msg.get("reasoning_content")
            parts: list[Any] = [t.Thinking(reasoning)] if reasoning else []
            parts += texts
            for call in msg.get("tool_calls") or ():
                fn = call["function"]
                arguments, raw_arguments = common.call_arguments(fn.get("arguments", ""), "")
                parts.append(
                    t.ToolCall(
                        id=call["id"],
                        name=fn["name"],
                        arguments=arguments,
                        raw_arguments=raw_arguments,
                    )
                )
            messages.append(t.Message("assistant", parts, name=msg.get("name")))
            results = None
        elif role == "tool":
            result = t.ToolResult(call_id=msg["tool_call_id"], content=texts)
            if results is None:
                results = [result]
                messages.append(t.Message("user", results))
            else:
                results.append(result)
        elif role == "user":
            messages.append(t.Message("user", texts, name=msg.get("name")))
            results = None if texts else texts
        elif messages:  # a system message in place (the leading ones are the system prompt)
            messages.append(t.Message("system", texts))
            results = None
    return messages


def _scan(raw: Any) -> tuple[list[t.Text], t.MessagesDigest, list[str]] | None:
    """The system prompt, the digest and the tool calls' arguments as sent (what the
    estimate counts and a guardrail reads, in order) of wire messages in the shape an
    agent sends (texts, tool calls and tool results: what ``_messages`` takes without an
    error or an ``unmapped`` name), without building the canonical messages; None for
    any other shape (images, files, a refusal, the legacy ``function_call``, an error
    to raise), which ``_messages`` parses at once. Its count and tokens are what ``_messages``'s
    list gives ``tokens.estimate_tokens`` (a test holds them equal)."""
    if type(raw) is not list or not raw:
        return None
    system: list[t.Text] = []
    written: list[str] = []
    count = tokens = 0
    folds = False  # the last message is a user turn of tool results only: a tool joins it
    for msg in raw:
        if type(msg) is not dict:
            return None
        role = msg.get("role")
        content = msg.get("content")
        if type(content) is str:
            size = (len(content) + 3) // 4
        elif content is None and role == "assistant":
            size = 0
        else:
            texts = _plain_texts(content)
            if texts is None:
                return None
            size = sum((len(text) + 3) // 4 for text in texts)
        if role == "user":
            count += 1
            tokens += size
            folds = size == 0  # (no parts: all of its parts are results)
        elif role == "assistant":
            said = _assistant_tokens(msg, size, written)
            if said is None:
                return None
            count += 1
            tokens += said
            folds = False
        elif role == "tool":
            if type(msg.get("tool_call_id")) is not str:
                return None
            tokens += size
            if not folds:
                count += 1
                folds = True
        elif role == "system" or role == "developer":
            if count:  # a system message in place
                count += 1
                tokens += size
                folds = False
            elif type(content) is str:
                if content:
                    system.append(t.Text(content))
            else:
                system.extend(t.Text(text) for text in _plain_texts(content) or ())
        else:
            return None
    return system, t.MessagesDigest(count=count, text_tokens=tokens), written


def _plain_texts(content: Any) -> list[str] | None:
    """The texts of a list of text (or refusal) parts, the empty ones left out; None
    for anything else."""
    if type(content) is not list:
        return None
    texts: list[str] = []
    for part in content:
        if type(part) is not dict:
            return None
        kind = part.get("type")
        if kind != "text" and kind != "refusal":
            return None
        text = part.get(kind)
        if type(text) is not str:
            return None
        if text:
            texts.append(text)
    return texts


def _assistant_tokens(msg: dict[str, Any], size: int, written: list[str]) -> int | None:
    """An assistant message's tokens (``size``: its content's) with its reasoning and
    tool calls, as ``estimate_tokens`` counts its parsed parts; None: not a plain one.
    Its tool calls' arguments as sent (``_sent_arguments``) are appended to ``written``."""
    reasoning = msg.get("reasoning_content")
    if reasoning is not None:
        if type(reasoning) is not str:
            return None
        size += (len(reasoning) + 3) // 4
    if msg.get("refusal"):
        return None
    legacy = msg.get("function_call")
    if isinstance(legacy, dict) and legacy.get("name"):
        return None
    calls = msg.get("tool_calls") or []
    if type(calls) is not list:
        return None
    for call in calls:
        fn = call.get("function") if type(call) is dict else None
        name = fn.get("name") if type(fn) is dict else None
        if type(name) is not str or type(call.get("id")) is not str:
            return None
        arguments = _sent_arguments(fn.get("arguments", ""))  # type: ignore[union-attr]
        if arguments is None:
            return None
        written.append(arguments)
        size += (len(name) + 3) // 4 + (len(arguments) + 3) // 4
    return size


def _sent_arguments(raw: Any) -> str | None:
    """A tool call's arguments as its parsed call gives them back (``common.call_arguments``:
    its ``raw_arguments``, text that is no JSON object, else its object as orjson writes
    it), which ``estimate_tokens`` counts and a guardrail reads; None: arguments the parse
    refuses."""
    if type(raw) is str:
        return _sent_text(raw) if len(raw) <= REMEMBERED_ARGUMENTS_CHARS else _text_sent(raw)
    if type(raw) is not dict:
        return None
    try:
        return orjson.dumps(raw).decode()
    except TypeError:  # an object orjson cannot write (a body made in code)
        return None


# arguments this short are remembered (``_sent_text``), 2,048 of them: 4 MB at most
REMEMBERED_ARGUMENTS_CHARS = 2048


@functools.lru_cache(maxsize=2048)
def _sent_text(raw: str) -> str:
    """``_text_sent``, remembered: an agent's every turn sends each call of the loop so
    far again (100 calls at turn 100: a parse and an encoding each, 45 us a request; a
    remembered one is a hash of the text)."""
    return _text_sent(raw)


def _text_sent(raw: str) -> str:
    """``_sent_arguments`` of arguments sent as text."""
    if not raw.strip():
        return "{}"
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    return orjson.dumps(parsed).decode() if type(parsed) is dict else raw


def _message_texts(raw: list[Any], written: list[str]) -> list[str]:
    """The texts a guardrail reads of wire messages ``_scan`` took, in the order
    ``guardrails.texts.request_slots`` reads the messages ``_messages`` makes of them:
    each message's name, its texts (not its reasoning), its tool results' texts and its
    tool calls' arguments (``written``: the scan's, in order), the empty ones left out
    as the slots leave them; the leading system messages are the request's ``system``."""
    out: list[str] = []
    sent = iter(written)
    started = False  # past the leading system messages
    for msg in raw:
        role = msg.get("role")
        if role == "system" or role == "developer":
            if not started:
                continue
        else:
            started = True
            if role != "tool" and msg.get("name"):
                out.append(msg["name"])
        content = msg.get("content")
        if type(content) is str:
            if content:
                out.append(content)
        elif content is not None:
            out += _plain_texts(content) or ()
        for _call in msg.get("tool_calls") or () if role == "assistant" else ():
            arguments = next(sent)
            if arguments:
                out.append(arguments)
    return out


def _tools(body: dict[str, Any], unmapped: list[str]) -> list[t.Tool]:
    tools: list[t.Tool] = []
    raw = body.get("tools")
    if raw is not None:
        common.expect(raw, list, "an array", "tools")
        for i, tool in enumerate(raw):
            param = f"tools[{i}]"
            common.expect(tool, dict, "an object", param)
            kind = tool.get("type", "function")
            if kind != "function":  # custom (free-form) tools and others: passthrough only
                common.expect(kind, str, "a string", f"{param}.type")
                unmapped.append(f"{param} ({kind})")
                continue
            fn = common.expect(tool.get("function"), dict, "an object", f"{param}.function")
            tools.append(common.function_tool(fn, f"{param}.function"))
    for i, fn in enumerate(body.get("functions") or []):  # legacy functions
        tools.append(
            common.function_tool(
                common.expect(fn, dict, "an object", f"functions[{i}]"), f"functions[{i}]"
            )
        )
    return tools


def _tool_choice(body: dict[str, Any]) -> t.ToolChoice | None:
    raw, param = body.get("tool_choice"), "tool_choice"
    if raw is None and body.get("function_call") is not None:
        raw, param = body["function_call"], "function_call"
    choice: t.ToolChoice | None = None
    if raw is not None:
        if raw in ("auto", "none", "required"):
            choice = t.ToolChoice(mode=raw)
        elif isinstance(raw, dict):
            fn = raw.get("function") if param == "tool_choice" else raw
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise common.invalid(
                    "tool_choice must be auto, none, required or "
                    '{"type": "function", "function": {"name": ...}}',
                    param,
                )
            choice = t.ToolChoice(mode="tool", name=fn["name"])
        else:
            raise common.invalid(
                "tool_choice must be auto, none, required or a function object", param
            )
    return common.with_parallel(choice, body)


def _stop(body: dict[str, Any]) -> list[str]:
    raw = body.get("stop")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    common.expect(raw, list, "a string or an array of strings", "stop")
    for i, item in enumerate(raw):
        common.expect(item, str, "a string", f"stop[{i}]")
    return list(raw)


def _reasoning(body: dict[str, Any]) -> t.Reasoning | None:
    effort = body.get("reasoning_effort")
    if effort is None or effort == "none":
        return None
    if effort not in _EFFORTS:
        raise common.invalid(
            "reasoning_effort must be one of minimal, low, medium, high", "reasoning_effort"
        )
    return t.Reasoning(effort=effort)


def parse_request(body: dict[str, Any], headers: Mapping[str, str]) -> t.ChatRequest:
    """Validate an OpenAI Chat Completions body into a ``ChatRequest``."""
    model, stream = common.model_and_stream(body)
    extra = {k: v for k, v in body.items() if k not in _MODELLED}
    unmapped = list(extra)
    raw_messages = body.get("messages")
    scanned = _scan(raw_messages)  # an agent's messages: built when something reads them
    if scanned is None:
        system, messages = _messages(raw_messages, unmapped)
    options = body.get("stream_options") or {}
    common.expect(options, dict, "an object", "stream_options")
    max_tokens = common.optional_int(body, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = common.optional_int(body, "max_tokens")
    user = body.get("user")
    if user is not None:
        common.expect(user, str, "a string", "user")
    cache_key, cache_retention = common.prompt_cache(body)
    fields: dict[str, Any] = {}
    if scanned is None:
        fields["messages"] = messages
        made: type[t.ChatRequest] = t.ChatRequest
    else:
        system, digest, written = scanned
        assert isinstance(raw_messages, list)  # (what the scan took)
        fields["build"] = functools.partial(_built_messages, raw_messages)
        fields["digest"] = digest
        fields["texts"] = functools.partial(_message_texts, raw_messages, written)
        made = t.DeferredChatRequest
    return made(
        dialect="openai",
        model=model,
        system=system,
        tools=_tools(body, unmapped),
        tool_choice=_tool_choice(body),
        max_tokens=max_tokens,
        temperature=common.optional_number(body, "temperature"),
        top_p=common.optional_number(body, "top_p"),
        top_k=common.optional_int(body, "top_k", minimum=0),
        stop=_stop(body),
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        response_format=common.response_format(body.get("response_format"), "response_format"),
        reasoning=_reasoning(body),
        user=user,
        end_user=common.end_user(body),
        n=common.optional_int(body, "n"),
        extra=extra,
        unmapped=unmapped,
        prompt_cache_key=cache_key,
        prompt_cache_retention=cache_retention,
        **fields,
    )


# --- responses -----------------------------------------------------------------------


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def render_response(response: t.ChatResponse, request: t.ChatRequest) -> dict[str, Any]:
    """A ``chat.completion`` object for one canonical response."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    text = response.text()
    if text or not response.tool_calls():
        message["content"] = text
    calls = response.tool_calls()
    if calls:
        message["tool_calls"] = chat_tool_calls(calls)
    reasoning = "".join(p.text for p in response.parts if isinstance(p, t.Thinking))
    if reasoning:
        message["reasoning_content"] = reasoning
    message["refusal"] = None
    return {
        "id": response.id or _new_id(),
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": maps.FINISH_OUT.get(response.finish_reason, "stop"),
            }
        ],
        "usage": render_usage(response.usage),
    }


class _ChunkWriter:
    """Builds ``chat.completion.chunk`` SSE events sharing one id/created/model."""

    def __init__(self, request: t.ChatRequest) -> None:
        self.model = request.model
        self.id = _new_id()
        self.created = int(time.time())

    def start(self, event: t.Start) -> None:
        self.id = event.id or self.id
        self.created = event.created or self.created

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return self._write(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )

    def usage(self, usage: t.Usage) -> bytes:
        return self._write([], usage=render_usage(usage))

    def _write(self, choices: list[Any], **more: Any) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **more,
        }
        return sse_bytes(orjson.dumps(body))


DONE = b"data: [DONE]\n\n"


class StreamRenderer:
    """Canonical events -> OpenAI SSE chunks, one event at a time. Tool calls are
    numbered by their position among tool calls (not among parts). The usage chunk
    (only when the caller asked with ``stream_options.include_usage``) comes after the
    finish chunk, then ``[DONE]``. An error ends the stream with an error chunk and no
    ``[DONE]``; so does a stream that ends without a Finish (never a silent cut)."""

    def __init__(self, request: t.ChatRequest) -> None:
        self.request = request
        self.writer = _ChunkWriter(request)
        self.started = self.finished = False
        self.ended = False  # an error ended the stream
        self.tool_index: dict[int, int] = {}  # part index -> tool-call index
        self.silent: set[int] = set()  # tool calls that got no argument fragment yet
        self.usage = t.Usage()

    def feed(self, event: t.StreamEvent) -> list[bytes]:
        writer = self.writer
        if type(event) is TextDelta and self.started:  # most of a stream: the short way
            return [writer.chunk({"content": event.text})] if event.text else []
        out: list[bytes] = []
        if not self.started and not isinstance(event, t.ErrorEvent):
            self.started = True
            if isinstance(event, t.Start):
                writer.start(event)
            out.append(writer.chunk({"role": "assistant", "content": ""}))
            if isinstance(event, t.Start):
                if event.usage:
                    self.usage.merge(event.usage)
                return out
        match event:
            case TextDelta(text=text) if text:
                out.append(writer.chunk({"content": text}))
            case ThinkingDelta(text=text) if text:
                out.append(writer.chunk({"reasoning_content": text}))
            case PartStart(index=i, kind="tool_call", tool_id=tid, tool_name=name):
                self.tool_index[i] = len(self.tool_index)
                call = {
                    "index": self.tool_index[i],
                    "id": tid,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                self.silent.add(i)
                out.append(writer.chunk({"tool_calls": [call]}))
            case ToolArgsDelta(index=i, fragment=fragment) if fragment:
                self.silent.discard(i)
                call = {"index": self.tool_index.get(i, 0), "function": {"arguments": fragment}}
                out.append(writer.chunk({"tool_calls": [call]}))
            case PartStop(index=i) if i in self.silent:
                # a tool without inputs (Anthropic streams partial_json ""): OpenAI
                # clients json.loads the arguments, and the unstreamed answer says "{}"
                self.silent.discard(i)
                call = {"index": self.tool_index[i], "function": {"arguments": "{}"}}
                out.append(writer.chunk({"tool_calls": [call]}))
            case t.UsageEvent(usage=more):
                self.usage.merge(more)
            case t.Finish(reason=reason) if not self.finished:
                self.finished = True
                out.append(writer.chunk({}, maps.FINISH_OUT.get(reason, "stop")))
            case t.ErrorEvent(error=error):
                self.ended = True
                out.append(render_stream_error(_as_gateway_error(error)))
        return out

    def end(self) -> list[bytes]:
        if not self.finished:
            self.ended = True
            return [render_stream_error(errors.UpstreamError("upstream stream ended unexpectedly"))]
        out = [self.writer.usage(self.usage)] if self.request.include_usage else []
        out.append(DONE)
        return out


def render_stream(
    events: AsyncIterator[t.StreamEvent], request: t.ChatRequest
) -> AsyncIterator[bytes]:
    """OpenAI SSE chunks, one per yielded chunk, as canonical events arrive
    (``StreamRenderer``)."""
    return render_events(StreamRenderer(request), events)


def _as_gateway_error(error: Any) -> errors.GatewayError:
    if isinstance(error, errors.GatewayError):
        return error
    return errors.GatewayError(str(error))


# --- errors and models ---------------------------------------------------------------


def render_error(error: errors.GatewayError) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` as the OpenAI API writes it."""
    return common.error_body(error)


def render_stream_error(error: errors.GatewayError) -> bytes:
    return maps.stream_error(error)


render_models = common.render_models


CLIENT = client_dialect(
    globals(),
    "openai",
    "OpenAI",
    stream_renderer=StreamRenderer,
    render_models=render_models,
    stream_end=DONE,  # a stream the shutdown ends still closes the way clients expect
    body_checks={
        "embeddings": inputs.check_embeddings,
        "completions": inputs.check_completions,
    },
)
