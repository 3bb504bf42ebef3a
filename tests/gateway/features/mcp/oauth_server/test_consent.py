"""The authorize page (``oauth_server.consent``) in process: it names the client, where
the answer goes, the team and the servers and tools the person's keys grant; signed out
it sends to sign-in and back; deny answers ``access_denied`` with the state; a bad
request, a missing CSRF token, a person whose keys grant nothing or a team they are not
in is refused and nothing is stored."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.contrib.auth.models import User

from gateway.access import roles
from gateway.models import ApiKey, McpAuthorizationCode
from tests.gateway.features.mcp.oauth_server.test_views import (
    BASE,
    Client,
    authorize_url,
    pkce,
    register,
    signed_in,
)


def test_the_consent_page_names_client_servers_and_tools(world) -> None:
    client_id = register(client_name="Claude Code")["client_id"]
    _, challenge = pkce()
    page = signed_in(world["users"]["alice"]).get(authorize_url(client_id, challenge))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Claude Code" in text and "127.0.0.1:5555" in text
    assert "<strong>web</strong>" in text and "add" in text and "local" not in text
    assert page["X-Frame-Options"] == "DENY"


def test_signed_out_the_page_sends_to_sign_in_and_back(world) -> None:
    client_id = register()["client_id"]
    _, challenge = pkce()
    url = authorize_url(client_id, challenge)
    answer = Client().get(url)
    assert answer.status_code == 302 and answer["Location"].startswith("/login/?next=")
    assert parse_qs(urlsplit(answer["Location"]).query)["next"] == [url]


def test_deny_goes_back_with_access_denied_and_the_state(world) -> None:
    client_id = register()["client_id"]
    _, challenge = pkce()
    browser = signed_in(world["users"]["alice"])
    answer = browser.post(authorize_url(client_id, challenge), {"decision": "deny"})
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["state-123"]
    assert query["iss"] == [BASE]
    assert McpAuthorizationCode.objects.count() == 0


def test_authorize_refuses_bad_requests_without_storing(world) -> None:
    client_id = register()["client_id"]
    _, challenge = pkce()
    browser = signed_in(world["users"]["alice"])
    # the client or redirect URI does not check out: an error page, never a redirect
    for url in (
        authorize_url("unknown-client", challenge),
        authorize_url(client_id, challenge, redirect_uri="https://evil.example/cb"),
        authorize_url(client_id, challenge, redirect_uri="http://127.0.0.1:5555/other"),
    ):
        for method in ("get", "post"):
            answer = getattr(browser, method)(
                url, {"decision": "approve"} if method == "post" else None
            )
            assert answer.status_code == 400, (url, answer.status_code)
            assert b"not valid" in answer.content
    # after the redirect URI checked out: back to the client with the error and state
    for extra, error in (
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"resource": "https://evil.example/mcp"}, "invalid_target"),
        ({"resource": BASE + "/v1"}, "invalid_target"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ):
        answer = browser.post(authorize_url(client_id, challenge, **extra), {"decision": "approve"})
        assert answer.status_code == 302, (extra, answer.content)
        query = parse_qs(urlsplit(answer["Location"]).query)
        assert query["error"] == [error], (extra, query)
        assert query.get("state") == ["state-123"]
        assert query.get("iss") == [BASE]  # errors sent back name the issuer too
    assert McpAuthorizationCode.objects.count() == 0


def test_the_consent_answer_needs_the_csrf_token(world) -> None:
    client_id = register()["client_id"]
    _, challenge = pkce()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world["users"]["alice"])
    answer = browser.post(authorize_url(client_id, challenge), {"decision": "approve"})
    assert answer.status_code == 403
    assert McpAuthorizationCode.objects.count() == 0


def test_a_user_whose_keys_grant_nothing_cannot_approve(world) -> None:
    carol = User.objects.create_user("carol", password="pw-123456789")
    roles.set_role(carol, "member")
    client_id = register()["client_id"]
    _, challenge = pkce()
    page = signed_in(carol).get(authorize_url(client_id, challenge))
    assert page.status_code == 200 and b"None of your keys grants MCP" in page.content
    answer = signed_in(carol).post(authorize_url(client_id, challenge), {"decision": "approve"})
    assert answer.status_code == 400
    assert McpAuthorizationCode.objects.count() == 0
    assert not ApiKey.objects.filter(scopes="mcp-oauth").exists()


def test_a_team_the_user_is_not_in_is_refused(world) -> None:
    client_id = register()["client_id"]
    _, challenge = pkce()
    beta = str(world["beta"].pk)
    answer = signed_in(world["users"]["alice"]).post(
        authorize_url(client_id, challenge), {"decision": "approve", "team": beta}
    )
    assert answer.status_code == 400
    assert McpAuthorizationCode.objects.count() == 0
