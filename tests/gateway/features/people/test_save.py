"""Accounts made and ended, as the console, ``/api/users`` and invitations all do it:
usernames normalised and refused when taken or a look-alike, passwords by Django's
validators, roles and team roles; deactivation and removal (never oneself, never the
last owner; keys revoked and kept; audited); an SSO identity let in again; a team
validated and saved."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from gateway.access import keys, roles
from gateway.features.people import save
from gateway.models import ApiKey, Membership, SsoRemoval, Team
from gateway.models.telemetry import AuditEvent
from tests.gateway.features.people.accounts import made

pytestmark = pytest.mark.django_db
STRONG = "a-long-enough-Pa55word"


def fields_of(caught: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return caught.value.message_dict


def test_a_user_is_made_with_a_normalised_name_a_role_and_team_roles() -> None:
    red = Team.objects.create(name="red")
    ann = save.create_user(
        "\uff41nn", email="a@x.example", role=roles.VIEWER, teams=[red], password=STRONG
    )
    assert ann.get_username() == "ann" and ann.check_password(STRONG)  # NFKC: a fullwidth a
    assert roles.role_of(ann) == roles.VIEWER
    assert Membership.objects.get(user=ann, team=red).role == roles.VIEWER
    boss = save.create_user("boss", role=roles.ADMIN, teams=[red])
    assert not boss.has_usable_password()  # single sign-on or an invitation sets one
    assert Membership.objects.get(user=boss, team=red).role == roles.EDITOR  # admins: editor


def test_team_role() -> None:
    assert [save.team_role(r) for r in roles.ROLES] == [
        "editor",
        "editor",
        "editor",
        "member",
        "viewer",
    ]


def test_a_taken_or_look_alike_name_is_refused() -> None:
    made("admin")
    assert save.username_refusal("ADMIN") == "the user 'ADMIN' already exists"
    assert "looks like the existing user 'admin'" in save.username_refusal("adm1n")
    assert save.username_refusal("") == "enter a username"
    assert save.username_refusal("carol") == ""
    with pytest.raises(ValidationError) as caught:
        save.create_user("Admin")
    assert "already exists" in fields_of(caught)["username"][0]


def test_a_weak_password_and_an_unknown_role_are_refused_by_field() -> None:
    with pytest.raises(ValidationError) as caught:
        save.create_user("carol", password="carol")
    assert "password" in fields_of(caught)
    with pytest.raises(ValidationError) as caught:
        save.create_user("carol", role="emperor")
    assert "role must be one of owner" in fields_of(caught)["role"][0]
    assert not User.objects.filter(username="carol").exists()


def test_deactivation_refuses_oneself_and_the_last_owner_and_is_audited() -> None:
    people = made("owner", "member")
    owner = roles.actor_for_user(people["owner"])
    with pytest.raises(ValidationError, match="yourself"):
        save.set_active(owner, people["owner"], False)
    with pytest.raises(ValidationError, match="last owner"):
        save.set_active(roles.MASTER, people["owner"], False)
    keys.create_key(name="k", user=people["member"])
    save.set_active(owner, people["member"], False)
    assert not User.objects.get(username="member").is_active
    event = AuditEvent.objects.get(action="user_deactivate")
    assert event.object_name == "member" and "1 key(s) refused" in event.detail
    save.set_active(owner, people["member"], False)  # already: nothing more
    save.set_active(owner, people["member"], True)
    assert AuditEvent.objects.filter(action__startswith="user_").count() == 2


def test_removal_revokes_and_keeps_the_keys() -> None:
    people = made("owner", "member")
    keys.create_key(name="k1", user=people["member"])
    keys.create_key(name="k2", user=people["member"])
    assert save.remove(roles.actor_for_user(people["owner"]), people["member"]) == 2
    assert not User.objects.filter(username="member").exists()
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 2
    assert AuditEvent.objects.get(action="user_remove").changes == {"keys_revoked": 2}
    with pytest.raises(ValidationError, match="last owner"):
        save.remove(roles.MASTER, people["owner"])


def test_readmit_deletes_the_removal_with_an_audit_row() -> None:
    removal = SsoRemoval.objects.create(issuer="https://idp", subject="s1", username="ada")
    save.readmit_sso(removal)
    assert not SsoRemoval.objects.exists()
    assert (
        "https://idp (sub s1) may sign in again"
        in AuditEvent.objects.get(action="sso_readmit").detail
    )


def test_a_team_is_validated_and_saved() -> None:
    team = save.save_team(
        None, {"name": "  red ", "rpm_limit": "60", "mcp_allowed": [], "a2a_allowed": None}
    )
    team.refresh_from_db()
    assert (team.name, team.rpm_limit, team.mcp_allowed, team.a2a_allowed) == ("red", 60, [], None)
    save.save_team(team, {"description": "the red team", "name": None})
    team.refresh_from_db()
    assert (team.name, team.description) == ("red", "the red team")
    for field, value in (("guardrails", ["ghost"]), ("rpm_limit", "lots"), ("name", "")):
        with pytest.raises(ValidationError) as caught:
            save.save_team(None, {"name": "blue", field: value})
        assert field in fields_of(caught)
    assert list(Team.objects.values_list("name", flat=True)) == ["red"]
