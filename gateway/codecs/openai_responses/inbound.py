"""The OpenAI Responses API wire format, inbound half (``POST /v1/responses``): the caller's body ->
``ChatRequest``, and canonical responses, stream events and errors -> the shapes the
``openai`` SDK (and the ``openai-agents`` SDK's default model) parse.

State (``store``, ``previous_response_id``, ``conversation``, ``background``) is the
Responses feature's (``gateway.features.responses``: ``state``, ``background``): a chained request
or a conversation's turn reaches this parser with the earlier items already in ``input``
and those fields taken out (one still here, on a path that keeps no state, is a 400), so
this is the one place items become canonical messages. Items carry the conversation:
``function_call`` / ``function_call_output`` items keep their ``call_id`` as the
canonical tool-call id, and a ``reasoning`` item's ``encrypted_content`` carries an
Anthropic thinking signature back (we put it there), so signed thinking round-trips; a
reasoning item with ``encrypted_content`` and no summary is redacted thinking.

No Django imports. Errors use OpenAI's ``{"error": {...}}`` shape (shared with Chat
Completions); validation errors name the field (``input[2].call_id``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.base import documents, errors
from gateway.base import types as t
from gateway.base.streaming import sse_bytes
from gateway.base.types import (
    ErrorEvent,
    PartStart,
    PartStop,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)
from gateway.codecs import openai_common as common
from gateway.codecs.base import render_events, tool_call_text
from gateway.codecs.inbound_common import client_dialect
from gateway.codecs.openai_responses import maps
from gateway.codecs.openai_responses.maps import usage_body as render_usage

__all__ = [
    "CLIENT",
    "parse_request",
    "render_error",
    "render_models",
    "render_response",
    "render_stream",
    "render_stream_error",
]

# Top-level fields parse_request models (or deliberately accepts and ignores).
_MODELLED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "stream_options",
        "reasoning",
        "text",
        "user",
        "metadata",  # echoed on the response object, never sent to a model
        "store",  # echoed; the service stores the response
        "previous_response_id",  # resolved by the service into input items; echoed
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
# Fields that depend on state this gateway does not keep (conversations, background runs).
_STATEFUL = ("conversation", "background")
# Values of otherwise unmodelled fields that ask for nothing beyond the default.
_HARMLESS = {
    "include": ([], None),
    "truncation": ("disabled", None),
    "service_tier": ("auto", "default", None),
    "presence_penalty": (0, None),
    "frequency_penalty": (0, None),
    "top_logprobs": (0, None),
    "max_tool_calls": (None,),
}
# Fields kept only to be echoed on the response object (they ask the model for nothing).
_ECHOED = frozenset({"safety_identifier"})
_TEXT_PARTS = {"input_text": "text", "output_text": "text", "text": "text", "refusal": "refusal"}


# --- requests ------------------------------------------------------------------------


def _input_file(part: dict[str, Any], where: str) -> t.Document:
    """An ``input_file``: ``file_data`` (a base64 data URL, or bare base64 taken as a
    PDF) or ``file_url``, with its ``filename``; ``file_id`` is refused (no Files API)."""
    data, url, name = part.get("file_data"), part.get("file_url"), part.get("filename")
    if name is not None:
        common.expect(name, str, "a string", f"{where}.filename")
    if data is not None:
        common.expect(data, str, "a base64 data URL", f"{where}.file_data")
        match = common.DATA_URL.match(data) if data.startswith("data:") else None
        if match is not None and match.group("data"):
            return documents.from_base64(match.group("data"), match.group("media"), name)
        if match is None and data and common.BASE64.match(data):
            return documents.from_base64(data, documents.PDF, name)
        raise common.invalid(
            "input_file.file_data must be a base64 data URL (data:<media type>;base64,<data>)",
            f"{where}.file_data",
        )
    if url is not None:
        common.expect(url, str, "a string", f"{where}.file_url")
        if not url.startswith(("http://", "https://")):
            raise common.invalid("input_file.file_url must be an http(s) URL", f"{where}.file_url")
        return t.Document(media_type=documents.media_type_of_url(url), url=url, filename=name)
    if part.get("file_id") is not None:
        raise common.invalid(
            "input_file.file_id is not supported (no Files API: no files are stored); send "
            "the file inline as file_data (a base64 data URL) or as file_url",
            f"{where}.file_id",
        )
    raise common.invalid("input_file needs file_data or file_url", f"{where}.file_data")


def _text_or_image(part: Any, where: str, *, images: bool) -> t.Text | t.Image | t.Document | None:
    common.expect(part, dict, "an object", where)
    kind = part.get("type")
    field = _TEXT_PARTS.get(kind)
    if field is not None:
        text = common.expect(part.get(field), str, "a string", f"{where}.{field}")
        return t.Text(text) if text else None
    if kind == "input_image" and images:
        if part.get("image_url") is None and part.get("file_id") is not None:
            raise common.invalid(
                "input_image.file_id is not supported (no files are stored); send image_url "
                "as an http(s) URL or a base64 data URL",
                f"{where}.file_id",
            )
        return common.image(part, where)
    if kind == "input_file" and images:
        return _input_file(part, where)
    allowed = "input_text, input_image or input_file" if images else "input_text"
    raise common.invalid(
        f"content part type {kind!r} is not supported here (use {allowed})", f"{where}.type"
    )


def _content(content: Any, param: str, *, images: bool) -> list[t.Text | t.Image | t.Document]:
    """A message's ``content`` (or a tool output): a string or a list of parts."""
    if isinstance(content, str):
        return [t.Text(content)] if content else []
    common.expect(content, list, "a string or an array of content parts", param)
    parts = [_text_or_image(p, f"{param}[{i}]", images=images) for i, p in enumerate(content)]
    return [p for p in parts if p is not None]


