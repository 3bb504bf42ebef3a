"""``Invite`` (``gateway.models.invites``): its state is pending until it is used, revoked or
past its expiry; a used invite stays used whatever happens to it after."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from gateway.models import Invite


def invite(**fields) -> Invite:  # type: ignore[no-untyped-def]
    soon = timezone.now() + timedelta(days=1)
    return Invite(**{"username": "ada", "role": "member", "expires_at": soon, **fields})


def test_an_invite_is_pending_until_used_revoked_or_expired() -> None:
    now = timezone.now()
    assert invite().state == "pending"
    assert invite(used_at=now).state == "used"
    assert invite(revoked_at=now).state == "revoked"
    assert invite(expires_at=now - timedelta(seconds=1)).state == "expired"


def test_used_wins_over_revoked_and_expired() -> None:
    past = timezone.now() - timedelta(days=2)
    assert invite(used_at=past, revoked_at=past, expires_at=past).state == "used"
    assert invite(revoked_at=past, expires_at=past).state == "revoked"


def test_it_names_whom_it_invites_as_what() -> None:
    assert str(invite()) == "invite of ada (member)"
