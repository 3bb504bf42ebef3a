"""The OAuth client machinery lent to other upstreams (``oauth.shared``): whose token
goes (a person's own only for a credential they hold), each failure said as the hook
says it, and the rest handed to the MCP unit's own modules under the target's names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.base import hooks
from gateway.base.entries import OAuthTarget
from gateway.features.mcp.errors import AuthorizationRequired, ServerUnavailable
from gateway.features.mcp.oauth import caller, shared, tokens

AGENT = OAuthTarget(kind="agent", id=5, name="helper", url="https://agent.example/a2a")


@pytest.fixture
def bearer(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """``tokens.bearer`` answering ``answer`` (the token, or an error it raises)."""
    stand_in = SimpleNamespace(asked=[], answer="person-token")

    async def fake(target, user_id):  # type: ignore[no-untyped-def]
        stand_in.asked.append((target, user_id))
        if isinstance(stand_in.answer, Exception):
            raise stand_in.answer
        return stand_in.answer

    monkeypatch.setattr(tokens, "bearer", fake)
    return stand_in


async def test_a_persons_own_token_goes_for_a_credential_they_hold(bearer) -> None:
    assert await shared.SHARED.bearer(AGENT, 7, 7) == "person-token"
    assert bearer.asked == [(AGENT, 7)]


async def test_no_person_or_someone_elses_key_needs_their_own_authorization(bearer) -> None:
    with pytest.raises(hooks.OAuthRequired) as none:
        await shared.SHARED.bearer(AGENT, None, None)
    assert none.value.why == shared.NO_PERSON
    with pytest.raises(hooks.OAuthRequired) as minted:
        await shared.SHARED.bearer(AGENT, 7, 8)  # a key 8 minted for 7
    assert minted.value.why == caller.NOT_CONNECTED
    assert bearer.asked == []  # no token was even looked up


async def test_the_token_modules_failures_are_the_hooks(bearer) -> None:
    bearer.answer = AuthorizationRequired("helper", "your authorization expired")
    with pytest.raises(hooks.OAuthRequired) as required:
        await shared.SHARED.bearer(AGENT, 7, 7)
    assert required.value.target is AGENT and required.value.why == "your authorization expired"
    bearer.answer = ServerUnavailable("agent helper: the authorization server is down")
    with pytest.raises(hooks.OAuthUnavailable, match="the authorization server is down"):
        await shared.SHARED.bearer(AGENT, 7, 7)


def test_a_refused_token_is_expired_under_the_targets_cache_name() -> None:
    shared.SHARED.expire(AGENT, 7, "stale-token")
    try:
        assert tokens._refused[("agent:helper", 7)] == "stale-token"
    finally:
        tokens._refused.pop(("agent:helper", 7), None)


def test_connected_reads_the_kinds_rows(db) -> None:
    assert shared.SHARED.connected("agent", 7) == {}
    with pytest.raises(KeyError):
        shared.SHARED.connected("robot", 7)


def test_the_hook_holds_the_shared_machinery() -> None:
    assert shared.SHARED in list(hooks.upstream_oauth)
