"""``/mcp``'s DNS-rebinding rule (``ws_origin.mcp_origin_allowed``): no Origin (not a
browser) passes; a browser's Origin passes only when trusted, or its own on a loopback
host or a host the operator named; a Host outside ALLOWED_HOSTS never passes."""

from __future__ import annotations

import pytest

from gateway.edge.ws_origin import mcp_origin_allowed


def scope(host: str, origin: str | None = None) -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "http", "scheme": "http", "headers": headers}


@pytest.mark.parametrize(
    "host,origin,allowed",
    [
        ("gw.example.com", None, True),  # an MCP client, an SDK, a CLI
        ("127.0.0.1:4000", "http://127.0.0.1:4000", True),
        ("localhost:4000", "http://localhost:4000", True),
        ("127.0.0.1:4000", "http://evil.example.com", False),
        # a rebinding page: its own host in both headers, ALLOWED_HOSTS is "*"
        ("evil.example.com:4000", "http://evil.example.com:4000", False),
        ("127.0.0.1:4000", "null", False),
    ],
)
def test_default_settings(settings, host: str, origin: str | None, allowed: bool) -> None:
    settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS = ["*"], []
    assert mcp_origin_allowed(scope(host, origin)) is allowed


def test_named_hosts_and_trusted_origins(settings) -> None:
    settings.ALLOWED_HOSTS = ["gw.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.tools.example.com"]
    assert mcp_origin_allowed(scope("gw.example.com", "http://gw.example.com"))
    assert mcp_origin_allowed(scope("gw.example.com", "https://app.tools.example.com"))
    assert not mcp_origin_allowed(scope("gw.example.com", "https://evil.example.com"))
    assert not mcp_origin_allowed(scope("evil.example.com"))  # Host outside ALLOWED_HOSTS
