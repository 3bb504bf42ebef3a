"""OAuth to an upstream MCP server, end to end: a live gateway, the Authlib authorization
server and the SDK-protected MCP server on 127.0.0.1 (``oauth_test_servers.py``, tokens
living 62 s so that every call a few seconds apart refreshes: the gateway refreshes 60 s
before expiry), headless Chromium and the official ``mcp`` client.

In the browser: the person's MCP connections page, Connect, the authorization server's
consent page, Approve, back on the gateway "Connected"; the admin's tools page reaches the
server with that person's token; a tool called from the console. Through the SDK with the
person's key at ``/mcp/<server>``: the call carries their token, a later one refreshes it.
Disconnect revokes both tokens at the authorization server; the SDK's next call gets the
URL elicitation error naming the connections page. No token in the page, the gateway's
log, the journal or the audit log. Screenshots at 1440 px and 390 px."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import URL_ELICITATION_REQUIRED

from tests.console.browser_support import CHROMIUM, PASSWORD, USER, shot, sign_in
from tests.live import Gateway, free_port, running_gateway

pytestmark = pytest.mark.browser

SCRIPT = (
    Path(__file__).resolve().parent.parent
    / "gateway"
    / "features"
    / "mcp"
    / "oauth_test_servers.py"
)

SETUP = """
import json
from django.contrib.auth.models import User
from gateway.features.mcp import save as admin
from gateway.access import keys
user = User.objects.create_superuser(%(user)r, '', %(password)r)
server = admin.save_server(None, {'name': 'files', 'transport': 'streamable_http',
    'url': 'http://127.0.0.1:%(rs)d/mcp', 'oauth': 'per_user', 'description': 'OAuth test'})
k = keys.create_key(name='agent', user=user.pk, mcp_allowed=['*'], minted_by=user.pk)
print(json.dumps({'key': k.raw, 'server': server.pk}))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, dict, int]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    as_port, rs_port = free_port(), free_port()
    servers = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(as_port), str(rs_port), "--ttl", "62"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{as_port}/_test/state", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        env = {"SWITCHYARD_MCP_HOSTED_ALLOW": "127.0.0.1"}
        with running_gateway(tmp_path_factory.mktemp("mcp-oauth"), env=env) as gw:
            out = gw.shell(SETUP % {"user": USER, "password": PASSWORD, "rs": rs_port})
            made = json.loads(out.strip().splitlines()[-1])
            time.sleep(2.0)  # the server's registry poll sees the rows
            yield gw, made, as_port
    finally:
        servers.terminate()
        servers.wait(10)


def _as_state(as_port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{as_port}/_test/state").json()


async def _whoami(gw: Gateway, key: str) -> str:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    async with Client(streamable_http_client(gw.url + "/mcp/files", http_client=http)) as client:
        result = await client.call_tool("whoami", {})
        return result.content[0].text


def _sdk(gw: Gateway, key: str) -> str:
    """``whoami`` through the SDK, in a thread of its own (Playwright's sync API holds
    an event loop in this one)."""
    with ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(asyncio.run, _whoami(gw, key)).result()
        except BaseExceptionGroup as group:  # the client's task group: its first failure
            leaf: BaseException = group
            while isinstance(leaf, BaseExceptionGroup):
                leaf = leaf.exceptions[0]
            raise leaf from None


def test_connect_call_refresh_and_disconnect(browser, world) -> None:
    gw, made, as_port = world
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=gw.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(30_000)  # a first page load on a loaded runner
    sign_in(page)

    # before connecting, the SDK's call is a URL elicitation naming where to connect
    with pytest.raises(MCPError) as missing:
        _sdk(gw, made["key"])
    assert missing.value.code == URL_ELICITATION_REQUIRED
    assert "/mcp-connections/" in json.dumps(missing.value.error.data)

    page.goto("/mcp-servers/")
    page.click("text=Your connections")
    page.wait_for_url(re.compile(r"/mcp-connections/$"))
    row = page.locator(f"#connection-{made['server']}")
    assert "not connected" in row.inner_text()
    shot(page, "mcp-oauth-connections")
    row.locator("button:has-text('Connect')").click()
    page.wait_for_url(re.compile(rf"127\.0\.0\.1:{as_port}/authorize"))
    shot(page, "mcp-oauth-consent")
    page.click("#approve")
    page.wait_for_url(re.compile(r"/mcp-connections/callback/"))
    assert page.locator("#oauth-message", has_text="Connected to files").is_visible()
    assert "connected" in page.locator(f"#connection-{made['server']}").inner_text()
    shot(page, "mcp-oauth-connected")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "mcp-oauth-connected-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    # the admin's tools page and a console call reach the server with the person's token
    page.goto(f"/mcp-servers/{made['server']}/tools/")
    assert page.locator("h2.mono", has_text="whoami").first.is_visible()
    page.locator("#tool-whoami summary").click()
    page.click("#tool-whoami button:has-text('Call whoami')")
    page.locator("#tool-whoami .call-result .alert.ok").wait_for()
    assert "user=alice" in page.locator("#tool-whoami .call-result pre").inner_text()

    # the person's key through /mcp: their token; a call seconds later refreshes it
    assert _sdk(gw, made["key"]) == "user=alice"
    refreshes = _as_state(as_port)["refreshes"]
    time.sleep(3)
    assert _sdk(gw, made["key"]) == "user=alice"
    assert _as_state(as_port)["refreshes"] > refreshes

    # disconnect: revoked at the authorization server; the next call asks to connect again
    revocations = _as_state(as_port)["revocations"]
    page.goto("/mcp-connections/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#connection-{made['server']} button:has-text('Disconnect')").click()
    page.locator(f"#connection-{made['server']}", has_text="not connected").wait_for()
    assert _as_state(as_port)["revocations"] >= revocations + 2
    shot(page, "mcp-oauth-disconnected")
    time.sleep(0.5)
    with pytest.raises(MCPError) as again:
        _sdk(gw, made["key"])
    assert again.value.code == URL_ELICITATION_REQUIRED

    # a replayed callback is refused with a clear page, nothing stored
    page.goto("/mcp-connections/callback/?state=forged&code=whatever")
    assert page.locator("#oauth-error", has_text="already used or expired").is_visible()

    # no token anywhere it could leak
    out = gw.shell(
        "from gateway.models import McpOAuthToken, RequestLog, RequestBody, AuditEvent\n"
        "print('tokens', McpOAuthToken.objects.count())\n"
        "for r in RequestLog.objects.all(): print(r.error_message)\n"
        "for b in RequestBody.objects.all(): print(b.inbound_request, b.outbound_response)\n"
        "for e in AuditEvent.objects.all(): print(e.action, e.changes, e.detail)"
    )
    assert "tokens 0" in out
    assert {"oauth_connect", "oauth_refresh", "oauth_disconnect"} <= set(
        re.findall(r"^(oauth_\w+)", out, re.M)
    )
    for text in (out, gw.log(), page.content()):
        assert not re.search(r"\b(at|rt)-[A-Za-z0-9_-]{20,}", text)
    context.close()