# OpenAI's assistant phases (``phase`` on message items): kept on the text parts
PHASES: tuple[t.Phase, ...] = ("commentary", "final_answer")


def _string(item: dict[str, Any], name: str, param: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise common.invalid(f"{param}.{name} must be a non-empty string", f"{param}.{name}")
    return value


def _reasoning_item(item: dict[str, Any], param: str) -> t.Thinking | None:
    """A reasoning item becomes Thinking when it carries summary (or reasoning) text,
    redacted Thinking when it carries only ``encrypted_content``."""
    texts: list[str] = []
    for name in ("summary", "content"):
        entries = item.get(name) or []
        common.expect(entries, list, "an array", f"{param}.{name}")
        for i, entry in enumerate(entries):
            common.expect(entry, dict, "an object", f"{param}.{name}[{i}]")
            text = entry.get("text")
            if isinstance(text, str) and text:
                texts.append(text)
        if texts:
            break  # the summary when present; the raw reasoning text otherwise
    signature = item.get("encrypted_content")
    if not texts:
        if isinstance(signature, str) and signature:
            return t.Thinking("", redacted=signature)
        return None
    return t.Thinking(
        "\n\n".join(texts), signature=signature if isinstance(signature, str) else None
    )


class _Conversation:
    """Builds canonical messages from input items: an assistant turn (reasoning,
    message and function_call items in a row) becomes one assistant message; tool
    outputs in a row become one user message of ToolResult parts."""

    def __init__(self, system: list[t.Text]) -> None:
        self.system = system
        self.messages: list[t.Message] = []
        self.mcp_pending: list[t.McpItem] = []  # approval requests of earlier turns
        self.mcp_approvals: list[t.McpApproval] = []
        self.mcp_answered: set[str] = set()  # approval requests an mcp_call already ran
        self.calls: set[str] = set()  # call_ids of the function_call items so far

    def _last(self, role: str) -> t.Message | None:
        last = self.messages[-1] if self.messages else None
        return last if last is not None and last.role == role else None

    def assistant_part(self, part: Any) -> None:
        last = self._last("assistant")
        if last is None:
            last = t.Message("assistant")
            self.messages.append(last)
        last.parts.append(part)

    def tool_result(self, result: t.ToolResult) -> None:
        last = self._last("user")
        if last is not None and last.parts and all(isinstance(p, t.ToolResult) for p in last.parts):
            last.parts.append(result)
        else:
            self.messages.append(t.Message("user", [result]))

    def message(self, item: dict[str, Any], param: str) -> None:
        role = item.get("role")
        content = item.get("content")
        if role == "user":
            self.messages.append(
                t.Message("user", list(_content(content, f"{param}.content", images=True)))
            )
        elif role in ("system", "developer"):
            parts = _content(content, f"{param}.content", images=False)
            if self.messages:
                self.messages.append(t.Message("system", list(parts)))
            else:
                self.system.extend(parts)  # type: ignore[arg-type]
        elif role == "assistant":
            phase = item.get("phase")
            if phase is not None and phase not in PHASES:
                raise common.invalid(
                    "phase must be 'commentary' or 'final_answer'", f"{param}.phase"
                )
            for part in _content(content, f"{param}.content", images=False):
                if phase is not None and isinstance(part, t.Text):
                    part.phase = phase
                self.assistant_part(part)
        else:
            raise common.invalid(
                "role must be one of user, system, developer, assistant", f"{param}.role"
            )

    def item(self, item: Any, param: str) -> None:
        common.expect(item, dict, "an object", param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            self.message(item, param)
        elif kind == "function_call":
            call_id = _string(item, "call_id", param)
            name = _string(item, "name", param)
            args, raw = common.call_arguments(item.get("arguments", ""), f"{param}.arguments")
            self.assistant_part(
                t.ToolCall(id=call_id, name=name, arguments=args, raw_arguments=raw)
            )
            self.calls.add(call_id)
        elif kind == "function_call_output":
            call_id = _string(item, "call_id", param)
            output = item.get("output")
            if output is None:
                raise common.invalid(f"{param}.output is required", f"{param}.output")
            if call_id not in self.calls:
                raise common.invalid(
                    f"No tool call found for function call output with call_id {call_id!r}: "
                    "a function_call_output must answer a function_call earlier in the "
                    "conversation (in input, or in the response previous_response_id names)",
                    f"{param}.call_id",
                )
            self.tool_result(
                t.ToolResult(call_id, _content(output, f"{param}.output", images=True))
            )
        elif kind == "reasoning":
            thinking = _reasoning_item(item, param)
            if thinking is not None:
                self.assistant_part(thinking)
        elif kind in _MCP_ITEMS:
            self.mcp_item(kind, item, param)
        elif kind == "web_search_call":  # an earlier turn's search, the gateway's or OpenAI's
            self.web_search_call(item, param)
        elif kind == "compaction":
            # The gateway's own compaction items were opened before parsing
            # (gateway.features.responses.state); one still here is an upstream's
            # sealed summary (OpenAI's): it goes back to a Responses API upstream as it
            # came, and is dropped for others, as OpenAI's encrypted reasoning is
            # (maps.COMPACTION_MARK).
            sealed = item.get("encrypted_content")
            common.expect(sealed, str, "a string", f"{param}.encrypted_content")
            self.assistant_part(t.Thinking("", redacted=maps.pack_compaction(sealed)))
        elif kind == "item_reference":
            raise common.invalid(
                "item_reference is not supported: send the items themselves, or continue a "
                "stored response with previous_response_id",
                f"{param}.type",
            )
        else:
            raise common.invalid(
                f"input item type {kind!r} is not supported (use message, function_call, "
                "function_call_output or reasoning)",
                f"{param}.type",
            )

    def web_search_call(self, item: dict[str, Any], param: str) -> None:
        """A search of an earlier turn: the model's call and the sources it found (all
        the item keeps of them)."""
        item_id = _string(item, "id", param)
        action = item.get("action")
        action = action if isinstance(action, dict) else {}
        query = action.get("query")
        arguments = {"query": query} if isinstance(query, str) else {}
        self.assistant_part(t.ToolCall(id=item_id, name="web_search", arguments=arguments))
        sources = action.get("sources")
        urls = [
            str(source.get("url"))
            for source in (sources if isinstance(sources, list) else [])
            if isinstance(source, dict) and source.get("url")
        ]
        failed = item.get("status") == "failed"
        text = "error: the search failed" if failed else "\n".join(urls) or "searched"
        self.tool_result(t.ToolResult(item_id, [t.Text(text)], is_error=failed))

    def mcp_item(self, kind: str, item: dict[str, Any], param: str) -> None:
        """Hosted MCP items of earlier turns: a call becomes the model's tool call and
        its result; an approval request waits for its answer; tool lists are not
        conversation."""
        if kind == "mcp_approval_response":
            approve = common.expect(item.get("approve"), bool, "a boolean", f"{param}.approve")
            reason = item.get("reason")
            self.mcp_approvals.append(
                t.McpApproval(_string(item, "approval_request_id", param), approve, reason)
            )
            return
        if kind == "mcp_list_tools":
            return
        server = _string(item, "server_label", param)
        name = _string(item, "name", param)
        arguments = item.get("arguments") or "{}"
        common.expect(arguments, str, "a JSON string", f"{param}.arguments")
        item_id = _string(item, "id", param)
        if kind == "mcp_approval_request":
            self.mcp_pending.append(t.McpItem("approval_request", item_id, server, name, arguments))
            return
        answered = item.get("approval_request_id")
        if isinstance(answered, str) and answered:
            self.mcp_answered.add(answered)
        args, raw = common.call_arguments(arguments, f"{param}.arguments")
        call = t.ToolCall(id=item_id, name=t.mcp_tool_name(server, name), arguments=args)
        call.raw_arguments = raw
        self.assistant_part(call)
        error, output = item.get("error"), item.get("output")
        text = str(error) if error else str(output or "")
        self.tool_result(t.ToolResult(item_id, [t.Text(text)], is_error=bool(error)))


# input items of the hosted MCP tool (gateway/features/mcp/hosted)
_MCP_ITEMS = frozenset(
    {"mcp_list_tools", "mcp_call", "mcp_approval_request", "mcp_approval_response"}
)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token


def _mcp_server(tool: dict[str, Any], param: str) -> t.McpServer:
    """A Responses ``mcp`` tool: ``server_url`` (or a name the gateway's registry
    knows, in ``server_url`` or alone in ``server_label``), ``headers``,
    ``allowed_tools`` (names or ``{"tool_names": [...]}``) and ``require_approval``
    (``always``, ``never`` or ``{"always"|"never": {"tool_names": [...]}}``; OpenAI's
    default is ``always``)."""
    label = _string(tool, "server_label", param)
    url = tool.get("server_url")
    if url is not None:
        common.expect(url, str, "a string", f"{param}.server_url")
    headers = tool.get("headers") or {}
    common.expect(headers, dict, "an object", f"{param}.headers")
    if not all(isinstance(v, str) for v in headers.values()):
        raise common.invalid("headers values must be strings", f"{param}.headers")
    for name, value in headers.items():
        if reason := t.refused_caller_header(name):
            raise common.invalid(f"headers may not set {name!r}: {reason}", f"{param}.headers")
        if not _HEADER_NAME.fullmatch(name) or any(c in value for c in "\r\n\0"):
            raise common.invalid(f"headers has an invalid header {name!r}", f"{param}.headers")
    if tool.get("authorization"):
        headers = {**headers, "Authorization": f"Bearer {tool['authorization']}"}
    allowed = tool.get("allowed_tools")
    if isinstance(allowed, dict):
        allowed = allowed.get("tool_names")
    if allowed is not None and (
        not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed)
    ):
        raise common.invalid(
            'allowed_tools must be a list of names or {"tool_names": [...]}',
            f"{param}.allowed_tools",
        )
    server = t.McpServer(label=label, headers=dict(headers), allowed=allowed)
    if url and url.startswith(("http://", "https://")):
        server.url = url
    else:
        server.registered = url or label
    approval = tool.get("require_approval", "always")
    if approval in ("always", "never"):
        server.approval = approval
    elif isinstance(approval, dict):
        # tools named under "never" run at once; the rest need approval, unless only
        # "always" names some (then the rest do not)
        server.approval = "never" if "always" in approval and "never" not in approval else "always"
        for mode in ("always", "never"):
            names = (approval.get(mode) or {}).get("tool_names") or []
            getattr(server, mode).extend(str(n) for n in names)
    else:
        raise common.invalid(
            "require_approval must be always, never or an object of tool_names",
            f"{param}.require_approval",
        )
    return server


def _input(
    body: dict[str, Any], system: list[t.Text], conversation: _Conversation | None = None
) -> list[t.Message]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [t.Message("user", [t.Text(raw)] if raw else [])]
    if raw is None:
        raise common.invalid("input is required (a string or an array of input items)", "input")
    common.expect(raw, list, "a string or an array of input items", "input")
    if not raw:
        raise common.invalid("input must contain at least one item", "input")
    conversation = conversation or _Conversation(system)
    for i, item in enumerate(raw):
        conversation.item(item, f"input[{i}]")
    return conversation.messages


def _tools(
    body: dict[str, Any],
    unmapped: list[str],
    servers: list[t.McpServer] | None = None,
    server_tools: list[t.ServerTool] | None = None,
) -> list[Any]:
    raw = body.get("tools")
    if raw is None:
        return []
    common.expect(raw, list, "an array", "tools")
    tools = []
    for i, tool in enumerate(raw):
        param = f"tools[{i}]"
        common.expect(tool, dict, "an object", param)
        kind = tool.get("type", "function")
        if kind == "function":
            function = common.function_tool(tool, param)
            if function.strict is None:  # the Responses API enforces schemas by default
                function.strict = True
            tools.append(function)
        elif kind == "mcp" and servers is not None:  # run by the gateway (mcp/hosted)
            servers.append(_mcp_server(tool, param))
        elif isinstance(kind, str) and kind.startswith("web_search"):
            # run at OpenAI, or by the gateway elsewhere (gateway.features.server_tools),
            # which takes the note back when it runs it
            if server_tools is not None:
                server_tools.append(_web_search_tool(tool, kind, param))
            unmapped.append(f"{param} ({kind})")
        else:  # hosted tools (web_search, file_search, computer...) run at OpenAI only
            unmapped.append(f"{param} ({kind})")
    return tools


def _web_search_tool(tool: dict[str, Any], kind: str, param: str) -> t.ServerTool:
    filters = tool.get("filters")
    allowed: list[str] = []
    if filters is not None:
        common.expect(filters, dict, "an object", f"{param}.filters")
        raw = filters.get("allowed_domains") or []
        common.expect(raw, list, "an array of domain names", f"{param}.filters.allowed_domains")
        for i, domain in enumerate(raw):
            common.expect(domain, str, "a domain name", f"{param}.filters.allowed_domains[{i}]")
        allowed = list(raw)
    return t.ServerTool("web_search", kind, "web_search", allowed_domains=allowed)


def _tool_choice(body: dict[str, Any]) -> t.ToolChoice | None:
    raw = body.get("tool_choice")
    choice: t.ToolChoice | None = None
    if raw in ("auto", "none", "required"):
        choice = t.ToolChoice(mode=raw)
    elif isinstance(raw, dict) and raw.get("type") == "function":
        choice = t.ToolChoice(mode="tool", name=_string(raw, "name", "tool_choice"))
    elif raw is not None:
        raise common.invalid(
            'tool_choice must be auto, none, required or {"type": "function", "name": ...}',
            "tool_choice",
        )
    return common.with_parallel(choice, body)


def _reasoning(body: dict[str, Any]) -> t.Reasoning | None:
    raw = body.get("reasoning")
    if raw is None:
        return None
    common.expect(raw, dict, "an object", "reasoning")
    effort = raw.get("effort")
    if effort is None or effort == "none":
        return None
    if effort not in maps.CLIENT_EFFORTS:
        raise common.invalid(
            "reasoning.effort must be one of none, minimal, low, medium, high, xhigh",
            "reasoning.effort",
        )
    return t.Reasoning(effort=maps.CLIENT_EFFORTS[effort])  # type: ignore[arg-type]


def _response_format(body: dict[str, Any], unmapped: list[str]) -> t.ResponseFormat | None:
    raw = body.get("text")
    if raw is None:
        return None
    common.expect(raw, dict, "an object", "text")
    if raw.get("verbosity") is not None:
        unmapped.append("text.verbosity")
    return common.response_format(raw.get("format"), "text.format")


def _instructions(body: dict[str, Any]) -> list[t.Text]:
    raw = body.get("instructions")
    if raw is None:
        return []
    text = common.expect(raw, str, "a string", "instructions")
    return [t.Text(text)] if text else []


def _refuse_stateful(body: dict[str, Any]) -> None:
    for name in _STATEFUL:
        if body.get(name):
            raise common.invalid(
                f"{name} is not supported: continue a stored response with "
                "previous_response_id, or send the whole conversation in input",
                name,
            )


def parse_request(body: dict[str, Any], headers: Mapping[str, str]) -> t.ChatRequest:
    """Validate a Responses API create body into a ``ChatRequest``."""
    model, stream = common.model_and_stream(body)
    _refuse_stateful(body)
    system = _instructions(body)
    conversation = _Conversation(system)
    messages = _input(body, system, conversation)
    user = body.get("user")
    if user is not None:
        common.expect(user, str, "a string", "user")
    metadata = body.get("metadata")
    if metadata is not None:
        common.expect(metadata, dict, "an object", "metadata")
    store = body.get("store")
    if store is not None:
        common.expect(store, bool, "a boolean", "store")
    previous = body.get("previous_response_id")
    if previous is not None:
        common.expect(previous, str, "a string", "previous_response_id")
    extra = {k: v for k, v in body.items() if k not in _MODELLED and k not in _STATEFUL}
    unmapped = [k for k, v in extra.items() if k not in _ECHOED and v not in _HARMLESS.get(k, ())]
    if metadata:
        extra["metadata"] = metadata  # kept for the response object
    servers: list[t.McpServer] = []
    server_tools: list[t.ServerTool] = []
    tools = _tools(body, unmapped, servers, server_tools)
    response_format = _response_format(body, unmapped)
    cache_key, cache_retention = common.prompt_cache(body)
    return t.ChatRequest(
        dialect="responses",
        model=model,
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=_tool_choice(body),
        max_tokens=common.optional_int(body, "max_output_tokens"),
        temperature=common.optional_number(body, "temperature"),
        top_p=common.optional_number(body, "top_p"),
        stream=stream,
        response_format=response_format,
        reasoning=_reasoning(body),
        user=user,
        end_user=common.end_user(body),
        extra=extra,
        unmapped=unmapped,
        echo={"store": store is not False, "previous_response_id": previous},
        prompt_cache_key=cache_key,
        prompt_cache_retention=cache_retention,
        mcp_servers=servers,
        server_tools=server_tools,
        mcp_pending=conversation.mcp_pending,
        # an approval whose call is already in the conversation (a client resending the
        # whole history) was spent: only the new ones ask the gateway to run a call
        mcp_approvals=[
            a for a in conversation.mcp_approvals if a.request_id not in conversation.mcp_answered
        ],
    )


# --- the response object ---------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(
    item_id: str, text: str | None, status: str = "completed", phase: t.Phase | None = None
) -> dict[str, Any]:
    content = [] if text is None else [_output_text(text)]
    item = {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }
    if phase is not None:
        item["phase"] = phase
    return item


