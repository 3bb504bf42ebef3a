"""The pinned board and its changes: the board a dashboard reader picks (a team's, or the
global one), its charts drawn (``figures``), the "Pin a chart" form, unpin and reorder
(``save``), each answering with the ``pinned-board`` partial to htmx and a redirect to
the board otherwise. The board is a ``Panel`` of the console's dashboard (``pages``):
drawn there on the whole page, alone when a tab aims htmx at it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse

from gateway.access import authorization, roles
from gateway.features.dashboards import figures, save
from gateway.features.dashboards.forms import PIN_FIELDS, PinForm
from gateway.models import ApiKey, PinnedChart, Team
from gateway.models.dashboards import MAX_PER_BOARD
from gateway.web.charts import Series, bar_chart
from gateway.web.decorators import actor_of, fields_refused, forbidden, form_values, staff_required
from gateway.web.http import HtmxHttpRequest
from gateway.web.saving import show_errors

BOARD = "dashboards/board.html#pinned-board"
BOARD_ID = "pinned-board"  # the board's element: a dashboard request aimed at it draws it alone
PIN_PAGE = "dashboards/pin.html"
UNPINNED_SHOWN = 12  # the filters a link says the pin leaves out (the Logs page has 11)

LABEL_ROOM = 20  # a pinned chart's first bar is its tallest: room for the maximum's label


def _board_team(request: HtmxHttpRequest, actor: roles.Actor) -> tuple[Team | None, bool]:
    """The board asked for (``?board=global`` or a team id) if the reader sees it, else
    their default: the global board (owners, admins) or their first team's. The flag:
    whether there is a board at all (a member in no team has none)."""
    wanted = request.GET.get("board") or request.POST.get("board") or ""
    teams = save.boards(actor)
    if wanted.isdigit():
        found = teams.filter(pk=int(wanted)).first()
        if found is not None:
            return found, True
    if actor.everywhere:
        return None, True
    first = teams.first()
    return first, first is not None


def _scope(actor: roles.Actor, team: Team | None) -> set[int] | None:
    """The keys whose requests a board's charts show this reader: the team's keys among
    those they see (a team board), or all they see (the global board)."""
    visible = roles.visible_key_ids(actor)
    if team is None:
        return visible
    team_keys = set(ApiKey.objects.filter(team=team).values_list("id", flat=True))
    return team_keys if visible is None else team_keys & visible


def _pinned_chart(chart: PinnedChart, scope: set[int] | None) -> dict[str, Any]:
    found = figures.figure(chart, scope)
    spec = figures.METRICS[chart.metric]
    scale = figures.score_scale(chart.score_name) if spec.scores and chart.score_name else None
    svg = (
        bar_chart(
            f"{chart.title}, {found.window.label.lower()}",
            [figures.short(label) for label, _ in found.rows],
            Series([value for _, value in found.rows], spec.css),
            value_label=f"({scale.words})" if scale else spec.unit,
            headroom=LABEL_ROOM,
            top=scale.top if scale else None,
        )
        if found.rows
        else ""
    )
    rows = [
        (label, value, scale.text(value) if scale else _text(spec.unit, value))
        for label, value in found.rows
    ]
    return {
        "chart": chart,
        "figure": found,
        "svg": svg,
        "rows": rows,
        "unit": spec.unit,
        "scale": scale,
    }


def _text(unit: str, value: float) -> str:
    """A figure as the table under a chart prints it; "" for money and times from 10 ms,
    which the console's ``usd`` and ``ms`` filters print in the template."""
    if unit == "USD" or unit == "ms" and value >= 10:
        return ""
    if unit == "ms":  # below 10 ms a tenth tells the gateway's own overhead apart
        return f"{value:.1f} ms"
    if unit == "":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _may_pin_somewhere(actor: roles.Actor) -> bool:
    if actor.everywhere:
        return True
    return actor.can("dashboard.pin") and bool(actor.team_ids(roles.EDITOR, roles.MEMBER))


