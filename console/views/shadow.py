"""Shadow traffic of a route, compared: each mirrored request beside its primary (the
answer the client got and each shadow route's), with status, latency, tokens, cost and
how alike the two answers are, a summary per shadow route (``console.shadow_pairs``),
and any of the evaluations' scorers run over the newest pairs on demand
(``console.shadow_scoring``: a judge, similarity, exact, contains, regex, JSON, ...).
Asking for a score queues a background run and returns at once; the page shows its
progress (polled), then its verdict, and keeps the earlier runs' verdicts."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from console.evals import scorers
from console.evals.models import ShadowScoring
from gateway.models import Route
from gateway.web.decorators import staff_required
from gateway.web.http import HtmxHttpRequest

from .. import shadow_pairs, shadow_scoring

SCORER_KINDS = ("judge", "similarity", "exact", "contains", "regex", "json_valid", "numeric")


def _scorer_from(data: Any) -> dict[str, Any]:
    """The scorer the form asks for, checked as the evaluations check theirs."""
    raw = {
        "kind": data.get("kind", ""),
        "route": data.get("route", "").strip(),
        "mode": data.get("mode", "").strip() or None,
        "rubric": data.get("rubric", "").strip() or None,
        "pattern": data.get("pattern", "").strip() or None,
        "tolerance": data.get("tolerance", "").strip() or None,
    }
    return scorers.validate([raw], lambda name: Route.objects.filter(name=name).exists())[0]


@staff_required
def route_shadow(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    route = get_object_or_404(Route, pk=pk)
    context: dict[str, Any] = {"route": route, "kinds": SCORER_KINDS, "form": request.POST}
    if request.method == "POST":
        try:
            scorer = _scorer_from(request.POST)
        except scorers.ScorerError as exc:
            context["score_error"] = str(exc)
        else:
            job = shadow_scoring.create(route, scorer, request.user.get_username())
            if not job.mirrors:
                job.delete()
                context["score_error"] = "There is no mirrored request to score yet."
            else:
                return redirect("console:route-shadow", pk=pk)
    pairs = shadow_pairs.pairs_of(route)
    runs = shadow_scoring.latest(route)
    shown = next((run for run in runs if run.status == ShadowScoring.Status.DONE), None)
    if shown is not None:  # each pair's score from the newest finished run
        for pair in pairs:
            pair.score = shown.scores.get(pair.mirror.request_id)
    summaries = {name: shadow_pairs.Summary(name) for name in route.shadow_routes or []}
    for pair in pairs:
        summaries.setdefault(
            pair.mirror.route, shadow_pairs.Summary(pair.mirror.route)
        ).pairs.append(pair)
    context.update(
        pairs=pairs,
        summaries=list(summaries.values()),
        runs=runs,
        current=runs[0] if runs else None,
        shown=shown,
        scored_ids=set(shown.scores) if shown is not None else set(),
    )
    return render(request, "console/route_shadow.html", context)


@staff_required
def shadow_scoring_progress(request: HtmxHttpRequest, pk: int, run: int) -> HttpResponse:
    """The progress of one scoring run (the page polls it while it runs)."""
    job = get_object_or_404(ShadowScoring, pk=run, route_id=pk)
    response = render(
        request, "console/route_shadow.html#scoring-run", {"current": job, "route": job.route}
    )
    if job.finished and request.GET.get("was") == "running":
        response["HX-Refresh"] = "true"  # the scores are in: show them beside the pairs
    return response
