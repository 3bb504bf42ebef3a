"""A real MCP server for tests, written with the official ``mcp`` SDK: streamable HTTP
on 127.0.0.1 in a thread of the test process.

Tools: ``add(a, b)``, ``secret_word()`` (a word no model could guess, so an answer that
contains it used the tool), ``explode()`` (raises: an ``isError`` result), ``nap(seconds)``
(hangs for a while). With ``token`` set, every request must carry
``Authorization: Bearer <token>`` (else 401), so a test can check headers arrive.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.live import free_port

SECRET_WORD = "quokka-7341"


def build_server() -> MCPServer:
    server = MCPServer("switchyard-test-tools")

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        return str(a + b)

    @server.tool()
    def secret_word() -> str:
        """Return today's secret word."""
        return SECRET_WORD

    @server.tool()
    def explode() -> str:
        """Always fails."""
        raise RuntimeError("the detonator is broken")

    @server.tool()
    async def nap(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "rested"

    return server


class _RequireToken:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {self.token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await self.app(scope, receive, send)


@contextmanager
def running_mcp_server(
    token: str | None = None,
    *,
    tls: tuple[str, str] | None = None,
    host_name: str | None = None,
    server_names: list[str | None] | None = None,
) -> Iterator[str]:
    """Serve the test tools; yields the endpoint URL (``http://127.0.0.1:<port>/mcp``).

    ``tls``: (certificate file, key file) to serve HTTPS, the URL then naming
    ``host_name``, the only Host the server accepts (the SDK's DNS-rebinding check);
    ``server_names`` gets the TLS server name (SNI) of every handshake."""
    security = None
    if host_name is not None:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=[f"{host_name}:*"]
        )
    app: ASGIApp = build_server().streamable_http_app(transport_security=security)
    if token is not None:
        app = _RequireToken(app, token)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    if tls is not None:
        config.load()  # its SSL context, to see the server names clients ask for
        assert config.ssl is not None
        if server_names is not None:
            config.ssl.sni_callback = lambda _sock, name, _ctx: server_names.append(name)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test MCP server did not start")
        time.sleep(0.02)
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://{host_name or '127.0.0.1'}:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
