"""The continuous evaluators' pages (under /evals/evaluators/): the list with a form to
create one, one evaluator's page (its trend per route and per prompt version, its
recent scores with the judge's reasoning and a link to the judge's own call, the form
to edit it) and pause / resume. Function views; the definition is checked by
``console.evals.continuous.clean``, the same as ``/api/evaluators``."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.evals import continuous, runner
from console.evals.models import Evaluator
from console.evals.scorers import DEFAULT_POINTWISE_RUBRIC
from gateway.access import registry
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, go_to

SCORER_KINDS = (("judge", "LLM judge (1–10)"), ("contains", "Contains"), ("regex", "Regex"),
                ("json_valid", "Valid JSON"))  # fmt: skip


def _form_data(post: Any) -> dict[str, Any]:
    """The form's fields as ``continuous.clean`` takes them."""
    kind = post.get("kind", "judge")
    scorer: dict[str, Any] = {"kind": kind}
    if kind == "judge":
        scorer.update(mode="pointwise", route=post.get("judge_route", ""),
                      rubric=post.get("rubric", "") or DEFAULT_POINTWISE_RUBRIC)  # fmt: skip
    elif kind == "contains":
        scorer["value"] = post.get("rule_value", "")
    elif kind == "regex":
        scorer["pattern"] = post.get("rule_value", "")
    filters = {name: post.get(f"filter_{name}", "") for name in ("status", "key", "q")}
    try:
        rate: Any = float(post.get("sample_percent", "")) / 100
    except ValueError:
        rate = post.get("sample_percent", "")
    return {
        "name": post.get("name", ""),
        "route": post.get("route", ""),
        "tag": post.get("tag", ""),
        "filters": {k: v for k, v in filters.items() if v},
        "scorer": scorer,
        "score_name": post.get("score_name", ""),
        "sample_rate": rate,
        "budget_usd_per_day": post.get("budget_usd_per_day", "") or "1",
        "alert_below": post.get("alert_below", "") or None,
        "alert_window": post.get("alert_window", "") or 20,
        "status": post.get("status", Evaluator.Status.ACTIVE),
    }


def _initial(evaluator: Evaluator | None) -> dict[str, Any]:
    """What the form shows for ``evaluator`` (a new one's defaults when None)."""
    if evaluator is None:
        return {"kind": "judge", "sample_percent": "10", "budget_usd_per_day": "1",
                "alert_window": "20", "rubric": DEFAULT_POINTWISE_RUBRIC}  # fmt: skip
    scorer = evaluator.scorer
    return {
        "name": evaluator.name,
        "route": evaluator.route,
        "tag": evaluator.tag,
        "kind": scorer["kind"],
        "judge_route": scorer.get("route", ""),
        "rubric": scorer.get("rubric", ""),
        "rule_value": scorer.get("value") or scorer.get("pattern") or "",
        "score_name": evaluator.score_name,
        "sample_percent": f"{evaluator.sample_rate * 100:g}",
        "budget_usd_per_day": f"{evaluator.budget_usd_per_day.normalize():f}",
        "alert_below": "" if evaluator.alert_below is None else f"{evaluator.alert_below:g}",
        "alert_window": str(evaluator.alert_window),
        "status": evaluator.status,
        **{f"filter_{k}": v for k, v in evaluator.filters.items()},
    }


def _context(**extra: Any) -> dict[str, Any]:
    return {
        "routes": sorted(registry.current().routes),
        "kinds": SCORER_KINDS,
        **extra,
    }


@staff_required
def evaluators(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the evaluators and the form; POST: create one."""
    error: continuous.EvaluatorError | None = None
    form: dict[str, Any] = _initial(None)
    if request.method == "POST":
        form = dict(request.POST.items())
        try:
            fields = continuous.clean(_form_data(request.POST))
            created = continuous.save(fields, by=runner.starter_of(actor_of(request)))
        except continuous.EvaluatorError as exc:
            error = exc
        else:
            return go_to(request, reverse("console:evals-evaluator", args=[created.pk]))
    context = _context(
        evaluators=list(Evaluator.objects.all()), form=form, error=error,
        error_field=error.field if error else "",
    )  # fmt: skip
    return render(request, "evals/evaluators.html", context, status=422 if error else 200)


@staff_required
def evaluator_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: the evaluator's trend, recent scores and form; POST: save the form."""
    evaluator = get_object_or_404(Evaluator, pk=pk)
    error: continuous.EvaluatorError | None = None
    form = _initial(evaluator)
    saved = False
    if request.method == "POST":
        form = dict(request.POST.items())
        try:
            fields = continuous.clean(_form_data(request.POST), evaluator)
            evaluator = continuous.save(fields, evaluator)
        except continuous.EvaluatorError as exc:
            error = exc
            evaluator.refresh_from_db()
        else:
            saved = True
            form = _initial(evaluator)
    by = "prompt" if request.GET.get("by") == "prompt" else "route"
    context = _context(
        evaluator=evaluator,
        form=form,
        error=error,
        error_field=error.field if error else "",
        saved=saved,
        by=by,
        trend=continuous.trend(evaluator, by),
        recent=continuous.recent_scores(evaluator),
        mean=continuous.recent_mean(evaluator),
    )
    return render(request, "evals/evaluator.html", context, status=422 if error else 200)


@staff_required
@require_POST
def evaluator_pause(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Pause an active evaluator, resume a paused one (its cursor moves to the journal's
    end on resume: what came in while paused is not scored)."""
    evaluator = get_object_or_404(Evaluator, pk=pk)
    if evaluator.status == Evaluator.Status.ACTIVE:
        Evaluator.objects.filter(pk=pk).update(status=Evaluator.Status.PAUSED)
    else:
        fields = continuous.clean({"status": Evaluator.Status.ACTIVE}, evaluator)
        evaluator.cursor = continuous.journal_end()
        continuous.save(fields, evaluator)
    return go_to(request, reverse("console:evals-evaluator", args=[pk]))