def _function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _reasoning_output(item_id: str, text: str | None, signature: str | None) -> dict[str, Any]:
    summary = [] if text is None else [{"type": "summary_text", "text": text}]
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
    if signature:
        item["encrypted_content"] = signature
    return item


def _tool_choice_out(request: t.ChatRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return "auto"
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name}
    return choice.mode


def _format_out(request: t.ChatRequest) -> dict[str, Any]:
    fmt = request.response_format
    if fmt is None or fmt.type != "json_schema":
        return {"type": fmt.type if fmt else "text"}
    return {
        "type": "json_schema",
        "name": fmt.name or "response",
        "description": None,
        "schema": fmt.schema,
        "strict": bool(fmt.strict),
    }


def _echo(extra: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    """A setting the caller sent that the model call does not use, echoed on the
    response object with the type the schema gives it (its default when absent)."""
    value = extra.get(name)
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    return default


def _service_tier(extra: Mapping[str, Any]) -> str:
    """The tier the response ran at: the gateway has one, the default ("auto" asks for
    whatever the provider picks, and that is it)."""
    tier = extra.get("service_tier")
    return tier if isinstance(tier, str) and tier not in ("auto", "") else "default"


def _status_of(reason: str | None) -> tuple[str, dict[str, str] | None]:
    if reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _response_object(
    request: t.ChatRequest,
    *,
    response_id: str,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    usage: t.Usage | None,
    incomplete: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object, echoing the request's settings as the API does."""
    instructions = "".join(t.text for t in request.system) or None
    parallel = request.tool_choice.parallel if request.tool_choice else None
    effort = request.reasoning.effort if request.reasoning else None
    extra = request.extra
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "completed_at": int(time.time()) if status == "completed" else None,
        "status": status,
        "background": bool(request.echo.get("background")),
        "error": error,
        "incomplete_details": incomplete,
        "instructions": instructions,
        "max_output_tokens": request.max_tokens,
        "model": request.model,
        "output": output,
        "parallel_tool_calls": True if parallel is None else parallel,
        "previous_response_id": request.echo.get("previous_response_id"),
        "reasoning": {"effort": effort, "summary": None},
        "max_tool_calls": _echo(extra, "max_tool_calls", int, None),
        "store": bool(request.echo.get("store", False)),
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "presence_penalty": _echo(extra, "presence_penalty", float, 0.0),
        "frequency_penalty": _echo(extra, "frequency_penalty", float, 0.0),
        "top_logprobs": _echo(extra, "top_logprobs", int, 0),
        "service_tier": _service_tier(extra),
        "safety_identifier": _echo(extra, "safety_identifier", str, None),
        "prompt_cache_key": request.prompt_cache_key,
        "text": {"format": _format_out(request)},
        "tool_choice": _tool_choice_out(request),
        "tools": [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "strict": tool.strict,
            }
            for tool in request.tools
        ],
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "truncation": "auto" if extra.get("truncation") == "auto" else "disabled",
        "usage": render_usage(usage) if usage is not None else None,
        "user": request.user,
        "metadata": request.extra.get("metadata") or {},
        # the conversation the gateway resolved, echoed (features.responses.conversations)
        **(
            {"conversation": request.echo["conversation"]} if "conversation" in request.echo else {}
        ),
    }


