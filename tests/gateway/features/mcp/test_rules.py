"""MCP servers as a resource (``gateway.features.mcp.rules``): what a key's grant opens
(all of a server, some of its tools, ``*``, the master key everything), resources and
prompts only with the whole server; who may attach a server, consent to a sign-in or
connect their own account; and what a person signed in from an MCP client may use: the
union of their own live keys' grants in that team, never a managed key's."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from gateway.access import roles
from gateway.base.entries import MASTER, TeamEntry
from gateway.features.mcp import rules


def key(*allowed: str, **fields):  # type: ignore[no-untyped-def]
    fields = {"id": 7, "name": "k", "prefix": "sy-k", **fields}
    return dataclasses.replace(MASTER, mcp_allowed=frozenset(allowed), **fields)


def team(team_id: int) -> TeamEntry:
    return TeamEntry(
        id=team_id,
        name=f"t{team_id}",
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=None,
        budget_period="total",
    )


def test_a_grant_of_some_tools_sees_the_server_and_calls_only_those() -> None:
    some = key("web__get", "web__put")
    assert rules.sees_server(some, "web") and not rules.whole_server(some, "web")
    assert sorted(rules.tools_granted(some, "web") or []) == ["get", "put"]
    assert rules.may_call_tool(some, "web", "get") and not rules.may_call_tool(
        some, "web", "delete"
    )
    assert not rules.sees_server(some, "we") and rules.tools_granted(some, "local") == []
    assert rules.tools_granted(key("web"), "web") is None
    assert rules.tools_granted(key("*"), "any") is None
    assert rules.tools_granted(MASTER, "any") is None


def test_the_rules_allow_and_deny_with_a_reason() -> None:
    some = key("web__get")
    assert rules.server_use(some, "web")
    denied = rules.server_use(some, "local")
    assert not denied and "may not use the MCP server 'local'" in denied.reason
    assert rules.tool_call(some, ("web", "get"))
    assert "may not call web__put" in rules.tool_call(some, ("web", "put")).reason
    assert not rules.resource_read(some, "web") and rules.resource_read(key("web"), "web")
    assert not rules.prompt_get(some, "web") and rules.prompt_get(key("*"), "web")
    assert "prompts" in rules.prompt_get(some, "web").reason


def test_attaching_a_server_is_for_who_manages_servers() -> None:
    assert rules.server_attach(roles.Actor(roles.ADMIN, user_id=1), "web")
    refused = rules.server_attach(roles.Actor(roles.MEMBER, user_id=1), "web")
    assert not refused and "member may not attach" in refused.reason


def test_consent_is_for_a_person_with_a_role_in_their_own_teams() -> None:
    member = roles.Actor(roles.MEMBER, user_id=1, teams={5: roles.MEMBER})
    assert rules.oauth_consent(member, 5) and rules.oauth_consent(member, None)
    assert "not a member" in rules.oauth_consent(member, 6).reason
    assert rules.oauth_consent(roles.Actor(roles.ADMIN, user_id=2), 6)  # everywhere
    assert "no console access" in rules.oauth_consent(roles.Actor(None, user_id=1), None).reason


def test_connecting_is_for_a_signed_in_person_and_an_enabled_per_user_server() -> None:
    person = roles.Actor(roles.VIEWER, user_id=1)
    assert rules.oauth_connect(person, SimpleNamespace(oauth="per_user", enabled=True))
    assert not rules.oauth_connect(person, SimpleNamespace(oauth="service", enabled=True))
    assert not rules.oauth_connect(person, SimpleNamespace(oauth="per_user", enabled=False))
    master = roles.Actor(roles.OWNER, user_id=None, via="master")
    assert (
        "signed-in person"
        in rules.oauth_connect(master, SimpleNamespace(oauth="per_user", enabled=True)).reason
    )


def test_a_sign_ins_grant_is_the_union_of_the_persons_live_keys_in_that_team() -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    keys = [
        key("web__get", user_id=1, team=team(5)),
        key("local", user_id=1, team=team(5)),
        key("other", user_id=1, team=team(6)),  # another team
        key("mine-alone", user_id=1),  # no team
        key("someone", user_id=2, team=team(5)),  # another person
        key("revoked", user_id=1, team=team(5), revoked=True),
        key("expired", user_id=1, team=team(5), expires_at=past),
        key("child", user_id=1, team=team(5), parent_id=9),
        key("console", user_id=1, team=team(5), prefix="console"),
        key("managed", user_id=1, team=team(5), prefix=rules.OAUTH_SCOPE),
    ]
    assert rules.user_grant(keys, 1, 5) == {"web__get", "local"}
    assert rules.user_grant(keys, 1, None) == {"mine-alone"}
    assert rules.user_grant(keys, 3, 5) == frozenset()
