"""The Anthropic Messages wire format, inbound half: what Claude Code and the ``anthropic`` SDK
send to ``POST /v1/messages``, and the bodies and SSE events they expect back.

Field errors name the field the way Anthropic does (``messages.1.content.0.type``).
Fields the canonical request cannot hold go to ``request.extra`` (top level) and their
names to ``request.unmapped`` so that the service can drop or reject them when the
upstream speaks another dialect; same-dialect passthrough keeps them untouched.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.base import documents
from gateway.base import types as t
from gateway.base.errors import GatewayError, InvalidRequest, UpstreamError
from gateway.base.streaming import sse_bytes
from gateway.base.types import (
    ErrorEvent,
    PartStart,
    PartStop,
    Start,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)
from gateway.codecs.anthropic import claude_code, maps, versions, web_tools
from gateway.codecs.anthropic.maps import stop_reason, usage_body
from gateway.codecs.base import choices_finish_reason, gateway_status, render_events
from gateway.codecs.inbound_common import client_dialect

log = logging.getLogger(__name__)

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
# message_start states the input tokens before the upstream reports them (Claude Code
# tracks its context with it): a translated stream needs the gateway's own count
# (``ChatRequest.prompt_tokens``), which the service computes for dialects that say so.
COUNTS_PROMPT_IN_STREAM = True

# Top-level fields the canonical request models; everything else is extra + unmapped.
_MODELED = {
    "model",
    "max_tokens",
    "system",
    "messages",
    "tools",
    "tool_choice",
    "thinking",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
    "mcp_servers",
}

# Structured-output fields: mapped to ``response_format``, kept in ``extra`` for
# same-dialect passthrough.
_OUTPUT_FIELDS = {"output_config", "output_format"}

# Content blocks Anthropic defines that no other dialect can carry: kept by name in
# ``unmapped`` (passthrough forwards them), left out of the canonical messages.
_UNMAPPED_BLOCKS = {
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "container_upload",
    "tool_reference",
}

_TOOL_KEYS = {"name", "description", "input_schema", "type", "strict"}

# --- parsing ---------------------------------------------------------------------------


class _Parser:
    """One request's parse: collects ``unmapped`` names as it walks the body."""

    def __init__(self, assistant_documents: bool = True) -> None:
        # what the client's API version takes in an assistant turn (versions.py)
        self.assistant_documents = assistant_documents
        self.unmapped: list[str] = []
        self.cache_marks: list[str] = []  # where cache_control was, as Anthropic names it
        # mcp_toolset tools by server name: (enabled by default, per-tool configs)
        self.toolsets: dict[str, tuple[bool, dict[str, Any]]] = {}
        self.server_tools: list[t.ServerTool] = []  # web search, fetch, code execution

    def cache_ttl(self, block: dict[str, Any], where: str) -> t.CacheTTL | None:
        ttl = _cache_ttl(block, where)
        if ttl is not None:
            self.cache_marks.append(where)
        return ttl

    def note(self, name: str) -> None:
        if name not in self.unmapped:
            self.unmapped.append(name)

    def text_block(self, block: dict[str, Any], where: str) -> t.Text:
        text = block.get("text")
        if not isinstance(text, str):
            raise _invalid(f"{where}.text", "Field required: a string")
        if block.get("citations"):
            self.note("citations")
        return t.Text(text, cache=self.cache_ttl(block, where))

    def image_block(self, block: dict[str, Any], where: str) -> t.Image:
        cache = self.cache_ttl(block, where)
        source = block.get("source")
        if not isinstance(source, dict):
            raise _invalid(f"{where}.source", "Field required: an object")
        kind = source.get("type")
        if kind == "base64":
            data, media_type = source.get("data"), source.get("media_type")
            if not isinstance(data, str):
                raise _invalid(f"{where}.source.data", "Field required: a base64 string")
            if not isinstance(media_type, str):
                raise _invalid(f"{where}.source.media_type", "Field required: a string")
            return t.Image(data=data, media_type=media_type, cache=cache)
        if kind == "url":
            url = source.get("url")
            if not isinstance(url, str):
                raise _invalid(f"{where}.source.url", "Field required: a string")
            return t.Image(url=url, cache=cache)
        raise _invalid(f"{where}.source.type", "Input should be 'base64' or 'url'")

    def document_block(
        self, block: dict[str, Any], where: str
    ) -> list[t.Text | t.Image | t.Document]:
        """A ``document`` block: base64 (PDF), text, url (PDF) or content (text and
        image blocks) source. ``title`` names it; ``context`` goes before it as text;
        ``citations`` is a hint other dialects cannot carry; ``cache_control`` marks
        the last part it becomes."""
        cache = self.cache_ttl(block, where)
        if isinstance(block.get("citations"), dict) and block["citations"].get("enabled"):
            self.note("citations")
        title = block.get("title")
        if title is not None and not isinstance(title, str):
            raise _invalid(f"{where}.title", "Input should be a string")
        context = block.get("context")
        if context is not None and not isinstance(context, str):
            raise _invalid(f"{where}.context", "Input should be a string")
        out: list[t.Text | t.Image | t.Document] = [t.Text(context)] if context else []
        source = block.get("source")
        if not isinstance(source, dict):
            raise _invalid(f"{where}.source", "Field required: an object")
        kind, at = source.get("type"), f"{where}.source"
        if kind in ("base64", "text"):
            data, media_type = source.get("data"), source.get("media_type")
            if not isinstance(data, str):
                raise _invalid(f"{at}.data", "Field required: a string")
            if media_type is not None and not isinstance(media_type, str):
                raise _invalid(f"{at}.media_type", "Input should be a string")
            if kind == "text":
                out.append(
                    t.Document(media_type=media_type or "text/plain", text=data, filename=title)
                )
            else:
                out.append(documents.from_base64(data, media_type or documents.PDF, title))
        elif kind == "url":
            url = source.get("url")
            if not isinstance(url, str) or not url:
                raise _invalid(f"{at}.url", "Field required: a string")
            out.append(t.Document(media_type=documents.PDF, url=url, filename=title))
        elif kind == "content":
            content = source.get("content")
            if isinstance(content, str):
                out.append(t.Document(media_type="text/plain", text=content, filename=title))
            elif isinstance(content, list):
                texts: list[str] = []
                for k, item in enumerate(content):
                    item_at = f"{at}.content.{k}"
                    item_kind = item.get("type") if isinstance(item, dict) else None
                    if item_kind == "text":
                        texts.append(self.text_block(item, item_at).text)
                    elif item_kind == "image":
                        out.append(self.image_block(item, item_at))
                    else:
                        raise _invalid(f"{item_at}.type", "Input should be 'text' or 'image'")
                if texts:
                    text = "\n\n".join(texts)
                    out.append(t.Document(media_type="text/plain", text=text, filename=title))
            else:
                raise _invalid(f"{at}.content", "Input should be a string or a list of blocks")
        elif kind == "file":
            raise _invalid(
                f"{at}.file_id",
                "Files API sources are not supported (no files are stored); send the "
                "document inline as a base64 source",
            )
        else:
            raise _invalid(f"{at}.type", "Input should be 'base64', 'text', 'url' or 'content'")
        if cache and out:
            out[-1].cache = cache
        return out

    def system(self, value: Any) -> list[t.Text]:
        if value is None:
            return []
        if isinstance(value, str):
            return [t.Text(value)] if value else []
        if not isinstance(value, list):
            raise _invalid("system", "Input should be a string or a list of text blocks")
        parts = []
        for i, block in enumerate(value):
            where = f"system.{i}"
            if not isinstance(block, dict) or block.get("type") != "text":
                raise _invalid(f"{where}.type", "Input should be 'text'")
            parts.append(self.text_block(block, where))
        return parts

    def content(self, value: Any, role: str, index: int) -> list[t.Part]:
        """The content of ``messages[index]``. An agent's history is hundreds of blocks:
        the common ones (``_plain_block``) are read without writing their parameter
        path, which only an error or a cache breakpoint reads."""
        if isinstance(value, str):
            return [t.Text(value)]
        where = f"messages.{index}.content"
        if not isinstance(value, list):
            raise _invalid(where, "Input should be a string or a list of content blocks")
        parts: list[t.Part] = []
        for j, block in enumerate(value):
            plain = _plain_block(block, role)
            if plain is not None:
                parts.append(plain)
                continue
            at = f"{where}.{j}"
            if not isinstance(block, dict):
                raise _invalid(at, "Input should be a content block object")
            kind = block.get("type")
            if not isinstance(kind, str):
                raise _invalid(f"{at}.type", "Field required: a string")
            if role == "system" and kind != "text":
                raise _invalid(f"{at}.type", "System messages accept text blocks only")
            if kind == "document":
                if role == "assistant" and not self.assistant_documents:  # as the API does
                    raise _invalid(f"{at}.type", "Documents go in user turns")
                parts.extend(self.document_block(block, at))
                continue
            part = self.block(block, kind, at)
            if part is not None:
                parts.append(part)
        return parts

    def block(self, block: dict[str, Any], kind: Any, at: str) -> t.Part | None:
        if kind == "text":
            return self.text_block(block, at)
        if kind == "image":
            return self.image_block(block, at)
        if kind == "tool_use":
            return self.tool_use(block, at)
        if kind == "tool_result" or kind == "mcp_tool_result":
            return self.tool_result(block, at)
        if kind == "mcp_tool_use":  # a hosted MCP call of an earlier turn (mcp/hosted)
            server = block.get("server_name")
            if not isinstance(server, str) or not server:
                raise _invalid(f"{at}.server_name", "Field required: a string")
            call = self.tool_use(block, at)
            call.name = t.mcp_tool_name(server, call.name)
            return call
        if kind == "thinking":
            text, signature = block.get("thinking"), block.get("signature")
            if not isinstance(text, str):
                raise _invalid(f"{at}.thinking", "Field required: a string")
            if signature is not None and not isinstance(signature, str):
                raise _invalid(f"{at}.signature", "Input should be a string")
            return t.Thinking(text=text, signature=signature)
        if kind == "redacted_thinking":
            data = block.get("data")
            if not isinstance(data, str):
                raise _invalid(f"{at}.data", "Field required: a string")
            return t.Thinking(redacted=data)
        if kind == "server_tool_use":  # an earlier turn's web search or fetch: its call
            earlier = web_tools.history_call(block, at)
            if earlier is not None:
                return earlier
        elif kind in web_tools.RESULT_BLOCKS:  # and its result, as the model read it
            return web_tools.history_result(block, at)
        if kind in _UNMAPPED_BLOCKS:
            self.note(kind)
            return None
        raise _invalid(f"{at}.type", f"Unknown content block type {kind!r}")

    def toolset(self, item: dict[str, Any], where: str) -> None:
        """An ``mcp_toolset`` (the ``mcp-client-2025-11-20`` beta): which tools of one
        of ``mcp_servers`` the model gets (``default_config.enabled``, per-tool
        ``configs``); its ``allowed_tools`` list of the older beta is read too."""
        server = item.get("mcp_server_name")
        if not isinstance(server, str) or not server:
            raise _invalid(f"{where}.mcp_server_name", "Field required: a string")
        default = item.get("default_config") or {}
        configs = item.get("configs") or {}
        if not isinstance(default, dict) or not isinstance(configs, dict):
            raise _invalid(f"{where}.configs", "Input should be an object")
        self.toolsets[server] = (default.get("enabled", True) is not False, configs)

    def mcp_servers(self, value: Any) -> list[t.McpServer]:
        """``mcp_servers``: ``{type: url, url, name, authorization_token}``; a ``url``
        that is not http(s) names a server of the gateway's registry."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise _invalid("mcp_servers", "Input should be a list of MCP servers")
        servers = []
        for i, item in enumerate(value):
            where = f"mcp_servers.{i}"
            if not isinstance(item, dict):
                raise _invalid(where, "Input should be an MCP server object")
            name, url = item.get("name"), item.get("url")
            if not isinstance(name, str) or not name:
                raise _invalid(f"{where}.name", "Field required: a string")
            if not isinstance(url, str) or not url:
                raise _invalid(f"{where}.url", "Field required: a string")
            server = t.McpServer(label=name, approval="never")
            if url.startswith(("http://", "https://")):
                server.url = url
            else:
                server.registered = url
            token = item.get("authorization_token")
            if token is not None:
                if not isinstance(token, str) or any(c in token for c in "\r\n\0"):
                    raise _invalid(
                        f"{where}.authorization_token", "Input should be a string on one line"
                    )
                server.headers["Authorization"] = f"Bearer {token}"
            legacy = item.get("tool_configuration") or {}
            if isinstance(legacy, dict) and isinstance(legacy.get("allowed_tools"), list):
                server.allowed = [str(n) for n in legacy["allowed_tools"]]
            toolset = self.toolsets.pop(name, None)
            if toolset is not None:
                enabled, configs = toolset
                on = [n for n, c in configs.items() if isinstance(c, dict) and c.get("enabled")]
                off = {
                    n
                    for n, c in configs.items()
                    if isinstance(c, dict) and c.get("enabled") is False
                }
                if not enabled:
                    server.allowed = on
                server.denied = sorted(off)
            servers.append(server)
        if self.toolsets:
            name = next(iter(self.toolsets))
            raise _invalid("tools", f"mcp_toolset names unknown MCP server {name!r}")
        return servers

    def tool_use(self, block: dict[str, Any], at: str) -> t.ToolCall:
        call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
        if not isinstance(call_id, str) or not call_id:
            raise _invalid(f"{at}.id", "Field required: a string")
        if not isinstance(name, str) or not name:
            raise _invalid(f"{at}.name", "Field required: a string")
        if not isinstance(arguments, dict):
            raise _invalid(f"{at}.input", "Input should be an object")
        return t.ToolCall(
            id=call_id, name=name, arguments=arguments, cache=self.cache_ttl(block, at)
        )

    def tool_result(self, block: dict[str, Any], at: str) -> t.ToolResult:
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise _invalid(f"{at}.tool_use_id", "Field required: a string")
        is_error = block.get("is_error", False)
        if not isinstance(is_error, bool):
            raise _invalid(f"{at}.is_error", "Input should be a boolean")
        cache = self.cache_ttl(block, at)
        raw = block.get("content")
        content: list[t.Text | t.Image | t.Document] = []
        if isinstance(raw, str):
            content = [t.Text(raw)] if raw else []
        elif isinstance(raw, list):
            for k, item in enumerate(raw):
                where = f"{at}.content.{k}"
                kind = item.get("type") if isinstance(item, dict) else None
                if not isinstance(kind, str):
                    raise _invalid(f"{where}.type", "Input should be 'text' or 'image'")
                if kind == "text":
                    content.append(self.text_block(item, where))
                elif kind == "image":
                    content.append(self.image_block(item, where))
                elif kind == "document":
                    content.extend(self.document_block(item, where))
                elif kind == "tool_reference":  # a tool search's find (Claude Code)
                    content.append(_tool_reference(item, where))
                elif kind in _UNMAPPED_BLOCKS:
                    self.note(kind)
                else:
                    raise _invalid(f"{where}.type", "Input should be 'text' or 'image'")
        elif raw is not None:
            raise _invalid(f"{at}.content", "Input should be a string or a list of blocks")
        return t.ToolResult(call_id=call_id, content=content, is_error=is_error, cache=cache)

    def messages(self, value: Any) -> list[t.Message]:
        if not isinstance(value, list):
            raise _invalid("messages", "Field required: a list of messages")
        if not value:
            raise _invalid("messages", "At least one message is required")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise _invalid(f"messages.{i}", "Input should be a message object")
            role = item.get("role")
            if role not in ("user", "assistant", "system"):
                raise _invalid(
                    f"messages.{i}.role", "Input should be 'user', 'assistant' or 'system'"
                )
            if "content" not in item:
                raise _invalid(f"messages.{i}.content", "Field required")
            if role == "system" and "cache_control" in item:
                self.note("cache_control")
            parts = self.content(item["content"], role, i)
            out.extend(_split_results(role, parts))
        return out

    def tools(self, value: Any) -> list[t.Tool]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _invalid("tools", "Input should be a list of tools")
        tools = []
        for i, item in enumerate(value):
            where = f"tools.{i}"
            if not isinstance(item, dict):
                raise _invalid(where, "Input should be a tool object")
            kind = item.get("type")
            if kind == "mcp_toolset":
                self.toolset(item, where)
                continue
            if kind not in (None, "custom"):
                # Server tools (web_search_*, bash_*, text_editor_*, ...) run at Anthropic;
                # web search and fetch also by the gateway (gateway.features.server_tools),
                # which takes the note back when it runs them
                server_tool = web_tools.parse_tool(item, where)
                if server_tool is not None:
                    self.server_tools.append(server_tool)
                self.note(str(kind))
                continue
            name, schema = item.get("name"), item.get("input_schema")
            if not isinstance(name, str) or not name:
                raise _invalid(f"{where}.name", "Field required: a string")
            if not isinstance(schema, dict):
                raise _invalid(f"{where}.input_schema", "Field required: a JSON schema object")
            description = item.get("description")
            if description is not None and not isinstance(description, str):
                raise _invalid(f"{where}.description", "Input should be a string")
            strict = item.get("strict")
            if strict is not None and not isinstance(strict, bool):
                raise _invalid(f"{where}.strict", "Input should be a boolean")
            for key in item.keys() - _TOOL_KEYS - {"cache_control"}:
                self.note(key)
            if strict:
                strict = closed_schema(schema)
            tool = t.Tool(name=name, description=description, parameters=schema, strict=strict)
            tool.cache = self.cache_ttl(item, where)
            tools.append(tool)
        return tools


def _plain_block(block: Any, role: str) -> t.Part | None:
    """A content block of the shapes an agent's history is made of (text; a tool call; a
    tool result whose content is text), valid and without a cache breakpoint, read
    without its parameter path; None for any other (``ParseState.content`` reads it
    the long way, with the same result or the error naming its path)."""
    if type(block) is not dict or block.get("cache_control") is not None:
        return None
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if type(text) is str and not block.get("citations"):
            return t.Text(text)
        return None
    if role == "system":
        return None  # (text blocks only)
    if kind == "tool_use":
        call_id: Any = block.get("id")
        name: Any = block.get("name")
        arguments: Any = block.get("input")
        named = type(call_id) is str and call_id and type(name) is str and name
        if named and type(arguments) is dict:
            return t.ToolCall(id=call_id, name=name, arguments=arguments)
        return None
    if kind == "tool_result":
        call_id, is_error = block.get("tool_use_id"), block.get("is_error", False)
        if type(call_id) is not str or not call_id or type(is_error) is not bool:
            return None
        raw = block.get("content")
        if type(raw) is str:
            return t.ToolResult(
                call_id=call_id, content=[t.Text(raw)] if raw else [], is_error=is_error
            )
        if raw is None:
            return t.ToolResult(call_id=call_id, content=[], is_error=is_error)
        if type(raw) is list and all(map(_plain_text, raw)):
            content: list[t.Text | t.Image | t.Document] = [t.Text(item["text"]) for item in raw]
            return t.ToolResult(call_id=call_id, content=content, is_error=is_error)
    return None


def _scan(value: Any) -> tuple[t.MessagesDigest, list[str], list[str]] | None:
    """The digest, the cache marks and the tool calls' arguments as JSON (what the
    estimate counts and a guardrail reads, in order) of ``messages`` in the shape an
    agent sends (user and assistant turns of texts, tool calls and tool results of texts;
    cache breakpoints on blocks), without building the canonical messages; None for any
    other shape (media, thinking, a system turn, a block ``unmapped``, an error to
    raise), which ``_Parser.messages`` parses at once. Each turn is one canonical
    message, and the count and tokens are what the parsed list gives
    ``tokens.estimate_tokens`` (a test holds them and the marks equal to the eager
    parse's)."""
    if type(value) is not list or not value:
        return None
    tokens = 0
    marks: list[str] = []
    written: list[str] = []
    for i, item in enumerate(value):
        if type(item) is not dict:
            return None
        role, content = item.get("role"), item.get("content")
        if role != "user" and role != "assistant":
            return None
        if type(content) is str:
            tokens += (len(content) + 3) // 4
            continue
        if type(content) is not list:
            return None
        for j, block in enumerate(content):
            size = _plain_tokens(block, role, written)
            if size is None:
                return None
            tokens += size
            if block.get("cache_control") is not None:
                _cache_ttl(block, f"messages.{i}.content.{j}")  # (raises as the parse does)
                marks.append(f"messages.{i}.content.{j}")
    return t.MessagesDigest(count=len(value), text_tokens=tokens), marks, written


def _plain_tokens(block: Any, role: str, written: list[str]) -> int | None:
    """A block's tokens as ``estimate_tokens`` counts its parsed part, for the blocks
    ``_plain_block`` reads (whatever their cache breakpoint); None for any other. A tool
    call's arguments as JSON are appended to ``written``."""
    if type(block) is not dict:
        return None
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if type(text) is not str or block.get("citations"):
            return None
        return (len(text) + 3) // 4
    if kind == "tool_use":
        call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
        if type(call_id) is not str or not call_id or type(name) is not str or not name:
            return None
        if type(arguments) is not dict:
            return None
        try:
            json = orjson.dumps(arguments).decode()
        except TypeError:  # an object orjson cannot write (a body made in code)
            return None
        written.append(json)
        return (len(name) + 3) // 4 + (len(json) + 3) // 4
    if kind != "tool_result" or role != "user":  # (an assistant turn's results split it)
        return None
    call_id, is_error = block.get("tool_use_id"), block.get("is_error", False)
    if type(call_id) is not str or not call_id or type(is_error) is not bool:
        return None
    raw = block.get("content")
    if type(raw) is str:
        return (len(raw) + 3) // 4
    if raw is None:
        return 0
    if type(raw) is list and all(map(_plain_text, raw)):
        return sum((len(item["text"]) + 3) // 4 for item in raw)
    return None


def _built_messages(value: list[Any]) -> list[t.Message]:
    """The canonical messages of turns ``_scan`` took, as ``_Parser.messages`` makes
    them (a test holds them equal) without its checks, which the scan made."""
    out: list[t.Message] = []
    for item in value:
        content = item["content"]
        if type(content) is str:
            parts: list[t.Part] = [t.Text(content)]
        else:
            parts = [_built_block(block) for block in content]
        out.append(t.Message(role=item["role"], parts=parts))
    return out


def _built_block(block: dict[str, Any]) -> t.Part:
    control = block.get("cache_control")
    cache: t.CacheTTL | None = None if control is None else control.get("ttl", "5m")
    kind = block["type"]
    if kind == "text":
        return t.Text(block["text"], cache=cache)
    if kind == "tool_use":
        return t.ToolCall(id=block["id"], name=block["name"], arguments=block["input"], cache=cache)
    raw = block.get("content")
    content: list[t.Text | t.Image | t.Document] = []
    if type(raw) is str:
        content = [t.Text(raw)] if raw else []
    elif raw is not None:
        content = [t.Text(inner["text"]) for inner in raw]
    is_error = block.get("is_error", False)
    return t.ToolResult(
        call_id=block["tool_use_id"], content=content, is_error=is_error, cache=cache
    )


def _message_texts(value: list[Any], written: list[str]) -> list[str]:
    """The texts a guardrail reads of messages ``_scan`` took, in the order
    ``guardrails.texts.request_slots`` reads the parsed ones: texts, tool results'
    texts, tool calls' arguments as JSON (``written``: the scan's, in order); the empty
    ones left out, as the slots leave them (a tool call's JSON is never empty)."""
    out: list[str] = []
    append = out.append
    arguments = iter(written)
    for item in value:
        content = item["content"]
        if type(content) is str:
            if content:
                append(content)
            continue
        for block in content:
            kind = block["type"]
            if kind == "text":
                text = block["text"]
                if text:
                    append(text)
            elif kind == "tool_use":
                append(next(arguments))
            else:
                raw = block.get("content")
                if type(raw) is str:
                    if raw:
                        append(raw)
                elif raw:
                    out += [text for inner in raw if (text := inner["text"])]
    return out


def _chat_messages(value: list[Any], written: list[str]) -> list[dict[str, Any]]:
    """Messages ``_scan`` took as ``codecs.openai_chat.outbound`` writes their built
    ones (a test holds the bodies equal byte for byte), in one pass over the wire: an
    assistant turn's texts joined, its tool calls with their arguments as the scan
    wrote them (``written``, in order); a user turn's tool results as one ``tool``
    message a call id, then its texts joined."""
    out: list[dict[str, Any]] = []
    append = out.append
    arguments = iter(written)
    for item in value:
        content = item["content"]
        if type(content) is str:
            append({"role": item["role"], "content": content})
            continue
        texts: list[str] = []
        if item["role"] == "assistant":
            calls = []
            for block in content:
                if block["type"] == "text":
                    texts.append(block["text"])
                else:  # (an assistant turn's blocks are texts and tool calls)
                    function = {"name": block["name"], "arguments": next(arguments)}
                    calls.append({"id": block["id"], "type": "function", "function": function})
            text = "\n\n".join(texts)
            if calls:
                append({"role": "assistant", "content": text or None, "tool_calls": calls})
            else:
                append({"role": "assistant", "content": text})
            continue
        if len(content) == 1 and content[0]["type"] == "tool_result":  # (a tool's answer)
            block = content[0]
            result = _result_text(block.get("content"))
            if not result and block.get("is_error", False):
                result = "error"
            append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": result})
            continue
        by_id: dict[str, list[str]] = {}
        for block in content:
            kind = block["type"]
            if kind == "text":
                texts.append(block["text"])
            elif kind == "tool_use":
                next(arguments)  # (a user turn's tool call is not written)
            else:
                result = _result_text(block.get("content"))
                if not result and block.get("is_error", False):
                    result = "error"
                by_id.setdefault(block["tool_use_id"], []).append(result)
        for call_id, results in by_id.items():
            append({"role": "tool", "tool_call_id": call_id, "content": "\n\n".join(results)})
        if texts:
            append({"role": "user", "content": "\n\n".join(texts)})
    return out


def _result_text(raw: Any) -> str:
    """A plain tool result's content (text, texts or none) as one text."""
    if type(raw) is str:
        return raw
    if raw is None:
        return ""
    return "\n\n".join([inner["text"] for inner in raw])


def _turns_from_end(value: list[Any]) -> Iterator[t.Turn]:
    """Each turn ``_scan`` took, the last first, as the reasoning ledger reads its built
    message: one canonical message a turn, of no reasoning (the scan takes no thinking)."""
    for index in range(len(value) - 1, -1, -1):
        item = value[index]
        content = item["content"]
        if type(content) is str:
            yield index, item["role"], [], False, False
            continue
        calls: list[str] = []
        results = False
        for block in content:
            kind = block["type"]
            if kind == "tool_use":
                calls.append(block["id"])
            elif kind == "tool_result":
                results = True
        yield index, item["role"], calls, results, False


def _tool_reference(item: dict[str, Any], where: str) -> t.Text:
    """A ``tool_reference`` in a tool result (what a tool search found: the tool is
    loaded for the next turn) as text naming the tool, so an upstream of another
    format reads which tool it may call now instead of an empty result."""
    name = item.get("tool_name")
    if not isinstance(name, str) or not name:
        raise _invalid(f"{where}.tool_name", "Field required: a string")
    return t.Text(f"Tool {name} is loaded and may be called.")


def _plain_text(item: Any) -> bool:
    """A tool result's text item that ``_plain_block`` may read as is."""
    return (
        type(item) is dict
        and item.get("type") == "text"
        and type(item.get("text")) is str
        and not item.get("citations")
        and item.get("cache_control") is None
    )


def _split_results(role: str, parts: list[t.Part]) -> list[t.Message]:
    """A turn as canonical messages. Hosted MCP results (``mcp_tool_result``) sit in
    the assistant's own turn; canonically a tool's result is the user's, so the turn
    splits around them: assistant (the call), user (its result), assistant (the rest)."""
    if role != "assistant" or not any(isinstance(p, t.ToolResult) for p in parts):
        return [t.Message(role=role, parts=parts)]  # type: ignore[arg-type]
    out: list[t.Message] = []
    for part in parts:
        speaker: t.Role = "user" if isinstance(part, t.ToolResult) else "assistant"
        if out and out[-1].role == speaker:
            out[-1].parts.append(part)
        else:
            out.append(t.Message(role=speaker, parts=[part]))
    return out


def _invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param)


_PROMPT_ORDER = {"tools": 0, "system": 1}  # then messages: the order the prompt is cached in


def _prompt_order(where: str) -> int:
    return _PROMPT_ORDER.get(where.split(".", 1)[0], 2)


def _cache_ttl(block: dict[str, Any], where: str) -> t.CacheTTL | None:
    """A block's ``cache_control`` as a canonical breakpoint: its TTL, ``5m`` unless
    it says ``1h``; None when the block has none. Validated as Anthropic does."""
    control = block.get("cache_control")
    if control is None:
        return None
    at = f"{where}.cache_control"
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise _invalid(f"{at}.type", "Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl == "5m" or ttl == "1h":
        return ttl  # type: ignore[no-any-return]  # narrowed to the literal by the test
    raise _invalid(f"{at}.ttl", "Input should be '5m' or '1h'")


def _tool_choice(value: Any) -> t.ToolChoice | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("tool_choice", "Input should be an object")
    kind = value.get("type")
    mapping: dict[str, t.ToolChoiceMode] = {
        "auto": "auto",
        "any": "required",
        "tool": "tool",
        "none": "none",
    }
    if not isinstance(kind, str) or kind not in mapping:
        raise _invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    name = value.get("name")
    if kind == "tool" and (not isinstance(name, str) or not name):
        raise _invalid("tool_choice.name", "Field required: a string")
    disable = value.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise _invalid("tool_choice.disable_parallel_tool_use", "Input should be a boolean")
    return t.ToolChoice(
        mode=mapping[kind],
        name=name if kind == "tool" else None,
        parallel=False if disable else None,
    )


def _reasoning(value: Any) -> t.Reasoning | None:
    """``enabled`` carries a budget; ``adaptive`` lets the model decide (a Reasoning
    with neither budget nor effort); ``disabled`` is no reasoning."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("thinking", "Input should be an object")
    kind = value.get("type")
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return t.Reasoning()
    if kind == "enabled":
        budget = value.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise _invalid("thinking.budget_tokens", "Field required: a positive integer")
        return t.Reasoning(budget_tokens=budget)
    raise _invalid("thinking.type", "Input should be 'enabled', 'adaptive' or 'disabled'")


_FORMAT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _output_format(body: dict[str, Any], parser: _Parser) -> t.ResponseFormat | None:
    """Structured output: ``output_config.format`` (or the older beta ``output_format``),
    ``{"type": "json_schema", "schema": {...}}``. Anthropic always constrains decoding to
    the schema, so the canonical format is strict; the schema's ``title`` names it where
    it is a valid OpenAI format name. Other ``output_config`` keys stay unmapped."""
    spec: Any = None
    where = ""
    config = body.get("output_config")
    if config is not None:
        if not isinstance(config, dict):
            raise _invalid("output_config", "Input should be an object")
        if config.keys() - {"format"}:
            parser.note("output_config")
        if config.get("format") is not None:
            spec, where = config["format"], "output_config.format"
    if spec is None and body.get("output_format") is not None:
        spec, where = body["output_format"], "output_format"
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise _invalid(where, "Input should be an object")
    if spec.get("type") != "json_schema":
        raise _invalid(f"{where}.type", "Input should be 'json_schema'")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise _invalid(f"{where}.schema", "Field required: a JSON schema object")
    title = schema.get("title")
    name = title if isinstance(title, str) and _FORMAT_NAME.match(title) else None
    return t.ResponseFormat(
        type="json_schema", schema=schema, name=name, strict=closed_schema(schema)
    )


_NOT_STRICT_KEYWORDS = {"allOf", "oneOf", "not", "if", "patternProperties", "dependentRequired"}


def closed_schema(schema: Any) -> bool:
    """Whether ``schema`` meets what strict mode means in the canonical (OpenAI) sense:
    an object at the root, every object closed (``additionalProperties: false``) with all
    its properties required, no keywords OpenAI's strict mode rejects. Anthropic's strict
    also allows optional properties; such a schema is sent as a plain (non-strict) schema
    rather than one an OpenAI upstream would refuse."""
    return isinstance(schema, dict) and schema.get("type") == "object" and _closed(schema)


def _closed(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return isinstance(schema, bool)
    if _NOT_STRICT_KEYWORDS & schema.keys():
        return False
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        properties = properties if isinstance(properties, dict) else {}
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required") or ()) != properties.keys():
            return False
        if not all(_closed(sub) for sub in properties.values()):
            return False
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict) and not all(map(_closed, schema[key].values())):
            return False
    if "items" in schema and not _closed(schema["items"]):
        return False
    variants = schema.get("anyOf")
    return not isinstance(variants, list) or all(_closed(sub) for sub in variants)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(name, "Input should be a number")
    return value


def _messages_fields(parser: _Parser, raw: Any) -> tuple[type[t.ChatRequest], dict[str, Any]]:
    """The request's type and its messages' fields: an agent's turns (``_scan``) are
    built when something reads them (a translation, a guardrail that rewrites), by the
    parse that would have made them now (the scan took only what it parses alike);
    any other body's are parsed now."""
    scanned = _scan(raw)
    if scanned is None:
        return t.ChatRequest, {"messages": parser.messages(raw)}
    digest, marks, written = scanned
    parser.cache_marks += marks
    fields = {
        "build": functools.partial(_built_messages, raw),
        "digest": digest,
        "texts": functools.partial(_message_texts, raw, written),
        "head": lambda count: _built_messages(raw[:count]),
        "turns": functools.partial(_turns_from_end, raw),
        "chat": functools.partial(_chat_messages, raw, written),
    }
    return t.DeferredChatRequest, fields


def parse_request(body: dict[str, Any], headers: Mapping[str, str]) -> t.ChatRequest:
    """Validate an Anthropic Messages body into a canonical ChatRequest."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body should be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model", "Field required: a string")
    if "max_tokens" not in body:
        raise _invalid("max_tokens", "Field required")
    max_tokens = body["max_tokens"]
    if not _is_int(max_tokens) or max_tokens < 1:  # Anthropic's own bound: x >= 1
        raise _invalid("max_tokens", "Input should be an integer greater than or equal to 1")

    version = headers.get(versions.HEADER) or headers.get("Anthropic-Version") or ""
    # the version the client asked for is the one it is answered by (2023-06-01 takes
    # an assistant turn's documents, 2026-10-21 refuses them); the upstream's is its own
    parser = _Parser(versions.VERSIONS.get(version, versions.DEFAULT).assistant_documents)
    system = parser.system(body.get("system"))
    made, fields = _messages_fields(parser, body.get("messages"))
    tools = parser.tools(body.get("tools"))
    mcp_servers = parser.mcp_servers(body.get("mcp_servers"))

    stop = body.get("stop_sequences")
    if stop is None:
        stop = []
    elif not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _invalid("stop_sequences", "Input should be a list of strings")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _invalid("stream", "Input should be a boolean")
    top_k = body.get("top_k")
    if top_k is not None and not _is_int(top_k):
        raise _invalid("top_k", "Input should be an integer")
    metadata = body.get("metadata")
    user = None
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _invalid("metadata", "Input should be an object")
        user = metadata.get("user_id")
        if user is not None and not isinstance(user, str):
            raise _invalid("metadata.user_id", "Input should be a string")

    response_format = _output_format(body, parser)
    extra = {name: value for name, value in body.items() if name not in _MODELED}
    for name in extra:
        if name not in _OUTPUT_FIELDS:  # _output_format notes what it cannot map
            parser.note(name)

    return made(
        dialect="anthropic",
        model=model,
        system=system,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        top_k=top_k,
        stop=list(stop),
        stream=stream,
        reasoning=_reasoning(body.get("thinking")),
        response_format=response_format,
        user=user,
        end_user=claude_code.end_user(user),
        session=claude_code.session(user),
        extra=extra,
        unmapped=parser.unmapped,
        cache_marks=sorted(parser.cache_marks, key=_prompt_order),
        headers=forwarded_headers(headers),
        mcp_servers=mcp_servers,
        server_tools=parser.server_tools,
        **fields,
    )


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's ``anthropic-version`` / ``anthropic-beta`` headers, lower-cased."""
    found = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in FORWARDED_HEADERS and value:
            found[lowered] = value
    return found


# --- non-streaming response --------------------------------------------------------------

_BLOCK_ORDER = {"thinking": 0, "text": 1, "tool_call": 2}


def message_id(response_id: str) -> str:
    if response_id.startswith("msg_"):
        return response_id
    return "msg_" + (response_id or secrets.token_hex(12))


def _block(part: t.Part) -> dict[str, Any] | None:
    if isinstance(part, t.Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, t.Thinking):
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    if isinstance(part, t.ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    return None


def hosted_blocks(item: t.Hosted) -> list[dict[str, Any]]:
    """A step the gateway ran as its blocks: a server tool call's ``server_tool_use``
    and result, a hosted MCP call's (``mcp_blocks``)."""
    if isinstance(item, t.ServerToolItem):
        return web_tools.blocks(item)
    return mcp_blocks(item)


def mcp_blocks(item: t.McpItem) -> list[dict[str, Any]]:
    """A hosted MCP call as its ``mcp_tool_use`` and ``mcp_tool_result`` blocks, the
    model's text before its calls as a ``text`` block (tool lists and approvals have no
    blocks in Anthropic's MCP connector)."""
    if item.kind == "message":
        return [{"type": "text", "text": item.output or ""}] if item.output else []
    if item.kind != "call":
        return []
    try:
        arguments = orjson.loads(item.arguments or "{}")
    except orjson.JSONDecodeError:
        arguments = {}
    text = item.error if item.error is not None else (item.output or "")
    return [
        {
            "type": "mcp_tool_use",
            "id": item.id,
            "name": item.name,
            "server_name": item.server,
            "input": arguments if isinstance(arguments, dict) else {},
        },
        {
            "type": "mcp_tool_result",
            "tool_use_id": item.id,
            "is_error": item.error is not None,
            "content": [{"type": "text", "text": text}],
        },
    ]


def render_response(response: t.ChatResponse, request: t.ChatRequest) -> dict[str, Any]:
    """The Messages API response body: hosted MCP blocks first, then blocks ordered
    thinking, text, tool_use."""
    parts = sorted(response.parts, key=lambda p: _BLOCK_ORDER.get(p.kind, 3))
    content = [block for item in response.hosted for block in hosted_blocks(item)]
    content += [block for part in parts if (block := _block(part)) is not None]
    has_tools = any(isinstance(p, t.ToolCall) for p in parts)
    reason = stop_reason(response.finish_reason, has_tools)
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": response.stop_sequence if reason == "stop_sequence" else None,
        "usage": usage_body(response.usage),
    }


# --- streaming -----------------------------------------------------------------------------


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return sse_bytes(orjson.dumps(payload), name)


# a text delta to an open block, as ``_event`` renders it, up to the JSON string of its
# text (written without building and encoding its two dicts: most events of a stream)
_TEXT_DELTA_HEAD = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":'
)


class StreamRenderer:
    """Turns canonical events into Anthropic SSE events, one at a time.

    Text and thinking blocks open on their first non-empty delta (an empty block is
    never sent); tool_use blocks open on PartStart (their id and name are known
    there). Block indexes count the blocks actually sent, from 0. Opening a block
    closes any still open (adapters that forget PartStop). ``message_delta`` is held
    until the stream ends, so usage arriving after the finish reason still counts.
    """

    def __init__(self, request: t.ChatRequest) -> None:
        self.request = request
        self.usage = t.Usage()
        self.started = False
        self.finish: t.Finish | None = None
        self.saw_tool_call = False
        self._kinds: dict[int, str] = {}  # canonical index -> part kind
        self._blocks: dict[int, int] = {}  # canonical index -> Anthropic block index
        self._open: list[int] = []  # Anthropic block indexes open, in order
        self._closed: set[int] = set()  # canonical indexes already closed
        self._next_block = 0
        self.ended = False  # an error ended the stream

    # each method returns the SSE chunks to write, in order

    def start(self, event: Start) -> list[bytes]:
        if event.usage:
            self.usage.merge(event.usage)
        return self._message_start(event.id)

    def _message_start(self, response_id: str | None) -> list[bytes]:
        self.started = True
        message: dict[str, Any] = {
            "id": message_id(response_id or ""),
            "type": "message",
            "role": "assistant",
            "model": self.request.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._start_usage(),
        }
        return [_event("message_start", {"type": "message_start", "message": message})]

    def _start_usage(self) -> dict[str, Any]:
        """The upstream's usage so far; when it reported no input (an OpenAI-compatible
        upstream reports usage only at the end), the gateway's own prompt count. Only
        message_start shows that count: message_delta carries the upstream's numbers."""
        body = usage_body(self.usage)
        known = self.usage.input_tokens or self.usage.cache_read_tokens
        if not known and not self.usage.cache_write_tokens and self.request.prompt_tokens:
            body["input_tokens"] = self.request.prompt_tokens
        return body

    def feed(self, event: t.StreamEvent) -> list[bytes]:
        if type(event) is TextDelta and self.started:  # most of a stream: the short way
            index = event.index
            if index in self._blocks and index not in self._closed:
                if not event.text:
                    return []
                number = self._blocks[index]
                return [_TEXT_DELTA_HEAD % number + orjson.dumps(event.text) + b"}}\n\n"]
        if isinstance(event, ErrorEvent):  # ``event: error``, and the stream ends
            self.ended = True
            return [render_stream_error(event.error)]
        out: list[bytes] = (
            [] if self.started or isinstance(event, Start) else self._message_start(None)
        )
        match event:
            case Start():
                out += self.start(event)
            case PartStart(index=i, kind=kind):
                self._kinds[i] = kind
                if kind == "tool_call":
                    self.saw_tool_call = True
                    out += self._open_block(
                        i,
                        {
                            "type": "tool_use",
                            "id": event.tool_id or "toolu_" + secrets.token_hex(12),
                            "name": event.tool_name or "",
                            "input": {},
                        },
                    )
            case TextDelta(index=i, text=text) if text:
                out += self._delta(i, "text", {"type": "text_delta", "text": text})
            case ToolArgsDelta(index=i, fragment=fragment) if fragment:
                out += self._delta(
                    i, "tool_call", {"type": "input_json_delta", "partial_json": fragment}
                )
            case ThinkingDelta(index=i):
                out += self._thinking(i, event)
            case PartStop(index=i):
                out += self._close(i)
            case t.UsageEvent(usage=usage):
                self.usage.merge(usage)
            case t.Finish():
                self.finish = event
            case t.HostedItem(item=item):
                out += self._hosted(item)
        return out

    def _hosted(self, item: t.Hosted) -> list[bytes]:
        """A hosted step's blocks, whole: the ``mcp_tool_use`` or ``server_tool_use``
        (its input as one ``input_json_delta``), then its result block; the model's text
        before its calls as a ``text`` block (one ``text_delta``)."""
        out: list[bytes] = []
        for canonical in [c for c, b in self._blocks.items() if b in self._open]:
            out += self._close(canonical)
        for block in hosted_blocks(item):
            number = self._next_block
            self._next_block += 1
            delta = None
            if block["type"] in ("mcp_tool_use", "server_tool_use"):
                arguments = orjson.dumps(block["input"]).decode()
                delta = {"type": "input_json_delta", "partial_json": arguments}
                block = {**block, "input": {}}
            elif block["type"] == "text":
                delta = {"type": "text_delta", "text": block["text"]}
                block = {**block, "text": ""}
            start = {"type": "content_block_start", "index": number, "content_block": block}
            out.append(_event("content_block_start", start))
            if delta is not None:
                body = {"type": "content_block_delta", "index": number, "delta": delta}
                out.append(_event("content_block_delta", body))
            stop = {"type": "content_block_stop", "index": number}
            out.append(_event("content_block_stop", stop))
        return out

    def _thinking(self, index: int, event: ThinkingDelta) -> list[bytes]:
        out: list[bytes] = []
        if event.redacted and index not in self._blocks:
            out += self._open_block(index, {"type": "redacted_thinking", "data": event.redacted})
            return out
        if event.text:
            out += self._delta(
                index, "thinking", {"type": "thinking_delta", "thinking": event.text}
            )
        if event.signature:
            out += self._delta(
                index, "thinking", {"type": "signature_delta", "signature": event.signature}
            )
        return out

    def _open_block(self, index: int, block: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        for canonical in [c for c, b in self._blocks.items() if b in self._open]:
            out += self._close(canonical)
        number = self._next_block
        self._next_block += 1
        self._blocks[index] = number
        self._open.append(number)
        out.append(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": number, "content_block": block},
            )
        )
        return out

    def _delta(self, index: int, kind: str, delta: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if index in self._closed:
            log.warning("dropping a delta for part %s after it was closed", index)
            return out
        if index not in self._blocks:
            kind = self._kinds.get(index, kind)
            if kind == "tool_call":  # a delta with no PartStart: open with what we have
                self.saw_tool_call = True
                block = {
                    "type": "tool_use",
                    "id": "toolu_" + secrets.token_hex(12),
                    "name": "",
                    "input": {},
                }
            elif kind == "thinking":
                block = {"type": "thinking", "thinking": "", "signature": ""}
            else:
                block = {"type": "text", "text": ""}
            out += self._open_block(index, block)
        number = self._blocks[index]
        out.append(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": number, "delta": delta},
            )
        )
        return out

    def _close(self, index: int) -> list[bytes]:
        number = self._blocks.get(index)
        self._closed.add(index)
        if number is None or number not in self._open:
            return []
        self._open.remove(number)
        return [_event("content_block_stop", {"type": "content_block_stop", "index": number})]

    def end(self) -> list[bytes]:
        """Close what is open, then ``message_delta`` (stop reason, final usage) and
        ``message_stop``."""
        out: list[bytes] = [] if self.started else self._message_start(None)
        for canonical in [c for c, b in self._blocks.items() if b in self._open]:
            out += self._close(canonical)
        finish = self.finish or t.Finish("stop")
        reason = stop_reason(finish.reason, self.saw_tool_call)
        out.append(
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": reason,
                        "stop_sequence": finish.stop_sequence
                        if reason == "stop_sequence"
                        else None,
                    },
                    "usage": usage_body(self.usage),
                },
            )
        )
        out.append(_event("message_stop", {"type": "message_stop"}))
        return out


