"""Which MCP servers and tools a virtual key may see and call.

A key's ``mcp_allowed`` lists ``server`` (every tool of it), ``server__tool`` (one tool)
or ``*`` (every server); empty means none. A team's list, when set, bounds its keys':
``KeyEntry.mcp_allowed`` is already the key's list within its team's
(``registry.mcp_within``), so every check here sees both. The master key may use
everything. Names on
``/mcp`` are ``server__tool``: server names never hold ``__`` (``models.MCP_SERVER_NAME``),
so the first ``__`` splits a name unambiguously, and tool names may hold anything."""

from __future__ import annotations

from gateway.policy.registry import KeyEntry

SEPARATOR = "__"


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
    if key.is_master:
        return True
    allowed = key.mcp_allowed
    return (
        "*" in allowed
        or server in allowed
        or any(item.startswith(server + SEPARATOR) for item in allowed)
    )


def tools_allowed(key: KeyEntry, server: str) -> list[str] | None:
    """The tools of ``server`` the key may call: None for all of them, else the ones its
    ``server__tool`` entries name (empty: none)."""
    if key.is_master or "*" in key.mcp_allowed or server in key.mcp_allowed:
        return None
    prefix = server + SEPARATOR
    return [item[len(prefix) :] for item in key.mcp_allowed if item.startswith(prefix)]


def allows_tool(key: KeyEntry, server: str, tool: str) -> bool:
    if key.is_master:
        return True
    allowed = key.mcp_allowed
    return "*" in allowed or server in allowed or qualified(server, tool) in allowed
