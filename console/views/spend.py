"""Spend attribution, the console's one spend page: spend, tokens and requests per key,
team, end user and session over time: a chart of the costliest groups of the chosen
grouping (``group``: key, team, end user, session, route, model) per hour or day
(uPlot, from a JSON block) and sortable tables with CSV export, read from the hourly
spend rollups through ``gateway.telemetry.spend`` (the query ``/api/spend`` answers).

It replaced the Usage page (which drew the same figures per key and day and called the
master key differently): ``/usage/`` redirects here. A reader below admin sees only the
figures of the keys ``roles.visible_key_ids`` gives them, as Usage did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console import usage as usage_data
from console.views.spend_tags import TagBudgetForm, budgets_section, tag_section
from gateway.access import field_rules, roles
from gateway.models import PinnedChart, TagBudget
from gateway.ops import tag_budgets
from gateway.telemetry import audit, spend
from gateway.web.decorators import actor_of, forbidden, staff_required
from gateway.web.http import HtmxHttpRequest, go_to
from gateway.web.saving import saved

# window -> (label, span, chart bucket)
WINDOWS = {
    "24h": ("Last 24 hours", timedelta(days=1), "hour"),
    "7d": ("Last 7 days", timedelta(days=7), "day"),
    "30d": ("Last 30 days", timedelta(days=30), "day"),
    "90d": ("Last 90 days", timedelta(days=90), "day"),
}
DEFAULT_WINDOW = "7d"
TABLES = ("team", "key", "end_user", "session")  # those available are shown, in this order
GROUPS = (*TABLES, "route", "model")  # what the chart (and the first table) may group by
FILTERABLE = ("key", "end_user", "session", "route", "model")
SORTS = {"cost": "cost_usd", "requests": "requests", "tokens": "tokens", "name": None}
CHART_SERIES = 8  # the costliest groups drawn one by one; the rest summed
TABLE_ROWS = 50


def _window(request: HtmxHttpRequest) -> str:
    window = request.GET.get("window", DEFAULT_WINDOW)
    return window if window in WINDOWS else DEFAULT_WINDOW


def _filters(request: HtmxHttpRequest) -> dict[str, str]:
    return {name: request.GET[name] for name in FILTERABLE if name in request.GET}


def _groups() -> list[str]:
    return [name for name in GROUPS if spend.DIMENSIONS[name].available()]


def _group(request: HtmxHttpRequest) -> str:
    """The chosen grouping (``chart``: its older name in links kept), by key unless known."""
    group = request.GET.get("group") or request.GET.get("chart") or "key"
    return group if group in _groups() else "key"


def _tables(group: str) -> list[str]:
    """The tables shown: the chosen grouping's first, then the usual ones."""
    usual = [name for name in TABLES if spend.DIMENSIONS[name].available()]
    return [group, *(name for name in usual if name != group)]


def _sorted(rows: list[dict[str, Any]], name: str, sort: str) -> list[dict[str, Any]]:
    field = SORTS.get(sort.lstrip("-"), "cost_usd")
    descending = not sort.startswith("-") if field else sort.startswith("-")
    key = (lambda r: r[field]) if field else (lambda r: str(r[name]).lower())
    return sorted(rows, key=key, reverse=descending)


def chart(
    dimension: str,
    bucket: str,
    since: datetime,
    filters: dict[str, str],
    key_ids: set[int] | None = None,
) -> dict[str, Any]:
    """x: bucket starts (epoch seconds, every bucket of the window); series: spend per
    bucket of the costliest ``CHART_SERIES`` groups of ``dimension``, the rest summed."""
    rows = spend.query(
        [dimension], bucket=bucket, since=since, filters=filters, limit=100_000, key_ids=key_ids
    )
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    end = timezone.now()
    xs: list[datetime] = []
    while start <= end:
        xs.append(start)
        start += step
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row[dimension]] = totals.get(row[dimension], Decimal(0)) + row["cost_usd"]
    ranked = sorted(totals, key=lambda name: totals[name], reverse=True)
    shown, rest = ranked[:CHART_SERIES], set(ranked[CHART_SERIES:])
    index = {x.isoformat(): i for i, x in enumerate(xs)}
    values = {name: [0.0] * len(xs) for name in shown}
    other = [0.0] * len(xs)
    for row in rows:
        i = index.get(row["bucket"])
        if i is None:
            continue
        target = other if row[dimension] in rest else values[row[dimension]]
        target[i] += float(row["cost_usd"])
    series = [{"name": _label(dimension, n), "values": values[n]} for n in shown]
    if rest:
        series.append({"name": f"{len(rest)} more", "values": other})
    return {"x": [int(x.timestamp()) for x in xs], "series": series}


def _label(dimension: str, value: str) -> str:
    """What a group is called: the master key's requests (key name "master", or none)
    as on the dashboard."""
    if dimension == "key" and value in ("", "master"):
        return spend.MASTER_KEY_LABEL
    if value:
        return value
    return {"team": "no team"}.get(dimension, "(not given)")


def _with(request: HtmxHttpRequest, **changes: str | None) -> str:
    """The page's query string with ``changes`` (None: removed)."""
    params = request.GET.copy()
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    query: str = params.urlencode()
    return "?" + query


def _sort_links(request: HtmxHttpRequest, sort: str) -> dict[str, str]:
    """Each column's link: sorted by it (costliest, busiest... first), again: reversed."""
    return {name: _with(request, sort="-" + name if sort == name else name) for name in SORTS}