def board_context(
    request: HtmxHttpRequest, form: PinForm | None = None, team: Team | None = None
) -> dict[str, Any]:
    """What the ``pinned-board`` partial shows: the board's tabs, its charts, the pin
    form. ``form`` given (after a submission): ``team`` is the board shown."""
    actor = actor_of(request)
    has_board = True
    if form is None:
        team, has_board = _board_team(request, actor)
    scope = _scope(actor, team)
    charts = list(save.on_board(team)) if has_board else []
    if form is None and _may_pin_somewhere(actor):
        initial = {"team": team, **{k: request.GET[k] for k in PIN_FIELDS if k in request.GET}}
        form = PinForm(actor, initial=initial)
    return {
        "pin_board": team,
        "pin_board_key": "global" if team is None else team.pk,
        "pin_has_board": has_board,
        "pin_boards": save.boards(actor),
        "pin_global": actor.everywhere,
        "pin_charts": [_pinned_chart(c, scope) for c in charts],
        "pin_may": has_board and bool(authorization.decide(actor, "dashboard.pin", team)),
        "pin_form": form,
        "pin_max": MAX_PER_BOARD,
        "pin_cap": f"{figures.CAP:,}",
    }


def board(request: HtmxHttpRequest) -> str:
    """The board as the dashboard draws it (its ``Panel``): the one the reader asked for
    (``?board=``) or their default, with the pin form for those who may pin."""
    html: str = render_to_string(BOARD, board_context(request), request=request)
    return html


def _board_url(team: Team | None) -> str:
    board = "global" if team is None else team.pk
    return f"{reverse('console:dashboard')}?board={board}#pinned-board"


def _board_answer(request: HtmxHttpRequest, team: Team | None) -> HttpResponse:
    """After a change: the board partial for htmx, else back to the dashboard's board."""
    if request.htmx:
        fresh = PinForm(actor_of(request), initial={"team": team})
        context = board_context(request, form=fresh, team=team)
        return render(request, BOARD, context)
    return HttpResponseRedirect(_board_url(team))


@staff_required
def pin_chart(request: HtmxHttpRequest) -> HttpResponse:
    """The "Pin a chart" form (GET: prefilled from the query, as Spend and Logs link it)
    and its submission (rule ``dashboard.pin`` and the field table, as ``/api``)."""
    actor = actor_of(request)
    if request.method != "POST":
        team, _ = _board_team(request, actor)
        initial = {"team": team, **{k: request.GET[k] for k in PIN_FIELDS if k in request.GET}}
        form = PinForm(actor, initial=initial)
        unpinned = request.GET.getlist("unpinned")[:UNPINNED_SHOWN]
        return render(request, PIN_PAGE, {"form": form, "unpinned": unpinned})
    form = PinForm(actor, request.POST)
    if form.is_valid():
        team = form.cleaned_data["team"]
        sent = form_values(form)
        refused = fields_refused(request, "pinned_charts", sent)
        if refused is not None:
            return refused
        try:
            save.pin(actor, team, sent)
        except authorization.Denied as denied:
            return forbidden(request, denied.reason)
        except ValidationError as error:
            show_errors(form, error)
        else:
            return _board_answer(request, team)
    if request.htmx:
        team, _ = _board_team(request, actor)
        context = board_context(request, form=form, team=team)
        return render(request, BOARD, context, status=422)
    unpinned = request.POST.getlist("unpinned")[:UNPINNED_SHOWN]
    return render(request, PIN_PAGE, {"form": form, "unpinned": unpinned}, status=422)


def _chart_or_404(request: HtmxHttpRequest, pk: int) -> PinnedChart:
    chart: PinnedChart = get_object_or_404(PinnedChart.objects.select_related("team"), pk=pk)
    if not save.may_see(actor_of(request), chart.team):
        raise Http404("no such chart")
    return chart


@staff_required
def unpin_chart(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chart = _chart_or_404(request, pk)
    if request.method != "POST":
        return HttpResponseRedirect(_board_url(chart.team))
    try:
        save.unpin(actor_of(request), chart)
    except authorization.Denied as denied:
        return forbidden(request, denied.reason)
    return _board_answer(request, chart.team)


@staff_required
def move_chart(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chart = _chart_or_404(request, pk)
    if request.method != "POST":
        return HttpResponseRedirect(_board_url(chart.team))
    step = -1 if request.POST.get("direction") == "up" else 1
    try:
        save.move(actor_of(request), chart, step)
    except authorization.Denied as denied:
        return forbidden(request, denied.reason)
    return _board_answer(request, chart.team)
