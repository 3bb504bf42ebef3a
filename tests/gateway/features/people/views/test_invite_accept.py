"""The invitation page (``gateway/features/people/views/invite_accept.py``, #61): a live link's token is
never written to a log line (L26), and a link whose inviter lost the right to make it
creates nothing and says why (M14)."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.features.people import invites
from gateway.models import Invite, Profile

pytestmark = pytest.mark.django_db
GOOD = {"password": "adas-password-1", "password_again": "adas-password-1"}


@pytest.fixture
def admin() -> User:
    user = User.objects.create_user("admin", password="pw-123456789")
    roles.set_role(user, roles.ADMIN)
    return user


def test_a_refused_password_logs_the_path_without_the_token(
    admin: User, caplog: pytest.LogCaptureFixture
) -> None:
    issued = invites.issue(admin, "ada", role=roles.MEMBER)
    path = f"/invite/{issued.token}/"
    with caplog.at_level(logging.INFO):
        reply = Client().post(path, {"password": "short", "password_again": "short"})
        csrf = Client(enforce_csrf_checks=True).post(path, GOOD)
    assert reply.status_code == 422 and csrf.status_code == 403
    # the control: both refusals are logged, naming the page
    warned = [r for r in caplog.records if r.name in ("django.request", "django.security.csrf")]
    assert {getattr(r, "status_code", None) for r in warned} == {422, 403}
    assert all("/invite/" in r.getMessage() for r in warned)
    leaked = [r.getMessage() for r in caplog.records if issued.token in r.getMessage()]
    assert leaked == []
    assert Invite.objects.get(pk=issued.invite.pk).state == "pending"  # still live
    assert Client().post(path, GOOD).status_code == 302  # and it works


def test_a_link_whose_inviter_lost_the_right_creates_nothing_and_says_why(admin: User) -> None:
    control = invites.issue(admin, "bob", role=roles.ADMIN)
    assert Client().get(f"/invite/{control.token}/").status_code == 200  # the page is live
    issued = invites.issue(admin, "ada", role=roles.ADMIN)
    # a change no signal saw (a bulk update): the invite is still pending, yet refused
    Profile.objects.filter(user=admin).update(role=roles.MEMBER)
    path = f"/invite/{issued.token}/"
    for reply in (Client().get(path), Client().post(path, GOOD)):
        assert reply.status_code == 410
        assert b"may no longer grant it" in reply.content
        assert b"Ask an owner or admin for a new one" in reply.content
    assert not User.objects.filter(username="ada").exists()
