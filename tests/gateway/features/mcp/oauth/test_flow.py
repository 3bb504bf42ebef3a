"""OAuth to upstream MCP servers against a real authorization server (Authlib) and an MCP
server it protects (the SDK's resource-server auth), both on 127.0.0.1
(``oauth_test_servers.py``): connect (discovery, dynamic registration, PKCE, the
browser's consent driven over HTTP, the callback), calls with each person's own token
through the pool and through ``/mcp`` with the SDK's client, refresh before expiry,
revocation on disconnect, the service token (client credentials); and the bad input:
replayed, forged, malformed and other people's callbacks, a PKCE verifier that does not
match, expired and revoked tokens, metadata that points at an address the gateway must
not reach. No token ever appears in the journal, the logs, an error or the audit log."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from gateway.access import keys, registry
from gateway.base.secrets import crypto
from gateway.features.mcp import calls, pool
from gateway.features.mcp.errors import AuthorizationRequired
from gateway.features.mcp.oauth import caller, discovery, flow, tokens
from gateway.models import (
    AuditEvent,
    McpOAuthState,
    McpOAuthToken,
    McpServer,
    McpUpstreamClient,
)
from tests.live import free_port

SCRIPT = str(Path(__file__).parents[1] / "oauth_test_servers.py")
REDIRECT = "http://testserver/mcp-connections/callback/"
SERVICE_SECRET = "svc-Secret-Unmistakable-5521"

pytestmark = pytest.mark.django_db(transaction=True)


def _start(*extra: str) -> tuple[subprocess.Popen, int, int]:
    as_port, rs_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, SCRIPT, str(as_port), str(rs_port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{as_port}/_test/state", timeout=0.5)
            httpx.get(f"http://127.0.0.1:{rs_port}/", timeout=0.5)
            return process, as_port, rs_port
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the OAuth test servers did not start")


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[int, int]]:
    process, as_port, rs_port = _start("--client", f"svc:{SERVICE_SECRET}")
    yield as_port, rs_port
    process.terminate()
    process.wait(10)


@pytest.fixture(autouse=True)
def _allow_loopback(settings) -> None:
    settings.SWITCHYARD_MCP_HOSTED_ALLOW = "127.0.0.1"
    discovery._found.clear()
    tokens._held.clear()


def as_state(as_port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{as_port}/_test/state").json()


async def _server(rs_port: int, name: str = "files", **fields) -> McpServer:
    server = McpServer(name=name, url=f"http://127.0.0.1:{rs_port}/mcp", oauth="per_user", **fields)
    await sync_to_async(server.full_clean)()
    await server.asave()
    await registry.arebuild()
    return server


async def _approve(location: str, user: str = "alice") -> dict[str, str]:
    """What the person's browser does at the authorization server: open the consent page,
    press Approve; the callback's query parameters."""
    async with httpx.AsyncClient() as browser:
        page = await browser.get(location)
        assert page.status_code == 200 and "Approve" in page.text
        split = urlsplit(location)
        answer = await browser.post(
            f"{split.scheme}://{split.netloc}/authorize?{split.query}", data={"user": user}
        )
    assert answer.status_code == 302, answer.text
    target = answer.headers["location"]
    assert target.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}


async def _connect(server: McpServer, user: User, who: str = "alice") -> dict[str, str]:
    location = await flow.connect(server.pk, user.pk, REDIRECT)
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["resource"] == [server.url]
    params = await _approve(location, who)
    assert await flow.complete(params, user.pk) == server.name
    return params


@pytest.fixture
async def people(db) -> tuple[User, User]:
    alice = await User.objects.acreate(username="alice")
    bob = await User.objects.acreate(username="bob")
    return alice, bob


async def _key_of(user: User) -> object:
    created = await sync_to_async(keys.create_key)(
        name=f"{user.username}-key", user=user, mcp_allowed="*", minted_by=user.pk
    )  # a key they minted themselves: it carries their own token (caller.act_for)
    await registry.arebuild()
    key = registry.current().key(created.raw)
    assert key is not None
    return dataclasses.replace(key, mcp_allowed=frozenset({"*"}))


