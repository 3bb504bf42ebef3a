"""Console users in the management API: their role and team memberships (owners change
them; admins may read them), deactivation and removal (``gateway.features.people.save``: keys
refused at once; removed users' keys revoked and kept, their logs kept), and their own
limits across every key they own (``/api/user-limits/{username}``: owners, and admins
for users below owner). Invitations are ``/api/invites``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from gateway.access import authorization, keys, roles, usernames
from gateway.features.people import save
from gateway.models import Team
from gateway.web import saving
from gateway.web.api.ids import row_id
from gateway.web.api.writes import ValidationErrors, check_fields

router = Router(tags=["users"])
limits_router = Router(tags=["users"])


class MembershipOut(Schema):
    team: str
    role: str


class UserLimits(Schema):
    """A user's own limits, counted across every key they own; null: none."""

    rpm_limit: int | None = None
    tpm_limit: int | None = None
    budget_usd: Decimal | None = None
    budget_period: str = "month"
    alert_thresholds: list[int] | None = None  # budget alerts in percent; null: the default


class UserLimitsPatch(Schema):
    """Give a number to set a limit, null to remove it; leave a field out to keep it."""

    rpm_limit: int | str | None = None
    tpm_limit: int | str | None = None
    budget_usd: Decimal | str | None = None
    budget_period: str | None = None
    alert_thresholds: list[int] | str | None = None


class UserOut(Schema):
    id: int
    username: str
    email: str
    active: bool
    role: str | None
    teams: list[MembershipOut]
    limits: UserLimits

    @staticmethod
    def resolve_limits(obj: Any) -> dict[str, Any]:
        return keys.user_limits(obj)

    @staticmethod
    def resolve_active(obj: Any) -> bool:
        return bool(obj.is_active)

    @staticmethod
    def resolve_role(obj: Any) -> str | None:
        return roles.role_of_any(obj)

    @staticmethod
    def resolve_teams(obj: Any) -> list[dict[str, str]]:
        return [{"team": m.team.name, "role": m.role} for m in obj.memberships.all()]


class UserPatch(Schema):
    role: str | None = Field(None, json_schema_extra={"enum": [*roles.ROLES, None]})
    active: bool | None = None


class UserIn(Schema):
    # Django's username rule (usernames.problem); NFKC form and no look-alike of an
    # existing user are checked by the server (422)
    username: str = Field(min_length=1, max_length=usernames.MAX_LENGTH, pattern=r"^[\w.@+-]+$")
    email: str = Field("", max_length=254)
    password: str | None = None  # none: the user signs in through single sign-on only
    role: str = Field(roles.MEMBER, json_schema_extra={"enum": list(roles.ROLES)})
    teams: list[str] = []  # team names; the user joins each as their role there


class Removed(Schema):
    username: str
    keys_revoked: int


def _user(username_or_id: str) -> Any:  # a user row
    User = get_user_model()
    rows = User.objects.all()
    user = rows.filter(username=username_or_id).first()
    if user is None and (pk := row_id(username_or_id)) is not None:
        user = rows.filter(pk=pk).first()
    if user is None:
        raise Http404(f"no user {username_or_id!r}")
    return user


def _role(value: str) -> str:
    if value not in roles.ROLES:
        raise HttpError(422, f"role must be one of {', '.join(roles.ROLES)}")
    return value


@router.get("/", response=list[UserOut])
def list_users(request: HttpRequest) -> list[Any]:
    return list(_with_parts().order_by("username"))


def _with_parts() -> QuerySet[Any]:
    """Users with what ``UserOut`` reads of them (role, limits, teams): a listing's
    queries do not grow with its users, nor a user's with their teams."""
    users = get_user_model().objects.select_related("switchyard")
    return users.prefetch_related("memberships__team")


def teams_named(names: list[str]) -> list[Team]:
    """The teams ``names`` name (``ValidationError`` on ``teams`` for unknown ones)."""
    found = {t.name: t for t in Team.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ValidationError({"teams": [f"no team {', '.join(map(repr, missing))}"]})
    return [found[n] for n in dict.fromkeys(names)]


@router.post("/", response={201: UserOut, 422: ValidationErrors})
def create_user(request: HttpRequest, payload: UserIn) -> Status[Any]:
    """A local user, checked as single sign-on checks names (normalised, no look-alike
    of an existing user) and with Django's password validators; 422 by field."""
    check_fields(request, "users", payload.dict(exclude_unset=True))
    try:
        user = save.create_user(
            payload.username,
            email=payload.email,
            role=save.check_role(payload.role),
            teams=teams_named(payload.teams),
            password=payload.password or None,
        )
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
    return Status(201, _with_parts().get(pk=user.pk))


@router.get("/{username}", response=UserOut)
def get_user(request: HttpRequest, username: str) -> Any:
    return _with_parts().get(pk=_user(username).pk)


@router.patch("/{username}", response={200: UserOut, 409: ValidationErrors})
def update_user(request: HttpRequest, username: str, payload: UserPatch) -> Any:
    """A user's role, or ``active``: false deactivates them (their keys are refused at
    once), true lets them back in. The last owner stays an active owner (409)."""
    user = _user(username)
    if payload.active is not None:
        decision = authorization.decide(request.actor, "user.manage", user)
        if not decision:
            raise HttpError(403, decision.reason)
    sent = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    check_fields(request, "users", sent)
    if payload.role is not None:
        role = _role(payload.role)
        if role != roles.OWNER and roles.is_last_owner(user):
            last = "this is the last owner: make someone else an owner first"
            return Status(409, {"errors": {"role": [last]}})
        roles.set_role(user, role)
    if payload.active is not None:
        try:
            save.set_active(request.actor, user, payload.active)
        except ValidationError as exc:
            return Status(409, {"errors": saving.errors_by_field(exc)})
    # as stored now: the role just set, not the one the last-owner check read before it
    return _with_parts().get(pk=user.pk)


@router.delete("/{username}", response={200: Removed, 409: ValidationErrors})
def remove_user(request: HttpRequest, username: str) -> Any:
    """Remove a user: their keys are revoked (kept, so logs naming them still read), the
    account goes; logs, spend and audit rows stay. Not yourself, not the last owner (409)."""
    user = _user(username)
    decision = authorization.decide(request.actor, "user.manage", user)
    if not decision:
        raise HttpError(403, decision.reason)
    name = user.get_username()
    try:
        revoked = save.remove(request.actor, user)
    except ValidationError as exc:
        return Status(409, {"errors": saving.errors_by_field(exc)})
    return {"username": name, "keys_revoked": revoked}


@limits_router.get("/{username}", response=UserLimits)
def get_user_limits(request: HttpRequest, username: str) -> dict[str, Any]:
    return keys.user_limits(_user(username))


@limits_router.patch("/{username}", response={200: UserLimits, 422: ValidationErrors})
def update_user_limits(
    request: HttpRequest, username: str, payload: UserLimitsPatch
) -> dict[str, Any] | Status[Any]:
    user = _user(username)
    decision = authorization.decide(request.actor, "user.limit", user)
    if not decision:
        raise HttpError(403, decision.reason)
    check_fields(request, "user_limits", payload.dict(exclude_unset=True))
    try:
        return keys.save_user_limits(user, payload.dict(exclude_unset=True))
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
