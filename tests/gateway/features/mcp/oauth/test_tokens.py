"""The access token a call to an OAuth server sends (``oauth.tokens``): held in memory
and trusted for ``RECHECK_SECONDS``, read from its row otherwise; a person without a row
asked to connect; an expired one without a refresh token dropped (row, memory, audit);
a refresh that fails for another reason kept and said unavailable; a refused token
refreshed whatever its row says; what is held is known to the redaction."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User

from gateway.access import registry
from gateway.features.mcp import secrets as mcp_secrets
from gateway.features.mcp.errors import AuthorizationRequired, ServerUnavailable
from gateway.features.mcp.oauth import discovery, store, tokens
from gateway.models import AuditEvent, McpServer
from gateway.models.mcp import McpOAuthToken


@pytest.fixture(autouse=True)
def _fresh() -> None:
    tokens._held.clear()
    tokens._refused.clear()
    discovery._found.clear()


@pytest.fixture
async def world(transactional_db, snapshot_reset):  # type: ignore[no-untyped-def]
    server = await McpServer.objects.acreate(
        name="files", url="http://127.0.0.1:9/mcp", oauth="per_user"
    )
    alice = await User.objects.acreate(username="alice")
    await registry.arebuild()
    return registry.current().mcp_servers["files"], server, alice


async def test_a_saved_token_is_sent_and_held(world) -> None:
    entry, server, alice = world
    await store.save_tokens(
        server.pk, alice.pk, store.Tokens("token-one", "refresh-one", time.time() + 3600, "", "i")
    )
    assert await tokens.bearer(entry, alice.pk) == "token-one"
    assert "token-one" in tokens.live_secrets() and "refresh-one" in tokens.live_secrets()
    assert "token-one" in mcp_secrets.known_secrets()
    await McpOAuthToken.objects.all().adelete()
    assert await tokens.bearer(entry, alice.pk) == "token-one"  # held: the row is not read again
    tokens._held[("files", alice.pk)].checked_at -= tokens.RECHECK_SECONDS + 1
    with pytest.raises(AuthorizationRequired, match="not connected your account"):
        await tokens.bearer(entry, alice.pk)  # read again: gone (disconnected elsewhere)
    assert ("files", alice.pk) not in tokens._held


async def test_an_expired_token_without_a_refresh_is_dropped_and_audited(world) -> None:
    entry, server, alice = world
    await store.save_tokens(server.pk, alice.pk, store.Tokens("old", "", time.time() + 10, "", "i"))
    before = tokens.generation("files", alice.pk)
    with pytest.raises(AuthorizationRequired, match="your authorization expired"):
        await tokens.bearer(entry, alice.pk)  # within REFRESH_MARGIN of its end
    assert not await McpOAuthToken.objects.aexists()
    assert tokens.generation("files", alice.pk) == before + 1
    row = await AuditEvent.objects.filter(action="oauth_expired").afirst()
    assert row is not None and row.object_name == "files" and "old" not in str(row.changes)


async def test_a_refresh_that_cannot_reach_its_server_keeps_the_row(world, settings) -> None:
    settings.SWITCHYARD_MCP_HOSTED_ALLOW = "127.0.0.1"
    entry, server, alice = world
    await store.save_tokens(
        server.pk, alice.pk, store.Tokens("old", "ref", time.time() + 3600, "", "i")
    )
    tokens.expire("files", alice.pk, "old")  # the server answered 401 to it
    with pytest.raises(ServerUnavailable, match="MCP server files"):
        await tokens.bearer(entry, alice.pk)  # nothing listens on port 9
    assert await McpOAuthToken.objects.acount() == 1
    assert tokens._refused[("files", alice.pk)] == "old"


def test_forget_bumps_the_generation_and_drops_what_is_held() -> None:
    tokens._held[("x", 1)] = tokens._Held(store.Tokens("a", "", None, "", ""), time.time())
    before = tokens.generation("x", 1)
    tokens.forget("x", 1)
    assert tokens.generation("x", 1) == before + 1 and ("x", 1) not in tokens._held
    assert tokens.generation("x", 2) == 0


def test_expire_makes_a_held_token_be_checked_again() -> None:
    held = tokens._Held(store.Tokens("a", "", None, "", ""), time.time())
    tokens._held[("x", 1)] = held
    tokens.expire("x", 1, "other")
    assert held.checked_at > 0  # another token refused: this one stays trusted
    tokens.expire("x", 1, "a")
    assert held.checked_at == 0.0 and tokens._refused[("x", 1)] == "a"
