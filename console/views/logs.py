"""Request logs: a filtered, keyset-paginated table with a live tail, and a detail page
with the four bodies, timings and the attempt chain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render

from console.bodies import present
from console.evals.queue_views import queues_to_send
from console.forms import LogFilterForm
from gateway.access import roles
from gateway.features import dashboards
from gateway.models import ApiKey, RequestBody, RequestLog, Route, Score, TagSpendRollup
from gateway.telemetry import logquery
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, first_or_404

TEMPLATE = "console/logs.html"


def filters_from(query: Mapping[str, Any]) -> dict[str, Any]:
    """Cleaned filters from a query string (invalid values are ignored)."""
    form = LogFilterForm(query)
    form.is_valid()
    return {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}


def query_params(filters: dict[str, Any]) -> dict[str, Any]:
    """The form's filters as ``gateway.telemetry.logquery`` takes them: the time window becomes
    ``since`` (an age such as ``24h``), "all time" no bound."""
    params = {k: v for k, v in filters.items() if k != "window"}
    window = filters.get("window")
    if window and window != "all":
        params["since"] = window
    return params


def result_page(
    filters: dict[str, Any], cursor: str | None, actor: roles.Actor | None = None
) -> logquery.Page:
    """The page after ``cursor``; a cursor that is not one (an edited or stale URL)
    means the first page. Only rows ``actor`` may see (roles.visible_logs)."""
    params = query_params(filters)
    scope = (lambda rows: roles.visible_logs(actor, rows)) if actor is not None else None
    try:
        return logquery.search_page(params, cursor, scope=scope)
    except logquery.InvalidFilter:
        return logquery.search_page(params, scope=scope)


@staff_required
def log_list(request: HtmxHttpRequest) -> HttpResponse:
    form = LogFilterForm(request.GET or None)
    filters = filters_from(request.GET)
    cursor = request.GET.get("cursor")
    actor = actor_of(request)
    result = result_page(filters, cursor, actor)
    attach_scores(result.rows)
    query = urlencode({k: v for k, v in filters.items()})
    context = {
        "form": form,
        "page": result,
        "query": query,
        "next_query": urlencode({**filters, "cursor": result.next_cursor})
        if result.next_cursor
        else "",
        "first_page": not cursor,
        "routes": Route.objects.values_list("name", flat=True),
        "keys": roles.visible_keys(actor, ApiKey.objects.all()).values_list("id", "name", "prefix"),
        "any_logs": bool(result.rows)
        or roles.visible_logs(actor, RequestLog.objects.all()).exists(),
        "searches_bodies": logquery.searches_bodies(),
        "known_tags": known_tags(actor),
        "query_without_end_user": urlencode({k: v for k, v in filters.items() if k != "end_user"}),
        "query_without_session": urlencode({k: v for k, v in filters.items() if k != "session"}),
        "query_without_run": urlencode({k: v for k, v in filters.items() if k != "agent_run"}),
        "pin_query": dashboards.pin_query(filters),  # these filters, as a pin holds them
        "pin_oob": bool(request.htmx),  # a filter's htmx answer refreshes the link too
    }
    template = TEMPLATE + "#log-results" if request.htmx else TEMPLATE
    return render(request, template, context)


SCORES_PER_ROW = 4


def attach_scores(rows: list[RequestLog]) -> None:
    """Each row's scores as ``row.score_pills`` (newest first, at most
    ``SCORES_PER_ROW``): one query for the page."""
    found: dict[int, list[Score]] = {}
    for score in Score.objects.filter(log_id__in=[r.pk for r in rows]):
        found.setdefault(score.log_id, []).append(score)
    for row in rows:
        row.score_pills = found.get(row.pk, [])[:SCORES_PER_ROW]


def known_tags(actor: roles.Actor, limit: int = 200) -> list[str]:
    """Tags of the last week's requests of the keys ``actor`` sees, for the tag filter's
    suggestions (read from the tag spend rollups: a few hundred rows, never the log)."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(days=7)
    rows = TagSpendRollup.objects.filter(hour__gte=since)
    key_ids = roles.visible_key_ids(actor)
    if key_ids is not None:
        rows = rows.filter(key_id__in=key_ids)
    return sorted(set(rows.values_list("tag", flat=True).distinct()[:limit]))


# A segment this short (percent of the bar) would be a sliver: it is drawn this wide.
MIN_SEGMENT_PCT = 2.0


def backoff_ms(log: RequestLog) -> float:
    """The retry backoff slept between the request's attempts (each attempt records the
    wait before it; rows from before that record none)."""
    return sum(float(a.get("waited_ms") or 0) for a in log.attempts or [] if isinstance(a, dict))


def timing(log: RequestLog) -> dict[str, Any]:
    """The timing bar: its segments (overhead, backoff, upstream) with their width in
    percent of the total, and where the first token arrived. A segment of 0 ms is left
    out (it was drawn as a cut in the bar's rounded end); a very short one is widened to
    stay visible, the others narrowed to make room. Backoff is the retries' waiting,
    apart from the gateway's own overhead (a fallback after three 503s read "Gateway
    overhead 625 ms")."""
    total = max(log.latency_ms or 0.0, 0.001)
    upstream = min(log.upstream_ms or 0.0, total)
    backoff = min(backoff_ms(log), total - upstream)
    rest = max(total - upstream - backoff, 0.0)
    overhead = log.overhead_ms if log.overhead_ms is not None else rest
    overhead = min(overhead, rest)
    shares = [
        (name, ms / total * 100)
        for name, ms in (("overhead", overhead), ("backoff", backoff), ("upstream", upstream))
        if ms > 0
    ]
    short = [pct for _, pct in shares if pct < MIN_SEGMENT_PCT]
    room = sum(pct for _, pct in shares if pct >= MIN_SEGMENT_PCT)
    drawn = sum(pct for _, pct in shares)  # the bar's filled part stays as long
    scale = (drawn - MIN_SEGMENT_PCT * len(short)) / room if room else 1.0
    segments = [
        {"name": name, "pct": MIN_SEGMENT_PCT if pct < MIN_SEGMENT_PCT else pct * scale}
        for name, pct in shares
    ]
    return {
        "segments": segments,
        "overhead_ms": overhead,
        "backoff_ms": backoff,
        "ttft_pct": min((log.ttft_ms or 0) / total * 100, 100) if log.ttft_ms else None,
    }


@staff_required
def log_detail(request: HtmxHttpRequest, request_id: str) -> HttpResponse:
    rows = roles.visible_logs(actor_of(request), RequestLog.objects.all())
    newest = rows.filter(request_id=request_id).order_by("-created_at", "-id")
    log = first_or_404(newest, f"no request {request_id} you may see")
    body = RequestBody.objects.filter(log=log).first()
    bodies = [
        present(name, getattr(body, name) if body else "")
        for name in (
            "inbound_request",
            "upstream_request",
            "upstream_response",
            "outbound_response",
        )
    ]
    return render(
        request,
        "console/log_detail.html",
        {
            "log": log,
            "bodies": bodies,
            "truncated": body.truncated if body else False,
            "timing": timing(log),
            "scores": list(log.scores.all()),
            "send_to": queues_to_send(actor_of(request)),
            "my_score": log.scores.filter(
                name="thumbs", source="user", author=request.user.get_username()
            ).first(),
        },
    )
