"""Shadow traffic of a route, compared: each mirrored request beside its primary (the
answer the client got and each shadow route's), with status, latency, tokens, cost and
how alike the two answers are, a summary per shadow route (``console.shadow_pairs``),
and any of the evaluations' scorers run over the newest pairs on demand
(``console.shadow_scoring``: a judge, similarity, exact, contains, regex, JSON, ...)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from console.decorators import staff_required
from console.evals import scorers
from console.views.common import HtmxHttpRequest
from gateway.models import Route

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
    pairs = shadow_pairs.pairs_of(route)
    context: dict[str, Any] = {"route": route, "kinds": SCORER_KINDS, "form": request.POST}
    if request.method == "POST":
        try:
            scorer = _scorer_from(request.POST)
        except scorers.ScorerError as exc:
            context["score_error"] = str(exc)
        else:
            scored = pairs[: shadow_scoring.MAX_PAIRS]
            questions = [
                shadow_scoring.question_of(p.primary.dialect, p.primary_request) for p in scored
            ]
            values = async_to_sync(shadow_scoring.score_pairs)(scorer, scored, questions)
            for pair, value in zip(scored, values, strict=True):
                pair.score = value
            context["scorer"] = scorer
            context["scorer_name"] = scorers.name_of(scorer)
            context["verdict"] = shadow_scoring.verdict(scorer, values)
    summaries = {name: shadow_pairs.Summary(name) for name in route.shadow_routes or []}
    for pair in pairs:
        summaries.setdefault(
            pair.mirror.route, shadow_pairs.Summary(pair.mirror.route)
        ).pairs.append(pair)
    context.update(pairs=pairs, summaries=list(summaries.values()))
    return render(request, "console/route_shadow.html", context)
