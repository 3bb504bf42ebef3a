"""Comparing a registry prompt's versions on a dataset (``prompt_runs``): the form that
starts one experiment per version, reached from the prompt's page, and the comparison
side by side: each version's totals (scores in their scales, errors, latency, cost),
then every row with each version's answer. While the experiments run, the progress
card polls its partial and the page reloads once they are done."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from console.evals import prompt_runs, scales
from console.evals.experiments import ExperimentError
from console.evals.models import Dataset
from console.evals.scorers import DEFAULT_POINTWISE_RUBRIC, label_of, name_of
from console.evals.views import form_scorers, route_names, scale_configs
from gateway.models import Prompt
from gateway.web.decorators import staff_required

TEMPLATE = "evals/prompt_compare.html"
RESULT = "evals/prompt_comparison.html"
TABLE_PAGE = 50


@staff_required
def prompt_compare(request: HttpRequest, name: str) -> HttpResponse:
    """The form: versions (ticked from ``?v=``), dataset, route, scorers; POST starts."""
    prompt = get_object_or_404(Prompt, name=name)
    error = ""
    source = request.POST if request.method == "POST" else request.GET
    ticked = [v for v in source.getlist("v") if v.isdigit()]
    if request.method == "POST":
        dataset = Dataset.objects.filter(pk=request.POST.get("dataset") or 0).first()
        try:
            if dataset is None:
                raise ExperimentError("choose a dataset")
            run = prompt_runs.start(
                prompt,
                ticked,
                dataset,
                form_scorers(request.POST),
                route=request.POST.get("route", ""),
                concurrency=int(request.POST.get("concurrency") or 4),
                created_by=request.user.get_username(),
            )
        except (ExperimentError, ValueError) as exc:
            error = str(exc)
        else:
            return redirect("console:evals-prompt-comparison", name=prompt.name, run=run)
    versions = list(prompt.versions.prefetch_related("labels").order_by("-number"))
    if not ticked:
        ticked = [str(v.number) for v in versions[:2]]
    return render(
        request,
        TEMPLATE,
        {
            "prompt": prompt,
            "versions": versions,
            "ticked": ticked,
            "datasets": Dataset.objects.all()[:500],
            "routes": route_names(),
            "configs": scale_configs(),
            "pointwise_rubric": DEFAULT_POINTWISE_RUBRIC,
            "error": error,
            "post": request.POST,
            "runs": prompt_runs.runs_of(prompt.name),
        },
        status=422 if error else 200,
    )


@staff_required
def prompt_comparison(request: HttpRequest, name: str, run: str) -> HttpResponse:
    prompt = get_object_or_404(Prompt, name=name)
    group = prompt_runs.experiments_of(prompt.name, run)
    if not group:
        return redirect("console:evals-prompt-compare", name=prompt.name)
    progress = prompt_runs.progress(group)
    context: dict[str, Any] = {"prompt": prompt, "run": run, "group": group, "progress": progress}
    if request.GET.get("part") == "progress":
        response = render(request, f"{RESULT}#progress", context)
        if progress["finished"] and request.GET.get("was") == "running":
            response["HX-Refresh"] = "true"  # the totals are ready: show them
        return response
    first = group[0]
    by_name = scales.scales(first.scorers)
    page = Paginator(first.dataset.rows(first.dataset_version).only("id"), TABLE_PAGE).get_page(
        request.GET.get("page")
    )
    start = (page.number - 1) * TABLE_PAGE
    totals = [prompt_runs.totals(e, by_name) for e in group]
    context.update(
        dataset=first.dataset,
        dataset_version=first.dataset_version,
        scorer_heads=[(label_of(s), by_name[name_of(s)].words) for s in first.scorers],
        totals=totals,
        cheapest=min((t["total_cost"] for t in totals), default=None),
        page=page,
        table=prompt_runs.table(group, start, start + TABLE_PAGE),
    )
    return render(request, RESULT, context)
