"""An MCP server written with the official SDK for the tests: ``python
mcp_test_server.py stdio`` serves over stdio; ``python mcp_test_server.py http PORT``
serves streamable HTTP on 127.0.0.1:PORT/mcp (``--token T`` requires ``Bearer T``);
``python mcp_test_server.py sse PORT`` serves legacy SSE at /sse;
``python mcp_test_server.py exit`` exits at once (a stdio command that dies)."""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("switchyard-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Echo the text back, with the server's process id."""
    return f"echo:{text} pid:{os.getpid()}"


@server.tool()
def fail(message: str) -> str:
    """Always fails with the message."""
    raise ToolError(message)


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "slept"


@server.tool()
def die() -> str:
    """Exit the server process (a crash)."""
    os._exit(3)


@server.resource("test://greeting")
def greeting() -> str:
    return "hello from the test server"


@server.prompt()
def greet(name: str) -> str:
    return f"Say hello to {name}"


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "exit":
        sys.exit(1)
    if mode == "stdio":
        server.run("stdio")
        return
    port = int(sys.argv[2])
    token = sys.argv[sys.argv.index("--token") + 1] if "--token" in sys.argv else ""
    import uvicorn

    app = server.sse_app() if mode == "sse" else server.streamable_http_app()
    if token:
        inner = app

        async def app(scope, receive, send):  # type: ignore[no-redef]
            if scope["type"] == "http":
                headers = dict(scope["headers"])
                if headers.get(b"authorization") != f"Bearer {token}".encode():
                    await send({"type": "http.response.start", "status": 401, "headers": []})
                    await send({"type": "http.response.body", "body": b"unauthorized"})
                    return
            await inner(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
