"""The authorization server in process (Django's test client, the ``/mcp`` token check):
registration, the consent page, the code exchange with PKCE, refresh rotation,
revocation, and every bad input named in issue #41: a clear error, nothing stored."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from gateway.features.mcp.oauth_server import tokens
from gateway.models import (
    McpAccessToken,
    McpAuthorizationCode,
)

BASE = "http://testserver"
REDIRECT = "http://127.0.0.1:5555/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def register(client: Client | None = None, **fields: Any) -> dict[str, Any]:
    body = {"client_name": "Test agent", "redirect_uris": [REDIRECT], **fields}
    answer = (client or Client()).post("/oauth/register", body, content_type="application/json")
    assert answer.status_code == 201, answer.content
    return dict(answer.json())


def authorize_url(client_id: str, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": BASE + "/mcp",
        "scope": "mcp",
        **extra,
    }
    return "/oauth/authorize/?" + urlencode({k: v for k, v in params.items() if v != ""})


def approve(browser: Client, url: str, **form: str) -> dict[str, list[str]]:
    answer = browser.post(url, {"decision": "approve", **form})
    assert answer.status_code == 302, answer.content.decode()[-900:]
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT), location
    query = parse_qs(urlsplit(location).query)
    assert query["iss"] == [BASE]  # RFC 9207: the issuer the metadata names
    return query


def signed_in(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def exchange(client_id: str, code: str, verifier: str, **extra: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
        "resource": BASE + "/mcp",
        **extra,
    }
    return Client().post("/oauth/token", data)


def sign_in(world: dict[str, Any], who: str = "alice") -> tuple[str, dict[str, Any]]:
    client_id = register()["client_id"]
    verifier, challenge = pkce()
    answer = approve(signed_in(world["users"][who]), authorize_url(client_id, challenge))
    assert answer["state"] == ["state-123"]
    tokens_ = exchange(client_id, answer["code"][0], verifier)
    assert tokens_.status_code == 200, tokens_.content
    return client_id, tokens_.json()


def check(raw: str, path: str = "/mcp") -> tokens.Checked:
    tokens.forget()
    return async_to_sync(tokens.check)(raw, path)


# --- metadata and the 401 ---------------------------------------------------------------------


def test_metadata_documents_name_the_gateway(world) -> None:
    prm = Client().get("/.well-known/oauth-protected-resource/mcp").json()
    assert prm["resource"] == BASE + "/mcp" and prm["authorization_servers"] == [BASE]
    one = Client().get("/.well-known/oauth-protected-resource/mcp/web").json()
    assert one["resource"] == BASE + "/mcp/web"
    meta = Client().get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == BASE
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    assert meta["registration_endpoint"] == BASE + "/oauth/register"
    assert meta["authorization_response_iss_parameter_supported"] is True  # RFC 9207
    answer = Client().options("/oauth/token")
    assert answer.status_code == 204 and answer["Access-Control-Allow-Origin"] == "*"


async def test_mcp_without_credentials_points_at_the_resource_metadata(world) -> None:
    from gateway.features.mcp import endpoint

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for path, where in (("/mcp", "/mcp"), ("/mcp/web", "/mcp/web")):
        for token in (None, "sy-mcp-at-forged", "sy-not-a-key"):
            sent.clear()
            headers = [(b"host", b"gw.example:8443")]
            if token:
                headers.append((b"authorization", f"Bearer {token}".encode()))
            scope = {"type": "http", "method": "POST", "path": path, "headers": headers,
                     "scheme": "https", "query_string": b""}  # fmt: skip
            await endpoint.app(scope, receive, send)
            assert sent[0]["status"] == 401
            challenge = dict(sent[0]["headers"])[b"www-authenticate"].decode()
            url = f"https://gw.example:8443/.well-known/oauth-protected-resource{where}"
            assert f'resource_metadata="{url}"' in challenge
            assert ('error="invalid_token"' in challenge) == bool(token)


# --- the happy path -----------------------------------------------------------------------


def test_a_signed_in_client_acts_as_its_user_with_their_grants_only(world) -> None:
    client_id, pair = sign_in(world, "alice")
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 3600
    assert pair["access_token"].startswith("sy-mcp-at-")
    assert pair["refresh_token"].startswith("sy-mcp-rt-")
    checked = check(pair["access_token"])
    assert checked.key is not None, checked.problem
    alice = world["users"]["alice"]
    assert checked.key.user_id == alice.pk and checked.key.team is not None
    assert checked.key.team.name == "alpha"
    assert checked.key.mcp_allowed == frozenset({"web__add"})
    assert checked.key.name == "mcp-oauth:alice (alpha)"
    # stored hashed only
    row = McpAccessToken.objects.get()
    assert pair["access_token"] not in str(row.__dict__)
    assert row.access_hash == hashlib.sha256(pair["access_token"].encode()).hexdigest()
    # bob's sign-in sees bob's grant, never alice's
    _, bobs = sign_in(world, "bob")
    theirs = check(bobs["access_token"])
    assert theirs.key is not None and theirs.key.mcp_allowed == frozenset({"local"})
    assert theirs.key.user_id == world["users"]["bob"].pk


def test_an_expired_token_is_refused(world) -> None:
    _, pair = sign_in(world)
    McpAccessToken.objects.update(expires_at=McpAccessToken.objects.get().issued_at)
    assert check(pair["access_token"]).problem == "this access token has expired"


def test_a_token_for_one_server_opens_that_server_only(world) -> None:
    client_id = register()["client_id"]
    verifier, challenge = pkce()
    url = authorize_url(client_id, challenge, resource=BASE + "/mcp/web")
    code = approve(signed_in(world["users"]["alice"]), url)["code"][0]
    answer = exchange(client_id, code, verifier, resource=BASE + "/mcp/web")
    raw = answer.json()["access_token"]
    assert check(raw, "/mcp/web").key is not None
    assert "not /mcp" in check(raw, "/mcp").problem
    assert check(raw, "/mcp/local").key is None


# --- bad input: a clear error, nothing stored -------------------------------------------------


def nothing_stored() -> None:
    assert McpAccessToken.objects.count() == 0
    assert McpAuthorizationCode.objects.filter(used_at__isnull=False).count() == 0


def test_a_deactivated_user_token_is_refused(world) -> None:
    _, pair = sign_in(world)
    alice = world["users"]["alice"]
    alice.is_active = False
    alice.save()
    assert "no longer active" in check(pair["access_token"]).problem
