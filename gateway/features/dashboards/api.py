"""Charts pinned to dashboard boards in the management API (``/api/dashboards``): list the
charts of the boards the caller sees (``?team=<id>`` or ``?team=global`` for one board),
pin one, unpin one. The same pin and unpin as the console (``save``,
rule ``dashboard.pin``): a member pins to their own team's board only, owners and admins
to the global board (``team`` null) and every team's. The figures are drawn by the
board on the console's dashboard (``views``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from gateway.access import authorization
from gateway.features.dashboards import save
from gateway.models import PinnedChart, Team
from gateway.web import saving
from gateway.web.api.writes import ValidationErrors, check_fields
from gateway.web.http import first_or_404

PATH = "/dashboards"
router = Router(tags=["dashboards"])


class PinnedChartOut(Schema):
    id: int
    team: str | None  # the board's team; null: the global board
    team_id: int | None
    metric: str
    group_by: str
    window: str  # 1h, 24h or 7d
    score_name: str  # a chart of scores: the score it averages; else ""
    position: int
    created_at: datetime

    @staticmethod
    def resolve_team(obj: PinnedChart) -> str | None:
        return obj.team.name if obj.team is not None else None


class PinnedChartIn(Schema):
    team: int | None = None  # a team's id; null or left out: the global board
    metric: str  # requests, errors, cost, tokens, latency_p50 ... score
    group_by: str  # route, model, key, team, user, end_user, tag, prompt_version
    window: str = "24h"  # 1h, 24h (the default) or 7d
    # metric "score": the one score averaged (required: scores of several names are on
    # several scales); any other metric: none
    score_name: str = ""


def _visible(request: HttpRequest) -> QuerySet[PinnedChart]:
    actor = request.actor
    rows = PinnedChart.objects.select_related("team").order_by("team__name", "position", "id")
    if actor.everywhere:
        return rows
    return rows.filter(team_id__in=actor.team_ids())


@router.get("/", response=list[PinnedChartOut])
def list_charts(request: HttpRequest, team: str | None = None) -> list[PinnedChart]:
    rows = _visible(request)
    if team == "global":
        rows = rows.filter(team__isnull=True)
    elif team is not None:
        rows = rows.filter(team_id=int(team) if team.isdigit() else -1)
    return list(rows)


@router.post("/", response={201: PinnedChartOut, 422: ValidationErrors})
def pin_chart(request: HttpRequest, payload: PinnedChartIn) -> Status[Any]:
    fields = payload.dict()
    check_fields(request, "pinned_charts", fields)
    team: Team | None = None
    if fields["team"] is not None:
        team = Team.objects.filter(pk=fields["team"]).first()
        if team is None or not save.may_see(request.actor, team):
            return Status(422, {"errors": {"team": [f"no team {fields['team']}"]}})
    try:
        chart = save.pin(request.actor, team, fields)
    except authorization.Denied as denied:
        raise HttpError(403, denied.reason) from denied
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
    return Status(201, chart)


@router.delete("/{rowid:chart_id}", response={204: None})
def unpin_chart(request: HttpRequest, chart_id: int) -> Status[None]:
    chart = first_or_404(_visible(request).filter(pk=chart_id), f"no pinned chart {chart_id}")
    try:
        save.unpin(request.actor, chart)
    except authorization.Denied as denied:
        raise HttpError(403, denied.reason) from denied
    return Status(204, None)
