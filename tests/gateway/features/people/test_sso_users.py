"""A removed single sign-on user stays removed (#61, I11): their next sign-in is refused
with a clear message instead of making the account again, whatever path removed them,
until an owner lets the identity in again (``DELETE /api/sso-removals/{id}``:
``api/test_sso_removals.py``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from gateway.access import roles
from gateway.access.sso import SsoIdentity, SsoRefused
from gateway.features.people import save
from gateway.features.people.sso_users import provision
from gateway.models import SsoLink, SsoRemoval

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
