"""The A2A agents' console pages: the list with each agent's path and recent calls, an
agent added from its card URL (a real SDK agent on 127.0.0.1), edited with its token kept,
deleted."""

from __future__ import annotations

import pytest

from gateway.models import A2aAgent, RequestLog
from tests.console.role_sets import ADMINS, ALL, Expectation
from tests.gateway.features.a2a import live_agents

# Who may open the A2A pages (the role matrix collects this): agents' URLs and tokens are
# the admins', as MCP servers are.
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    **{
        name: (ADMINS, ADMINS)
        for name in ("a2a", "a2a-create", "a2a-edit", "a2a-delete", "a2a-refresh")
    },
    # one's own OAuth connections to agents with auth "oauth" (test_oauth_agents.py)
    **{name: (ALL, ALL) for name in ("a2a-connections", "a2a-connect", "a2a-disconnect")},
}
TOKEN = "console-agent-token-5512"


@pytest.fixture(scope="module")
def agents():  # type: ignore[no-untyped-def]
    with live_agents.running("echo") as ports:
        yield ports


def test_the_list_shows_agents_and_their_calls(staff_client) -> None:  # type: ignore[no-untyped-def]
    A2aAgent.objects.create(name="helper", url="https://agents.example/helper", card={})
    RequestLog.objects.create(
        request_id="a2a_x1", dialect="a2a", endpoint="SendMessage", route="helper",
        upstream_model="task-77", status=200, key_name="k",
    )  # fmt: skip
    page = staff_client.get("/a2a-agents/")
    assert page.status_code == 200
    assert b"/a2a/helper" in page.content and b"task-77" in page.content


def test_an_agent_is_added_edited_and_deleted(staff_client, agents, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"
    url = f"http://127.0.0.1:{agents['echo']}/echo"
    form = {"name": "echo", "url": url, "auth": "bearer", "bearer": TOKEN, "price_usd": "0"}
    added = staff_client.post("/a2a-agents/new/", {**form, "timeout": "30", "enabled": "on"})
    assert added.status_code in (200, 302), added.content
    agent = A2aAgent.objects.get(name="echo")
    assert agent.card["name"] == "echo" and agent.bearer_ciphertext
    edit = staff_client.get(f"/a2a-agents/{agent.pk}/")
    assert TOKEN.encode() not in edit.content
    changed = staff_client.post(
        f"/a2a-agents/{agent.pk}/",
        {**form, "bearer": "", "description": "echoes", "timeout": "30", "enabled": "on"},
    )
    assert changed.status_code in (200, 302), changed.content
    agent.refresh_from_db()
    assert agent.description == "echoes" and agent.bearer_ciphertext  # the token kept
    refused = staff_client.post(
        "/a2a-agents/new/", {**form, "name": "nowhere", "url": url + "/x", "timeout": "30"}
    )
    assert b"could not be fetched" in refused.content
    assert staff_client.post(f"/a2a-agents/{agent.pk}/delete/").status_code in (200, 302)
    assert not A2aAgent.objects.exists()


@pytest.fixture(scope="module")
def secured():  # type: ignore[no-untyped-def]
    with live_agents.running("guarded", "pinned") as ports:
        yield ports


def test_the_cards_security_schemes_fill_the_form_and_refuse_what_cannot_be_served(
    staff_client, secured, settings
) -> None:  # type: ignore[no-untyped-def]
    """ "Read the card's auth" fetches the card at the URL typed and fills in what its
    ``securitySchemes`` ask (OAuth, its authorization server and scopes; its
    authorization and token URLs shown); a card asking for mutual TLS only is refused
    when saved, on the auth field, naming the card's scheme and why."""
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"
    url = f"http://127.0.0.1:{secured['guarded']}/guarded"
    typed = {"name": "guarded", "url": url, "price_usd": "0", "timeout": "30", "enabled": "on"}
    page = staff_client.post("/a2a-agents/new/", {**typed, "discover": "1"}, HTTP_HX_REQUEST="true")
    assert page.status_code == 200 and not A2aAgent.objects.exists()  # nothing saved
    html = page.content.decode()
    assert '<option value="oauth" selected>' in html, html
    assert 'value="https://login.example"' in html and 'name="oauth_scopes" value="read"' in html
    assert "https://login.example/authorize" in html and "https://login.example/token" in html
    assert 'value="guarded"' in html  # what was typed is kept
    saved = staff_client.post("/a2a-agents/new/", {**typed, "auth": "oauth",
                              "oauth_issuer": "https://login.example", "oauth_scopes": "read"})  # fmt: skip
    assert saved.status_code in (200, 302), saved.content
    agent = A2aAgent.objects.get(name="guarded")
    assert agent.auth == "oauth" and agent.card["securitySchemes"]["sso"]
    edit = staff_client.get(f"/a2a-agents/{agent.pk}/").content.decode()
    assert "The agent card asks for" in edit and "https://login.example/token" in edit

    pinned = f"http://127.0.0.1:{secured['pinned']}/pinned"
    found = staff_client.post("/a2a-agents/new/", {**typed, "url": pinned, "discover": "1"})
    assert "securitySchemes.client-cert (mutual TLS)" in found.content.decode()
    refused = staff_client.post("/a2a-agents/new/", {**typed, "name": "pinned", "url": pinned})
    html = refused.content.decode()
    assert "asks for auth the gateway cannot give" in html
    assert (
        "securitySchemes.client-cert (mutual TLS): the gateway presents no client certificate"
        in html
    )
    assert not A2aAgent.objects.filter(name="pinned").exists()
