"""What a key's (or a team's) MCP allow-list names that does not exist: servers not
registered, and tools a registered server does not list. Saving such a list is allowed
(a server may be registered later), but the person saving it is told: a typo allowed
nothing and said nothing. Servers are asked for their tools only when the list names a
tool of theirs, all at once, within ``TIMEOUT`` seconds; one that does not answer is
named as unchecked rather than guessed about."""

from __future__ import annotations

import asyncio

from gateway.features.mcp import save as mcp_admin
from gateway.models import McpServer

TIMEOUT = 5.0
SEPARATOR = "__"


def split(item: str) -> tuple[str, str]:
    """("server", "tool") of ``server__tool``; ("server", "") of a bare server."""
    server, _, tool = item.partition(SEPARATOR)
    return server, tool


async def warnings(allowed: list[str]) -> list[str]:
    """One sentence per problem, in the list's order of servers (empty: all exist)."""
    wanted: dict[str, set[str]] = {}
    for item in allowed:
        if item == "*":
            continue
        server, tool = split(item)
        wanted.setdefault(server, set()).update([tool] if tool else [])
    if not wanted:
        return []
    servers = {s.name: s async for s in McpServer.objects.filter(name__in=list(wanted))}
    out = [
        f"MCP server {name!r} is not registered: this entry allows nothing until it is"
        for name in wanted
        if name not in servers
    ]
    asked = [name for name, tools in wanted.items() if tools and name in servers]
    probes = await asyncio.gather(
        *(_tools_of(servers[name]) for name in asked), return_exceptions=False
    )
    for name, listed in zip(asked, probes, strict=True):
        if listed is None:
            out.append(f"MCP server {name!r} did not answer: its tools were not checked")
            continue
        for tool in sorted(wanted[name] - listed):
            out.append(f"MCP server {name!r} lists no tool {tool!r}")
    return out


async def _tools_of(server: McpServer) -> set[str] | None:
    try:
        async with asyncio.timeout(TIMEOUT):
            result = await mcp_admin.probe(server)
    except TimeoutError:
        return None
    return {tool.name for tool in result.tools} if result.ok else None
