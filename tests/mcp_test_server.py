"""A real MCP server for tests, written with the official ``mcp`` SDK: streamable HTTP
on 127.0.0.1 in a thread of the test process.

Tools: ``add(a, b)``, ``secret_word()`` (a word no model could guess, so an answer that
contains it used the tool), ``explode()`` (raises: an ``isError`` result), ``nap(seconds)``
(hangs for a while); with ``full``, ``forecast(region, days)`` (``region`` promoted to the
``Mcp-Param-Region`` header by ``x-mcp-header``), ``grow(name)`` (adds a tool and
says so to ``subscriptions/listen`` streams), ``confirm(action)`` (asks the person
first: a multi-round-trip ``input_required`` elicitation), a prompt ``brief(topic)``, a
resource ``notes://today``, and a prompt ``vetted(topic)`` and a resource template
``vault://{shelf}`` that ask the person first (``input_required``) as ``confirm`` does. With ``token`` set, every request must carry
``Authorization: Bearer <token>`` (else 401), so a test can check headers arrive.

The SDK serves both protocol eras on one endpoint; ``era="2025-11-25"`` makes the
server one of the handshake era only, answering as a pre-2026 SDK does (a request
that is no ``initialize`` without a session: 400, so ``server/discover`` is unknown).
``seen`` collects ``(method, headers)`` of every POST, to show what reached it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import mcp_types as types
import uvicorn
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.live import free_port

SECRET_WORD = "quokka-7341"


TOOLS_TTL_MS = 4000  # what a ``full`` server says its tool list stays fresh (2026-07-28)


def build_server(full: bool = False) -> MCPServer:
    hints = {"tools/list": CacheHint(ttl_ms=TOOLS_TTL_MS)} if full else None
    server = MCPServer("switchyard-test-tools", cache_hints=hints)

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

    if full:
        _more(server)
    return server


def _more(server: MCPServer) -> None:
    @server.tool()
    def forecast(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
        days: int = 1,
    ) -> str:
        """The weather of a region (the region travels in a header too)."""
        return f"sunny in {region} for {days} day(s)"

    @server.tool()
    async def grow(name: str, ctx: Context) -> str:  # type: ignore[type-arg]
        """Add a tool named ``name`` and say the tool list changed."""

        def grown() -> str:
            return f"I am {name}"

        server.add_tool(grown, name=name, description="A tool that grew.")
        await ctx.notify_tools_changed()
        return f"grew {name}"

    @server.tool()
    async def confirm(action: str, ctx: Context) -> str | types.InputRequiredResult:  # type: ignore[type-arg]
        """Ask the person (2026-07-28: an ``input_required`` round), then answer."""
        answer = (ctx.input_responses or {}).get("ok")
        if answer is None:
            form = types.ElicitRequestFormParams(
                message=f"Really {action}?",
                requested_schema={"type": "object", "properties": {"sure": {"type": "boolean"}}},
            )
            return types.InputRequiredResult(
                input_requests={"ok": types.ElicitRequest(params=form)},
                request_state=f"asked:{action}",
            )
        if ctx.request_state != f"asked:{action}":
            return f"{action}: lost state {ctx.request_state!r}"
        return f"{action}: {getattr(answer, 'action', '?')} {getattr(answer, 'content', None)}"

    @server.prompt()
    def brief(topic: str) -> str:
        """A briefing request."""
        return f"Brief me on {topic}"

    @server.resource("notes://today")
    def notes() -> str:
        return "nothing planned"

    def _ask(message: str, state: str) -> types.InputRequiredResult:
        form = types.ElicitRequestFormParams(
            message=message,
            requested_schema={"type": "object", "properties": {"sure": {"type": "boolean"}}},
        )
        return types.InputRequiredResult(
            input_requests={"ok": types.ElicitRequest(params=form)}, request_state=state
        )

    @server.prompt()
    async def vetted(topic: str, ctx: Context) -> str | types.InputRequiredResult:  # type: ignore[type-arg]
        """A prompt the person confirms first (an ``input_required`` round)."""
        answer = (ctx.input_responses or {}).get("ok")
        if answer is None:
            return _ask(f"Brief on {topic}?", f"prompt:{topic}")
        return f"Vetted {topic}: {getattr(answer, 'action', '?')} ({ctx.request_state})"

    @server.resource("vault://{shelf}")
    async def vault(shelf: str, ctx: Context) -> str | types.InputRequiredResult:  # type: ignore[type-arg]
        """A resource read the person confirms first (an ``input_required`` round)."""
        answer = (ctx.input_responses or {}).get("ok")
        if answer is None:
            return _ask(f"Open {shelf}?", f"vault:{shelf}")
        return f"shelf {shelf}: {getattr(answer, 'action', '?')} ({ctx.request_state})"


HANDSHAKE_ERA = "2025-11-25"


class _Recording:
    """Keeps ``(method, headers)`` of each POST and, for a handshake-era server, answers
    a sessionless request that is no ``initialize`` as a 2025-11-25 server does."""

    def __init__(self, app: ASGIApp, seen: list[tuple[str, dict[str, str]]], legacy: bool):
        self.app, self.seen, self.legacy = app, seen, legacy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = {}
        method = parsed.get("method", "") if isinstance(parsed, dict) else ""
        self.seen.append((method, headers))
        if self.legacy and method and method != "initialize" and "mcp-session-id" not in headers:
            answer = json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": parsed.get("id"),
                    "error": {"code": -32600, "message": "Bad Request: Missing session ID"},
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return
        given = False

        async def replay() -> Any:
            nonlocal given
            if given:
                return await receive()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


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
    era: str | None = None,
    seen: list[tuple[str, dict[str, str]]] | None = None,
    full: bool = False,
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
    app: ASGIApp = build_server(full).streamable_http_app(transport_security=security)
    if era is not None or seen is not None:
        app = _Recording(app, seen if seen is not None else [], era == HANDSHAKE_ERA)
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
