"""Starting, cancelling and resuming experiments (shared by the pages and /api), and the
results as rows for the table and the exports."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from console.evals import events, runner, scales, scorers
from console.evals.models import Cell, Dataset, Experiment
from console.evals.scorers import label_of, name_of
from console.playground import spec as specs
from gateway.access import registry

MAX_COLUMNS = 6
PARAMS = ("temperature", "max_tokens", "system", "reasoning_effort")


class ExperimentError(ValueError):
    pass


def _route_exists(name: str) -> bool:
    return registry.current().route(name) is not None


def _prompt_of(raw: Any, n: int) -> dict[str, Any]:
    """A column's registry prompt (``prompt_runs``): its name, version number, the
    comparison it belongs to and whether the version has a user message of its own."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("name"), str)
        or isinstance(raw.get("version"), bool)
        or not isinstance(raw.get("version"), int)
    ):
        raise ExperimentError(f"column {n}: prompt is {{name, version}}")
    return {
        "name": raw["name"],
        "version": raw["version"],
        "run": str(raw.get("run") or "")[:16],
        "own": bool(raw.get("own")),
    }


def validate_columns(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_COLUMNS:
        raise ExperimentError(f"an experiment runs 1 to {MAX_COLUMNS} routes")
    columns = []
    for n, item in enumerate(raw, 1):
        if isinstance(item, str):
            item = {"route": item}
        if not isinstance(item, dict) or not item.get("route"):
            raise ExperimentError(f"column {n}: needs a route")
        if not _route_exists(item["route"]):
            raise ExperimentError(f"column {n}: no route named {item['route']!r}")
        params = {
            k: v
            for k, v in (item.get("params") or {}).items()
            if k in PARAMS and v not in (None, "")
        }
        try:
            specs.parse_params({k: v for k, v in params.items() if k != "system"}, f"column {n}")
        except specs.SpecError as exc:
            raise ExperimentError(str(exc)) from None
        if "system" in params:
            params["system"] = str(params["system"])
        column = {"route": item["route"], "params": params}
        if item.get("prompt") is not None:
            column["prompt"] = _prompt_of(item["prompt"], n)
        if item.get("label"):
            column["label"] = str(item["label"])[:80]
        columns.append(column)
    return columns


def start(
    dataset: Dataset,
    columns: Any,
    scorer_list: Any = None,
    *,
    name: str = "",
    concurrency: int = 4,
    baseline: int = 0,
    created_by: str = "",
) -> Experiment:
    checked = validate_columns(columns)
    try:
        checked_scorers = scorers.validate(scorer_list, _route_exists)
    except scorers.ScorerError as exc:
        raise ExperimentError(str(exc)) from None
    if not 0 <= baseline < len(checked):
        raise ExperimentError("the baseline must be one of the columns")
    if not 1 <= int(concurrency) <= runner.MAX_CONCURRENCY:
        raise ExperimentError(f"concurrency is 1 to {runner.MAX_CONCURRENCY}")
    rows = dataset.rows().count()
    experiment: Experiment = Experiment.objects.create(
        name=name or f"{dataset.name} v{dataset.version}",
        dataset=dataset,
        dataset_version=dataset.version,
        columns=checked,
        scorers=checked_scorers,
        baseline=baseline,
        concurrency=int(concurrency),
        total_cells=rows * len(checked),
        created_by=created_by,
    )
    events.experiment_event(
        "start",
        experiment,
        dataset=dataset.name,
        routes=[c["route"] for c in checked],
        scorers=[s.get("kind") for s in checked_scorers if isinstance(s, dict)],
    )
    transaction.on_commit(runner.wake)
    return experiment


def cancel(experiment: Experiment) -> bool:
    cancelled = bool(
        Experiment.objects.filter(pk=experiment.pk, status__in=Experiment.UNFINISHED).update(
            status=Experiment.Status.CANCELLED
        )
    )
    if cancelled:
        events.experiment_event("cancel", experiment)
    return cancelled


def resume(experiment: Experiment) -> bool:
    """A cancelled or failed experiment goes back in the queue; only its missing cells
    (and missing scores) run."""
    resumed = Experiment.objects.filter(
        pk=experiment.pk, status__in=(Experiment.Status.CANCELLED, Experiment.Status.FAILED)
    ).update(status=Experiment.Status.QUEUED, error="", finished_at=None)
    if resumed:
        events.experiment_event("resume", experiment)
        transaction.on_commit(runner.wake)
    return bool(resumed)


def progress(experiment: Experiment) -> dict[str, Any]:
    return {
        "id": experiment.pk,
        "status": experiment.status,
        "total": experiment.total_cells,
        "done": experiment.cells_done,
        "errors": experiment.cells_failed,
        "spend_usd": str(experiment.spend_usd),
        "percent": experiment.progress,
        "error": experiment.error,
    }


def scored(
    experiment: Experiment, cell: Cell, by_name: dict[str, scales.Scale] | None = None
) -> list[dict[str, Any]]:
    """Every scorer's value of ``cell`` in the experiment's order, with the header's
    label, the value as its scale reads (``shown``: "8 / 10", "pass") and, when
    unscored, why (not only the headline scorer's). ``by_name``: the experiment's
    scales, when the caller has them (``scales.scales``)."""
    if by_name is None:
        by_name = scales.scales(experiment.scorers)
    out = []
    for scorer in experiment.scorers:
        name = name_of(scorer)
        if name in (cell.scores or {}):
            why = (cell.unscored or {}).get(name, "")
            value = cell.scores[name]
            reason = (cell.reasons or {}).get(name, "")
            scale = by_name.get(name) or scales.scale_of(scorer)
            out.append(
                {
                    "label": label_of(scorer),
                    "value": value,
                    "shown": scale.show(value),
                    "why": why,
                    "reason": reason,
                }
            )
    return out


def shown_means(
    experiment: Experiment, route: dict[str, Any], by_name: dict[str, scales.Scale]
) -> list[dict[str, Any]]:
    """A summary row's mean per scorer, as its scale reads it (the summary keeps the
    mean in [0, 1]; the page shows "7.5 / 10", "80% pass")."""
    out = []
    for scorer in experiment.scorers:
        name = name_of(scorer)
        mean = (route.get("scores") or {}).get(name)
        out.append({"name": name, "value": mean, "shown": by_name[name].show_mean(mean)})
    return out


def result_rows(
    experiment: Experiment,
    start: int = 0,
    stop: int | None = None,
    by_name: dict[str, scales.Scale] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``start`` to ``stop`` of the table: the dataset row and its cells by column
    (``by_name``: the experiment's scales, when the caller has them)."""
    rows = experiment.dataset.rows(experiment.dataset_version)
    rows = rows[start:stop] if stop is not None else rows[start:]
    rows = list(rows)
    indexes = [r.index for r in rows]
    cells: dict[int, dict[int, Cell]] = {}
    if by_name is None:
        by_name = scales.scales(experiment.scorers)
    for cell in Cell.objects.filter(experiment=experiment, row_index__in=indexes):
        cell.scored = scored(experiment, cell, by_name)
        cells.setdefault(cell.row_index, {})[cell.column] = cell
    return [
        {"row": r, "cells": [cells.get(r.index, {}).get(c) for c in range(len(experiment.columns))]}
        for r in rows
    ]


def cell_dict(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {
        "output": cell.output,
        "error": cell.error,
        "status": cell.status,
        "score": cell.score,
        "scores": cell.scores,
        "latency_ms": cell.latency_ms,
        "ttft_ms": cell.ttft_ms,
        "input_tokens": cell.input_tokens,
        "output_tokens": cell.output_tokens,
        "cost_usd": str(cell.cost_usd),
        "request_id": cell.request_id,
    }