def web_search_item(item: t.ServerToolItem, status: str | None = None) -> dict[str, Any]:
    """A search the gateway ran as a ``web_search_call`` item (its sources listed)."""
    action: dict[str, Any]
    if item.kind == "web_fetch":
        action = {"type": "open_page", "url": item.url}
    else:
        query = item.input.get("query")
        action = {"type": "search", "query": query if isinstance(query, str) else ""}
        if status is None:
            action["sources"] = [{"type": "url", "url": r.url} for r in item.results]
    return {
        "id": item.id,
        "type": "web_search_call",
        "status": status or ("failed" if item.error else "completed"),
        "action": action,
    }


def hosted_output_item(item: t.Hosted) -> dict[str, Any]:
    if isinstance(item, t.ServerToolItem):
        return web_search_item(item)
    return mcp_output_item(item)


def mcp_output_item(item: t.McpItem) -> dict[str, Any]:
    """A hosted MCP step as its Responses output item."""
    if item.kind == "message":  # what the model said before calling tools
        return _message_item(item.id, item.output or "")
    if item.kind == "list_tools":
        return {
            "id": item.id,
            "type": "mcp_list_tools",
            "server_label": item.server,
            "tools": item.tools,
            "error": item.error,
        }
    if item.kind == "approval_request":
        return {
            "id": item.id,
            "type": "mcp_approval_request",
            "server_label": item.server,
            "name": item.name,
            "arguments": item.arguments,
        }
    return {
        "id": item.id,
        "type": "mcp_call",
        "server_label": item.server,
        "name": item.name,
        "arguments": item.arguments,
        "output": item.output,
        "error": item.error,
        "approval_request_id": item.approval_request_id,
        "status": "failed" if item.error else "completed",
    }


