"""The MCP authorization server's tokens (``gateway.features.mcp.oauth_server.tokens``): a
revoked token is refused at once."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import keys, registry, roles
from gateway.features.mcp.oauth_server import tokens
from gateway.models import (
    ApiKey,
    McpServer,
    Membership,
    Team,
)

BASE = "http://testserver"
REDIRECT = "http://127.0.0.1:5555/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


@pytest.fixture
def world(transactional_db, snapshot_reset, monkeypatch) -> dict[str, Any]:
    """alice (member of alpha) holds a key granting ``web__add``; bob (member of beta)
    one granting all of ``local``; both servers registered. (Django's test host is
    ``testserver`` over http: Authlib wants https or a loopback address otherwise.)"""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    for name in ("web", "local"):
        McpServer.objects.create(name=name, transport="streamable_http", url=f"http://x/{name}")
    alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
    users = {}
    for name, team, grant in (("alice", alpha, ["web__add"]), ("bob", beta, ["local"])):
        user = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(user, "member")
        Membership.objects.create(user=user, team=team, role="member")
        keys.create_key(name=f"{name}-key", team=team.pk, user=user.pk, mcp_allowed=grant)
        users[name] = user
    registry.rebuild()
    return {"users": users, "alpha": alpha, "beta": beta}


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


# --- metadata and the 401 ---------------------------------------------------------------------


def test_revocation_is_refused_at_once(world) -> None:
    client_id, pair = sign_in(world)
    tokens.forget()
    assert async_to_sync(tokens.check)(pair["access_token"], "/mcp").key is not None
    answer = Client().post("/oauth/revoke", {"token": pair["access_token"], "client_id": client_id})
    assert answer.status_code == 200
    # no forget() here: the revocation is a registry change, which empties the cache
    checked = async_to_sync(tokens.check)(pair["access_token"], "/mcp")
    assert checked.key is None and "revoked" in checked.problem
    # revoking the managed key signs every client of the user out
    _, other = sign_in(world)
    key = ApiKey.objects.get(scopes="mcp-oauth", user=world["users"]["alice"])
    keys.revoke_key(key)
    assert "revoked" in async_to_sync(tokens.check)(other["access_token"], "/mcp").problem
