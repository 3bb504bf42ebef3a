"""The people unit's rules: who sets a user's own limits, who invites with which role,
who deactivates and removes users, and the field table it declares for teams, users,
their limits, invites and the sign-in settings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.access import authorization, field_rules, roles
from gateway.features.people import rules

OWNER, ADMIN, EDITOR, MEMBER, VIEWER = roles.ROLES


def actor(role: str | None) -> roles.Actor:
    return roles.Actor(role=role, user_id=1)


def user(role: str) -> SimpleNamespace:
    return SimpleNamespace(switchyard=SimpleNamespace(role=role))


def test_the_rules_are_registered_under_their_names() -> None:
    assert authorization.RULES["user.limit"] is rules.user_limit
    assert authorization.RULES["user.invite"] is rules.user_invite
    assert authorization.RULES["user.manage"] is rules.user_manage


@pytest.mark.parametrize(
    ("who", "whose", "allowed"),
    [
        (OWNER, OWNER, True),
        (OWNER, MEMBER, True),
        (ADMIN, MEMBER, True),
        (ADMIN, ADMIN, True),
        (ADMIN, OWNER, False),  # an admin does not reach over an owner
        (EDITOR, MEMBER, False),
        (MEMBER, MEMBER, False),
        (None, VIEWER, False),
    ],
)
def test_user_limit(who: str | None, whose: str, allowed: bool) -> None:
    decision = authorization.decide(actor(who), "user.limit", user(whose))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason


def test_user_limit_s_reasons_name_the_role() -> None:
    assert "role none may not" in rules.user_limit(actor(None), user(MEMBER)).reason
    assert "role editor may not" in rules.user_limit(actor(EDITOR), user(MEMBER)).reason
    assert "owner's limits" in rules.user_limit(actor(ADMIN), user(OWNER)).reason


@pytest.mark.parametrize(
    ("who", "grant", "allowed"),
    [
        (OWNER, OWNER, True),
        (ADMIN, ADMIN, True),
        (ADMIN, VIEWER, True),
        (ADMIN, OWNER, False),  # an admin never makes an owner
        (EDITOR, VIEWER, False),
        (VIEWER, VIEWER, False),
    ],
)
def test_user_invite(who: str, grant: str, allowed: bool) -> None:
    decision = rules.user_invite(actor(who), rules.InviteGrant(grant, frozenset({1})))
    assert decision.allowed is allowed


@pytest.mark.parametrize(("who", "allowed"), [(OWNER, True), (ADMIN, False), (MEMBER, False)])
def test_only_owners_manage_users(who: str, allowed: bool) -> None:
    assert rules.user_manage(actor(who), user(MEMBER)).allowed is allowed


def test_the_field_table() -> None:
    admin, owner = actor(ADMIN), actor(OWNER)
    assert field_rules.refusals(admin, "teams", {"name": "t", "budget_usd": "5"}) == {}
    assert field_rules.refusals(actor(EDITOR), "teams", {"name": "t"})
    assert field_rules.refusals(admin, "users", {"email": "a@b"})  # users: owners
    assert field_rules.refusals(owner, "users", {"email": "a@b", "active": False}) == {}
    assert field_rules.FIELDS["users"]["active"].rule == "user.manage"
    assert field_rules.FIELDS["user_limits"]["rpm_limit"].rule == "user.limit"
    assert field_rules.FIELDS["invites"]["role"].rule == "user.invite"
    assert field_rules.refusals(admin, "sso", {"issuer": "https://idp"})  # sign-in: owners
    assert field_rules.refusals(owner, "sso", {"issuer": "https://idp", "role_map": {}}) == {}
    assert field_rules.refusals(admin, "team_members", {"user": 1, "role": MEMBER}) == {}
