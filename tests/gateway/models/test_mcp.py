"""The MCP feature's tables (``gateway.models.mcp``): every OAuth row names one server or
one agent, never both nor neither; the gateway's own OAuth clients, codes and tokens
answer Authlib's questions (redirect URIs exact or loopback on any port, scopes within
the registered ones, expiry, revocation, a refresh token usable once and in time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.models import A2aAgent, McpServer
from gateway.models.mcp import (
    McpAccessToken,
    McpApprovalUse,
    McpAuthorizationCode,
    McpOAuthClient,
    McpOAuthState,
    McpOAuthToken,
    McpSessionEnd,
    McpTask,
    McpUpstreamClient,
    token_hash,
)


def test_a_hash_is_the_sha256_of_the_raw_value() -> None:
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_simple_rows_read_as_their_ids() -> None:
    soon = timezone.now()
    assert str(McpApprovalUse(nonce="n1", expires_at=soon)) == "n1"
    assert str(McpSessionEnd(session="s1", expires_at=soon)) == "s1"
    assert str(McpTask(task_id="t1", upstream_task_id="u1")) == "t1"


@pytest.mark.django_db
def test_an_oauth_row_names_exactly_one_server_or_agent() -> None:
    server = McpServer.objects.create(name="docs", url="http://127.0.0.1:9/mcp")
    agent = A2aAgent.objects.create(name="helper", url="https://agent.example/")
    user = User.objects.create_user("ada")
    client = McpUpstreamClient.objects.create(server=server, issuer="https://i", client_id="c1")
    token = McpOAuthToken.objects.create(agent=agent, user=user, access_token_ciphertext="x")
    service = McpOAuthToken.objects.create(server=server, access_token_ciphertext="x")
    state = McpOAuthState.objects.create(
        state_hash="h", agent=agent, user=user, verifier_ciphertext="v",
        redirect_uri="https://gw/cb", issuer="https://i", expires_at=timezone.now(),
    )  # fmt: skip
    assert str(client) == f"{server.pk}:c1"
    assert (str(token), str(service)) == (f"{agent.pk}:{user.pk}", f"{server.pk}:service")
    assert str(state) == f"{agent.pk}:{user.pk}"
    for both in ({"server": server, "agent": agent}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            McpOAuthToken.objects.create(user=user, access_token_ciphertext="x", **both)
    with pytest.raises(IntegrityError), transaction.atomic():  # one service token a server
        McpOAuthToken.objects.create(server=server, access_token_ciphertext="y")


def client(**fields) -> McpOAuthClient:  # type: ignore[no-untyped-def]
    return McpOAuthClient(client_id="abcdefghijkl", **fields)


def test_a_client_is_named_by_its_name_its_documents_host_or_its_id() -> None:
    assert client(client_name="Claude").display_name == "Claude"
    assert str(client(client_name="Claude")) == "Claude" and str(client()) == "abcdefghijkl"
    assert client().display_name == "an unnamed MCP client (abcdefgh…)"
    document = McpOAuthClient(
        client_id="https://tools.example/client.json", metadata_fetched_at=timezone.now()
    )
    assert document.display_name == "an unnamed MCP client of tools.example"


def test_a_redirect_uri_is_a_registered_one_or_a_loopback_one_on_any_port() -> None:
    row = client(redirect_uris=["http://127.0.0.1:3000/cb", "https://app.example/cb"])
    assert row.check_redirect_uri("https://app.example/cb")
    assert row.check_redirect_uri("http://127.0.0.1:51234/cb")
    assert not row.check_redirect_uri("http://127.0.0.1:51234/other")
    assert not row.check_redirect_uri("https://app.example:444/cb")
    assert not row.check_redirect_uri("http://evil.example:3000/cb")
    assert row.get_default_redirect_uri() is None
    assert client(redirect_uris=["https://one/cb"]).get_default_redirect_uri() == "https://one/cb"


def test_scopes_grants_and_auth_methods_of_a_public_client() -> None:
    assert client(scope="read write").get_allowed_scope("read admin") == "read"
    assert client().get_allowed_scope("read admin") == "read admin"
    assert client(scope="read").get_allowed_scope("") == ""
    row = client()
    assert row.get_client_id() == "abcdefghijkl"
    assert not row.check_client_secret("anything")
    assert row.check_endpoint_auth_method("none", "token")
    assert not row.check_endpoint_auth_method("client_secret_basic", "token")
    assert row.check_response_type("code") and not row.check_response_type("token")
    assert row.check_grant_type("refresh_token") and not row.check_grant_type("password")
    assert client(grant_types=["authorization_code"]).check_grant_type("refresh_token") is False


def test_a_code_expires_and_answers_its_uri_and_scope() -> None:
    code = McpAuthorizationCode(
        code_hash="0123456789ab", redirect_uri="https://cb", scope="mcp",
        expires_at=timezone.now() + timedelta(minutes=1), client_id=4,
    )  # fmt: skip
    assert (code.get_redirect_uri(), code.get_scope()) == ("https://cb", "mcp")
    assert not code.is_expired()
    code.expires_at = timezone.now() - timedelta(seconds=1)
    assert code.is_expired()
    assert str(code) == "code for 4 (01234567)"


def test_a_token_knows_its_client_lifetime_revocation_and_refresh() -> None:
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    token = McpAccessToken(
        access_hash="feedbeef0000", client_id=4, user_id=9, scope="mcp",
        issued_at=issued, expires_at=issued + timedelta(seconds=3600),
    )  # fmt: skip
    assert str(token) == "token of 9 for 4 (feedbeef)"
    assert token.get_expires_in() == 3600 and token.get_scope() == "mcp"
    assert token.is_expired()  # 2026-01-01 is past
    assert token.check_client(McpOAuthClient(pk=4)) and not token.check_client(object())
    assert not token.is_revoked() and not token.refresh_usable  # no refresh token's expiry
    token.refresh_expires_at = timezone.now() + timedelta(days=1)
    assert token.refresh_usable
    token.refresh_used_at = timezone.now()
    assert not token.refresh_usable
    token.refresh_used_at, token.revoked_at = None, timezone.now()
    assert token.is_revoked() and not token.refresh_usable
    token.expires_at = issued - timedelta(seconds=5)
    assert token.get_expires_in() == 0
