"""Names of registered MCP servers' tools on ``/mcp``, and the grants of virtual keys.

The grants (what ``mcp_allowed`` opens) are decided in ``rules.py``
(``mcp.server.use``, ``mcp.tool.call``, ``mcp.resource.read``, ``mcp.prompt.get``), the
one place ``/mcp``, hosted tools and route-attached servers ask; the helpers here are
shorthands for them. Names on ``/mcp`` are ``server__tool``: server names never hold
``__`` (``models.MCP_SERVER_NAME``), so the first ``__`` splits a name unambiguously,
and tool names may hold anything."""

from __future__ import annotations

from gateway.access.authorization import decide
from gateway.base.entries import KeyEntry
from gateway.features.mcp.rules import SEPARATOR

__all__ = [
    "SEPARATOR",
    "allows_prompts",
    "allows_resources",
    "allows_server",
    "allows_tool",
    "qualified",
    "split",
]


def qualified(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{tool}"


def split(name: str) -> tuple[str, str] | None:
    """``server__tool`` -> (server, tool), or None when there is no separator."""
    server, sep, tool = name.partition(SEPARATOR)
    if not sep or not server or not tool:
        return None
    return server, tool


def allows_server(key: KeyEntry, server: str) -> bool:
    """Whether the key may see the server at all (all of it or some of its tools)."""
    return decide(key, "mcp.server.use", server).allowed


def allows_tool(key: KeyEntry, server: str, tool: str) -> bool:
    return decide(key, "mcp.tool.call", (server, tool)).allowed


def allows_resources(key: KeyEntry, server: str) -> bool:
    return decide(key, "mcp.resource.read", server).allowed


def allows_prompts(key: KeyEntry, server: str) -> bool:
    return decide(key, "mcp.prompt.get", server).allowed
