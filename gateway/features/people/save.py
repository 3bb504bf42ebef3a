"""Console accounts made and ended by people, the one implementation behind the console,
``/api/users`` and invitations (``gateway.features.people.invites``).

- ``create_user``: a local account with a role and teams. The username is normalised
  (NFKC) and refused, as single sign-on refuses it, when empty, malformed, taken or a
  look-alike of an existing one; a password passes Django's password validators.
  Refusals are ``ValidationError`` keyed by field, never a database error: a name
  taken by a concurrent request is caught at the unique index and said the same way.
- ``set_active``: deactivated, a user cannot sign in, their sessions end at their next
  request and their keys (console keys included) are refused at once: the registry
  snapshot marks a deactivated user's keys revoked (``gateway.access.signals`` rebuilds it
  when ``is_active`` changes).
- ``remove``: every key of the user is revoked (kept, so the logs that name them still
  read), then the account goes with its role, memberships and SSO links; logged
  requests, spend and audit rows stay. Their single sign-on identities are remembered
  (``SsoRemoval``, written by ``gateway.access.signals`` on every path that deletes a user),
  so the next sign-in is refused instead of making the account again;
  ``readmit_sso`` lets one in again.
- ``save_team``: a team validated and saved (limits, bounds, guardrails).

The last active owner is never deactivated, demoted or removed, and nobody deactivates
or removes themselves. Who may do each is the caller's question (rules ``user.invite``,
``user.manage``); each writes its audit row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.access import keys, roles, usernames
from gateway.models import ApiKey, SsoRemoval, Team
from gateway.telemetry import audit

# The role a user holds inside the teams they join: an owner or admin acts on every
# team anyway, so their membership says "editor".
TEAM_LIMITS = ("rpm_limit", "tpm_limit", "budget_usd", "budget_period", "alert_thresholds")
TEAM_ROLE = {roles.EDITOR: roles.EDITOR, roles.MEMBER: roles.MEMBER, roles.VIEWER: roles.VIEWER}
# What a team's keys may reach at most (MCP servers and tools, A2A agents), each with
# its check: a bound the key's own lists are read within
BOUNDS: tuple[tuple[str, Callable[[Any], list[str]]], ...] = (
    ("mcp_allowed", keys.clean_mcp_allowed),
    ("a2a_allowed", keys.clean_a2a_allowed),
)


def team_role(role: str) -> str:
    return TEAM_ROLE.get(role, roles.EDITOR)


def username_refusal(name: str) -> str:
    """Why ``name`` (as given) cannot be a new username, or empty."""
    normal = usernames.normalise(name)
    found = usernames.problem(normal)
    if found:
        return found.replace("the identity provider sent no usable username", "enter a username")
    User = get_user_model()
    if User.objects.filter(username__iexact=normal).exists():
        return f"the user {normal!r} already exists"
    taken = User.objects.values_list("username", flat=True)
    imitated = usernames.look_alike(normal, taken)
    if imitated is not None:
        return f"the username looks like the existing user {imitated!r}"
    return ""


def check_username(name: str) -> str:
    """The normalised username, or a ``ValidationError`` on ``username``."""
    refused = username_refusal(name)
    if refused:
        raise ValidationError({"username": [refused]})
    return usernames.normalise(name)


def check_password(password: str, username: str = "", email: str = "") -> None:
    """Django's password validators (``AUTH_PASSWORD_VALIDATORS``), keyed ``password``."""
    User = get_user_model()
    probe = User(username=username, email=email)
    try:
        password_validation.validate_password(password, probe)
    except ValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from None


def check_role(role: str) -> str:
    if role not in roles.ROLES:
        raise ValidationError({"role": [f"role must be one of {', '.join(roles.ROLES)}"]})
    return role


