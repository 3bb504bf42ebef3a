"""Usage over days: a chart of each key's daily spend (drawn by uPlot from a JSON
block, with the same figures in a table for a browser without JavaScript) and the
CSV export of usage per day, key and route."""

from __future__ import annotations

import dataclasses

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from console import usage as usage_data
from console.decorators import actor_of, staff_required
from console.views.common import HtmxHttpRequest
from gateway.policy import roles
from gateway.telemetry import audit


@staff_required
def usage(request: HtmxHttpRequest) -> HttpResponse:
    found = usage_data.usage(usage_data.window_of(request.GET.get("window")))
    visible = roles.visible_key_ids(actor_of(request))
    if visible is not None:  # below admin: the keys of one's teams (or one's own) only
        found = dataclasses.replace(found, keys=[k for k in found.keys if k.key_id in visible])
    context = {
        "usage": found,
        "chart": found.chart(),
        "windows": [(key, label) for key, (label, _days) in usage_data.WINDOWS.items()],
    }
    return render(request, "console/usage.html", context)


@staff_required
def usage_csv(request: HtmxHttpRequest) -> StreamingHttpResponse:
    window = usage_data.window_of(request.GET.get("window"))
    response = StreamingHttpResponse(
        usage_data.csv_lines(window, roles.visible_key_ids(actor_of(request))),
        content_type="text/csv; charset=utf-8",
    )
    name = f"switchyard-usage-{window}-{timezone.now():%Y-%m-%d}.csv"
    audit.exported("usage", f"usage CSV over {window}")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
