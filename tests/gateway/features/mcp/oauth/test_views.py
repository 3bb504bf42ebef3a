"""Each person's OAuth connections page (``oauth.views``) through the console: the list
of servers that act for each person, connect (a client-side redirect for htmx, a link
for a plain post), the callback (an agent's back to its page) and disconnect, each
handing the person's own id to ``flow`` (stood in for here: its exchanges are
``test_flow``'s); a server that does not act for each person is not there (404)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import RequestFactory
from django.utils import timezone

from gateway.base.entries import OAuthTarget
from gateway.features.mcp.oauth import flow, views
from gateway.models import McpServer
from gateway.models.mcp import McpOAuthToken

AUTHORIZE = "https://as.example/authorize?state=s1"


@pytest.fixture
def files(db) -> McpServer:
    return McpServer.objects.create(name="files", url="https://mcp.example/mcp", oauth="per_user")


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list:
    """``flow`` as the views call it: what each was asked, and a plain answer."""
    seen: list = []

    async def connect(server_id, user_id, redirect_uri):  # type: ignore[no-untyped-def]
        seen.append(("connect", server_id, user_id, redirect_uri))
        return AUTHORIZE

    async def disconnect(server_id, user_id):  # type: ignore[no-untyped-def]
        seen.append(("disconnect", server_id, user_id))
        return True

    monkeypatch.setattr(flow, "connect", connect)
    monkeypatch.setattr(flow, "disconnect", disconnect)
    return seen


def test_the_list_shows_who_is_connected_to_what(staff_client, staff, files) -> None:
    McpServer.objects.create(name="shared", url="https://s.example/mcp")  # no per-person OAuth
    McpServer.objects.create(
        name="off", url="https://o.example/mcp", oauth="per_user", enabled=False
    )
    McpOAuthToken.objects.create(
        server=files,
        user=staff,
        expires_at=timezone.now() + dt.timedelta(hours=1),
        access_token_ciphertext="x",
    )
    page = staff_client.get("/mcp-connections/")
    assert page.status_code == 200
    listed = [s.name for s in page.context["servers"]]
    assert listed == ["files"]
    assert page.context["servers"][0].connected


def test_connect_sends_the_browser_to_the_authorization_server(
    staff_client, staff, files, asked
) -> None:
    htmx = staff_client.post(
        f"/mcp-connections/{files.pk}/connect/", headers={"HX-Request": "true"}
    )
    assert htmx.headers["HX-Redirect"] == AUTHORIZE
    plain = staff_client.post(f"/mcp-connections/{files.pk}/connect/")
    assert plain.status_code == 200 and plain.context["continue_to"] == AUTHORIZE
    assert plain.context["continue_host"] == "as.example"
    assert asked[0] == (
        "connect",
        files.pk,
        staff.pk,
        "http://testserver/mcp-connections/callback/",
    )


def test_a_failed_connect_is_said_on_the_page(staff_client, files, monkeypatch) -> None:
    async def refused(*args):  # type: ignore[no-untyped-def]
        raise flow.FlowError("MCP server files: OAuth discovery failed")

    monkeypatch.setattr(flow, "connect", refused)
    page = staff_client.post(f"/mcp-connections/{files.pk}/connect/")
    assert page.status_code == 502 and b"OAuth discovery failed" in page.content


def test_only_a_server_that_acts_for_each_person_is_connected(staff_client, asked) -> None:
    shared = McpServer.objects.create(name="shared", url="https://s.example/mcp")
    assert staff_client.post(f"/mcp-connections/{shared.pk}/connect/").status_code == 404
    assert staff_client.post(f"/mcp-connections/{shared.pk}/disconnect/").status_code == 404
    assert staff_client.get(f"/mcp-connections/{shared.pk}/connect/").status_code == 405
    assert asked == []


def test_disconnect_says_whether_the_tokens_were_revoked(staff_client, staff, files, asked) -> None:
    page = staff_client.post(f"/mcp-connections/{files.pk}/disconnect/")
    assert (
        page.context["message"]
        == "Disconnected from files: your tokens were revoked at the server."
    )
    assert asked == [("disconnect", files.pk, staff.pk)]


def test_the_callback_completes_as_the_signed_in_person(
    staff_client, staff, files, monkeypatch
) -> None:
    completed: list = []
    target: list = [files]

    async def complete(params, user_id):  # type: ignore[no-untyped-def]
        completed.append((params, user_id))
        if isinstance(target[0], Exception):
            raise target[0]
        return target[0]

    monkeypatch.setattr(flow, "complete_target", complete)
    page = staff_client.get("/mcp-connections/callback/?code=c1&state=s1")
    assert page.context["message"] == "Connected to files."
    assert completed == [({"code": "c1", "state": "s1"}, staff.pk)]
    target[0] = OAuthTarget(
        kind="agent", id=2, name="helper", url="https://a.example", page="/a2a-agents/2/"
    )
    back = staff_client.get("/mcp-connections/callback/?code=c2&state=s2")
    assert back.status_code == 302 and back.headers["Location"] == "/a2a-agents/2/?connected=helper"
    target[0] = flow.FlowError("this authorization is unknown, used or expired")
    bad = staff_client.get("/mcp-connections/callback/?state=forged")
    assert bad.status_code == 400 and b"unknown, used or expired" in bad.content


def test_the_redirect_uri_is_the_operators_or_this_consoles(monkeypatch) -> None:
    request = RequestFactory().get("/", HTTP_HOST="console.example")
    assert views.redirect_uri(request) == "http://console.example/mcp-connections/callback/"  # type: ignore[arg-type]
    monkeypatch.setenv("SWITCHYARD_MCP_OAUTH_REDIRECT_URI", " https://public.example/cb/ ")
    assert views.redirect_uri(request) == "https://public.example/cb/"  # type: ignore[arg-type]
