"""The dashboard: traffic, errors, latency, tokens and spend over a window, refreshed
by htmx polling the same view (which then renders only the ``dashboard-update`` partial:
the body, and the window tabs out of band). Above it, the pinned board: the charts a
team pinned (``gateway.ops.pinned_charts``, figures from ``console.pinned``), with the
"Pin a chart" form, unpin and reorder, each answering with the ``pinned-board`` partial
to htmx and a redirect to the board otherwise."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from console import pinned, stats
from console.charts import Series, bar_chart
from console.templatetags import console as console_tags
from gateway.access import authorization, roles
from gateway.models import ApiKey, PinnedChart, RequestLog, Route, Team
from gateway.models.dashboards import MAX_PER_BOARD
from gateway.ops import pinned_charts
from gateway.web.decorators import actor_of, fields_refused, forbidden, form_values, staff_required
from gateway.web.http import HtmxHttpRequest, page_or_partial
from gateway.web.saving import show_errors


def _charts(board: stats.Dashboard) -> dict[str, Any]:
    labels = [b.start.strftime(board.window.bucket_label) for b in board.buckets]
    return {
        "requests": bar_chart(
            "Requests and errors",
            labels,
            Series([b.requests for b in board.buckets], "bar"),
            Series([b.errors for b in board.buckets], "bar-error"),
            value_label="req",
        ),
        "latency": bar_chart(
            "Average latency",
            labels,
            Series([round(b.avg_ms or 0, 1) for b in board.buckets], "bar-latency"),
            value_label="ms",
        ),
        "tokens": bar_chart(
            "Tokens",
            labels,
            Series([b.tokens for b in board.buckets], "bar-tokens"),
            value_label="tok",
        ),
        "spend": bar_chart(
            "Spend",
            labels,
            Series([round(float(b.cost), 6) for b in board.buckets], "bar-spend"),
            value_label="USD",
        ),
    }


@staff_required
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx and request.htmx.target == "pinned-board":  # a board's tab
        return render(request, "console/dashboard.html#pinned-board", board_context(request))
    window = request.GET.get("window") or stats.DEFAULT_WINDOW
    visible = roles.visible_key_ids(actor_of(request))
    # below admin: the figures of one's own (or one's teams') keys only
    board = stats.dashboard(window) if visible is None else stats.scoped_dashboard(window, visible)
    context = {
        "board": board,
        "windows": stats.WINDOWS.values(),
        "charts": _charts(board),
        "has_traffic": board.totals.requests > 0 or RequestLog.objects.exists(),
        "first_route": Route.objects.filter(enabled=True).values_list("name", flat=True).first(),
        "base_url": request.build_absolute_uri("/v1"),
        # the pinned board: the whole page only (the 10 s poll refreshes the body)
        **({} if request.htmx else board_context(request)),
    }
    return render(
        request, page_or_partial(request, "console/dashboard.html", "dashboard-update"), context
    )


# --- the pinned board: charts a team shapes (gateway.ops.pinned_charts) --------------------

PIN_FIELDS = ("metric", "group_by", "window")
LABEL_ROOM = 20  # a pinned chart's first bar is its tallest: room for the maximum's label


class PinForm(forms.Form):
    """A chart to pin: its board (``team``; empty: the global board, owners and admins),
    metric, dimension and window."""

    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, label="Board", empty_label="Global board"
    )
    metric = forms.ChoiceField(choices=PinnedChart.Metric.choices)
    group_by = forms.ChoiceField(choices=PinnedChart.GroupBy.choices, label="Group by")
    window = forms.ChoiceField(choices=PinnedChart.Window.choices, initial="24h")

    def __init__(self, actor: roles.Actor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        if actor.everywhere:
            team.queryset = pinned_charts.boards(actor)
        else:  # their own teams' boards, never the global one
            team.queryset = pinned_charts.boards(actor).filter(
                pk__in=actor.team_ids(roles.EDITOR, roles.MEMBER)
            )
            team.required = True
            team.empty_label = None


def _board_team(request: HtmxHttpRequest, actor: roles.Actor) -> tuple[Team | None, bool]:
    """The board asked for (``?board=global`` or a team id) if the reader sees it, else
    their default: the global board (owners, admins) or their first team's. The flag:
    whether there is a board at all (a member in no team has none)."""
    wanted = request.GET.get("board") or request.POST.get("board") or ""
    teams = pinned_charts.boards(actor)
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
    found = pinned.figure(chart, scope)
    spec = pinned.METRICS[chart.metric]
    svg = (
        bar_chart(
            f"{chart.title}, {found.window.label.lower()}",
            [pinned.short(label) for label, _ in found.rows],
            Series([value for _, value in found.rows], spec.css),
            value_label=spec.unit,
            headroom=LABEL_ROOM,
        )
        if found.rows
        else ""
    )
    rows = [(label, _shown(spec.unit, value)) for label, value in found.rows]
    return {"chart": chart, "figure": found, "svg": svg, "rows": rows}


def _shown(unit: str, value: float) -> str:
    """A figure as the table under a chart prints it."""
    if unit == "USD":
        return str(console_tags.usd(value))
    if unit == "ms":  # below 10 ms a tenth tells the gateway's own overhead apart
        return f"{value:.1f} ms" if value < 10 else str(console_tags.ms(value))
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
    charts = list(pinned_charts.on_board(team)) if has_board else []
    if form is None and _may_pin_somewhere(actor):
        initial = {"team": team, **{k: request.GET[k] for k in PIN_FIELDS if k in request.GET}}
        form = PinForm(actor, initial=initial)
    return {
        "pin_board": team,
        "pin_board_key": "global" if team is None else team.pk,
        "pin_has_board": has_board,
        "pin_boards": pinned_charts.boards(actor),
        "pin_global": actor.everywhere,
        "pin_charts": [_pinned_chart(c, scope) for c in charts],
        "pin_may": has_board and bool(authorization.decide(actor, "dashboard.pin", team)),
        "pin_form": form,
        "pin_max": MAX_PER_BOARD,
        "pin_cap": f"{pinned.CAP:,}",
    }


def _board_url(team: Team | None) -> str:
    board = "global" if team is None else team.pk
    return f"{reverse('console:dashboard')}?board={board}#pinned-board"


def _board_answer(request: HtmxHttpRequest, team: Team | None) -> HttpResponse:
    """After a change: the board partial for htmx, else back to the dashboard's board."""
    if request.htmx:
        fresh = PinForm(actor_of(request), initial={"team": team})
        context = board_context(request, form=fresh, team=team)
        return render(request, "console/dashboard.html#pinned-board", context)
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
        return render(request, "console/dashboard_pin.html", {"form": form})
    form = PinForm(actor, request.POST)
    if form.is_valid():
        team = form.cleaned_data["team"]
        sent = form_values(form)
        refused = fields_refused(request, "pinned_charts", sent)
        if refused is not None:
            return refused
        try:
            pinned_charts.pin(actor, team, sent)
        except authorization.Denied as denied:
            return forbidden(request, denied.reason)
        except ValidationError as error:
            show_errors(form, error)
        else:
            return _board_answer(request, team)
    if request.htmx:
        team, _ = _board_team(request, actor)
        context = board_context(request, form=form, team=team)
        return render(request, "console/dashboard.html#pinned-board", context, status=422)
    return render(request, "console/dashboard_pin.html", {"form": form}, status=422)


def _chart_or_404(request: HtmxHttpRequest, pk: int) -> PinnedChart:
    chart: PinnedChart = get_object_or_404(PinnedChart.objects.select_related("team"), pk=pk)
    if not pinned_charts.may_see(actor_of(request), chart.team):
        raise Http404("no such chart")
    return chart


@staff_required
def unpin_chart(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chart = _chart_or_404(request, pk)
    if request.method != "POST":
        return HttpResponseRedirect(_board_url(chart.team))
    try:
        pinned_charts.unpin(actor_of(request), chart)
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
        pinned_charts.move(actor_of(request), chart, step)
    except authorization.Denied as denied:
        return forbidden(request, denied.reason)
    return _board_answer(request, chart.team)
