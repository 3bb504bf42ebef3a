"""The CSV export of usage per day, key and route (with prompt-cache savings), linked
from the Spend page; the Usage page it sat on is now Spend (``/usage/`` redirects)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone

from console import usage as usage_data
from gateway.access import roles
from gateway.telemetry import audit
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest


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
