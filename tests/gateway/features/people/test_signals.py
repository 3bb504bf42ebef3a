"""Every path that changes a user or their role asks for the invites they may no longer
grant to be revoked: a user saved whole or with ``is_active``/``is_staff`` (not a
sign-in's ``last_login``), a profile saved or deleted, a user deleted (all of theirs).
A fixture load (``raw``) and a new user ask nothing. ``revoke_lost`` itself is faked here
(what it revokes: ``test_invites.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from gateway.access import roles
from gateway.features.people import signals
from gateway.models import Profile

pytestmark = pytest.mark.django_db


@pytest.fixture
def revoked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    asked: list[tuple[Any, ...]] = []
    monkeypatch.setattr(signals, "_revoke_lost", lambda *a, **kw: asked.append((*a, kw)))
    return asked


def test_a_new_user_and_a_sign_in_ask_nothing(revoked: list[tuple[Any, ...]]) -> None:
    ada = User.objects.create_user("ada", password="pw-123456789")
    ada.save(update_fields=["last_login"])
    assert revoked == []


def test_deactivating_or_saving_a_user_whole_asks(revoked: list[tuple[Any, ...]]) -> None:
    ada = User.objects.create_user("ada", password="pw-123456789")
    ada.is_active = False
    ada.save(update_fields=["is_active"])
    ada.save(update_fields=["is_staff", "email"])
    ada.save()
    assert revoked == [(ada.pk, {})] * 3


def test_a_role_change_or_a_profile_deleted_asks(revoked: list[tuple[Any, ...]]) -> None:
    ada = User.objects.create_user("ada", password="pw-123456789")
    roles.set_role(ada, roles.ADMIN)
    roles.set_role(ada, roles.MEMBER)
    assert revoked and all(asked == (ada.pk, {}) for asked in revoked)
    revoked.clear()
    Profile.objects.filter(user=ada).delete()
    assert revoked == [(ada.pk, {})]


def test_a_user_deleted_asks_for_all_of_theirs(revoked: list[tuple[Any, ...]]) -> None:
    ada = User.objects.create_user("ada", password="pw-123456789")
    pk = ada.pk
    ada.delete()
    assert revoked[0] == (pk, {"removed": True})


def test_a_fixture_load_asks_nothing(revoked: list[tuple[Any, ...]]) -> None:
    ada = User.objects.create_user("ada", password="pw-123456789")
    signals._invites_follow_their_inviter(User, ada, raw=True)
    signals._invites_follow_their_inviters_role(Profile, Profile(user=ada), raw=True)
    assert revoked == []
