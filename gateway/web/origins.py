"""Whether a WebSocket handshake comes from an allowed origin (``origin_allowed``): an
``Origin`` whose scheme, host and port equal the request's own (``Host``, ``ws``/``wss``
as ``http``/``https``) or one of ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` as
in Django), the ``Host`` passing ``ALLOWED_HOSTS``. Here, in the kit, so that the edge's
sockets (``gateway.edge.ws_origin``: the console's, the Realtime relay) and a feature's
(the Gemini Live relay) ask the same question; and how they refuse a handshake
(``deny_handshake``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from gateway.base.asgi import Send
from gateway.core.call import Reply

DEFAULT_PORTS = {"http": 80, "https": 443}
# The ASGI extension that lets a WebSocket handshake be answered with an HTTP response.
DENIAL_EXTENSION = "websocket.http.response"


def origin_tuple(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin URL, default ports filled in; None if invalid."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def trusted(origin: tuple[str, str, int]) -> bool:
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        trusted = origin_tuple(entry.replace("://*.", "://", 1) if wildcard else entry)
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and host.endswith("." + trusted[1])):
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether the handshake in ``scope`` comes from an allowed origin."""
    headers = {name.lower(): value for name, value in scope.get("headers", [])}
    host = headers.get(b"host", b"").decode("latin-1").strip()
    domain, _port = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:  # what Django allows for HTTP then
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    origin = origin_tuple(headers.get(b"origin", b"").decode("latin-1"))
    if origin is None:
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    own = origin_tuple(f"{scheme}://{host}")
    return origin == own or trusted(origin)


async def deny_handshake(scope: dict[str, Any], send: Send, reply: Reply, close_code: int) -> None:
    """Refuse a WebSocket handshake before accepting it: ``reply`` as the HTTP answer when
    the server can send one (``DENIAL_EXTENSION``), else a close with ``close_code``."""
    if DENIAL_EXTENSION in (scope.get("extensions") or {}):
        headers = reply.headers + [(b"content-length", str(len(reply.body)).encode())]
        await send(
            {"type": "websocket.http.response.start", "status": reply.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": reply.body})
    else:
        await send({"type": "websocket.close", "code": close_code})