def render_stream(
    events: AsyncIterator[t.StreamEvent], request: t.ChatRequest
) -> AsyncIterator[bytes]:
    """Anthropic SSE, one event per yielded chunk, as canonical events arrive. An
    ErrorEvent becomes ``event: error`` and ends the stream."""
    return render_events(StreamRenderer(request), events)


# --- errors, models, token counts ----------------------------------------------------------


def render_error(error: GatewayError) -> dict[str, Any]:
    return maps.error_body(error)


def render_stream_error(error: GatewayError) -> bytes:
    return maps.stream_error(error)


def render_models(models: list[t.ModelInfo]) -> dict[str, Any]:
    data = [
        {
            "type": "model",
            "id": model.id,
            "display_name": model.display_name or model.id,
            "created_at": datetime.fromtimestamp(model.created, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }
        for model in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def client_status(error: GatewayError) -> int:
    """An upstream that says it is overloaded (529, or 503) is Anthropic's 529
    ``overloaded_error``, which the Anthropic SDKs and Claude Code retry; otherwise the
    gateway's statuses (502 for an upstream's server failure, 504 for its timeout)."""
    if isinstance(error, UpstreamError) and error.status in (503, 529):
        return 529
    return gateway_status(error)


def finish_reason_of(data: Mapping[str, Any]) -> str:
    """The canonical finish reason of a Messages answer passed through unparsed."""
    if "stop_reason" in data:
        reason = str(data.get("stop_reason") or "")
        return maps.FINISH_REASONS.get(reason, reason)
    return choices_finish_reason(data)


CLIENT = client_dialect(
    globals(),
    "anthropic",
    "Anthropic",
    client_status=client_status,
    render_models=render_models,
    finish_reason_of=finish_reason_of,
    counts_prompt_in_stream=COUNTS_PROMPT_IN_STREAM,
    # Anthropic's own ping event keeps a silent stream open.
    keepalive=b'event: ping\ndata: {"type": "ping"}\n\n',
    request_id_header=b"request-id",
    renders_hosted=True,
    stream_renderer=StreamRenderer,
)
