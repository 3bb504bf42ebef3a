"""Deployment health: every deployment's upstream checked on demand (the same check as
``GET /health``), with status, latency and the error of a failed check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from gateway.ops import deployment_health
from gateway.web.decorators import staff_required
from gateway.web.http import HtmxHttpRequest, page_or_partial

TEMPLATE = "console/health.html"


def _rows(results: list[deployment_health.DeploymentHealth]) -> list[dict[str, Any]]:
    return [
        {
            **r.as_dict(),
            "checked": datetime.fromtimestamp(r.checked_at, UTC) if r.checked_at else None,
        }
        for r in results
    ]


@staff_required
@require_http_methods(["GET", "POST"])
def health(request: HtmxHttpRequest) -> HttpResponse:
    """GET shows the last check made by this process; POST checks every deployment now."""
    if request.method == "POST":
        results = async_to_sync(deployment_health.check_all)()
        checked_now = True
    else:
        results = sorted(
            deployment_health.latest().values(), key=lambda r: (r.route, r.deployment_id)
        )
        checked_now = False
    rows = _rows(results)
    counts = {
        s: sum(1 for r in rows if r["status"] == s)
        for s in ("healthy", "unhealthy", "misconfigured")
    }
    context = {"rows": rows, "checked_now": checked_now, "counts": counts}
    return render(request, page_or_partial(request, TEMPLATE, "health-results"), context)