def _filter_links(request: HtmxHttpRequest) -> dict[str, Any]:
    """Links that add a filter (one per table, the value appended) and that drop one."""
    return {
        "add": {name: _with(request, **{name: None}) + f"&{name}=" for name in FILTERABLE},
        "drop": {name: _with(request, **{name: None}) for name in FILTERABLE},
        "windows": {key: _with(request, window=key) for key in WINDOWS},
        "groups": {name: _with(request, group=name, chart=None) for name in GROUPS},
        "csv": _with(request, sort=None, chart=None, group=None),
    }


@staff_required
def spend_page(request: HtmxHttpRequest) -> HttpResponse:
    return _page(request)


def _page(
    request: HtmxHttpRequest, tag_form: TagBudgetForm | None = None, status: int = 200
) -> HttpResponse:
    actor = actor_of(request)
    window = _window(request)
    label, span, bucket = WINDOWS[window]
    since = timezone.now() - span
    filters = _filters(request)
    visible = roles.visible_key_ids(actor_of(request))  # below admin: one's keys only
    dimension = _group(request)
    tables = _tables(dimension)
    sort = request.GET.get("sort", "cost")
    sections = []
    for name in tables:
        rows = spend.query([name], since=since, filters=filters, limit=100_000, key_ids=visible)
        total = len(rows)
        for row in rows:
            row["label"] = _label(name, row[name])
        sections.append(
            {
                "name": name,
                "label": spend.DIMENSIONS[name].label,
                "rows": _sorted(rows, name, sort)[:TABLE_ROWS],
                "total": total,
            }
        )
    totals = spend.query([], since=since, filters=filters, key_ids=visible)
    context = {
        "window": window,
        "window_label": label,
        "windows": [(k, v[0]) for k, v in WINDOWS.items()],
        "bucket": bucket,
        "filters": filters,
        "sections": sections,
        "chart_dimension": dimension,
        # "Pin to dashboard": this chart's grouping and the nearest of a board's windows
        "pin_query": urlencode(
            {
                "metric": "cost",
                "group_by": dimension if dimension in PinnedChart.GroupBy.values else "route",
                "window": "24h" if window == "24h" else "7d",
            }
        ),
        "chart_label": spend.DIMENSIONS[dimension].label,
        # the per day, key and route export (console.usage): the nearest of its windows
        "usage_window": window if window in usage_data.WINDOWS else "7d",
        "chart_dimensions": [(n, spend.DIMENSIONS[n].label) for n in _groups()],
        "chart": chart(dimension, bucket, since, filters, visible),
        "sort": sort,
        "totals": totals[0] if totals else None,
        "has_team": spend.DIMENSIONS["team"].available(),
        "filter_labels": {n: spend.DIMENSIONS[n].label.lower() for n in FILTERABLE},
        "sort_links": _sort_links(request, sort),
        "filter_links": _filter_links(request),
        # tags' budgets: their standing for readers of every key's spend; the form that
        # sets them for owners and admins (as /api/tags)
        "tags": tag_section(since, filters, visible, budgets=actor.can("spend.view")),
        "tag_budgets": budgets_section(tag_form) if actor.can("teams.edit") else None,
        # the Bills page reads every provider's bill: only its readers get the link
        "sees_bills": actor.can("spend.view"),
    }
    return render(request, "console/spend.html", context, status=status)


@staff_required
@require_POST
def tag_budget_save(request: HtmxHttpRequest) -> HttpResponse:
    """Add a tag budget, or change the one of the tag named (owners and admins; the
    field rules and the save of ``/api/tags``)."""
    form = TagBudgetForm(request.POST)
    if form.is_valid():
        fields = dict(form.cleaned_data)
        row = TagBudget.objects.filter(name=str(fields["name"]).strip()).first()
        stored = None if row is None else field_rules.stored_values(row, fields)
        refusal = field_rules.refusal(actor_of(request), "tags", fields, stored)
        if refusal:
            return forbidden(request, refusal)
        done = saved(
            request,
            form,
            lambda: tag_budgets.save_tag_budget(row, fields),
            lambda tag: f"Saved the budget of tag {tag.name}.",
            reverse("console:spend") + "#tag-budgets",
        )
        if done is not None:
            return done
    return _page(request, tag_form=form, status=422)


@staff_required
@require_POST
def tag_budget_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(TagBudget, pk=pk)
    row.delete()
    messages.success(request, f"Removed the budget of tag {row.name}.")
    return go_to(request, reverse("console:spend") + "#tag-budgets")


@staff_required
def spend_csv(request: HtmxHttpRequest) -> HttpResponse:
    """One table (``group_by``) of the page, every row, as CSV; with ``bucket`` the
    figures per hour or day too."""
    window = _window(request)
    _label_, span, _bucket = WINDOWS[window]
    names = [n for n in request.GET.get("group_by", "key").split(",") if n in spend.DIMENSIONS]
    bucket = request.GET.get("bucket") or None
    try:
        names = spend.dimensions(names or ["key"])
        rows = spend.query(
            names,
            bucket=bucket,
            since=timezone.now() - span,
            filters=_filters(request),
            limit=1_000_000,
            key_ids=roles.visible_key_ids(actor_of(request)),
        )
    except spend.BadQuery as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    response = HttpResponse(
        "".join(spend.csv_lines(names, rows, bucket)), content_type="text/csv; charset=utf-8"
    )
    name = f"switchyard-spend-{'-'.join(names)}-{window}-{timezone.now():%Y-%m-%d}.csv"
    audit.exported("spend", f"spend CSV by {', '.join(names)} over {window}")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_required
def usage_moved(request: HtmxHttpRequest) -> HttpResponsePermanentRedirect:
    """The old Usage page (spend per key and day): the Spend page grouped by key, the
    query kept (its windows are Spend's too); permanent, so bookmarks follow."""
    params = request.GET.copy()
    params.setdefault("group", "key")
    return HttpResponsePermanentRedirect(f"{reverse('console:spend')}?{params.urlencode()}")
