"""The cache doctor's page: over a window (a day by default), per route the hit rate,
what caching saved net, the dollars warm misses lost, the lifetime to ask for and the
findings with their fix; per key and per session the same figures; and the costliest
misses with their cause, each linked to its request in the logs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from gateway.features.cache_doctor import reading
from gateway.web.decorators import staff_required
from gateway.web.http import HtmxHttpRequest

TEMPLATE = "cache_doctor/doctor.html"
WINDOWS = {"1h": 1, "24h": 24, "7d": 24 * 7, "30d": 24 * 30}
SHOWN = 25  # rows per table


def _context(request: HtmxHttpRequest) -> dict[str, Any]:
    window = request.GET.get("window", "24h")
    window = window if window in WINDOWS else "24h"
    route = request.GET.get("route", "")[:200]
    session = request.GET.get("session", "")[:200]
    report = reading.diagnose(
        timezone.now() - timedelta(hours=WINDOWS[window]), route=route, session=session
    )
    routes, keys, sessions = report.routes[:SHOWN], report.keys[:SHOWN], report.sessions[:SHOWN]
    return {
        "report": report,
        "routes": routes,
        "keys": keys,
        "sessions": sessions,
        "by": (("route", routes), ("key", keys), ("session", sessions)),  # a card each
        "misses": report.misses[:SHOWN],
        "window": window,
        "windows": list(WINDOWS),
        "route": route,
        "session": session,
        "findings": [(g, g.findings()) for g in report.routes if g.findings()][:SHOWN],
    }


@staff_required
def cache_doctor(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(request))
