"""The OAuth rows (``oauth.store``): tokens, clients and pending authorizations saved
sealed and read back as plain values; a pending authorization taken once, only by who
started it and only before it expires; a registered client only for its issuer and
redirect URI."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from gateway.features.mcp.oauth import store
from gateway.models import McpServer
from gateway.models.mcp import McpOAuthState, McpOAuthToken, McpUpstreamClient


@pytest.fixture
async def world(transactional_db) -> tuple[McpServer, User, User]:
    server = await McpServer.objects.acreate(
        name="files", url="https://mcp.example/mcp", oauth="per_user"
    )
    alice = await User.objects.acreate(username="alice")
    bob = await User.objects.acreate(username="bob")
    return server, alice, bob


async def test_tokens_are_sealed_and_read_back(world) -> None:
    server, alice, _ = world
    at = time.time() + 3600
    saved = store.Tokens("access-secret", "refresh-secret", at, "read", "https://as.example")
    await store.save_tokens(server.pk, alice.pk, saved)
    row = await McpOAuthToken.objects.aget(server=server, user=alice)
    assert "access-secret" not in row.access_token_ciphertext
    assert "refresh-secret" not in row.refresh_token_ciphertext
    loaded = await store.load_tokens({"server_id": server.pk}, alice.pk)
    assert loaded is not None
    assert (loaded.access, loaded.refresh, loaded.scopes, loaded.issuer) == (
        "access-secret", "refresh-secret", "read", "https://as.example",
    )  # fmt: skip
    assert loaded.expires_at == pytest.approx(at, abs=1)
    await store.save_tokens(server.pk, alice.pk, store.Tokens("newer", "", None, "", "i"))
    again = await store.load_tokens(server.pk, alice.pk)
    assert again is not None and (again.access, again.refresh, again.expires_at) == (
        "newer",
        "",
        None,
    )
    assert await McpOAuthToken.objects.filter(server=server).acount() == 1
    assert await store.load_tokens(server.pk, None) is None  # the service's are its own
    assert await store.delete_tokens(server.pk, alice.pk)
    assert not await store.delete_tokens(server.pk, alice.pk)
    assert await store.load_tokens(server.pk, alice.pk) is None


def test_tokens_of_a_token_endpoints_answer() -> None:
    answer = {"access_token": "a", "refresh_token": "r", "expires_at": 1700000000, "scope": "x y"}
    assert store.tokens_of(answer, "iss") == store.Tokens("a", "r", 1700000000.0, "x y", "iss")
    refreshed = store.tokens_of({"access_token": "b"}, "iss", keep_refresh="r")
    assert refreshed == store.Tokens("b", "r", None, "", "iss")


def test_connected_lists_the_servers_a_person_connected(db) -> None:
    files = McpServer.objects.create(name="files", url="https://mcp.example/mcp", oauth="per_user")
    mail = McpServer.objects.create(name="mail", url="https://mail.example/mcp", oauth="per_user")
    McpServer.objects.create(name="idle", url="https://idle.example/mcp", oauth="per_user")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    expiry = timezone.now() + dt.timedelta(hours=1)
    McpOAuthToken.objects.create(
        server=files, user=alice, expires_at=expiry, access_token_ciphertext="x"
    )
    McpOAuthToken.objects.create(server=mail, user=alice, access_token_ciphertext="x")
    McpOAuthToken.objects.create(server=files, user=bob, access_token_ciphertext="x")
    assert store.connected_servers(alice.pk) == {files.pk: expiry, mail.pk: None}
    assert store.connected("agent_id", alice.pk) == {}


async def test_a_registered_client_is_for_its_issuer_and_redirect_uri(world) -> None:
    server, _, _ = world
    where = {"server_id": server.pk}
    assert await store.registered_client(where, "https://as.example", "") is None
    client = store.Client("client-1", "client-secret", "client_secret_post")
    await store.save_client(where, "https://as.example", "https://gw.example/cb", client)
    row = await McpUpstreamClient.objects.aget(server=server)
    assert "client-secret" not in row.client_secret_ciphertext
    assert (
        await store.registered_client(where, "https://as.example", "https://gw.example/cb")
        == client
    )
    assert await store.registered_client(where, "https://as.example", "") == client  # a refresh
    assert await store.registered_client(where, "https://other.example", "") is None
    assert (
        await store.registered_client(where, "https://as.example", "https://gw.example/x") is None
    )


async def test_a_pending_authorization_is_taken_once_by_who_started_it(world) -> None:
    server, alice, bob = world
    pending = store.Pending(
        {"server_id": server.pk}, alice.pk, "verifier-1", "https://gw/cb", "iss"
    )
    await store.save_pending("state-1", pending, 600)
    row = await McpOAuthState.objects.aget()
    assert row.state_hash == store.state_hash("state-1") != "state-1"
    assert "verifier-1" not in row.verifier_ciphertext
    assert await store.take_pending("state-1", bob.pk) is None  # another person's: left alone
    assert await store.take_pending("state-1", alice.pk) == pending
    assert await store.take_pending("state-1", alice.pk) is None  # used
    assert await store.take_pending("never", alice.pk) is None


async def test_an_expired_authorization_is_dropped(world) -> None:
    server, alice, _ = world
    pending = store.Pending({"server_id": server.pk}, alice.pk, "v", "https://gw/cb", "iss")
    await store.save_pending("late", pending, 600)
    await McpOAuthState.objects.aupdate(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert await store.take_pending("late", alice.pk) is None
    assert not await McpOAuthState.objects.aexists()
