"""A stdio MCP server for the sessions test: its ``worker`` tool answers its parent's
process id, which is the gateway worker that started it (each worker has its own pool,
so its own copy of this server): the worker that served a call, without the gateway
having to say it."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("switchyard-worker-probe")


@server.tool()
def worker() -> str:
    """The process id of the gateway worker that runs this server."""
    return str(os.getppid())


if __name__ == "__main__":
    server.run("stdio")