def create_user(
    username: str,
    *,
    email: str = "",
    role: str = roles.MEMBER,
    teams: Iterable[Team] = (),
    password: str | None = None,
) -> Any:
    """A new local account (no password: it signs in through single sign-on only, or
    sets one through an invitation). Raises ``ValidationError`` by field."""
    name = check_username(username)
    check_role(role)
    if password is not None:
        check_password(password, name, email)
    User = get_user_model()
    try:
        with transaction.atomic():
            user = User.objects.create_user(name, email, password or None)
            if not password:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            roles.set_role(user, role)
            for team in teams:
                roles.assign_membership(user, team, team_role(role))
    except IntegrityError:  # the same name committed meanwhile
        raise ValidationError({"username": [f"the user {name!r} already exists"]}) from None
    return user


def _refuse_self_or_last_owner(actor: roles.Actor, user: Any, doing: str) -> None:
    if actor.user_id is not None and actor.user_id == user.pk:
        raise ValidationError({"user": [f"you may not {doing} yourself"]})
    if roles.is_last_owner(user):
        raise ValidationError(
            {"user": [f"this is the last owner: make someone else an owner before you {doing} it"]}
        )


def set_active(actor: roles.Actor, user: Any, active: bool) -> Any:
    """Deactivate or reactivate ``user`` (their keys stop or resume with them)."""
    if bool(user.is_active) == active:
        return user
    if not active:
        _refuse_self_or_last_owner(actor, user, "deactivate")
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        keys = ApiKey.objects.filter(user=user, revoked_at__isnull=True).count()
        audit.record(
            "user_activate" if active else "user_deactivate",
            object_type="user",
            object_id=user.pk,
            object_name=user.get_username(),
            changes={"active": [not active, active]},
            detail=(
                f"{keys} key(s) work again" if active else f"{keys} key(s) refused from now on"
            ),
        )
    return user


def remove(actor: roles.Actor, user: Any) -> int:
    """Remove ``user``: their keys revoked (kept), the account deleted; logs, spend and
    audit rows stay. Returns how many keys were revoked."""
    _refuse_self_or_last_owner(actor, user, "remove")
    name, pk = user.get_username(), user.pk
    with transaction.atomic():
        revoked = 0
        for key in ApiKey.objects.filter(user=user, revoked_at__isnull=True):
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at", "updated_at"])
            revoked += 1
        user.delete()
        audit.record(
            "user_remove",
            object_type="user",
            object_id=pk,
            object_name=name,
            changes={"keys_revoked": revoked},
            detail="account removed; its keys revoked and kept, its logs and spend kept",
        )
    return revoked


def readmit_sso(removal: SsoRemoval) -> None:
    """Let a removed single sign-on identity sign in again: its next sign-in makes a new
    account with the role and teams its claims map to (an ``sso_readmit`` row)."""
    with transaction.atomic():
        audit.record(
            "sso_readmit",
            object_type="user",
            object_name=removal.username,
            detail=f"{removal.issuer} (sub {removal.subject}) may sign in again",
        )
        removal.delete()


def save_team(team: Team | None, fields: dict[str, Any]) -> Team:
    """Validate and save a team (the console's form, ``/api/teams`` and the import)."""
    clean = keys.clean_fields({f: v for f, v in fields.items() if f in TEAM_LIMITS})
    team = team or Team()
    for name in ("name", "description"):
        if name in fields and fields[name] is not None:
            setattr(team, name, str(fields[name]).strip())
    for name, value in clean.items():
        setattr(team, name, value)
    for name, clean_bound in BOUNDS:  # None: no restriction; a list (even []): the bound
        if name in fields:
            value = fields[name]
            try:
                setattr(team, name, None if value is None else clean_bound(value))
            except ValueError as exc:
                raise ValidationError({name: [str(exc)]}) from None
    if "guardrails" in fields:  # names of existing guardrails; null is none
        try:
            team.guardrails = keys.clean_guardrails(fields["guardrails"])
        except ValueError as exc:
            raise ValidationError({"guardrails": [str(exc)]}) from None
    team.full_clean()
    team.save()
    return team
