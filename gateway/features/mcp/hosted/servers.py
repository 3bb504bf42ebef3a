"""The MCP servers one request attached, reached with the official ``mcp`` SDK.

A server given by URL gets its own streamable-HTTP client session for the request
(its ``headers`` sent on every call, never written into a message); a server given by
name is one of the gateway's registry, reached through the process's pool
(``gateway.features.mcp.pool``: ``list_tools(name)``, ``call_tool(name, tool, arguments,
timeout=)``). A URL must reach a public address unless its host or address is listed
in the allowlist (``SWITCHYARD_MCP_HOSTED_ALLOW``, the same form as
``SWITCHYARD_URL_FETCH_ALLOW``): a caller's tool must not aim the gateway at its own
network. The host is resolved once and checked (``url_fetch``), and every connection
of the session goes to those checked addresses (``PinnedTransport``: the Host header
and TLS server name stay the URL's host), so a DNS answer that changes after the check
(rebinding) cannot send it elsewhere; no proxy from the environment is used (a proxy
would resolve the host itself). Every failure becomes a :class:`ServerFailed` whose message names the
server and what went wrong, and nothing the caller sent as a secret (headers, a URL's
query or credentials).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from gateway.base.types import McpServer
from gateway.core import url_fetch
from gateway.features.mcp import capped
from gateway.features.mcp.capped import AnswerTooLarge, CappedStream  # noqa: F401 (re-exported)
from gateway.features.mcp.errors import McpGatewayError, UnknownServer

log = logging.getLogger(__name__)


POOL_MODULE = "gateway.features.mcp.pool"


class ServerFailed(Exception):
    """An MCP server could not list its tools or run a call; ``str()`` is safe to show."""


def _inner_transport() -> httpx2.AsyncBaseTransport:
    """What ``PinnedTransport`` sends through (its own pool, no proxies from the
    environment); tests swap it to see where a connection would go. Certificates are
    verified as the URL fetches' are (``url_fetch.VERIFY``), against the URL's host."""
    return httpx2.AsyncHTTPTransport(verify=url_fetch.VERIFY, trust_env=False)


class PinnedTransport(httpx2.AsyncBaseTransport):
    """Every request to ``host`` goes to one of the addresses it was checked at (the
    first that takes the connection), never to what the name resolves to later: the
    URL's host is replaced by the address, the Host header (set from the URL when the
    request was built) and the TLS server name stay ``host``. A request for any other
    host is refused (the SDK follows redirects within the origin only)."""

    def __init__(self, host: str, addresses: list[url_fetch.IPAddress]) -> None:
        self.host = host
        self.addresses = addresses
        self.inner = _inner_transport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host != self.host:
            raise httpx2.ConnectError("a request for another host", request=request)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = self.host
        failure: Exception | None = None
        for address in self.addresses:
            pinned = httpx2.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                response = await self.inner.handle_async_request(pinned)
            except httpx2.ConnectError as exc:  # the next address may answer (IPv6 vs IPv4)
                failure = exc
                continue
            return capped.cap(response)
        raise failure or httpx2.ConnectError("no address", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _where(server: McpServer) -> str:
    """The server as a message may name it: its label and URL host, no secrets."""
    if server.url:
        host = urlsplit(server.url).hostname or "?"
        return f"MCP server {server.label!r} ({host})"
    return f"MCP server {server.label!r}"


def address_refused(refused: url_fetch.FetchRefused, where: str) -> str:
    """Why ``where`` (a hosted server, an OAuth endpoint) is not reached: its name does
    not resolve, or it is an address only SWITCHYARD_MCP_HOSTED_ALLOW would let through."""
    if "resolve" in str(refused):
        return f"{where} does not resolve"
    return (
        f"{where} is refused: a private, loopback or link-local address "
        "(the gateway's SWITCHYARD_MCP_HOSTED_ALLOW can allow it)"
    )


def _reason(exc: BaseException) -> str:
    """What went wrong, without the exception's own text (it may quote a URL)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"error {exc.code}: {exc.message}"
    if isinstance(exc, McpGatewayError):  # the registry's pool: its messages are safe
        return exc.message
    if isinstance(exc, AnswerTooLarge):
        return f"answered too much: {exc}"
    if isinstance(exc, (KeyError, LookupError)):
        return "is not registered"
    if isinstance(exc, TimeoutError):
        return "did not answer in time"
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"answered HTTP {exc.response.status_code}"
    if isinstance(exc, (httpx2.HTTPError, OSError)):
        return f"is unreachable ({type(exc).__name__})"
    return f"failed ({type(exc).__name__})"


def _pool() -> Any:
    try:
        return importlib.import_module(POOL_MODULE)
    except ImportError:
        return None