# Settings an upstream's response object may leave null that the spec types as numbers,
# strings, booleans, lists or objects: the request's echo stands in.
_NOT_NULL = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "top_logprobs",
    "service_tier",
    "truncation",
    "parallel_tool_calls",
    "background",
    "tool_choice",
    "tools",
    "text",
    "metadata",
)


def conform(response: dict[str, Any], request: t.ChatRequest) -> dict[str, Any]:
    """An upstream's response object (passed through) with every field Open Responses
    requires: what it lacks, or leaves null where the schema wants a value, is the
    request's echo, as the gateway renders it for translated upstreams."""
    status = str(response.get("status") or "completed")
    template = _response_object(
        request,
        response_id=str(response.get("id") or ""),
        created=int(response.get("created_at") or time.time()),
        status=status,
        output=[],
        usage=None,
    )
    for name, value in template.items():
        if name not in response or (name in _NOT_NULL and response[name] is None):
            response[name] = value
    if status == "completed" and response.get("completed_at") is None:
        response["completed_at"] = template["completed_at"]
    return response


def _output_items(response: t.ChatResponse) -> list[dict[str, Any]]:
    """Output items in part order; consecutive text parts make one message item."""
    hosted = [hosted_output_item(item) for item in response.hosted]
    items: list[dict[str, Any]] = []
    text_item: dict[str, Any] | None = None
    for part in response.parts:
        if isinstance(part, t.Text):
            if text_item is None or text_item.get("phase") != part.phase:
                text_item = _message_item(_new_id("msg"), "", phase=part.phase)
                items.append(text_item)
            text_item["content"][0]["text"] += part.text
            continue
        text_item = None
        if isinstance(part, t.Thinking) and part.text:
            items.append(_reasoning_output(_new_id("rs"), part.text, part.signature))
        elif isinstance(part, t.Thinking) and part.redacted:
            items.append(_reasoning_output(_new_id("rs"), None, part.redacted))
        elif isinstance(part, t.ToolCall):
            items.append(
                _function_call_item(_new_id("fc"), part.id, part.name, tool_call_text(part))
            )
    if not items and not any(item.kind == "approval_request" for item in response.hosted):
        items.append(_message_item(_new_id("msg"), ""))
    return hosted + items


