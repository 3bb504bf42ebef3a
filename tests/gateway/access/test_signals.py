"""Registry change notifications (``gateway.access.signals``): a save or delete of a
registry row bumps the version in its transaction and queues one rebuild for its commit
(however many rows change); a user's (de)activation does too, a sign-in does not; a
route that is some key's only one cannot be deleted; a removed user's single sign-on
identities are remembered."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import ProtectedError

from gateway.access import registry, registry_settle, signals
from gateway.models import ApiKey, RegistryState, Route, SsoLink, SsoRemoval, Team

pytestmark = pytest.mark.django_db


def version() -> int:
    row = RegistryState.objects.filter(pk=1).first()
    return row.version if row else 0


def rebuilds(callbacks) -> list[signals._AfterCommit]:  # type: ignore[no-untyped-def]
    return [c for c in callbacks if isinstance(c, signals._AfterCommit)]


def test_a_registry_row_bumps_the_version_and_queues_one_rebuild_per_commit(
    django_capture_on_commit_callbacks,
) -> None:
    before = version()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        Route.objects.create(name="a")
        Route.objects.create(name="b")
        Team.objects.create(name="t")
    assert version() == before + 3
    assert len(rebuilds(callbacks)) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        SsoRemoval.objects.create(issuer="i", subject="s")  # no registry table
    assert version() == before + 3 and rebuilds(callbacks) == []


def test_the_version_row_is_made_when_missing() -> None:
    RegistryState.objects.all().delete()
    signals.bump_version("default")
    assert version() == 1
    signals.bump_version("default")
    assert version() == 2


def test_a_rebuild_tells_the_other_instances_only_with_redis(settings, monkeypatch) -> None:
    """And, either way, waits for the other processes to rebuild (``registry_settle``)."""
    done: list[str] = []

    def rebuild() -> SimpleNamespace:
        done.append("rebuild")
        return SimpleNamespace(version=len(done))

    monkeypatch.setattr(registry, "rebuild", rebuild)
    monkeypatch.setattr(registry, "announce", lambda: done.append("announce"))
    monkeypatch.setattr(registry_settle, "settle", lambda version: done.append(f"settle {version}"))
    settings.REDIS_URL = ""
    signals._AfterCommit("default")()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    signals._AfterCommit("default")()
    assert done == ["rebuild", "settle 1", "rebuild", "announce", "settle 3"]


def test_a_users_activation_changes_the_registry_and_a_sign_in_does_not() -> None:
    user = User.objects.create_user("ada")  # created: no key of theirs yet
    before = version()
    user.save(update_fields=["last_login"])
    assert version() == before
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert version() == before + 1
    user.save()
    assert version() == before + 2


def test_a_keys_routes_changing_changes_the_registry() -> None:
    key = ApiKey.objects.create(name="k", prefix="sy-k", key_hash="k" * 64)
    route = Route.objects.create(name="r")
    before = version()
    key.routes.add(route)
    key.routes.clear()
    assert version() == before + 2


def test_a_keys_only_route_cannot_be_deleted() -> None:
    only, other = Route.objects.create(name="only"), Route.objects.create(name="other")
    key = ApiKey.objects.create(name="narrow", prefix="sy-n", key_hash="n" * 64)
    key.routes.add(only)
    with (
        pytest.raises(ProtectedError, match="only route API key\\(s\\) narrow"),
        transaction.atomic(),
    ):
        only.delete()
    key.routes.add(other)
    only.delete()  # it has another one left
    assert not Route.objects.filter(name="only").exists()


def test_a_removed_users_sign_on_identities_are_remembered() -> None:
    user = User.objects.create_user("sso-ann")
    SsoLink.objects.create(user=user, issuer="https://idp", subject="sub-1")
    user.delete()
    removal = SsoRemoval.objects.get()
    assert (removal.issuer, removal.subject, removal.username) == (
        "https://idp",
        "sub-1",
        "sso-ann",
    )
