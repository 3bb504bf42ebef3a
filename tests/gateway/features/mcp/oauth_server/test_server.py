"""The authorization server's grants and endpoints (``oauth_server.server``) in process:
refresh rotation and a spent refresh token revoking its family, a loopback redirect on
another port, a wrong verifier, redirect or resource, a replayed code revoking what it
gave, malformed codes and grants, and registration refusing untrusted redirects and
grants: a clear error each time, nothing stored."""

from __future__ import annotations

from gateway.models import McpAccessToken, McpOAuthClient
from tests.gateway.features.mcp.oauth_server.test_views import (
    REDIRECT,
    Client,
    approve,
    authorize_url,
    check,
    exchange,
    nothing_stored,
    pkce,
    register,
    sign_in,
    signed_in,
)


def test_refresh_rotates_and_a_spent_refresh_token_revokes_the_family(world) -> None:
    client_id, pair = sign_in(world)
    refresh = {"grant_type": "refresh_token", "client_id": client_id}
    answer = Client().post("/oauth/token", {**refresh, "refresh_token": pair["refresh_token"]})
    assert answer.status_code == 200, answer.content
    new = answer.json()
    assert new["refresh_token"] != pair["refresh_token"]
    assert check(new["access_token"]).key is not None
    again = Client().post("/oauth/token", {**refresh, "refresh_token": pair["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "revoked" in check(new["access_token"]).problem  # the whole family
    after = Client().post("/oauth/token", {**refresh, "refresh_token": new["refresh_token"]})
    assert after.status_code == 400


def test_a_loopback_redirect_may_use_another_port(world) -> None:
    client_id = register()["client_id"]
    verifier, challenge = pkce()
    url = authorize_url(client_id, challenge, redirect_uri="http://127.0.0.1:6001/callback")
    answer = signed_in(world["users"]["alice"]).post(url, {"decision": "approve"})
    assert answer["Location"].startswith("http://127.0.0.1:6001/callback?code=")


def test_a_wrong_verifier_or_redirect_or_resource_gets_no_token(world) -> None:
    client_id = register()["client_id"]
    verifier, challenge = pkce()
    code = approve(signed_in(world["users"]["alice"]), authorize_url(client_id, challenge))
    code = code["code"][0]
    wrong = exchange(client_id, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = exchange(client_id, code, "")
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    elsewhere = exchange(client_id, code, verifier, redirect_uri="http://127.0.0.1:5555/other")
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_grant"
    target = exchange(client_id, code, verifier, resource="https://evil.example/mcp")
    assert target.status_code == 400 and target.json()["error"] == "invalid_target"
    other = register()["client_id"]
    stolen = exchange(other, code, verifier)
    assert stolen.status_code == 400
    nothing_stored()
    assert exchange(client_id, code, verifier).status_code == 200  # the code still good


def test_a_replayed_code_is_refused_and_revokes_what_it_gave(world) -> None:
    client_id = register()["client_id"]
    verifier, challenge = pkce()
    code = approve(signed_in(world["users"]["alice"]), authorize_url(client_id, challenge))
    first = exchange(client_id, code["code"][0], verifier)
    assert first.status_code == 200
    again = exchange(client_id, code["code"][0], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert McpAccessToken.objects.count() == 1
    assert "revoked" in check(first.json()["access_token"]).problem


def test_malformed_codes_and_grants_are_clear_errors(world) -> None:
    client_id = register()["client_id"]
    for data in (
        {"grant_type": "authorization_code", "client_id": client_id, "code": "x" * 5000},
        {"grant_type": "authorization_code", "client_id": client_id},
        {"grant_type": "password", "client_id": client_id},
        {"grant_type": "authorization_code", "client_id": "nobody", "code": "abc"},
        {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": "sy-mcp-rt-x"},
    ):
        answer = Client().post("/oauth/token", data)
        assert 400 <= answer.status_code < 500, (data, answer.content)
        assert answer.json()["error"], data
    assert Client().get("/oauth/token").status_code == 405
    nothing_stored()


def test_registration_refuses_untrusted_redirects_and_grants(world) -> None:
    for fields in (
        {"redirect_uris": ["http://evil.example/cb"]},
        {"redirect_uris": ["javascript:alert(1)"]},
        {"redirect_uris": ["https://app.example/cb#frag"]},
        {"redirect_uris": []},
        {"grant_types": ["client_credentials"]},
        {"response_types": ["token"]},
    ):
        body = {"client_name": "x", "redirect_uris": [REDIRECT], **fields}
        answer = Client().post("/oauth/register", body, content_type="application/json")
        assert answer.status_code == 400, (fields, answer.content)
        assert answer.json()["error"] == "invalid_client_metadata", fields
    bad = Client().post("/oauth/register", "{not json", content_type="application/json")
    assert bad.status_code == 400
    assert McpOAuthClient.objects.count() == 0
    ok = register(token_endpoint_auth_method="client_secret_basic")
    assert ok["token_endpoint_auth_method"] == "none" and "client_secret" not in ok
    native = register(redirect_uris=["cursor://anysphere.cursor-mcp/oauth/callback"])
    assert native["client_id"]
