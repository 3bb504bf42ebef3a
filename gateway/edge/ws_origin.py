"""Only same-origin pages may open the console's WebSockets.

A WebSocket handshake carries the browser's cookies whatever page started it, and the
browser does not apply CORS to it: without this check a page on any other origin, in a
signed-in admin's browser, could run prompts with master rights or read the live tail.
Cookies are per host, not per port, so a page on the same host but another port counts
as another origin here. Allowed: an ``Origin`` whose scheme, host and port equal the
request's own (``Host`` header, ``ws``/``wss`` as ``http``/``https``), or one listed in
``CSRF_TRUSTED_ORIGINS`` (a proxy on another origin; ``https://*.example.com`` as in
Django). The ``Host`` must also pass ``ALLOWED_HOSTS``. Anything else, a missing
``Origin`` included, is refused at the handshake (HTTP 403), before any consumer runs.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from gateway.web.origins import origin_allowed as origin_allowed
from gateway.web.origins import origin_tuple as _origin_tuple
from gateway.web.origins import trusted as _trusted

log = logging.getLogger(__name__)


class SameOriginWebSockets:
    """ASGI middleware: refuse a WebSocket handshake from another origin."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket" or origin_allowed(scope):
            await self.app(scope, receive, send)
            return
        origin = dict(scope.get("headers", [])).get(b"origin", b"(none)")[:200]
        log.warning(
            "refused a WebSocket to %s from origin %r", scope.get("path"), origin.decode("latin-1")
        )
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 4403})


LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def _loopback(host: str) -> bool:
    return host in LOOPBACK or host.endswith(".localhost")


def mcp_origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether an HTTP request to ``/mcp`` passes the MCP spec's DNS-rebinding rule.

    Its ``Host`` must pass ``ALLOWED_HOSTS``. A request without ``Origin`` (not from a
    browser: MCP clients, SDKs, CLIs) is allowed. A browser's ``Origin`` must be one
    listed in ``CSRF_TRUSTED_ORIGINS``, or the request's own origin on a host the
    operator named (an ``ALLOWED_HOSTS`` entry other than ``*``) or on a loopback
    host. A rebinding page's requests carry its own host in both headers, so "same
    origin" alone proves nothing while ``ALLOWED_HOSTS`` is ``*`` (the default)."""
    headers = {name.lower(): value for name, value in scope.get("headers", [])}
    host = headers.get(b"host", b"").decode("latin-1").strip()
    domain, _port = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    raw_origin = headers.get(b"origin")
    if raw_origin is None:
        return True
    origin = _origin_tuple(raw_origin.decode("latin-1"))
    if origin is None:
        return False
    if _trusted(origin):
        return True
    scheme = "https" if scope.get("scheme") == "https" else "http"
    if origin != _origin_tuple(f"{scheme}://{host}"):
        return False
    named = [entry for entry in allowed_hosts if entry != "*"]
    return _loopback(domain) or (bool(named) and validate_host(domain, named))
