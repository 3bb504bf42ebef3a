"""The OAuth client's transport resolves and checks a host through ``url_fetch``'s public
``checked_addresses`` (the one every guarded fetch asks), no private alias of it."""

from __future__ import annotations

import ipaddress

import httpx
import httpx2
import pytest

from gateway.core import url_fetch
from gateway.features.mcp.oauth import guarded_http


async def test_the_transport_asks_the_public_address_check(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    async def checked(url: httpx.URL, allow: url_fetch.Allowlist) -> list[url_fetch.IPAddress]:
        asked.append(url.host)
        raise url_fetch.FetchRefused("auth.example is a private address")

    monkeypatch.setattr(url_fetch, "checked_addresses", checked)
    transport = guarded_http.GuardedTransport("https://mcp.example/mcp")
    request = httpx2.Request("POST", "https://auth.example/token")
    with pytest.raises(guarded_http.Refused, match="private, loopback"):
        await transport.handle_async_request(request)
    assert asked == ["auth.example"]  # the check that refused it is the public one
    assert not hasattr(url_fetch, "_checked_addresses")  # no second name to drift from it


async def test_a_public_address_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: an address the check passes is the one the transport pins."""

    async def checked(url: httpx.URL, allow: url_fetch.Allowlist) -> list[url_fetch.IPAddress]:
        return [ipaddress.ip_address("93.184.216.34")]

    monkeypatch.setattr(url_fetch, "checked_addresses", checked)
    transport = guarded_http.GuardedTransport("https://mcp.example/mcp")
    addresses = await transport._addresses(
        httpx2.URL("https://auth.example/token"), transport.allow
    )
    assert [str(a) for a in addresses] == ["93.184.216.34"]
