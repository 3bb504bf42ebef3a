"""An invite lives no longer than its inviter's right to make it (#61, M14): on every
path that changes a user or their role, the pending invites they may no longer grant are
revoked (``invites.revoke_lost``, imported on first use: a worker never loads it).
Connected when the unit registers (``Unit.register`` imports it by name)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from gateway.base import lazy_import
from gateway.models import Profile

_revoke_lost = lazy_import.function("gateway.features.people.invites:revoke_lost")


@receiver(post_save, sender=settings.AUTH_USER_MODEL)  # type: ignore[untyped-decorator]
def _invites_follow_their_inviter(
    sender: type[Any], instance: Any, created: bool = False, update_fields: Any = None, **kw: Any
) -> None:
    """A user deactivated or demoted (``is_active``, or ``is_staff``, which is an owner
    without a profile): their pending invites they may no longer grant are revoked
    (``invites.revoke_lost``). Sign-ins save ``last_login`` alone: nothing."""
    if created or kw.get("raw"):
        return
    if update_fields is None or {"is_active", "is_staff"} & set(update_fields):
        _revoke_lost(instance.pk)


@receiver(post_save, sender=Profile)  # type: ignore[untyped-decorator]
@receiver(post_delete, sender=Profile)  # type: ignore[untyped-decorator]
def _invites_follow_their_inviters_role(sender: type[Any], instance: Profile, **kw: Any) -> None:
    """A role changed (every path: ``roles.set_role`` from /api and the console, single
    sign-on's claims, Django's admin): the invites it no longer reaches are revoked."""
    if kw.get("raw"):
        return  # (a profile created for staff demotes an owner too: created counts)
    _revoke_lost(instance.user_id)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)  # type: ignore[untyped-decorator]
def _invites_die_with_their_inviter(sender: type[Any], instance: Any, **kw: Any) -> None:
    """A user removed (``save.remove``, Django's admin, a bulk delete): every invite
    they made and nobody used yet is revoked before the link to them is cleared."""
    _revoke_lost(instance.pk, removed=True)
