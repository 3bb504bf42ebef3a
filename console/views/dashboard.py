"""The dashboard: traffic, errors, latency, tokens and spend over a window, refreshed
by htmx polling the same view (which then renders only the ``dashboard-update`` partial:
the body, and the window tabs out of band). Below it, the units' panels of this page
(``gateway.web.pages.Panel``: the pinned board), each drawn by its unit and refreshed
alone when htmx aims at its id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString

from console import stats
from gateway.access import roles
from gateway.models import RequestLog, Route
from gateway.web import pages
from gateway.web.charts import Series, bar_chart
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, page_or_partial


def _charts(board: stats.Dashboard) -> dict[str, Any]:
    labels = [b.start.strftime(board.window.bucket_label) for b in board.buckets]

    def chart(title: str, unit: str, css: str, value: Callable[[stats.Bucket], float],
              overlay: Series | None = None) -> SafeString:  # fmt: skip
        bars = Series([value(b) for b in board.buckets], css)
        return bar_chart(title, labels, bars, overlay, value_label=unit)

    errors = Series([b.errors for b in board.buckets], "bar-error")
    return {
        "requests": chart("Requests and errors", "req", "bar", lambda b: b.requests, errors),
        "latency": chart("Average latency", "ms", "bar-latency", lambda b: round(b.avg_ms or 0, 1)),
        "tokens": chart("Tokens", "tok", "bar-tokens", lambda b: b.tokens),
        "spend": chart("Spend", "USD", "bar-spend", lambda b: round(float(b.cost), 6)),
    }


@staff_required
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    panel = pages.targeted("dashboard", request.htmx.target if request.htmx else None)
    if panel is not None:  # a panel's own refresh (the pinned board's tabs)
        return HttpResponse(panel.draw(request))
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
        # the units' panels (the pinned board): the whole page only (the 10 s poll
        # refreshes the body)
        "panels": [] if request.htmx else [p.draw(request) for p in pages.panels("dashboard")],
    }
    return render(
        request, page_or_partial(request, "console/dashboard.html", "dashboard-update"), context
    )
