"""Invitations die with their inviter's right to invite (#61, M14): a pending invite of a
removed, deactivated or demoted inviter is revoked, and acceptance asks again, so a
change that bypassed the signals still creates nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gateway.access import roles
from gateway.features.people import invites, save
from gateway.models import Invite, Profile, Team
from gateway.models.telemetry import AuditEvent
from tests.gateway.features.people.accounts import made

pytestmark = pytest.mark.django_db
PASSWORD = "newcomers-password-1"


@pytest.fixture
def staff() -> dict[str, User]:
    return made("owner", "admin", owner2="owner", admin2="admin")


def accepted(issued: invites.Issued) -> User | None:
    try:
        return invites.accept(issued.token, PASSWORD)
    except invites.InviteUnusable:
        return None


def test_a_live_inviters_invite_makes_the_admin(staff: dict[str, User]) -> None:
    # the control for every test below: the same invite works while its inviter may grant it
    issued = invites.issue(staff["admin"], "ada", role=roles.ADMIN)
    user = accepted(issued)
    assert user is not None and roles.role_of(user) == roles.ADMIN


def test_removing_the_inviter_revokes_their_pending_invites(staff: dict[str, User]) -> None:
    issued = invites.issue(staff["admin"], "ada", role=roles.ADMIN)
    other = invites.issue(staff["admin2"], "bob", role=roles.ADMIN)
    save.remove(roles.actor_for_user(staff["owner"]), staff["admin"])
    assert Invite.objects.get(pk=issued.invite.pk).state == "revoked"
    assert accepted(issued) is None and not User.objects.filter(username="ada").exists()
    row = AuditEvent.objects.get(action="invite_revoke", object_id=str(issued.invite.pk))
    assert "its inviter was removed" in row.detail
    assert accepted(other) is not None  # another admin's invite lives on


def test_deactivating_the_inviter_revokes_their_pending_invites(staff: dict[str, User]) -> None:
    issued = invites.issue(staff["admin"], "ada", role=roles.MEMBER)
    save.set_active(roles.actor_for_user(staff["owner"]), staff["admin"], False)
    assert Invite.objects.get(pk=issued.invite.pk).state == "revoked"
    assert accepted(issued) is None and not User.objects.filter(username="ada").exists()


def test_demoting_the_inviter_revokes_what_their_new_role_cannot_grant(
    staff: dict[str, User],
) -> None:
    red = Team.objects.create(name="red")
    boss = invites.issue(staff["owner"], "boss", role=roles.OWNER)
    helper = invites.issue(staff["owner"], "helper", role=roles.ADMIN, teams=[red])
    roles.set_role(staff["owner"], roles.ADMIN)  # an admin may invite anyone but an owner
    assert Invite.objects.get(pk=boss.invite.pk).state == "revoked"
    assert Invite.objects.get(pk=helper.invite.pk).state == "pending"
    assert accepted(boss) is None and not User.objects.filter(username="boss").exists()
    made = accepted(helper)  # still within the demoted inviter's right
    assert made is not None and list(made.memberships.values_list("team__name", flat=True)) == [
        "red"
    ]
    member_invite = invites.issue(staff["admin"], "cy", role=roles.MEMBER)
    roles.set_role(staff["admin"], roles.MEMBER)  # members invite no one
    assert Invite.objects.get(pk=member_invite.invite.pk).state == "revoked"


def test_acceptance_asks_again_when_the_signals_were_bypassed(staff: dict[str, User]) -> None:
    """A bulk ``update`` sends no signal: the invite stays pending, but accepting it
    checks the inviter afresh and creates nothing."""
    deactivated = invites.issue(staff["admin"], "ada", role=roles.ADMIN)
    demoted = invites.issue(staff["admin2"], "bob", role=roles.ADMIN)
    User.objects.filter(pk=staff["admin"].pk).update(is_active=False)
    Profile.objects.filter(user=staff["admin2"]).update(role=roles.VIEWER)
    with pytest.raises(invites.InviterLostRight, match="can no longer invite anyone"):
        invites.accept(deactivated.token, PASSWORD)
    with pytest.raises(invites.InviterLostRight, match="admin2 may no longer grant it"):
        invites.accept(demoted.token, PASSWORD)
    assert not User.objects.filter(username__in=["ada", "bob"]).exists()
    assert Invite.objects.filter(used_at__isnull=False).count() == 0


def test_an_invite_without_an_inviter_is_not_tied_to_anyone(staff: dict[str, User]) -> None:
    """The master key's (or the operator's) invite has no inviter whose rights lapse."""
    issued = invites.issue(None, "ada", role=roles.OWNER)
    save.remove(roles.actor_for_user(staff["owner"]), staff["admin"])
    assert accepted(issued) is not None


def test_a_sign_in_does_not_touch_invites(staff: dict[str, User]) -> None:
    """Saving ``last_login`` alone (every sign-in) asks nothing about invites."""
    invites.issue(staff["admin"], "ada", role=roles.ADMIN)
    for fields, asks in ((["last_login"], False), (["is_active"], True)):  # and the control
        with CaptureQueriesContext(connection) as seen:
            staff["admin"].save(update_fields=fields)
        assert any("gateway_invite" in q["sql"] for q in seen.captured_queries) is asks