async def test_connect_call_refresh_and_disconnect(upstream, people, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    as_port, rs_port = upstream
    alice, bob = people
    server = await _server(rs_port)
    before = as_state(as_port)

    # nobody connected: a clear error naming where to connect, and nothing stored
    caller.act_as(alice.pk)
    with pytest.raises(AuthorizationRequired) as missing:
        await pool.call_tool("files", "whoami", {})
    assert "/mcp-connections/" in missing.value.message

    await _connect(server, alice, "alice")
    assert as_state(as_port)["registrations"] == before["registrations"] + 1
    row = await McpOAuthToken.objects.aget(server=server, user=alice)
    assert row.access_token_ciphertext.startswith(crypto.PREFIX) and row.refresh_token_ciphertext
    client = await McpUpstreamClient.objects.aget(server=server)
    assert client.client_id and client.redirect_uri == REDIRECT
    assert not await McpOAuthState.objects.aexists()  # single use: gone once answered

    # each person's calls carry their own token (a connection per person)
    result = await pool.call_tool("files", "whoami", {})
    assert result.content[0].text == "user=alice"
    caller.act_as(bob.pk)
    with pytest.raises(AuthorizationRequired):
        await pool.call_tool("files", "whoami", {})
    await _connect(server, bob, "bob")
    assert (await pool.call_tool("files", "whoami", {})).content[0].text == "user=bob"
    assert as_state(as_port)["registrations"] == before["registrations"] + 1  # reused

    # a key's calls are its owner's (the governed path, journaled)
    key = await _key_of(alice)
    caller.act_as(None)
    answer = await calls.call(key, "files", "whoami", {})
    assert answer.content[0].text == "user=alice"

    # refresh shortly before expiry: the row says it ends in 30 s, the margin is 60 s
    access_before = (
        await McpOAuthToken.objects.aget(server=server, user=alice)
    ).access_token_ciphertext
    await McpOAuthToken.objects.filter(server=server, user=alice).aupdate(
        expires_at=await sync_to_async(_soon)(30)
    )
    tokens._held.clear()
    caller.act_as(alice.pk)
    assert (await pool.call_tool("files", "whoami", {})).content[0].text == "user=alice"
    assert as_state(as_port)["refreshes"] == before["refreshes"] + 1
    refreshed = await McpOAuthToken.objects.aget(server=server, user=alice)
    assert refreshed.access_token_ciphertext != access_before
    assert await AuditEvent.objects.filter(action="oauth_refresh", object_name="files").aexists()

    # disconnect: revoked at the authorization server, deleted here, audited
    revoked_before = as_state(as_port)["revocations"]
    assert await flow.disconnect(server.pk, alice.pk) is True
    assert as_state(as_port)["revocations"] == revoked_before + 2  # refresh + access token
    assert not await McpOAuthToken.objects.filter(server=server, user=alice).aexists()
    with pytest.raises(AuthorizationRequired):
        await pool.call_tool("files", "whoami", {})
    actions = {e async for e in AuditEvent.objects.values_list("action", flat=True)}
    assert {"oauth_connect", "oauth_refresh", "oauth_disconnect"} <= actions

    # tokens never in the journal, the logs, the audit log
    await _no_token_leaks(server, caplog.text)
    await pool.aclose()


def _soon(seconds: float):
    import datetime as dt

    from django.utils import timezone

    return timezone.now() + dt.timedelta(seconds=seconds)


async def _no_token_leaks(server: McpServer, logs: str) -> None:
    from gateway.models import RequestBody, RequestLog

    secrets = []
    async for row in McpOAuthToken.objects.all():
        secrets += [
            crypto.decrypt(row.access_token_ciphertext),
            crypto.decrypt(row.refresh_token_ciphertext),
        ]
    secrets += tokens.live_secrets()
    secrets = [s for s in secrets if s]
    from gateway import journal

    # the journal writes off the request path: all of it written, and its thread's
    # connection closed, before the rows are read and the test's flush empties the tables
    await journal.drain()
    texts = [logs]
    async for log in RequestLog.objects.all():
        texts.append(f"{log.error_message} {log.error_kind}")
    async for body in RequestBody.objects.all():
        texts.append(f"{body.inbound_request} {body.outbound_response}")
    async for event in AuditEvent.objects.all():
        texts.append(f"{event.changes} {event.detail}")
    joined = "\n".join(texts)
    for secret in secrets:
        assert secret not in joined


async def test_a_revoked_token_asks_to_connect_again(upstream, people) -> None:
    as_port, rs_port = upstream
    alice, _ = people
    server = await _server(rs_port, "revoked")
    await _connect(server, alice)
    caller.act_as(alice.pk)
    assert (await pool.call_tool("revoked", "whoami", {})).content[0].text == "user=alice"
    async with httpx.AsyncClient() as http:  # behind the gateway's back
        await http.post(f"http://127.0.0.1:{as_port}/_test/revoke-all")
    with pytest.raises(Exception) as refused:
        await pool.call_tool("revoked", "whoami", {})
    message = getattr(refused.value, "message", str(refused.value))
    assert "connect" in message.lower()
    assert not await McpOAuthToken.objects.filter(server=server, user=alice).aexists()
    await pool.aclose()


async def test_the_callback_refuses_bad_input_and_stores_nothing(upstream, people) -> None:
    _, rs_port = upstream
    alice, bob = people
    server = await _server(rs_port, "strict")
    location = await flow.connect(server.pk, alice.pk, REDIRECT)
    params = await _approve(location)

    for bad in (
        {},  # malformed: nothing at all
        {"code": params["code"]},  # no state
        {"state": "forged-state-value", "code": params["code"]},  # forged state
        {"state": params["state"] + "x", "code": params["code"]},
    ):
        with pytest.raises(flow.FlowError):
            await flow.complete(bad, alice.pk)
    with pytest.raises(flow.FlowError):  # another person's state is not theirs to finish
        await flow.complete(params, bob.pk)
    assert await McpOAuthState.objects.acount() == 1  # still alice's to finish

    await flow.complete(params, alice.pk)
    with pytest.raises(flow.FlowError, match="already used"):  # replayed
        await flow.complete(params, alice.pk)
    await flow.disconnect(server.pk, alice.pk)

    # a PKCE mismatch: the verifier kept is not the one the challenge was made from
    location = await flow.connect(server.pk, alice.pk, REDIRECT)
    params = await _approve(location)
    await McpOAuthState.objects.aupdate(verifier_ciphertext=crypto.encrypt("x" * 64))
    with pytest.raises(flow.FlowError, match="invalid_grant"):
        await flow.complete(params, alice.pk)

    # an expired authorization
    location = await flow.connect(server.pk, alice.pk, REDIRECT)
    params = await _approve(location)
    await McpOAuthState.objects.aupdate(expires_at=await sync_to_async(_soon)(-1))
    with pytest.raises(flow.FlowError, match="expired"):
        await flow.complete(params, alice.pk)

    # the person denied it at the authorization server
    location = await flow.connect(server.pk, alice.pk, REDIRECT)
    denied = await _approve(location, "")
    assert denied.get("error") == "access_denied"
    with pytest.raises(flow.FlowError, match="access_denied"):
        await flow.complete(denied, alice.pk)
    assert not await McpOAuthToken.objects.aexists()
    assert await AuditEvent.objects.filter(action="oauth_refused").acount() >= 3


async def test_metadata_pointing_elsewhere_is_refused(people, settings) -> None:
    """A server whose metadata names an authorization server at a private address (here
    the cloud metadata address) is refused before any request goes there: nothing stored."""
    alice, _ = people
    process, as_port, rs_port = _start("--elsewhere", "http://169.254.169.254")
    try:
        server = await _server(rs_port, "elsewhere")
        with pytest.raises(flow.FlowError, match="169.254.169.254.*private"):
            await flow.connect(server.pk, alice.pk, REDIRECT)
        # without the allowlist even a loopback authorization server on another port is
        # refused: only the registered server's own origin is the admin's choice
        settings.SWITCHYARD_MCP_HOSTED_ALLOW = ""
        discovery._found.clear()
        good = await _server(rs_port, "private-as", description="")
        with pytest.raises(flow.FlowError, match="private"):
            await flow.connect(good.pk, alice.pk, REDIRECT)
        assert not await McpOAuthState.objects.aexists()
        assert not await McpUpstreamClient.objects.aexists()
    finally:
        process.terminate()
        process.wait(10)


async def test_the_service_token(upstream, people) -> None:
    """A ``service`` server sends one client-credentials token for every caller; a
    ``per_user`` one with a pre-registered client falls back to it for callers with no
    person (the master key)."""
    as_port, rs_port = upstream
    server = McpServer(
        name="machine",
        url=f"http://127.0.0.1:{rs_port}/mcp",
        oauth="service",
        oauth_client_id="svc",
        oauth_scopes="mcp",
    )
    server.set_oauth_client_secret(SERVICE_SECRET)
    await sync_to_async(server.full_clean)()
    await server.asave()
    await registry.arebuild()
    before = as_state(as_port)["client_credentials"]
    caller.act_as(people[0].pk)
    assert (await pool.call_tool("machine", "whoami", {})).content[0].text == "user=service"
    caller.act_as(None)
    assert (await pool.call_tool("machine", "whoami", {})).content[0].text == "user=service"
    assert as_state(as_port)["client_credentials"] == before + 1  # held, not fetched again
    row = await McpOAuthToken.objects.aget(server=server, user=None)
    assert SERVICE_SECRET not in row.access_token_ciphertext
    await pool.aclose()