def render_response(response: t.ChatResponse, request: t.ChatRequest) -> dict[str, Any]:
    """The ``response`` object for one canonical response."""
    status, incomplete = _status_of(response.finish_reason)
    return _response_object(
        request,
        response_id=_new_id("resp"),
        created=response.created or int(time.time()),
        status=status,
        output=_output_items(response),
        usage=response.usage,
        incomplete=incomplete,
    )


# --- streaming -------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """One output item while it streams."""

    kind: str  # text | thinking | tool_call
    output_index: int
    item_id: str
    # message text, reasoning summary text or function arguments, as it came (joined
    # once: ``+=`` on an attribute copies the whole text at every delta)
    pieces: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    signature: str | None = None
    closed: bool = False
    phase: t.Phase | None = None  # a message item's (the upstream's PartStart)

    @property
    def text(self) -> str:
        if len(self.pieces) > 1:
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""


_ITEM_PREFIX = {"text": "msg", "thinking": "rs", "tool_call": "fc"}
_FAILED_CODES = {"rate_limit_error": "rate_limit_exceeded"}


class StreamRenderer:
    """Canonical events -> Responses SSE events, each with its ``sequence_number``.

    Message and reasoning items open on their first non-empty delta (an empty item is
    never sent); function_call items open on PartStart (id and name are known there).
    ``output_index`` counts the items actually sent, in order. Items close on PartStop
    (or at the end), then ``response.completed`` / ``response.incomplete`` carries the
    whole response with usage (usage after the finish reason still counts).
    """

    def __init__(self, request: t.ChatRequest) -> None:
        self.request = request
        self.id = _new_id("resp")
        self.created = int(time.time())
        self.sequence = 0
        self.started = False
        self.usage = t.Usage()
        self.finish: t.Finish | None = None
        self._kinds: dict[int, str] = {}  # canonical index -> part kind
        self._tools: dict[int, PartStart] = {}  # tool PartStarts not yet opened
        self._signatures: dict[int, str] = {}
        self._redacted: dict[int, str] = {}  # redacted thinking not yet sent
        self._items: dict[int, _Item] = {}  # canonical index -> item
        self._done: dict[int, dict[str, Any]] = {}  # output_index -> finished item
        self._hosted = 0  # hosted MCP items sent (they take output indexes too)
        self._phases: dict[int, t.Phase] = {}  # canonical index -> its text's phase

    def event(self, kind: str, **payload: Any) -> bytes:
        body = {"type": kind, **payload, "sequence_number": self.sequence}
        self.sequence += 1
        return sse_bytes(orjson.dumps(body), kind)

    def _response(self, status: str, **more: Any) -> dict[str, Any]:
        return _response_object(
            self.request,
            response_id=self.id,
            created=self.created,
            status=status,
            output=[self._done[i] for i in sorted(self._done)],
            usage=more.pop("usage", None),
            **more,
        )

    def start(self, event: t.Start | None) -> list[bytes]:
        self.started = True
        if event is not None:
            self.created = event.created or self.created
            if event.usage:
                self.usage.merge(event.usage)
        response = self._response("in_progress")
        return [
            self.event("response.created", response=response),
            self.event("response.in_progress", response=response),
        ]

    def feed(self, event: t.StreamEvent) -> list[bytes]:
        out: list[bytes] = []
        if not self.started:
            out += self.start(event if isinstance(event, t.Start) else None)
        match event:
            case PartStart(index=i, kind=kind):
                self._kinds[i] = kind
                if kind == "tool_call":
                    out += self._open(i, "tool_call", event)
                elif event.phase is not None:
                    self._phases[i] = event.phase
            case TextDelta(index=i, text=text) if text:
                out += self._delta(i, "text", text)
            case ToolArgsDelta(index=i, fragment=fragment) if fragment:
                out += self._delta(i, "tool_call", fragment)
            case ThinkingDelta(index=i, text=text, signature=signature):
                if event.redacted and i not in self._items:
                    self._redacted[i] = event.redacted
                if signature:
                    item = self._items.get(i)
                    if item is not None:
                        item.signature = signature
                    else:
                        self._signatures[i] = signature
                if text:
                    out += self._delta(i, "thinking", text)
            case PartStop(index=i):
                item = self._items.get(i)
                if item is not None:
                    out += self._close(item)
                elif i in self._redacted:
                    out += self._redacted_item(i)
            case t.UsageEvent(usage=usage):
                self.usage.merge(usage)
            case t.Finish():
                self.finish = event
            case t.HostedItem(item=item):
                out += self._hosted_item(item)
        return out

    def _hosted_item(self, step: t.Hosted) -> list[bytes]:
        """A hosted step, whole: ``output_item.added``, its own progress events
        (``response.mcp_list_tools.*``, ``response.mcp_call_arguments.*``,
        ``response.mcp_call.*``, ``response.web_search_call.*``), ``output_item.done``."""
        index = len(self._items) + self._hosted
        self._hosted += 1
        done = hosted_output_item(step)
        where = {"output_index": index}
        ids = {"item_id": step.id, "output_index": index}
        out: list[bytes] = []
        if isinstance(step, t.ServerToolItem):
            added = web_search_item(step, "in_progress")
            out += [
                self.event("response.output_item.added", **where, item=added),
                self.event("response.web_search_call.in_progress", **ids),
                self.event("response.web_search_call.searching", **ids),
                self.event("response.web_search_call.completed", **ids),
            ]
        elif step.kind == "list_tools":
            added = {**done, "tools": []}
            outcome = "failed" if step.error else "completed"
            out += [
                self.event("response.output_item.added", **where, item=added),
                self.event("response.mcp_list_tools.in_progress", **ids),
                self.event(f"response.mcp_list_tools.{outcome}", **ids),
            ]
        elif step.kind == "call":
            added = {**done, "arguments": "", "output": None, "error": None}
            added["status"] = "in_progress"
            outcome = "failed" if step.error else "completed"
            out += [
                self.event("response.output_item.added", **where, item=added),
                self.event("response.mcp_call.in_progress", **ids),
                self.event("response.mcp_call_arguments.delta", **ids, delta=step.arguments),
                self.event("response.mcp_call_arguments.done", **ids, arguments=step.arguments),
                self.event(f"response.mcp_call.{outcome}", **ids),
            ]
        elif step.kind == "message":
            text = step.output or ""
            part = _output_text(text)
            out += [
                self.event(
                    "response.output_item.added",
                    **where,
                    item=_message_item(step.id, None, "in_progress"),
                ),
                self.event(
                    "response.content_part.added", **ids, content_index=0, part=_output_text("")
                ),
                self.event(
                    "response.output_text.delta", **ids, content_index=0, delta=text, logprobs=[]
                ),
                self.event(
                    "response.output_text.done", **ids, content_index=0, text=text, logprobs=[]
                ),
                self.event("response.content_part.done", **ids, content_index=0, part=part),
            ]
        else:
            out.append(self.event("response.output_item.added", **where, item=done))
        self._done[index] = done
        out.append(self.event("response.output_item.done", **where, item=done))
        return out

    def _open(self, index: int, kind: str, start: PartStart | None = None) -> list[bytes]:
        item = _Item(kind, len(self._items) + self._hosted, _new_id(_ITEM_PREFIX[kind]))
        item.signature = self._signatures.pop(index, None)
        self._items[index] = item
        where = {"output_index": item.output_index}
        if kind == "tool_call":
            item.call_id = (start.tool_id if start else None) or _new_id("call")
            item.name = (start.tool_name if start else None) or ""
            added = _function_call_item(item.item_id, item.call_id, item.name, "", "in_progress")
            return [self.event("response.output_item.added", **where, item=added)]
        if kind == "thinking":
            added = _reasoning_output(item.item_id, None, None)
            return [
                self.event("response.output_item.added", **where, item=added),
                self.event(
                    "response.reasoning_summary_part.added",
                    item_id=item.item_id,
                    **where,
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                ),
            ]
        item.phase = self._phases.get(index)
        added = _message_item(item.item_id, None, "in_progress", item.phase)
        return [
            self.event("response.output_item.added", **where, item=added),
            self.event(
                "response.content_part.added",
                item_id=item.item_id,
                **where,
                content_index=0,
                part=_output_text(""),
            ),
        ]

    def _delta(self, index: int, kind: str, text: str) -> list[bytes]:
        out: list[bytes] = []
        item = self._items.get(index)
        if item is None:
            out += self._open(index, self._kinds.get(index, kind))
            item = self._items[index]
        if item.closed:
            return out  # a delta after PartStop: the item already went out whole
        item.pieces.append(text)
        where = {"item_id": item.item_id, "output_index": item.output_index}
        if item.kind == "tool_call":
            out.append(self.event("response.function_call_arguments.delta", **where, delta=text))
        elif item.kind == "thinking":
            out.append(
                self.event(
                    "response.reasoning_summary_text.delta", **where, summary_index=0, delta=text
                )
            )
        else:
            out.append(
                self.event(
                    "response.output_text.delta", **where, content_index=0, delta=text, logprobs=[]
                )
            )
        return out

    def _close(self, item: _Item) -> list[bytes]:
        if item.closed:
            return []
        item.closed = True
        where = {"item_id": item.item_id, "output_index": item.output_index}
        out: list[bytes] = []
        if item.kind == "tool_call":
            arguments = item.text or "{}"
            out.append(
                self.event(
                    "response.function_call_arguments.done",
                    **where,
                    name=item.name,
                    arguments=arguments,
                )
            )
            done = _function_call_item(item.item_id, item.call_id, item.name, arguments)
        elif item.kind == "thinking":
            summary = {"type": "summary_text", "text": item.text}
            out.append(
                self.event(
                    "response.reasoning_summary_text.done", **where, summary_index=0, text=item.text
                )
            )
            out.append(
                self.event(
                    "response.reasoning_summary_part.done", **where, summary_index=0, part=summary
                )
            )
            done = _reasoning_output(item.item_id, item.text, item.signature)
        else:
            part = _output_text(item.text)
            out.append(
                self.event(
                    "response.output_text.done",
                    **where,
                    content_index=0,
                    text=item.text,
                    logprobs=[],
                )
            )
            out.append(
                self.event("response.content_part.done", **where, content_index=0, part=part)
            )
            done = _message_item(item.item_id, item.text, phase=item.phase)
        self._done[item.output_index] = done
        out.append(
            self.event("response.output_item.done", output_index=item.output_index, item=done)
        )
        return out

    def _redacted_item(self, index: int) -> list[bytes]:
        """Redacted thinking: one reasoning item with ``encrypted_content`` and no
        summary, sent whole (there is no text to stream)."""
        data = self._redacted.pop(index)
        item = _Item("thinking", len(self._items) + self._hosted, _new_id("rs"), closed=True)
        self._items[index] = item
        done = _reasoning_output(item.item_id, None, data)
        self._done[item.output_index] = done
        where = {"output_index": item.output_index}
        return [
            self.event("response.output_item.added", **where, item=done),
            self.event("response.output_item.done", **where, item=done),
        ]

    def _close_all(self) -> list[bytes]:
        out: list[bytes] = []
        for index in sorted(self._redacted):
            out += self._redacted_item(index)
        for item in sorted(self._items.values(), key=lambda it: it.output_index):
            out += self._close(item)
        return out

    def end(self) -> list[bytes]:
        """Close open items, then ``response.completed`` (or ``response.incomplete``)."""
        if self.finish is None:
            # Never a silent cut: a stream without Finish is an error the caller must see.
            return self.fail(errors.UpstreamError("upstream stream ended unexpectedly"))
        out = [] if self.started else self.start(None)
        out += self._close_all()
        status, incomplete = _status_of(self.finish.reason)
        response = self._response(status, usage=self.usage, incomplete=incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self.event(kind, response=response))
        return out

    def fail(self, error: Any) -> list[bytes]:
        """An ``error`` event, then ``response.failed`` with what was sent so far."""
        error = _as_gateway_error(error)
        out = [] if self.started else self.start(None)
        out.append(render_stream_error(error, self.sequence))
        self.sequence += 1
        code = _FAILED_CODES.get(error.kind, "server_error")
        failed = self._response(
            "failed", usage=self.usage, error={"code": code, "message": error.message}
        )
        out.append(self.event("response.failed", response=failed))
        return out


