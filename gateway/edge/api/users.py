"""Console users in the management API: their role and team memberships (owners change
them; admins may read them), and their own limits across every key they own
(``/api/user-limits/{username}``: owners, and admins for users below owner)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from gateway.edge.api.providers import ValidationErrors
from gateway.ops import admin_ops
from gateway.policy import authorization, keys, roles, usernames

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


class UserLimitsPatch(Schema):
    """Give a number to set a limit, null to remove it; leave a field out to keep it."""

    rpm_limit: int | str | None = None
    tpm_limit: int | str | None = None
    budget_usd: Decimal | str | None = None
    budget_period: str | None = None


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
        return [
            {"team": m.team.name, "role": m.role} for m in obj.memberships.select_related("team")
        ]


class UserPatch(Schema):
    role: str | None = None
    active: bool | None = None


class UserIn(Schema):
    username: str
    email: str = ""
    password: str | None = None  # none: the user signs in through single sign-on only
    role: str = roles.MEMBER


def _user(username_or_id: str) -> Any:  # a user row
    User = get_user_model()
    rows = User.objects.all()
    user = rows.filter(username=username_or_id).first()
    if user is None and username_or_id.isdigit():
        user = rows.filter(pk=int(username_or_id)).first()
    if user is None:
        raise Http404(f"no user {username_or_id!r}")
    return user


def _role(value: str) -> str:
    if value not in roles.ROLES:
        raise HttpError(422, f"role must be one of {', '.join(roles.ROLES)}")
    return value


@router.get("/", response=list[UserOut])
def list_users(request: HttpRequest) -> list[Any]:
    return list(get_user_model().objects.order_by("username"))


@router.post("/", response={201: UserOut, 422: ValidationErrors})
def create_user(request: HttpRequest, payload: UserIn) -> Status[Any]:
    User = get_user_model()
    role = _role(payload.role)
    if User.objects.filter(username=payload.username).exists():
        return Status(422, {"errors": {"username": ["taken"]}})
    taken = User.objects.values_list("username", flat=True)
    refused = usernames.refusal(payload.username, taken)
    if refused:  # look-alikes of existing users, control characters (as SSO refuses)
        return Status(422, {"errors": {"username": [refused]}})
    user = User.objects.create_user(payload.username, payload.email, payload.password)
    if not payload.password:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    roles.set_role(user, role)
    return Status(201, user)


@router.get("/{username}", response=UserOut)
def get_user(request: HttpRequest, username: str) -> Any:
    return _user(username)


@router.patch("/{username}", response=UserOut)
def update_user(request: HttpRequest, username: str, payload: UserPatch) -> Any:
    user = _user(username)
    if payload.role is not None:
        role = _role(payload.role)
        if role != roles.OWNER and roles.is_last_owner(user):
            raise HttpError(409, "this is the last owner: make someone else an owner first")
        roles.set_role(user, role)
    if payload.active is not None:
        if not payload.active and roles.is_last_owner(user):
            raise HttpError(409, "this is the last owner: make someone else an owner first")
        user.is_active = payload.active
        user.save(update_fields=["is_active"])
    return user


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
    try:
        return keys.save_user_limits(user, payload.dict(exclude_unset=True))
    except ValidationError as exc:
        return Status(422, {"errors": admin_ops.errors_by_field(exc)})
