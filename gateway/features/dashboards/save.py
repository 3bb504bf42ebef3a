"""Charts pinned to dashboard boards (``PinnedChart``), as the board's pages (``views``) and ``/api/dashboards`` (``api``)
change them: one pin, unpin and move for both, each asking rule ``dashboard.pin`` of the
board it touches (a member pins to their own team's board only; the global board, no
team, is owners' and admins'). A value outside the model's choices is a
``ValidationError`` naming its field; a full board (``MAX_PER_BOARD``) one naming
``team``. Which boards a reader sees is ``boards``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet

from gateway.access import authorization, roles
from gateway.models import PinnedChart, Team
from gateway.models.dashboards import MAX_PER_BOARD


def boards(actor: roles.Actor) -> QuerySet[Team]:
    """The team boards ``actor`` sees: every team's (owners, admins), else their teams'.
    The global board (no team) is every reader's of ``everywhere`` actors only."""
    teams = Team.objects.order_by("name")
    return teams if actor.everywhere else teams.filter(pk__in=actor.team_ids())


def may_see(actor: roles.Actor, team: Team | None) -> bool:
    if actor.everywhere:
        return True
    return team is not None and team.pk in actor.team_ids()


def on_board(team: Team | None) -> QuerySet[PinnedChart]:
    return PinnedChart.objects.filter(team=team).order_by("position", "id")


def pin(actor: roles.Actor, team: Team | None, fields: dict[str, Any]) -> PinnedChart:
    """Pin ``fields`` (metric, group_by, window, score_name) to ``team``'s board (None:
    global), last. A chart of scores without a score name is refused (``PinnedChart.clean``)."""
    authorization.require(actor, "dashboard.pin", team)
    chart = PinnedChart(
        team=team,
        metric=fields.get("metric") or "",
        group_by=fields.get("group_by") or "",
        window=fields.get("window") or PinnedChart.Window.DAY,
        score_name=(fields.get("score_name") or "").strip(),
        created_by_id=actor.holder_id,
    )
    chart.full_clean(exclude=["team", "created_by", "position"])
    with transaction.atomic():
        board = on_board(team).select_for_update()
        if board.count() >= MAX_PER_BOARD:
            raise ValidationError({"team": f"a board holds at most {MAX_PER_BOARD} charts"})
        chart.position = (board.aggregate(top=Max("position"))["top"] or 0) + 1
        chart.save()
    return chart


def unpin(actor: roles.Actor, chart: PinnedChart) -> None:
    authorization.require(actor, "dashboard.pin", chart.team)
    chart.delete()


def move(actor: roles.Actor, chart: PinnedChart, step: int) -> None:
    """Swap ``chart`` with its neighbour ``step`` places away (-1: earlier, 1: later); at
    an end of its board nothing moves. Positions are renumbered 1..n as they go."""
    authorization.require(actor, "dashboard.pin", chart.team)
    with transaction.atomic():
        ordered = list(on_board(chart.team).select_for_update())
        index = next(i for i, c in enumerate(ordered) if c.pk == chart.pk)
        other = index + (1 if step > 0 else -1)
        if 0 <= other < len(ordered):
            ordered[index], ordered[other] = ordered[other], ordered[index]
        for position, each in enumerate(ordered, start=1):
            if each.position != position:
                each.position = position
                each.save(update_fields=["position"])
