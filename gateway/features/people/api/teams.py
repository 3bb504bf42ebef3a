"""Teams in the management API: their limits (counted like a key's, by every key of the
team) and their members. Owners and admins change them; others see their own teams."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, ProtectedError, QuerySet
from django.http import HttpRequest
from ninja import Router, Schema, Status

from gateway.access import roles
from gateway.features.people.save import save_team
from gateway.models import Membership, Team
from gateway.web import saving
from gateway.web.api.writes import ValidationErrors, check_fields
from gateway.web.http import first_or_404

router = Router(tags=["teams"])


class MemberOut(Schema):
    user: str
    role: str


class TeamOut(Schema):
    id: int
    name: str
    description: str
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: Decimal | None
    budget_period: str
    alert_thresholds: list[int] | None  # budget alerts in percent; null: the default
    # MCP servers/tools the team's keys may use at most (a key's own list within it);
    # null: the team does not restrict MCP
    mcp_allowed: list[str] | None
    # A2A agents the team's keys may call at most; null: the team does not restrict them
    a2a_allowed: list[str] | None
    guardrails: list[str]  # guardrails (names) every request of the team's keys runs
    created_at: datetime
    members: list[MemberOut]
    keys: int

    @staticmethod
    def resolve_members(obj: Team) -> list[dict[str, str]]:
        return [{"user": m.user.get_username(), "role": m.role} for m in obj.memberships.all()]

    @staticmethod
    def resolve_keys(obj: Team) -> int:
        count: int = obj.key_count if hasattr(obj, "key_count") else obj.keys.count()
        return count


class TeamPatch(Schema):
    """Limits accept a number, or null to remove the limit."""

    name: str | None = None
    description: str | None = None
    rpm_limit: int | str | None = None
    tpm_limit: int | str | None = None
    budget_usd: Decimal | str | None = None
    budget_period: str | None = None
    alert_thresholds: list[int] | str | None = None  # null: the default; []: no alerts
    # "server", "server__tool" or "*": an upper bound for the team's keys; null: none
    mcp_allowed: list[str] | None = None
    a2a_allowed: list[str] | None = None  # agent names or "*": a bound; null: none
    guardrails: list[str] | None = None  # existing guardrails' names ([] or null: none)


class TeamIn(TeamPatch):
    name: str
    budget_period: str = "month"


class MemberIn(Schema):
    role: str = roles.MEMBER


def _team(request: HttpRequest, team_id: int) -> Team:
    rows = roles.visible_teams(request.actor, Team.objects.all())
    team: Team = first_or_404(rows.filter(pk=team_id), f"no team {team_id}")
    return team


@router.get("/", response=list[TeamOut])
def list_teams(request: HttpRequest) -> list[Team]:
    return list(roles.visible_teams(request.actor, _with_parts()))


def _with_parts() -> QuerySet[Team]:
    """Teams with what ``TeamOut`` reads of them: a listing's queries do not grow with
    its teams."""
    return Team.objects.annotate(key_count=Count("keys", distinct=True)).prefetch_related(
        "memberships__user"
    )


def _answer(team: Team) -> Team:
    """The team as it is now, with its parts, for an answer."""
    fresh: Team = _with_parts().get(pk=team.pk)
    return fresh


@router.post("/", response={201: TeamOut, 422: ValidationErrors})
def create_team(request: HttpRequest, payload: TeamIn) -> Status[Any]:
    check_fields(request, "teams", payload.dict(exclude_unset=True))
    try:
        return Status(201, _answer(save_team(None, payload.dict())))
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})


@router.get("/{rowid:team_id}", response=TeamOut)
def get_team(request: HttpRequest, team_id: int) -> Team:
    return _answer(_team(request, team_id))


@router.patch("/{rowid:team_id}", response={200: TeamOut, 422: ValidationErrors})
def update_team(request: HttpRequest, team_id: int, payload: TeamPatch) -> Status[Any]:
    team = _team(request, team_id)
    check_fields(request, "teams", payload.dict(exclude_unset=True), team)
    try:
        return Status(200, _answer(save_team(team, payload.dict(exclude_unset=True))))
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})


@router.delete("/{rowid:team_id}", response={204: None, 409: ValidationErrors})
def delete_team(request: HttpRequest, team_id: int) -> Status[Any]:
    team = _team(request, team_id)
    try:
        team.delete()
    except ProtectedError:
        return Status(409, {"errors": {"team": ["the team still has keys: move or revoke them"]}})
    return Status(204, None)


@router.put("/{rowid:team_id}/members/{username}", response={200: TeamOut, 422: ValidationErrors})
def put_member(request: HttpRequest, team_id: int, username: str, payload: MemberIn) -> Status[Any]:
    team = _team(request, team_id)
    user = first_or_404(get_user_model().objects.filter(username=username), f"no user {username!r}")
    if payload.role not in (roles.EDITOR, roles.MEMBER, roles.VIEWER):
        return Status(422, {"errors": {"role": ["a team role is editor, member or viewer"]}})
    check_fields(request, "team_members", payload.dict())
    roles.assign_membership(user, team, payload.role)
    return Status(200, _answer(team))


@router.delete("/{rowid:team_id}/members/{username}", response=TeamOut)
def delete_member(request: HttpRequest, team_id: int, username: str) -> Team:
    team = _team(request, team_id)
    Membership.objects.filter(team=team, user__username=username).delete()
    return _answer(team)
