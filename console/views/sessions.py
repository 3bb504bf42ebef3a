"""Sessions: the index (every session with requests in a window, newest first, filtered
by end user, key, route or tag, each with its totals) and a session as one conversation:
its requests in order (what each asked that was new, and the answer), with the
session's totals: tokens, cost, latency and what the prompt cache saved. Only the
requests the viewer may see (``roles.visible_logs``: a member sees their own), so
neither the index, the thread nor the totals tell of anyone else's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Max, Min, Q, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from console.evals.queue_views import queues_to_send
from console.session_thread import thread
from gateway.access import roles
from gateway.models import RequestBody, RequestLog
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest

PAGE_SIZE = 50  # requests (with their bodies) per page of a session
INDEX_SIZE = 50  # sessions per page of the index
WINDOWS = {"1h": 1, "24h": 24, "7d": 24 * 7, "30d": 24 * 30}
# each filter the index takes, and the log field it reads
FILTERS = {"end_user": "end_user", "key": "key_name", "route": "route", "tag": "request_tags__tag"}


@staff_required
def session_list(request: HtmxHttpRequest) -> HttpResponse:
    """The sessions with requests in the window, the latest first, with their totals."""
    window = request.GET.get("window", "24h")
    window = window if window in WINDOWS else "24h"
    given = {name: request.GET.get(name, "").strip()[:200] for name in FILTERS}
    rows = roles.visible_logs(
        actor_of(request),
        RequestLog.objects.filter(
            session__isnull=False, created_at__gte=timezone.now() - timedelta(hours=WINDOWS[window])
        ),
    )
    for name, field in FILTERS.items():
        if given[name]:
            rows = rows.filter(**{field: given[name]})
    page = max(1, int(request.GET["page"])) if request.GET.get("page", "").isdecimal() else 1
    grouped = (
        rows.values("session")
        .annotate(
            requests=Count("id"),
            tokens=Sum("input_tokens") + Sum("output_tokens"),
            cost_usd=Sum("cost_usd"),
            first=Min("created_at"),
            last=Max("created_at"),
            key_name=Max("key_name"),
            end_user=Max("end_user"),
            errors=Count("id", filter=Q(status__gte=400)),
        )
        .order_by("-last", "session")
    )
    found = list(grouped[(page - 1) * INDEX_SIZE : page * INDEX_SIZE + 1])
    more = len(found) > INDEX_SIZE
    sessions = found[:INDEX_SIZE]
    total = {
        "requests": sum(s["requests"] for s in sessions),
        "cost_usd": sum((s["cost_usd"] or Decimal(0) for s in sessions), Decimal(0)),
    }
    query = {k: v for k, v in given.items() if v}
    return render(
        request,
        "console/sessions.html",
        {
            "sessions": sessions,
            "total": total,
            "window": window,
            "windows": list(WINDOWS),
            "given": given,
            "filtered": bool(query),
            "page": page,
            "next_page": page + 1 if more else None,
            "previous_page": page - 1 if page > 1 else None,
            "query": urlencode({"window": window, **query}),
        },
    )


def totals(rows: Any) -> dict[str, Any]:
    """The session's sums over ``rows`` (a queryset of its visible logs)."""
    found: dict[str, Any] = rows.aggregate(
        requests=Count("id"),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        cache_read_tokens=Sum("cache_read_tokens"),
        cache_write_tokens=Sum("cache_write_tokens"),
        cost_usd=Sum("cost_usd"),
        cache_saved_usd=Sum("cache_saved_usd"),
        latency_ms=Sum("latency_ms"),
        first=Min("created_at"),
        last=Max("created_at"),
    )
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        found[name] = found[name] or 0
    found["cost_usd"] = found["cost_usd"] or Decimal(0)
    found["latency_ms"] = found["latency_ms"] or 0.0
    found["tokens"] = found["input_tokens"] + found["output_tokens"]
    return found


@staff_required
def session_detail(request: HtmxHttpRequest, session: str) -> HttpResponse:
    rows = roles.visible_logs(actor_of(request), RequestLog.objects.filter(session=session))
    summary = totals(rows)
    if not summary["requests"]:
        raise Http404("no session of that id you may see")
    after = request.GET.get("after", "")
    ordered = rows.order_by("created_at", "id")
    if after.isdigit():
        start = RequestLog.objects.filter(pk=int(after)).values_list("created_at", flat=True)
        moment = start.first()
        if moment is not None:
            ordered = ordered.filter(created_at__gte=moment).exclude(
                created_at=moment, id__lte=int(after)
            )
    logs = list(ordered[: PAGE_SIZE + 1])
    more = len(logs) > PAGE_SIZE
    logs = logs[:PAGE_SIZE]
    bodies = {b.log_id: b for b in RequestBody.objects.filter(log_id__in=[g.pk for g in logs])}
    end_users = sorted({g.end_user for g in logs if g.end_user})
    return render(
        request,
        "console/session.html",
        {
            "session": session,
            "totals": summary,
            "steps": thread(logs, bodies),
            "end_users": end_users,
            "next_after": logs[-1].pk if more else None,
            "continued": bool(after),
            "send_to": queues_to_send(actor_of(request)),
        },
    )
