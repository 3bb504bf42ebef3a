"""Invitations through /api (#61, M14): demoting or removing an admin through
``/api/users`` revokes the admin invites they made; the invite a still-entitled admin
made keeps working (the control)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import Invite
from tests.gateway.features.people.accounts import as_user, made

pytestmark = pytest.mark.django_db
GOOD = {"password": "adas-password-1", "password_again": "adas-password-1"}


@pytest.fixture
def staff() -> dict[str, User]:
    return made("owner", ann="admin", abe="admin")


def invite(by: User, username: str) -> str:
    reply = as_user(by).post(
        "/api/invites/",
        data=json.dumps({"username": username, "role": "admin"}),
        content_type="application/json",
    )
    assert reply.status_code == 201, reply.content
    return str(reply.json()["link"]).removeprefix("http://testserver")


def test_demoting_or_removing_an_admin_revokes_their_admin_invites(staff: dict[str, User]) -> None:
    kept = invite(staff["abe"], "kit")
    demoted = invite(staff["ann"], "dan")
    owner = as_user(staff["owner"])
    reply = owner.patch(
        "/api/users/ann", data=json.dumps({"role": "member"}), content_type="application/json"
    )
    assert reply.status_code == 200
    assert Invite.objects.get(username="dan").state == "revoked"
    assert Client().post(demoted, GOOD).status_code == 404
    roles.set_role(staff["ann"], roles.ADMIN)
    removed = invite(staff["ann"], "rex")
    assert owner.delete("/api/users/ann").status_code == 200
    assert Invite.objects.get(username="rex").state == "revoked"
    assert Client().post(removed, GOOD).status_code == 404
    assert not User.objects.filter(username__in=["dan", "rex"]).exists()
    assert Client().post(kept, GOOD).status_code == 302  # abe is still an admin
    assert roles.role_of(User.objects.get(username="kit")) == roles.ADMIN


def test_an_invite_with_an_email_is_emailed_when_email_is_set_up(
    staff: dict[str, User], settings, django_capture_on_commit_callbacks
) -> None:
    from django.core import mail

    from gateway.base import mail as sending

    settings.SWITCHYARD_ALERT_EMAIL = True  # the operator set SWITCHYARD_EMAIL_HOST
    settings.EMAIL_HOST = "smtp.example.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        reply = as_user(staff["ann"]).post(
            "/api/invites/",
            data=json.dumps({"username": "eve", "role": "member", "email": "eve@example.com"}),
            content_type="application/json",
        )
    assert reply.status_code == 201, reply.content
    body = reply.json()
    assert body["emailing"] is True
    sending.sent()
    (sent,) = mail.outbox
    assert sent.to == ["eve@example.com"] and body["link"] in sent.body and "ann" in sent.body
