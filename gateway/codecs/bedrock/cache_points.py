"""Prompt-cache breakpoints as Converse ``cachePoint`` blocks.

A canonical breakpoint (``cache`` on a part, tool or system block: ``gateway/base/types``)
becomes ``{"cachePoint": {"type": "default"}}`` right after the block it marks, in
``system``, ``toolConfig.tools`` or a message's ``content`` (where Converse takes
them). A one-hour breakpoint says ``"ttl": "1h"``; five minutes is the default and goes
unsaid. Only models Bedrock caches for take them (Claude; Amazon Nova, not on tools):
another model would refuse the block, so it is left out there. The limit of four per
request is applied before rendering (``gateway.core.prompt_cache``).

Facts: AWS Bedrock user guide, "Prompt caching for faster model inference", and the
``CachePointBlock`` API reference.
"""

from __future__ import annotations

from typing import Any

from gateway.base.types import Part, Text, Tool, ToolResult


def supported(model: str) -> bool:
    """Whether Bedrock caches prompts for ``model`` (an id, a cross-region profile such
    as ``us.anthropic.claude-...`` or an ARN naming one)."""
    name = model.lower()
    return "anthropic." in name or "claude" in name or "amazon.nova" in name


def tools_supported(model: str) -> bool:
    """Nova caches system and messages only; Claude caches tools too."""
    return supported(model) and "nova" not in model.lower()


def point(ttl: str) -> dict[str, Any]:
    mark: dict[str, Any] = {"type": "default"}
    if ttl == "1h":
        mark["ttl"] = ttl
    return {"cachePoint": mark}


def of_part(part: Part) -> str | None:
    """A part's breakpoint; a tool result's also when one of its inner parts has it
    (Converse has no breakpoint inside a ``toolResult``)."""
    cache = getattr(part, "cache", None)
    if cache is None and isinstance(part, ToolResult):
        cache = next((inner.cache for inner in part.content if inner.cache), None)
    return cache


def system(blocks: list[dict[str, Any]], marked: list[Text]) -> list[dict[str, Any]]:
    """``blocks`` (the system texts, the request's own first, in order) with a
    cachePoint after each one its ``marked`` Text has a breakpoint on."""
    out: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        out.append(block)
        ttl = marked[i].cache if i < len(marked) else None
        if ttl:
            out.append(point(ttl))
    return out


def mark_tools(config: dict[str, Any] | None, tools: list[Tool]) -> None:
    """Put a cachePoint after each declared tool that has a breakpoint."""
    if config is None:
        return
    ttl_of = {tool.name: tool.cache for tool in tools if tool.cache}
    if not ttl_of:
        return
    out: list[dict[str, Any]] = []
    for spec in config["tools"]:
        out.append(spec)
        ttl = ttl_of.get(spec.get("toolSpec", {}).get("name"))
        if ttl:
            out.append(point(ttl))
    config["tools"] = out
