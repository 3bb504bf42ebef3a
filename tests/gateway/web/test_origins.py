"""Whether a WebSocket handshake comes from an allowed origin (``origin_allowed``), the
question the console's sockets (``gateway.edge.ws_origin``), the Realtime relay and the
Gemini Live relay all ask: the request's own origin (scheme, host and port) or one of
``CSRF_TRUSTED_ORIGINS``, the ``Host`` passing ``ALLOWED_HOSTS``. The middleware that
refuses the handshake, and the real server's answers, are in
``tests/gateway/edge/test_ws_origin.py``."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.call import Reply
from gateway.web.origins import deny_handshake, origin_allowed, origin_tuple, trusted


def handshake(origin: str | None, host: str = "gw.example:4000", scheme: str = "ws") -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "path": "/ws/logs/tail/", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    "origin, host, scheme, allowed",
    [
        ("http://gw.example:4000", "gw.example:4000", "ws", True),
        ("https://gw.example", "gw.example", "wss", True),
        ("https://gw.example:443", "gw.example", "wss", True),
        ("http://GW.example:4000", "gw.example:4000", "ws", True),
        ("http://gw.example:4001", "gw.example:4000", "ws", False),  # same host, other port
        ("https://gw.example:4000", "gw.example:4000", "ws", False),  # other scheme
        ("http://evil.example:4000", "gw.example:4000", "ws", False),
        ("http://gw.example.evil.example:4000", "gw.example:4000", "ws", False),
        ("null", "gw.example:4000", "ws", False),  # sandboxed iframes, file:// pages
        (None, "gw.example:4000", "ws", False),
        ("https://console.example", "gw.example:4000", "ws", True),  # trusted
        ("https://a.corp.example", "gw.example:4000", "ws", True),  # trusted wildcard
        ("http://a.corp.example", "gw.example:4000", "ws", False),
        ("https://corp.example.evil", "gw.example:4000", "ws", False),
    ],
)
def test_only_the_same_origin_or_a_trusted_one_is_allowed(
    settings, origin, host, scheme, allowed
) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example", "https://*.corp.example"]
    assert origin_allowed(handshake(origin, host, scheme)) is allowed


def test_the_host_must_also_be_allowed(settings) -> None:
    settings.ALLOWED_HOSTS = ["gw.example"]
    settings.CSRF_TRUSTED_ORIGINS = []
    assert origin_allowed(handshake("http://gw.example:4000"))
    assert not origin_allowed(handshake("http://other.example:4000", "other.example:4000"))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://gw.example", ("https", "gw.example", 443)),
        ("http://gw.example", ("http", "gw.example", 80)),
        ("  HTTP://GW.Example:8080  ", ("http", "gw.example", 8080)),
        ("ws://gw.example", None),  # an Origin is an http(s) page's
        ("null", None),
        ("", None),
        ("https://", None),
        ("https://gw.example:99999", None),  # a port out of range is no origin
        ("https://gw.example:port", None),
    ],
)
def test_an_origin_is_a_scheme_a_host_and_a_port_with_the_defaults_filled_in(url, expected):
    assert origin_tuple(url) == expected


def test_a_trusted_origin_needs_its_scheme_and_port_too(settings) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example:8443", "https://*.corp.example"]
    assert trusted(("https", "console.example", 8443))
    assert not trusted(("https", "console.example", 443))
    assert not trusted(("http", "console.example", 8443))
    assert trusted(("https", "deep.a.corp.example", 443))
    # as Django's CSRF check reads ``*.``: the domain and its subdomains, not a longer name
    assert trusted(("https", "corp.example", 443))
    assert not trusted(("https", "xcorp.example", 443))
    assert not trusted(("https", "corp.example.evil", 443))


def test_a_malformed_trusted_entry_trusts_nothing(settings) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["console.example", "ftp://console.example"]
    assert not trusted(("https", "console.example", 443))
    assert not trusted(("http", "console.example", 80))


def test_in_debug_with_no_allowed_hosts_only_local_hosts_pass(settings) -> None:
    """As Django does for HTTP: DEBUG with an empty ALLOWED_HOSTS allows localhost only."""
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = []
    settings.CSRF_TRUSTED_ORIGINS = []
    assert origin_allowed(handshake("http://localhost:4000", "localhost:4000"))
    assert origin_allowed(handshake("http://127.0.0.1:4000", "127.0.0.1:4000"))
    assert not origin_allowed(handshake("http://gw.example:4000", "gw.example:4000"))
    settings.DEBUG = False
    assert not origin_allowed(handshake("http://localhost:4000", "localhost:4000"))


def test_a_handshake_without_a_host_is_refused(settings) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    scope = {"type": "websocket", "scheme": "ws", "headers": [(b"origin", b"http://gw.example")]}
    assert not origin_allowed(scope)


def test_a_refused_handshake_is_an_http_answer_where_the_server_can_send_one_else_a_close():
    reply = Reply(status=403, body=b"refused", headers=[(b"content-type", b"text/plain")])
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "websocket", "extensions": {"websocket.http.response": {}}}
    asyncio.run(deny_handshake(scope, send, reply, 4403))
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"7")]
    assert sent == [
        {"type": "websocket.http.response.start", "status": 403, "headers": headers},
        {"type": "websocket.http.response.body", "body": b"refused"},
    ]
    sent.clear()
    asyncio.run(deny_handshake({"type": "websocket", "extensions": None}, send, reply, 4403))
    assert sent == [{"type": "websocket.close", "code": 4403}]
