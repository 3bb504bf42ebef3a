"""``/api/prompt-comparisons``: compare versions of a registry prompt on a dataset, as the
console's comparison does (``prompt_runs``: one experiment per version, the same runner,
scorers and summary), from a script or CI.

- ``POST /api/prompt-comparisons/`` starts one: the prompt's name, 2 to 6 version
  numbers, a dataset, and optionally the route to run every version on (else each its
  own ``model``), scorers and concurrency. All versions start or none: a version without
  a route, a dataset row missing one of a version's variables, an unknown version is a
  422 saying which; an unknown prompt or dataset a 404. 201: the comparison's ``run``.
- ``GET /api/prompt-comparisons/?prompt=<name>``: that prompt's comparisons, newest first.
- ``GET /api/prompt-comparisons/{name}/{run}``: its progress and, per version, the
  totals the console shows (each scorer's mean in its scale, errors, latency, cost).

Leads only (``evals.use``, ``roles.API``); each experiment's start is audited as the
console's (``events.experiment_event``) and runs as its starter (``runner.starter_of``).
Mounted by the evaluations' router (``api.py``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import Field

from console.evals import prompt_runs, runner, scales
from console.evals.experiments import ExperimentError
from console.evals.models import Dataset, Experiment
from gateway.models import Prompt
from gateway.web.api.errors import ApiError
from gateway.web.api.writes import check_fields

router = Router(tags=["evaluations"])


class ComparisonIn(Schema):
    prompt: str = Field(min_length=1, max_length=200)  # the prompt's name
    versions: list[int]  # 2 to 6 version numbers
    dataset: int  # a dataset's id
    route: str = ""  # every version on this route; "": each on its own model
    scorers: list[Any] = []  # as an experiment's (exact, contains, judge ...)
    concurrency: int = Field(4, ge=1, le=32)


def _version_out(total: dict[str, Any]) -> dict[str, Any]:
    experiment: Experiment = total["experiment"]
    return {
        "version": total["version"],
        "experiment": experiment.pk,
        "route": total["route"],
        "finished": experiment.finished,
        "rows": total["rows"],
        "errors": total["errors"],
        "means": total["means"],  # each scorer's mean, printed in its scale
        "p50_ms": total["p50_ms"],
        "p95_ms": total["p95_ms"],
        "total_cost": str(total["total_cost"]),
        "cost_per_row": str(total["cost_per_row"]),
        "output_tokens": total["output_tokens"],
    }


def _comparison_out(name: str, run: str, group: list[Experiment]) -> dict[str, Any]:
    progress = prompt_runs.progress(group)
    by_name = scales.scales(group[0].scorers)
    return {
        "prompt": name,
        "run": run,
        "dataset": group[0].dataset_id,
        "dataset_version": group[0].dataset_version,
        "finished": progress["finished"],
        "done": progress["done"],
        "total": progress["total"],
        "failed_cells": progress["errors"],
        "spend": str(progress["spend"] or Decimal(0)),
        "versions": [_version_out(prompt_runs.totals(e, by_name)) for e in group],
    }


@router.post("/", response={201: dict, 404: ApiError, 422: ApiError})
def start_comparison(request: HttpRequest, payload: ComparisonIn) -> Any:
    check_fields(request, "prompt_comparisons", payload.dict(exclude_unset=True))
    prompt = get_object_or_404(Prompt, name=payload.prompt)
    dataset = get_object_or_404(Dataset, pk=payload.dataset)
    try:
        run = prompt_runs.start(
            prompt, payload.versions, dataset, payload.scorers, route=payload.route,
            concurrency=payload.concurrency, created_by=runner.starter_of(request.actor),
        )  # fmt: skip
    except ExperimentError as exc:
        return Status(422, {"detail": str(exc)})
    return Status(
        201, _comparison_out(prompt.name, run, prompt_runs.experiments_of(prompt.name, run))
    )


@router.get("/", response={200: list[dict[str, Any]], 404: ApiError})
def list_comparisons(request: HttpRequest, prompt: str) -> Any:
    found = get_object_or_404(Prompt, name=prompt)
    return [
        {
            "run": item["run"],
            "versions": item["versions"],
            "dataset": item["dataset"].pk,
            "created_at": item["created_at"],
            "finished": item["finished"],
        }
        for item in prompt_runs.runs_of(found.name)
    ]


@router.get("/{name}/{run}", response={200: dict, 404: ApiError})
def read_comparison(request: HttpRequest, name: str, run: str) -> Any:
    prompt = get_object_or_404(Prompt, name=name)
    group = prompt_runs.experiments_of(prompt.name, run)
    if not group:
        return Status(404, {"detail": f"{prompt.name} has no comparison {run}"})
    return _comparison_out(prompt.name, run, group)
