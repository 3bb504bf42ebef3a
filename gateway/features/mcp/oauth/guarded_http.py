"""The HTTP client of every OAuth exchange with a server's authorization server
(metadata, registration, token, refresh, revocation), held to the hosted MCP URLs' rules.

A registered server's own origin (scheme, host, port) is the admin's choice and is
reached as the pool reaches it. Every other URL its metadata names must be ``https`` and
resolve to public addresses only, unless its host or address is listed in
``SWITCHYARD_MCP_HOSTED_ALLOW`` (then ``http`` is accepted too): a server's metadata must
not aim the gateway at its own network (the cloud metadata address, a database next
door). The host is resolved and checked once per client, and every connection goes to
the checked addresses (``PinnedTransport``), so a DNS answer that changes later
(rebinding) cannot move it; redirects are not followed; answers are capped as the
pool's are. A refusal is a ``Refused`` whose message names the host only."""

from __future__ import annotations

import httpx
import httpx2
from django.conf import settings

from gateway.core import url_fetch
from gateway.features.mcp.hosted.servers import PinnedTransport, address_refused

TIMEOUT = 15.0


class Refused(Exception):
    """A URL the gateway will not reach for an OAuth exchange; ``str()`` is safe to show."""


def _origin(url: httpx2.URL | httpx.URL) -> tuple[str, str, int | None]:
    scheme = url.scheme
    return scheme, (url.host or "").lower(), url.port or (443 if scheme == "https" else 80)


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Sends each request to addresses checked for its host (see the module)."""

    def __init__(self, home_url: str) -> None:
        self.home = _origin(httpx2.URL(home_url))
        raw = getattr(settings, "SWITCHYARD_MCP_HOSTED_ALLOW", "") or ""
        self.allow = url_fetch.Allowlist.parse(raw.split(","))
        self.pinned: dict[tuple[str, bool], PinnedTransport] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        host = (url.host or "").lower()
        if url.scheme not in ("http", "https") or not host:
            raise Refused("an OAuth URL that is not http or https")
        home = _origin(url) == self.home  # the admin's own choice: reached as the pool does
        transport = self.pinned.get((host, home))
        if transport is None:
            allow = url_fetch.Allowlist.parse([host]) if home else self.allow
            transport = PinnedTransport(host, await self._addresses(url, allow))
            self.pinned[(host, home)] = transport
        if url.scheme == "http" and not home and not self._allowed(host, transport):
            raise Refused(f"{host}: OAuth endpoints must use https")
        return await transport.handle_async_request(request)

    def _allowed(self, host: str, transport: PinnedTransport) -> bool:
        return self.allow.allows_host(host) or all(
            self.allow.allows_address(a) for a in transport.addresses
        )

    async def _addresses(
        self, url: httpx2.URL, allow: url_fetch.Allowlist
    ) -> list[url_fetch.IPAddress]:
        try:
            return await url_fetch.checked_addresses(httpx.URL(str(url)), allow)
        except url_fetch.FetchRefused as exc:
            raise Refused(address_refused(exc, url.host)) from None

    async def aclose(self) -> None:
        for transport in self.pinned.values():
            await transport.aclose()


def client_kwargs(home_url: str) -> dict[str, object]:
    """What an ``httpx2.AsyncClient`` (or Authlib's ``AsyncOAuth2Client``) for the OAuth
    exchanges of the server at ``home_url`` is built with."""
    return {
        "transport": GuardedTransport(home_url),
        "timeout": httpx2.Timeout(TIMEOUT),
        "follow_redirects": False,
        "trust_env": False,
    }


def client(home_url: str) -> httpx2.AsyncClient:
    """A plain client (metadata, registration) for the server at ``home_url``."""
    return httpx2.AsyncClient(**client_kwargs(home_url))  # type: ignore[arg-type]
