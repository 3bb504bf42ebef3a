"""Anthropic's server tools in the Messages API's own shapes: the tool definitions a
client sends (``web_search_20250305``, ``web_fetch_20250910``, ``code_execution_*``...),
the blocks of an earlier turn it sends back (``server_tool_use`` with its
``web_search_tool_result`` / ``web_fetch_tool_result``), and the blocks the gateway
answers with when it ran the tools itself (``gateway.features.server_tools``).

A search result's ``encrypted_content`` is opaque to the client and comes back with
the history: Anthropic's is its own; the gateway's carries the result's snippet
(``swy1:`` and base64url JSON), so the model reads it again on the next turn. Neither is
a secret: it is what the client was shown."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from gateway.base.errors import InvalidRequest
from gateway.base.types import (
    SearchResult,
    ServerTool,
    ServerToolItem,
    ServerToolKind,
    Text,
    ToolCall,
    ToolResult,
)

# a tool type's prefix -> the kind of server tool (the date after it is the version)
KINDS: dict[str, ServerToolKind] = {
    "web_search_": "web_search",
    "web_fetch_": "web_fetch",
    "code_execution_": "code_execution",
}
# the block types of an earlier turn's server tool calls the gateway reads back
RESULT_BLOCKS = ("web_search_tool_result", "web_fetch_tool_result")
_OURS = "swy1:"


def kind_of(tool_type: str) -> ServerToolKind | None:
    return next((kind for prefix, kind in KINDS.items() if tool_type.startswith(prefix)), None)


def _invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param)


def _strings(item: dict[str, Any], name: str, where: str) -> list[str]:
    value = item.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _invalid(f"{where}.{name}", "Input should be a list of domain names")
    return list(value)


def parse_tool(item: dict[str, Any], where: str) -> ServerTool | None:
    """The server tool a ``tools`` entry declares (None: not a server tool the gateway
    knows: computer use, bash and text editor are the client's own tools)."""
    tool_type = item.get("type")
    kind = kind_of(tool_type) if isinstance(tool_type, str) else None
    if kind is None or not isinstance(tool_type, str):
        return None
    name = item.get("name", kind)
    if not isinstance(name, str) or not name:
        raise _invalid(f"{where}.name", "Input should be a string")
    max_uses = item.get("max_uses")
    if max_uses is not None and (
        not isinstance(max_uses, int) or isinstance(max_uses, bool) or max_uses < 1
    ):
        raise _invalid(f"{where}.max_uses", "Input should be an integer greater than 0")
    allowed = _strings(item, "allowed_domains", where)
    blocked = _strings(item, "blocked_domains", where)
    if allowed and blocked:
        raise _invalid(where, "Use either allowed_domains or blocked_domains, not both")
    return ServerTool(kind, tool_type, name, max_uses, allowed, blocked)


def history_call(block: dict[str, Any], at: str) -> ToolCall | None:
    """An earlier turn's ``server_tool_use`` of web search or fetch as the tool call it
    was (None: another server tool's, which only its vendor reads)."""
    name, call_id, arguments = block.get("name"), block.get("id"), block.get("input")
    if name not in ("web_search", "web_fetch"):
        return None
    if not isinstance(call_id, str) or not call_id:
        raise _invalid(f"{at}.id", "Field required: a string")
    if not isinstance(arguments, dict):
        raise _invalid(f"{at}.input", "Input should be an object")
    return ToolCall(id=call_id, name=str(name), arguments=arguments)


def history_result(block: dict[str, Any], at: str) -> ToolResult:
    """An earlier turn's search or fetch result as the text the model read."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise _invalid(f"{at}.tool_use_id", "Field required: a string")
    content = block.get("content")
    item = ServerToolItem("web_search", call_id, "web_search")
    if block.get("type") == "web_fetch_tool_result":
        item.kind = item.name = "web_fetch"
        if isinstance(content, dict) and content.get("type") == "web_fetch_result":
            item.url = str(content.get("url") or "")
            document = content.get("content")
            if isinstance(document, dict):
                item.title = (
                    document.get("title") if isinstance(document.get("title"), str) else None
                )
                source = document.get("source")
                if isinstance(source, dict) and isinstance(source.get("data"), str):
                    text = source["data"] if source.get("type") == "text" else "(binary document)"
                    item.text = text
        else:
            item.error = _error_code(content)
    elif isinstance(content, list):
        item.results = [_result(r) for r in content if isinstance(r, dict)]
    else:
        item.error = _error_code(content)
    return ToolResult(call_id, [Text(item.for_model())], is_error=item.error is not None)


def _error_code(content: Any) -> str:
    code = content.get("error_code") if isinstance(content, dict) else None
    return code if isinstance(code, str) and code else "unavailable"


def _result(raw: dict[str, Any]) -> SearchResult:
    page_age = raw.get("page_age")
    return SearchResult(
        url=str(raw.get("url") or ""),
        title=str(raw.get("title") or ""),
        snippet=unpack_snippet(raw.get("encrypted_content")),
        page_age=page_age if isinstance(page_age, str) else None,
    )


def pack_snippet(snippet: str) -> str:
    return _OURS + base64.urlsafe_b64encode(orjson.dumps({"s": snippet})).decode()


def unpack_snippet(value: Any) -> str:
    """The snippet the gateway packed into ``encrypted_content`` ("" for Anthropic's own,
    which only Anthropic reads)."""
    if not isinstance(value, str) or not value.startswith(_OURS):
        return ""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(value[len(_OURS) :].encode()))
    except (binascii.Error, ValueError):
        return ""
    snippet = data.get("s") if isinstance(data, dict) else None
    return snippet if isinstance(snippet, str) else ""


def use_block(item: ServerToolItem) -> dict[str, Any]:
    return {"type": "server_tool_use", "id": item.id, "name": item.name, "input": item.input}


def result_block(item: ServerToolItem) -> dict[str, Any]:
    """The ``web_search_tool_result`` / ``web_fetch_tool_result`` of one call."""
    content: Any
    if item.kind == "web_search":
        if item.error is not None:
            content = {"type": "web_search_tool_result_error", "error_code": item.error}
        else:
            content = [
                {
                    "type": "web_search_result",
                    "url": r.url,
                    "title": r.title,
                    "encrypted_content": pack_snippet(r.snippet),
                    "page_age": r.page_age,
                }
                for r in item.results
            ]
        return {"type": "web_search_tool_result", "tool_use_id": item.id, "content": content}
    if item.error is not None:
        content = {"type": "web_fetch_tool_result_error", "error_code": item.error}
    else:
        content = {
            "type": "web_fetch_result",
            "url": item.url,
            "retrieved_at": item.retrieved_at,
            "content": {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": item.text},
                "title": item.title,
            },
        }
    return {"type": "web_fetch_tool_result", "tool_use_id": item.id, "content": content}


def blocks(item: ServerToolItem) -> list[dict[str, Any]]:
    return [use_block(item), result_block(item)]
