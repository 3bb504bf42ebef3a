"""The official ``mcp`` SDK's ``OAuthClientProvider`` signs in against a running
``manage.py serve``: the 401 names the resource metadata, the SDK discovers the
authorization server, registers itself, sends the person to the consent page (driven
here by an HTTP client that signs in through the console's form and approves), swaps
the code with its PKCE verifier, then lists and calls tools as that person. A second
person's sign-in sees only their own grants; journal rows name each one's sign-in key."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.exceptions import MCPError

from tests.live import running_gateway

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "mcp_test_server.py"
REDIRECT = "http://127.0.0.1:33418/callback"  # never listened on: the browser step is ours
PASSWORD = "pw-live-123456789"

SETUP = """
import json, sys
from django.contrib.auth.models import User
from gateway.models import McpServer, Membership, Team
from gateway.access import keys, roles
m = McpServer(name='local', transport='stdio', command=sys.executable, args=[%(script)r, 'stdio'], call_timeout=5)
m.from_operator = True
m.full_clean(); m.save()
for name, team, grant in (('alice', 'alpha', ['local__add']), ('bob', 'beta', ['local__echo'])):
    t = Team.objects.create(name=team)
    u = User.objects.create_user(name, password=%(password)r)
    roles.set_role(u, 'member')
    Membership.objects.create(user=u, team=t, role='member')
    keys.create_key(name=name + '-key', team=t.pk, user=u.pk, mcp_allowed=grant)
print('ok')
"""


class Memory:
    """The SDK's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """The person at the browser: follows the authorize URL, signs in through the
    console's form, approves on the consent page, and hands the redirect to the SDK."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.username = username
        self.result: AuthorizationCodeResult | None = None
        self.consent_page = ""

    async def redirect(self, url: str) -> None:
        assert url.startswith(self.base + "/oauth/authorize/?"), url
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
            answer = await http.get(url)
            assert answer.status_code == 302 and "/login/" in answer.headers["location"]
            login = await http.get(answer.headers["location"])
            token = _csrf(login.text)
            nxt = parse_qs(urlsplit(answer.headers["location"]).query)["next"][0]
            signed = await http.post(
                "/login/",
                data={
                    "username": self.username,
                    "password": PASSWORD,
                    "next": nxt,
                    "csrfmiddlewaretoken": token,
                },  # fmt: skip
            )
            assert signed.status_code == 302, signed.text[-500:]
            assert signed.headers["location"] == nxt
            page = await http.get(nxt)
            assert page.status_code == 200, page.text[-800:]
            self.consent_page = page.text
            approved = await http.post(
                nxt, data={"decision": "approve", "csrfmiddlewaretoken": _csrf(page.text)}
            )
            assert approved.status_code == 302, approved.text[-800:]
            where = approved.headers["location"]
            assert where.startswith(REDIRECT), where
            query = parse_qs(urlsplit(where).query)
            self.result = AuthorizationCodeResult(
                code=query["code"][0],
                state=query.get("state", [None])[0],
                iss=query.get("iss", [None])[0],  # RFC 9207: the SDK checks it
            )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def _csrf(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, html[-500:]
    return found.group(1)


def provider(base: str, browser: Browser, storage: Memory) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=base + "/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="Live test agent",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )


def _client(base: str, auth: Any) -> Client:
    http = create_mcp_http_client(auth=auth)
    return Client(streamable_http_client(base + "/mcp", http_client=http), mode="legacy")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):  # type: ignore[no-untyped-def]
    with running_gateway(tmp_path_factory.mktemp("mcp-oauth"), seed=False) as gw:
        out = gw.shell(SETUP % {"script": str(SERVER_SCRIPT), "password": PASSWORD})
        assert out.strip().endswith("ok"), out
        time.sleep(2.0)  # the server's registry poll (about once a second) sees the rows
        yield gw


async def test_the_sdk_signs_in_lists_and_calls_as_the_person(gateway) -> None:
    alice, alice_store = Browser(gateway.url, "alice"), Memory()
    async with _client(gateway.url, provider(gateway.url, alice, alice_store)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"local__add"}
        result = await client.call_tool("local__add", {"a": 2, "b": 40})
        assert not result.is_error and result.content[0].text == "42"
        with pytest.raises(MCPError):  # bob's tool: never alice's
            await client.call_tool("local__echo", {"text": "hi"})
    assert "Live test agent" in alice.consent_page and "local" in alice.consent_page
    assert alice_store.tokens is not None and alice_store.tokens.refresh_token
    assert alice_store.client is not None and alice_store.client.client_id

    bob, bob_store = Browser(gateway.url, "bob"), Memory()
    async with _client(gateway.url, provider(gateway.url, bob, bob_store)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"local__echo"}
        result = await client.call_tool("local__echo", {"text": "hi"})
        assert result.content[0].text.startswith("echo:hi")

    out = gateway.shell_until(
        "import json; from gateway.models import RequestLog\n"
        "print(json.dumps(sorted(set(RequestLog.objects.filter(dialect='mcp', status=200)"
        ".values_list('key_name', 'upstream_model')))))",
        lambda text: "mcp-oauth:bob" in text,
    )
    rows = json.loads(out.strip().splitlines()[-1])
    assert ["mcp-oauth:alice (alpha)", "add"] in rows
    assert ["mcp-oauth:bob (beta)", "echo"] in rows

    # the stored token again, with no browser: it still works (no second consent)
    again = Browser(gateway.url, "alice")
    async with _client(gateway.url, provider(gateway.url, again, alice_store)) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"local__add"}
    assert again.result is None

    # revoked (RFC 7009): refused on /mcp at once, with the resource metadata named
    token = alice_store.tokens.access_token
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        revoked = await http.post(
            "/oauth/revoke", data={"token": token, "client_id": alice_store.client.client_id}
        )
        assert revoked.status_code == 200
        deadline = time.monotonic() + 5
        while True:
            answer = await http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json, text/event-stream",
                },  # fmt: skip
            )
            if answer.status_code == 401 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert answer.status_code == 401
        challenge = answer.headers["www-authenticate"]
        assert "/.well-known/oauth-protected-resource/mcp" in challenge
        assert 'error="invalid_token"' in challenge
        assert token not in answer.text
    assert sys.version_info >= (3, 11)
