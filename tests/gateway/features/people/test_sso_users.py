"""A removed single sign-on user stays removed (#61, I11): their next sign-in is refused
with a clear message instead of making the account again, whatever path removed them,
until an owner lets the identity in again (``DELETE /api/sso-removals/{id}``)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from gateway.access import roles
from gateway.access.sso import SsoIdentity, SsoRefused
from gateway.features.people import save
from gateway.features.people.sso_users import provision
from gateway.models import SsoLink, SsoRemoval
from gateway.models.telemetry import AuditEvent
from tests.gateway.features.people.accounts import as_user

pytestmark = pytest.mark.django_db
ISSUER = "http://127.0.0.1:9/issuer"


def identity(subject: str = "sub-ada", username: str = "ada") -> SsoIdentity:
    return SsoIdentity(
        issuer=ISSUER,
        subject=subject,
        username=username,
        email=f"{username}@example.com",
        name=username.title(),
        role=roles.ADMIN,
        teams=(),
    )


@pytest.fixture
def owner() -> User:
    user = User.objects.create_user("owner", password="pw-123456789")
    roles.set_role(user, roles.OWNER)
    return user


def test_a_removed_sso_user_is_not_made_again_at_the_next_sign_in(owner: User) -> None:
    ada = provision(identity())
    assert provision(identity()).pk == ada.pk  # the control: a sign-in finds the same user
    save.remove(roles.actor_for_user(owner), ada)
    with pytest.raises(SsoRefused, match="removed from this gateway: ask an owner"):
        provision(identity())
    assert not User.objects.filter(username__startswith="ada").exists()
    assert not SsoLink.objects.exists()
    other = provision(identity("sub-bob", "bob"))  # another identity still signs in
    assert other.get_username() == "bob"


def test_removal_by_any_path_is_remembered(owner: User) -> None:
    """Django's admin or a bulk delete goes round ``save.remove``: still remembered."""
    provision(identity())
    User.objects.filter(username="ada").delete()
    removal = SsoRemoval.objects.get()
    assert (removal.issuer, removal.subject, removal.username) == (ISSUER, "sub-ada", "ada")
    with pytest.raises(SsoRefused):
        provision(identity())


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
