"""Per-person OAuth to an A2A agent (``auth`` "oauth"), with the MCP unit's machinery
(``hooks.upstream_oauth``), against a real authorization server (Authlib) and an
``a2a-sdk`` agent it protects, both on 127.0.0.1 (``mcp/oauth_test_servers.py --a2a``;
the agent answers "user=<the token's subject>" and refuses any other token with 401):
the console's connect (dynamic registration, PKCE, the browser's consent driven over
HTTP, the one OAuth callback sending the browser back to the agents' page), calls
through ``/a2a/<agent>`` on both bindings sending the caller's own token, refresh before
expiry, disconnect (revoked). And the refusals: a key with no connected account gets an
A2A error carrying the page to connect on, and another person's key, or a key an admin
minted for the person, never gets their token."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import keys, registry, roles
from gateway.base import hooks
from gateway.features.a2a import endpoint, save, snapshot
from gateway.features.mcp.oauth import discovery, tokens
from gateway.models import A2aAgent, ApiKey, AuditEvent, McpOAuthState, McpOAuthToken
from tests.live import free_port

SCRIPT = str(Path(__file__).parents[1] / "mcp" / "oauth_test_servers.py")
CALLBACK = "/mcp-connections/callback/"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[int, int]]:
    """(authorization server port, agent port)."""
    as_port, rs_port, agent_port = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, SCRIPT, str(as_port), str(rs_port), "--a2a", str(agent_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    card = f"http://127.0.0.1:{agent_port}/whoami/.well-known/agent-card.json"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{as_port}/_test/state", timeout=0.5)
            httpx.get(card, timeout=0.5)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the OAuth test servers did not start") from None
            time.sleep(0.1)
    yield as_port, agent_port
    process.terminate()
    process.wait(10)


@pytest.fixture(autouse=True)
def _loopback(settings) -> None:
    settings.SWITCHYARD_MCP_HOSTED_ALLOW = "127.0.0.1"  # the authorization server
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"  # the agent's card
    discovery._found.clear()
    tokens._held.clear()


def as_state(as_port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{as_port}/_test/state").json()


@pytest.fixture
def people(db) -> dict[str, User]:
    made = {
        "alice": User.objects.create_user("alice", password="pw-alice-1"),
        "bob": User.objects.create_user("bob", password="pw-bob-1"),
        "admin": User.objects.create_user("boss", password="pw-boss-1"),
    }
    roles.set_role(made["alice"], "member")
    roles.set_role(made["bob"], "viewer")
    roles.set_role(made["admin"], "admin")
    return made


def _agent(as_port: int, agent_port: int, **fields: str) -> A2aAgent:
    values = {
        "name": "whoami",
        "url": f"http://127.0.0.1:{agent_port}/whoami",
        "auth": "oauth",
        "oauth_issuer": f"http://127.0.0.1:{as_port}",
        **fields,
    }
    agent = save.save_agent(None, values)
    registry.rebuild()
    return agent


def _key(owner: User, minted_by: User) -> str:
    created = keys.create_key(name=f"{owner.username}-by-{minted_by.username}", user=owner)
    ApiKey.objects.filter(pk=created.key.pk).update(a2a_allowed=["*"], minted_by=minted_by)
    registry.rebuild()
    return str(created.raw)


def _console(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _connect(browser: Client, agent: A2aAgent, who: str) -> None:
    """Connect from the console, approving as ``who`` at the authorization server; the
    console's one callback sends the browser back to the agents' connections page."""
    page = browser.post(f"/a2a-connections/{agent.pk}/connect/", HTTP_HX_REQUEST="true")
    assert page.status_code == 200, page.content
    location = page["HX-Redirect"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"]
    split = urlsplit(location)
    consent = httpx.post(
        f"{split.scheme}://{split.netloc}/authorize?{split.query}", data={"user": who}
    )
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    assert back.path == CALLBACK
    answer = browser.get(f"{back.path}?{back.query}")
    assert answer.status_code == 302, answer.content
    assert answer["Location"].startswith("/a2a-connections/?connected=whoami")


def _send(key: str, binding: str = "rpc") -> tuple[int, dict]:
    """A message to the agent through ``/a2a/whoami`` (JSON-RPC or HTTP+JSON)."""
    message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=endpoint.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            if binding == "rpc":
                body = {"jsonrpc": "2.0", "id": 7, "method": "SendMessage"}
                body["params"] = {"message": message}
                return await client.post("/a2a/whoami", json=body, headers=headers)
            return await client.post(
                "/a2a/whoami/message:send", json={"message": message}, headers=headers
            )

    answer = async_to_sync(go)()
    return answer.status_code, answer.json()


def _said(answer: dict) -> str:
    result = answer.get("result", answer)
    return str(result["message"]["parts"][0]["text"])


def test_each_caller_sends_their_own_token(upstream, people) -> None:
    as_port, agent_port = upstream
    agent = _agent(as_port, agent_port)
    before = as_state(as_port)
    alice_key = _key(people["alice"], people["alice"])
    bob_key = _key(people["bob"], people["bob"])
    minted_for_alice = _key(people["alice"], people["admin"])

    # nobody connected: an A2A error carrying where to connect, in either binding
    status, answer = _send(alice_key)
    assert status == 200 and answer["error"]["code"] == -32041, answer
    info = answer["error"]["data"][0]
    assert info["reason"] == "AUTHORIZATION_REQUIRED"
    assert info["metadata"]["connect_url"] == "http://gw.test/a2a-connections/"
    assert "http://gw.test/a2a-connections/" in answer["error"]["message"]
    status, answer = _send(alice_key, "rest")
    assert status == 403 and answer["error"]["details"][0]["reason"] == "AUTHORIZATION_REQUIRED"
    assert answer["error"]["details"][0]["metadata"]["connect_url"].endswith("/a2a-connections/")

    # alice connects from the console: registered once, tokens sealed, the state used up
    browser = _console(people["alice"])
    _connect(browser, agent, "alice")
    assert as_state(as_port)["registrations"] == before["registrations"] + 1
    row = McpOAuthToken.objects.get(agent=agent, user=people["alice"])
    assert row.server_id is None and row.refresh_token_ciphertext
    assert not McpOAuthState.objects.exists()
    page = browser.get("/a2a-connections/?connected=whoami")
    assert b"Connected to whoami." in page.content and b"connected</span>" in page.content

    # her own key sends her token, on both bindings
    status, answer = _send(alice_key)
    assert status == 200 and _said(answer) == "user=alice", answer
    status, answer = _send(alice_key, "rest")
    assert status == 200 and _said(answer) == "user=alice", answer

    # bob's key never gets alice's token: he has none of his own
    status, answer = _send(bob_key)
    assert answer["error"]["code"] == -32041, answer
    # a key an admin minted for alice does not act as her
    status, answer = _send(minted_for_alice)
    assert answer["error"]["code"] == -32041, answer
    assert "never with a key someone else minted for them" in answer["error"]["message"]

    # bob connects as himself: his key now sends his own
    _connect(_console(people["bob"]), agent, "bob")
    assert _said(_send(bob_key)[1]) == "user=bob"
    assert _said(_send(alice_key)[1]) == "user=alice"
    assert as_state(as_port)["registrations"] == before["registrations"] + 1  # reused


def test_refresh_before_expiry_and_disconnect(upstream, people) -> None:
    as_port, agent_port = upstream
    agent = _agent(as_port, agent_port)
    alice_key = _key(people["alice"], people["alice"])
    browser = _console(people["alice"])
    _connect(browser, agent, "alice")
    assert _said(_send(alice_key)[1]) == "user=alice"

    # the row says the token ends in 30 s (the margin is 60): refreshed on the next call
    import datetime as dt

    from django.utils import timezone

    before = as_state(as_port)
    old = McpOAuthToken.objects.get(agent=agent).access_token_ciphertext
    McpOAuthToken.objects.filter(agent=agent).update(
        expires_at=timezone.now() + dt.timedelta(seconds=30)
    )
    tokens._held.clear()
    assert _said(_send(alice_key)[1]) == "user=alice"
    assert as_state(as_port)["refreshes"] == before["refreshes"] + 1
    assert McpOAuthToken.objects.get(agent=agent).access_token_ciphertext != old
    assert AuditEvent.objects.filter(
        action="oauth_refresh", object_type="a2a_agent", object_name="whoami"
    ).exists()

    # revoked at the server behind the gateway's back: the 401 refreshes, or asks to connect
    httpx.post(f"http://127.0.0.1:{as_port}/_test/revoke-all")
    status, answer = _send(alice_key)
    assert answer["error"]["code"] == -32041, answer
    assert not McpOAuthToken.objects.filter(agent=agent).exists()  # the dead row is gone

    # connect again, then disconnect from the agent's page: revoked there, deleted here
    _connect(browser, agent, "alice")
    admin = _console(people["admin"])  # the agent's own page, for its admins
    edit = admin.get(f"/a2a-agents/{agent.pk}/")
    assert edit.status_code == 200 and b'id="agent-connection"' in edit.content
    assert b"not connected" in edit.content  # the admin's own connection, not alice's
    revoked = as_state(as_port)["revocations"]
    page = browser.post(f"/a2a-connections/{agent.pk}/disconnect/")
    assert page.status_code == 200 and b"Disconnected from whoami" in page.content
    assert as_state(as_port)["revocations"] == revoked + 2
    assert not McpOAuthToken.objects.filter(agent=agent).exists()
    assert _send(alice_key)[1]["error"]["code"] == -32041


def test_the_authorization_server_is_discovered_and_the_api_keeps_the_settings(
    upstream, people, settings
) -> None:
    """No issuer configured: the agent's 401 names its protected resource metadata, which
    names the authorization server; the management API writes and shows the settings."""
    as_port, agent_port = upstream
    settings.SWITCHYARD_MASTER_KEY = "sy-master-agent-oauth"
    api = Client(HTTP_AUTHORIZATION="Bearer sy-master-agent-oauth")
    made = api.post(
        "/api/a2a-agents/",
        {"name": "whoami", "url": f"http://127.0.0.1:{agent_port}/whoami", "auth": "oauth",
         "oauth_scopes": "mcp"},
        content_type="application/json",
    )  # fmt: skip
    assert made.status_code == 201, made.content
    shown = made.json()
    assert shown["auth"] == "oauth" and shown["oauth_issuer"] == ""
    assert shown["oauth_scopes"] == "mcp" and shown["oauth_client_secret_ref"] == ""
    registry.rebuild()
    agent = A2aAgent.objects.get(name="whoami")
    alice_key = _key(people["alice"], people["alice"])
    _connect(_console(people["alice"]), agent, "alice")
    assert _said(_send(alice_key)[1]) == "user=alice"
    token = McpOAuthToken.objects.get(agent=agent)
    assert token.issuer == f"http://127.0.0.1:{as_port}" and token.scopes == "mcp"


def test_connect_is_only_for_oauth_agents(upstream, people) -> None:
    as_port, agent_port = upstream
    agent = _agent(as_port, agent_port)
    A2aAgent.objects.filter(pk=agent.pk).update(auth="")
    registry.rebuild()
    browser = _console(people["alice"])
    assert browser.post(f"/a2a-connections/{agent.pk}/connect/").status_code == 404
    assert browser.get("/a2a-connections/").status_code == 200
    assert hooks.upstream_oauth  # the MCP unit lends its machinery
    assert snapshot.oauth_target(agent.pk) is None


def test_a_client_secret_is_an_operators_reference(upstream, people) -> None:
    as_port, agent_port = upstream
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        _agent(as_port, agent_port, oauth_client_id="gw", oauth_client_secret_ref="literal")
    assert "os.environ/NAME" in str(refused.value)


def _stream(
    key: str, binding: str = "rpc", method: str = "SendStreamingMessage"
) -> tuple[int, str, list[dict]]:
    """A streamed message to the agent: (status, content type, each event's JSON, or the
    one JSON answer when the call was refused before the stream began)."""
    if method == "message/stream":  # 0.3's spelling
        message = {"messageId": uuid.uuid4().hex, "role": "user", "kind": "message",
                   "parts": [{"kind": "text", "text": "hi"}]}  # fmt: skip
        headers = {"Authorization": f"Bearer {key}", "A2A-Version": "0.3"}
    else:
        message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": "hi"}]}
        headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}
    headers["Accept"] = "text/event-stream"

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=endpoint.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            if binding == "rpc":
                body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": {"message": message}}
                return await client.post("/a2a/whoami", json=body, headers=headers)
            return await client.post(
                "/a2a/whoami/message:stream", json={"message": message}, headers=headers
            )

    answer = async_to_sync(go)()
    kind = answer.headers.get("content-type", "")
    if not kind.startswith("text/event-stream"):
        return answer.status_code, kind, [answer.json()]
    events = [
        json.loads(line[5:].strip())
        for line in answer.text.splitlines()
        if line.startswith("data:")
    ]
    return answer.status_code, kind, events


def _streamed_said(events: list[dict]) -> list[str]:
    said = []
    for event in events:
        result = event.get("result", event)
        message = result.get("message") if "message" in result else result
        for part in (message or {}).get("parts") or ():
            if "text" in part:
                said.append(part["text"])
    return said


STREAMS = [
    ("rpc", "SendStreamingMessage"),
    ("rpc", "message/stream"),
    ("rest", "SendStreamingMessage"),
]


@pytest.mark.parametrize(("binding", "method"), STREAMS)
def test_a_streamed_call_sends_the_callers_own_token(upstream, people, binding, method) -> None:
    """``message/stream`` (and 1.0's, and HTTP+JSON's ``message:stream``) as on a send:
    no connected account is -32041 with where to connect, before any event; the caller's
    own token once connected; an access token the agent refuses (401) is refreshed once
    and the stream sent again; a refresh refused too asks to connect again."""
    as_port, agent_port = upstream
    agent = _agent(as_port, agent_port)
    alice_key = _key(people["alice"], people["alice"])
    minted_for_alice = _key(people["alice"], people["admin"])

    status, kind, (answer,) = _stream(alice_key, binding, method)
    if binding == "rpc":
        assert status == 200 and answer["error"]["code"] == -32041, answer
        assert answer["id"] == 9
        info = answer["error"]["data"][0]
    else:
        assert status == 403, answer
        info = answer["error"]["details"][0]
    assert info["reason"] == "AUTHORIZATION_REQUIRED"
    assert info["metadata"]["connect_url"] == "http://gw.test/a2a-connections/"

    browser = _console(people["alice"])
    _connect(browser, agent, "alice")
    status, kind, events = _stream(alice_key, binding, method)
    assert status == 200 and kind.startswith("text/event-stream"), events
    assert _streamed_said(events) == ["user=alice"], events
    _, _, (refused,) = _stream(minted_for_alice, binding, method)  # never her token
    assert "never with a key someone else minted for them" in json.dumps(refused)

    # the access token revoked behind the gateway's back: one refresh, the stream again
    before = as_state(as_port)
    httpx.post(f"http://127.0.0.1:{as_port}/_test/revoke-access")
    status, kind, events = _stream(alice_key, binding, method)
    assert _streamed_said(events) == ["user=alice"], events
    assert as_state(as_port)["refreshes"] == before["refreshes"] + 1

    # the agent refuses even the refreshed token: one refresh, then asked to connect,
    # never the agent's bare 401 relayed
    before = as_state(as_port)
    httpx.post(f"http://127.0.0.1:{as_port}/_test/agent-refuses?on=1")
    try:
        status, kind, (answer,) = _stream(alice_key, binding, method)
    finally:
        httpx.post(f"http://127.0.0.1:{as_port}/_test/agent-refuses?on=0")
    assert as_state(as_port)["refreshes"] == before["refreshes"] + 1
    assert "AUTHORIZATION_REQUIRED" in json.dumps(answer), answer
    assert "refused your token, refreshed too" in json.dumps(answer)
    assert (status == 200) if binding == "rpc" else (status == 403), answer
    assert _streamed_said(_stream(alice_key, binding, method)[2]) == ["user=alice"]

    # everything revoked: the refresh is refused, the stream asks to connect again
    httpx.post(f"http://127.0.0.1:{as_port}/_test/revoke-all")
    status, kind, (answer,) = _stream(alice_key, binding, method)
    assert "AUTHORIZATION_REQUIRED" in json.dumps(answer), answer
    assert not McpOAuthToken.objects.filter(agent=agent).exists()
