"""Rule ``console.run_as`` (``gateway.access.rules.console_identity``): owners and admins
run console calls under any team or none; others under one of their teams, and under no
team only when they are in none; an account without a console role not at all."""

from __future__ import annotations

from gateway.access import roles
from gateway.access.authorization import decide
from gateway.access.roles import Actor


def test_owners_and_admins_run_under_any_team_or_none() -> None:
    for role in (roles.OWNER, roles.ADMIN):
        assert decide(Actor(role), "console.run_as", 42)
        assert decide(Actor(role, teams={1: roles.EDITOR}), "console.run_as", None)


def test_others_run_under_their_own_teams_only() -> None:
    member = Actor(roles.MEMBER, teams={1: roles.MEMBER})
    assert decide(member, "console.run_as", 1)
    other = decide(member, "console.run_as", 2)
    assert not other and other.reason == "you may not run under that team"
    none = decide(member, "console.run_as", None)
    assert not none and none.reason == "choose one of your teams to run under"


def test_a_user_in_no_team_runs_on_a_personal_key() -> None:
    loner = Actor(roles.VIEWER)
    assert decide(loner, "console.run_as", None)
    assert not decide(loner, "console.run_as", 1)


def test_an_account_without_a_console_role_runs_nothing() -> None:
    refusal = decide(roles.NOBODY, "console.run_as", None)
    assert not refusal and refusal.reason == "this account may no longer use the console"