def _as_gateway_error(error: Any) -> errors.GatewayError:
    if isinstance(error, errors.GatewayError):
        return error
    return errors.GatewayError(str(error))


class Rendering(StreamRenderer):
    """The renderer as a stream is written: an ErrorEvent becomes ``error`` then
    ``response.failed`` and ``[DONE]``, and ends the stream; its end is followed by
    ``[DONE]``."""

    ended = False

    def feed(self, event: t.StreamEvent) -> list[bytes]:
        if isinstance(event, ErrorEvent):
            self.ended = True
            return [*self.fail(event.error), DONE]
        return super().feed(event)

    def end(self) -> list[bytes]:
        return [*super().end(), DONE]


def render_stream(
    events: AsyncIterator[t.StreamEvent], request: t.ChatRequest
) -> AsyncIterator[bytes]:
    """Responses SSE, one event per yielded chunk, as canonical events arrive
    (``Rendering``)."""
    return render_events(Rendering(request), events)


# The terminal event of a streamed response (Open Responses: "The terminal event MUST be
# the literal string [DONE]"; the openai SDK stops reading at it).
DONE = b"data: [DONE]\n\n"


# --- errors ------------------------------------------------------------------------------


def render_stream_error(error: errors.GatewayError, sequence_number: int = 0) -> bytes:
    """The Responses ``error`` stream event (code, message, param)."""
    body = common.error_body(_as_gateway_error(error))["error"]
    code = body["code"] or body["type"]
    payload = {
        "type": "error",
        # the openai SDK reads the fields flat; Open Responses nests them in ``error``
        "code": code,
        "message": body["message"],
        "param": body["param"],
        "error": {
            "type": body["type"],
            "code": code,
            "message": body["message"],
            "param": body["param"],
        },
        "sequence_number": sequence_number,
    }
    return sse_bytes(orjson.dumps(payload), "error")


render_error = common.error_body
render_models = common.render_models


def render_count_tokens(input_tokens: int) -> dict[str, Any]:
    """``POST /v1/responses/input_tokens``'s answer (the SDK's InputTokenCountResponse)."""
    return {"object": "response.input_tokens", "input_tokens": input_tokens}


CLIENT = client_dialect(
    globals(),
    "responses",
    "OpenAI Responses",
    stream_renderer=Rendering,
    render_models=render_models,
    render_count_tokens=render_count_tokens,
    renders_hosted=True,
)
