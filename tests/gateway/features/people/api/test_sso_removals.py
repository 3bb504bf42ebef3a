"""Removed single sign-on identities in the management API: owners and admins list them,
only an owner lets one sign in again (its next sign-in makes a new account from its
claims, audited); an unknown removal is a 404."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from gateway.access import roles
from gateway.access.sso import SsoRefused
from gateway.features.people import save
from gateway.features.people.sso_users import provision
from gateway.models import SsoRemoval
from gateway.models.telemetry import AuditEvent
from tests.gateway.features.people.accounts import as_user, made
from tests.gateway.features.people.test_sso_users import identity

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> User:
    return made("owner")["owner"]


def test_an_owner_lets_the_identity_in_again(owner: User) -> None:
    admin = User.objects.create_user("admin", password="pw-123456789")
    roles.set_role(admin, roles.ADMIN)
    save.remove(roles.actor_for_user(owner), provision(identity()))
    removal = SsoRemoval.objects.get()
    listed = as_user(admin).get("/api/sso-removals/")
    assert listed.status_code == 200 and [r["username"] for r in listed.json()] == ["ada"]
    refused = as_user(admin).delete(f"/api/sso-removals/{removal.pk}")
    assert refused.status_code == 403  # only owners let a removed account back
    with pytest.raises(SsoRefused):
        provision(identity())
    reply = as_user(owner).delete(f"/api/sso-removals/{removal.pk}")
    assert reply.status_code == 200 and json.loads(reply.content)["subject"] == "sub-ada"
    back = provision(identity())
    assert back.get_username() == "ada" and roles.role_of(back) == roles.ADMIN
    assert AuditEvent.objects.filter(action="sso_readmit", object_name="ada").count() == 1


def test_an_unknown_removal_is_a_404_and_none_are_listed(owner: User) -> None:
    client = as_user(owner)
    assert client.get("/api/sso-removals/").json() == []
    assert client.delete("/api/sso-removals/999").status_code == 404
    assert not AuditEvent.objects.filter(action="sso_readmit").exists()
