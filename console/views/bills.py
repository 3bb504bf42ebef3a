"""The providers' bills beside the journal (``gateway.features.billing``), a section of Spend:
per source, provider, route and UTC day the journal's cost, the provider's and their
drift, the days past the alert threshold marked, which sources have an admin key, and a
button (owners) that reconciles the last days now."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from gateway.features.billing import reconcile, runner, sources
from gateway.models import BillDrift
from gateway.telemetry import audit
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, go_to

TEMPLATE = "console/bills.html"
WINDOWS = {"7d": 7, "30d": 30, "90d": 90}


def _days(request: HtmxHttpRequest) -> tuple[str, int]:
    window = request.GET.get("window", "30d")
    return (window, WINDOWS[window]) if window in WINDOWS else ("30d", 30)


def _context(request: HtmxHttpRequest) -> dict[str, Any]:
    window, days = _days(request)
    source = request.GET.get("source", "")
    since = datetime.now(UTC).date() - timedelta(days=days)
    rows = BillDrift.objects.filter(day__gte=since)
    if source in sources.SOURCES:
        rows = rows.filter(source=source)
    found = list(rows.order_by("-day", "source", "provider", "route")[:2000])
    by_day: dict[tuple[Any, str], dict[str, Any]] = defaultdict(
        lambda: {"journal": Decimal(0), "billed": Decimal(0), "rows": [], "alerted": False}
    )
    for row in found:
        day = by_day[(row.day, row.source)]
        day["journal"] += row.journal_usd
        day["billed"] += row.provider_usd
        day["rows"].append(row)
        day["alerted"] = day["alerted"] or row.alerted_at is not None
    days_shown = []
    for (day, name), entry in by_day.items():
        drift = entry["billed"] - entry["journal"]
        days_shown.append(
            {
                "day": day,
                "source": name,
                "journal": entry["journal"],
                "billed": entry["billed"],
                "drift": drift,
                "percent": (drift / entry["journal"] * 100) if entry["journal"] else None,
                "past": reconcile.past_threshold(entry["journal"], entry["billed"]),
                "alerted": entry["alerted"],
                "rows": entry["rows"],
            }
        )
    journal = sum((d["journal"] for d in days_shown), Decimal(0))
    billed = sum((d["billed"] for d in days_shown), Decimal(0))
    return {
        "days": days_shown,
        "window": window,
        "windows": list(WINDOWS),
        "source": source,
        "sources": [
            {"name": s.name, "configured": s.configured(), "setting": s.key_setting}
            for s in sources.SOURCES.values()
        ],
        "journal": journal,
        "billed": billed,
        "drift": billed - journal,
        "past": sum(1 for d in days_shown if d["past"]),
        "can_run": actor_of(request).can("settings.edit"),
        "run_days": runner.days_back(),
        "threshold_percent": f"{settings.SWITCHYARD_BILL_DRIFT_PERCENT:g}",
        "threshold_usd": Decimal(str(settings.SWITCHYARD_BILL_DRIFT_USD)),
    }


@staff_required
def bills_page(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the page. POST (owners): reconcile the last days now."""
    if request.method != "POST":
        return render(request, TEMPLATE, _context(request))
    if not sources.configured():
        messages.error(request, "No provider's admin key is set: nothing to read.")
        return go_to(request, reverse("console:bills"))
    outcome = async_to_sync(runner.run)(*runner.window(runner.days_back()))
    audit.record(
        "bill_reconcile",
        object_type="bill_drift",
        detail=f"{runner.days_back()} days: {sum(outcome.rows.values())} rows"
        + (f"; errors: {'; '.join(outcome.errors.values())}" if outcome.errors else ""),
    )
    for name, error in outcome.errors.items():
        messages.error(request, f"{name}: {error.removeprefix(name + ': ')}")
    if outcome.rows:
        read = ", ".join(f"{name} ({rows} rows)" for name, rows in outcome.rows.items())
        messages.success(request, f"Reconciled {read}.")
    return go_to(request, reverse("console:bills"))
