"""Invitations: an owner or admin names a teammate, their role and teams and an expiry;
the teammate opens a one-time link, chooses a password and is signed in as that user.

- ``issue``: checks the username as a new account's would be (``save.check_username``)
  and that no other invite for it is pending, stores the SHA-256 of a random token (the
  raw token lives only in the link, shown once to the inviter) and writes an
  ``invite_create`` audit row.
- ``usable``: the pending invite a token opens, or None: unknown, used, revoked and
  expired tokens all answer None (the page says the link no longer works; nothing is
  created).
- ``accept``: in one transaction, the invite locked and checked again, the password
  through Django's validators, the account created with the invite's role and teams
  (``save.create_user``), the invite marked used; an ``invite_accept`` row names the
  new user as the actor. Two tabs accepting the same link: one account, the other gets
  the "no longer works" answer.
- ``revoke``: a pending invite stops working (``invite_revoke`` row).

An invite lives no longer than its inviter's right to make it (#61, M14): when the
inviter is removed, deactivated or given a role that may not grant the invite's role
and teams, ``revoke_lost`` revokes their pending invites (``gateway.access.signals`` calls it
on every path that changes a user or their role), and ``accept`` asks again
(``inviter_refusal``: the inviter still active and still allowed, rule
``user.invite``) so a change that bypassed the signals (a bulk ``update``) still
creates nothing. An invite made by the master key or the operator has no inviter and is
not tied to anyone's rights.

Who may invite whom is the caller's question (rule ``user.invite``)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from gateway.access import authorization, roles, usernames
from gateway.base import mail
from gateway.features.people import save
from gateway.features.people.rules import InviteGrant
from gateway.models import Invite, Team
from gateway.telemetry import audit

DEFAULT_DAYS = 7
MAX_DAYS = 30
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    invite: Invite
    token: str  # shown once, in the link; never stored


def check_days(days: Any) -> int:
    try:
        value = int(days)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_DAYS:
        raise ValidationError({"expires_in_days": [f"between 1 and {MAX_DAYS} days"]})
    return value


def issue(
    created_by: Any,
    username: str,
    *,
    email: str = "",
    role: str,
    teams: Iterable[Team] = (),
    days: int = DEFAULT_DAYS,
) -> Issued:
    """A new invite (``ValidationError`` by field when the name, role or expiry will not
    do)."""
    errors: dict[str, list[str]] = {}
    for field, check in (
        ("username", lambda: save.check_username(username)),
        ("role", lambda: save.check_role(role)),
        ("expires_in_days", lambda: check_days(days)),
    ):
        try:
            check()
        except ValidationError as exc:
            errors[field] = exc.message_dict[field]
    if errors:
        raise ValidationError(errors)
    name = usernames.normalise(username)
    if _pending(username__iexact=name).exists():
        raise ValidationError(
            {"username": [f"an invite for {name!r} is pending: revoke it to send a new one"]}
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    team_list = list(teams)
    with transaction.atomic():
        invite = Invite.objects.create(
            token_hash=token_hash(token),
            username=name,
            email=email,
            role=role,
            expires_at=timezone.now() + timedelta(days=check_days(days)),
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        invite.teams.set(team_list)
        audit.record(
            "invite_create",
            object_type="invite",
            object_id=invite.pk,
            object_name=name,
            changes={
                "role": role,
                "teams": [t.name for t in team_list],
                "expires_at": invite.expires_at.isoformat(),
            },
        )
    return Issued(invite, token)


def usable(token: str) -> Invite | None:
    """The pending invite ``token`` opens, or None."""
    if not token or len(token) > 200:
        return None
    invite: Invite | None = Invite.objects.filter(token_hash=token_hash(token)).first()
    if invite is None or invite.state != "pending":
        return None
    return invite


class InviteUnusable(Exception):
    """The link is unknown, used, revoked or expired."""


class InviterLostRight(InviteUnusable):
    """The person who made the invite may no longer grant it (removed, deactivated, or
    their role no longer reaches the invite's role or teams); the message says so."""


def inviter_refusal(invite: Invite) -> str:
    """Why ``invite``'s inviter may no longer grant it, or empty: the inviter, read
    afresh, must be active and still pass rule ``user.invite`` for the invite's role and
    teams. An invite with no inviter (the master key's or the operator's) is not tied to
    a person's rights."""
    if invite.created_by_id is None:
        return ""
    from django.contrib.auth import get_user_model

    inviter = (
        get_user_model().objects.select_related("switchyard").filter(pk=invite.created_by_id)
    ).first()
    if inviter is None or not inviter.is_active:
        return "its inviter can no longer invite anyone here"
    grant = InviteGrant(invite.role, frozenset(invite.teams.values_list("pk", flat=True)))
    decision = authorization.decide(roles.actor_for_user(inviter), "user.invite", grant)
    if not decision:
        return f"its inviter {inviter.get_username()} may no longer grant it ({decision.reason})"
    return ""


def accept(token: str, password: str) -> Any:
    """The account the invite makes, with ``password``. Raises ``InviteUnusable`` or a
    ``ValidationError`` (``password``, ``username``); nothing is written then."""
    with transaction.atomic():
        invite = (
            Invite.objects.select_for_update().filter(token_hash=token_hash(token or "")).first()
        )
        if invite is None or invite.state != "pending":
            raise InviteUnusable("this invitation link no longer works")
        refused = inviter_refusal(invite)
        if refused:
            raise InviterLostRight(refused)
        origin = audit.current_actor()
        newcomer = dataclasses.replace(
            origin, kind="user", name=invite.username, id="", source="invite"
        )
        with audit.acting(newcomer):
            user = save.create_user(
                invite.username,
                email=invite.email,
                role=invite.role,
                teams=list(invite.teams.all()),
                password=password,
            )
            invite.used_at = timezone.now()
            invite.used_by = user
            invite.save(update_fields=["used_at", "used_by"])
            audit.record(
                "invite_accept",
                object_type="user",
                object_id=user.pk,
                object_name=user.get_username(),
                changes={"role": invite.role, "teams": [t.name for t in invite.teams.all()]},
                detail=f"invite {invite.pk}",
                actor=dataclasses.replace(newcomer, id=str(user.pk)),
            )
    return user


def revoke(invite: Invite, why: str = "") -> Invite:
    if invite.state == "pending":
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at"])
        audit.record(
            "invite_revoke",
            object_type="invite",
            object_id=invite.pk,
            object_name=invite.username,
            detail=why,
        )
    return invite


def revoke_lost(user_id: int, *, removed: bool = False) -> int:
    """Revoke the pending invites the user ``user_id`` made that they may no longer
    grant (all of them when ``removed``: the account is going). Returns how many were
    revoked."""
    revoked = 0
    for invite in list(_pending(created_by_id=user_id)):
        why = "its inviter was removed" if removed else inviter_refusal(invite)
        if why:
            revoke(invite, f"revoked with its inviter's right to invite: {why}")
            revoked += 1
    return revoked


def pending() -> list[Invite]:
    """Invites not yet used, revoked or expired, newest first."""
    return list(_pending().select_related("created_by").prefetch_related("teams"))


def _pending(**where: Any) -> QuerySet[Invite]:
    """The invites not yet used, revoked or expired (``where``: of these, which)."""
    now = timezone.now()
    return Invite.objects.filter(
        used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now, **where
    )


def email_link(invite: Invite, link: str, sender: str) -> bool:
    """Email the one-time ``link`` when the invite has an address and the operator set up
    email (``SWITCHYARD_EMAIL_HOST``): whether it is being sent. It goes after the
    transaction commits, off the request (``mail.send_later``); a failure is logged with
    the invite's id and the SMTP host, never the link."""
    if not invite.email or not mail.configured():
        return False
    who = " ".join(sender.split())[:150]
    body = (
        f"{who} invited you to Switchyard as {invite.username}.\n\n"
        f"Open this link to choose your password and sign in (it works once, until "
        f"{invite.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n"
    )
    what = f"the email of invite {invite.pk}"
    mail.send_later([invite.email], "Your Switchyard invitation", body, what)
    return True