class Connections:
    """The request's MCP sessions; enter and leave it in one task (the SDK's sessions
    run anyio task groups)."""

    def __init__(self, timeout: float, allow: str = "") -> None:
        self.timeout = timeout
        self.allow = url_fetch.Allowlist.parse(allow.split(","))
        self.stack = contextlib.AsyncExitStack()
        self.sessions: dict[str, ClientSession] = {}

    async def __aenter__(self) -> Connections:
        await self.stack.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        with contextlib.suppress(Exception):  # each session closes within its timeouts
            await self.stack.aclose()

    async def _session(self, server: McpServer) -> ClientSession:
        session = self.sessions.get(server.label)
        if session is not None:
            return session
        assert server.url is not None
        try:  # resolved and checked once here; every connection goes to these addresses
            url = httpx.URL(server.url)
            if url.scheme not in ("http", "https"):
                raise ValueError("not an http or https URL")
            addresses = await url_fetch.checked_addresses(url, self.allow)
        except url_fetch.FetchRefused as exc:
            raise ServerFailed(address_refused(exc, _where(server))) from None
        except (httpx.InvalidURL, ValueError):
            raise ServerFailed(f"{_where(server)} has an invalid URL") from None
        inner = contextlib.AsyncExitStack()
        try:
            http = await inner.enter_async_context(
                httpx2.AsyncClient(  # as the SDK's create_mcp_http_client, but pinned
                    headers=server.headers,
                    timeout=httpx2.Timeout(self.timeout),
                    transport=PinnedTransport(url.host, addresses),
                    trust_env=False,
                )
            )
            read, write = await inner.enter_async_context(
                streamable_http_client(server.url, http_client=http)
            )
            session = await inner.enter_async_context(
                ClientSession(read, write, read_timeout_seconds=self.timeout)
            )
            with anyio.fail_after(self.timeout):
                await session.initialize()
        except BaseException as exc:
            # A transport failure cancels the session's task groups: the real error
            # comes out of closing them (a CancelledError left alone is the caller's).
            cause: BaseException = exc
            try:  # no cancel scope of ours around it: the SDK's must nest as opened
                await inner.aclose()
            except BaseException as closing:
                if not isinstance(exc, Exception):
                    cause = closing
            if cause is exc and not isinstance(exc, Exception):
                raise
            log.debug("MCP connect failure", exc_info=cause)
            raise ServerFailed(f"{_where(server)} {_reason(cause)}") from None
        self.stack.push_async_callback(inner.aclose)
        self.sessions[server.label] = session
        return session

    async def list_tools(self, server: McpServer) -> list[Any]:
        """The server's tools (``mcp.types.Tool``), all pages."""
        try:
            if server.url is None:
                with anyio.fail_after(self.timeout):
                    return await self._registered_tools(server)
            # the session opens outside the deadline's scope (it runs task groups of its own)
            session = await self._session(server)
            with anyio.fail_after(self.timeout):
                tools: list[Any] = []
                cursor = None
                while True:
                    params = {"cursor": cursor} if cursor else None
                    page = await session.list_tools(params=params)
                    tools += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        return tools
        except ServerFailed:
            raise
        except Exception as exc:
            log.info("%s: list_tools %s", _where(server), _reason(exc))
            log.debug("MCP failure", exc_info=True)
            raise ServerFailed(f"{_where(server)} {_reason(exc)}") from None

    async def _registered_tools(self, server: McpServer) -> list[Any]:
        pool = _pool()
        name = server.registered or server.label
        if pool is None:
            raise ServerFailed(f"MCP server {name!r} is not registered")
        try:
            result = await pool.list_tools(name)
        except (KeyError, LookupError, UnknownServer):
            raise ServerFailed(f"MCP server {name!r} is not registered") from None
        return list(getattr(result, "tools", result))

    async def call_tool(self, server: McpServer, name: str, arguments: dict[str, Any]) -> Any:
        """``mcp.types.CallToolResult`` of one call; a failure to get one raises."""
        try:
            if server.url is None:
                pool = _pool()
                if pool is None:
                    raise ServerFailed(f"MCP server {server.label!r} is not registered")
                with anyio.fail_after(self.timeout):
                    return await pool.call_tool(
                        server.registered or server.label, name, arguments, timeout=self.timeout
                    )
            session = await self._session(server)
            with anyio.fail_after(self.timeout):
                return await session.call_tool(name, arguments)
        except ServerFailed:
            raise
        except Exception as exc:
            log.info("%s: call %s %s", _where(server), name, _reason(exc))
            log.debug("MCP failure", exc_info=True)
            raise ServerFailed(f"{_where(server)} {_reason(exc)}") from None
