"""Comparing versions of a registry prompt on a dataset: one experiment per version,
read side by side (``prompt_views``).

Each version runs as an ordinary experiment (``experiments.start``: the same runner,
lease, scorers and summary) of one column whose ``prompt`` names the prompt, the version
and the comparison (``run``: a short token the experiments of one comparison share, so
no table of its own). Its cells name the prompt by reference (``prompt_cells``): the
gateway's own rewrite renders the version, and the journal, the limits and the version's
production metrics count them as an application's calls. A version runs on the route it
was written for (its ``model``) unless the comparison names one; a version with neither,
or a dataset row missing one of its variables, is refused before anything runs
(``ExperimentError`` saying which version and variable, and in how many rows)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction

from console.evals import experiments, scales
from console.evals.experiments import ExperimentError
from console.evals.models import Cell, Dataset, Experiment
from console.evals.prompt_cells import variables_of
from console.evals.scorers import label_of, name_of
from gateway.models import Prompt, PromptVersion

MAX_VERSIONS = 6


def has_user_message(version: PromptVersion) -> bool:
    return any(m.get("role") == "user" for m in version.messages)


def missing(dataset: Dataset, version: PromptVersion) -> dict[str, int]:
    """Variable of ``version`` -> how many rows of ``dataset`` give it no value."""
    counts: dict[str, int] = {}
    names = list(version.variables or ())
    if not names:
        return counts
    for row in dataset.rows().only("messages", "metadata"):
        given = variables_of(row)
        for name in names:
            if name not in given:
                counts[name] = counts.get(name, 0) + 1
    return counts


def _versions(prompt: Prompt, numbers: Iterable[Any]) -> list[PromptVersion]:
    wanted: list[int] = []
    for raw in numbers:
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise ExperimentError(f"{raw!r} is not a version number") from None
        if number not in wanted:
            wanted.append(number)
    if not 2 <= len(wanted) <= MAX_VERSIONS:
        raise ExperimentError(f"choose 2 to {MAX_VERSIONS} versions to compare")
    found = {v.number: v for v in PromptVersion.objects.filter(prompt=prompt, number__in=wanted)}
    absent = [n for n in wanted if n not in found]
    if absent:
        raise ExperimentError(f"{prompt.name} has no version {', '.join(map(str, absent))}")
    return [found[n] for n in wanted]


def start(
    prompt: Prompt,
    numbers: Iterable[Any],
    dataset: Dataset,
    scorer_list: Any = None,
    *,
    route: str = "",
    concurrency: int = 4,
    created_by: str = "",
) -> str:
    """One experiment per version of ``numbers`` over ``dataset``, all or none; returns
    the comparison's token (``experiments_of`` finds them again)."""
    chosen = _versions(prompt, numbers)
    route = route.strip()
    run = secrets.token_hex(4)
    for version in chosen:
        if not (route or version.model):
            raise ExperimentError(
                f"version {version.number} names no route: choose the route to run it on"
            )
        gaps = missing(dataset, version)
        if gaps:
            said = ", ".join(f"{name} ({n} row{'s' if n != 1 else ''})" for name, n in gaps.items())
            raise ExperimentError(
                f"version {version.number} needs variables the dataset does not give: {said}"
            )
    with transaction.atomic():
        for version in chosen:
            _start_one(prompt, version, dataset, scorer_list, route, run, concurrency, created_by)
    return run


def _start_one(
    prompt: Prompt,
    version: PromptVersion,
    dataset: Dataset,
    scorer_list: Any,
    route: str,
    run: str,
    concurrency: int,
    created_by: str,
) -> None:
    try:
        experiments.start(
            dataset,
            [
                {
                    "route": route or version.model,
                    "label": f"v{version.number}",
                    "prompt": {
                        "name": prompt.name,
                        "version": version.number,
                        "run": run,
                        "own": has_user_message(version),
                    },
                }
            ],
            scorer_list,
            name=f"{prompt.name} v{version.number} on {dataset.name}"[:200],
            concurrency=concurrency,
            created_by=created_by,
        )
    except ExperimentError as exc:  # "column 1: no route named 'x'" says which version
        raise ExperimentError(f"version {version.number}: {exc}") from None


def experiments_of(prompt_name: str, run: str) -> list[Experiment]:
    """The experiments of comparison ``run`` of ``prompt_name``, by version number."""
    found = Experiment.objects.select_related("dataset").filter(
        columns__0__prompt__name=prompt_name, columns__0__prompt__run=run
    )
    return sorted(found, key=lambda e: int(e.columns[0]["prompt"]["version"]))


def runs_of(prompt_name: str, limit: int = 20) -> list[dict[str, Any]]:
    """The prompt's comparisons, newest first: token, versions, dataset, when, status."""
    grouped: dict[str, dict[str, Any]] = {}
    for experiment in Experiment.objects.select_related("dataset").filter(
        columns__0__prompt__name=prompt_name
    )[: limit * MAX_VERSIONS]:
        spec = experiment.columns[0]["prompt"]
        item = grouped.setdefault(
            spec["run"],
            {"run": spec["run"], "versions": [], "dataset": experiment.dataset,
             "created_at": experiment.created_at, "finished": True},
        )  # fmt: skip
        item["versions"].append(int(spec["version"]))
        item["finished"] = item["finished"] and experiment.finished
    out = list(grouped.values())[:limit]
    for item in out:
        item["versions"].sort()
    return out


# --- the comparison, side by side -----------------------------------------------------------


def _scorers(group: list[Experiment]) -> list[dict[str, Any]]:
    scorer_list: list[dict[str, Any]] = group[0].scorers if group else []
    return scorer_list


def totals(experiment: Experiment, by_name: Mapping[str, scales.Scale]) -> dict[str, Any]:
    """A version's totals from its experiment's summary (its one column)."""
    routes = (experiment.summary or {}).get("routes") or [{}]
    r = routes[0]
    means = [
        {"label": label_of(s), "shown": by_name[name_of(s)].show_mean(
            (r.get("scores") or {}).get(name_of(s)))}
        for s in experiment.scorers
    ]  # fmt: skip
    return {
        "experiment": experiment,
        "version": int(experiment.columns[0]["prompt"]["version"]),
        "route": experiment.columns[0]["route"],
        "rows": r.get("rows", 0),
        "errors": r.get("errors", 0),
        "means": means,
        "p50_ms": r.get("p50_ms"),
        "p95_ms": r.get("p95_ms"),
        "total_cost": Decimal(str(r.get("total_cost") or "0")),
        "cost_per_row": Decimal(str(r.get("cost_per_row") or "0")),
        "output_tokens": r.get("output_tokens", 0),
    }


def table(group: list[Experiment], start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """Rows ``start`` to ``stop`` of the dataset (the version the first experiment ran),
    each with every version's label and cell (its ``scored`` values in their scales)."""
    if not group:
        return []
    first = group[0]
    rows_qs = first.dataset.rows(first.dataset_version)
    rows = list(rows_qs[start:stop] if stop is not None else rows_qs[start:])
    indexes = [r.index for r in rows]
    by_name = scales.scales(_scorers(group))
    found: dict[tuple[int, int], Cell] = {}
    for cell in Cell.objects.filter(experiment__in=group, row_index__in=indexes, column=0):
        cell.scored = experiments.scored(
            next(e for e in group if e.pk == cell.experiment_id), cell, by_name
        )
        found[(cell.experiment_id, cell.row_index)] = cell
    labels = [experiment.column_label(0) for experiment in group]  # v1, v2, ...
    return [
        {
            "row": row,
            "cells": [(labels[n], found.get((e.pk, row.index))) for n, e in enumerate(group)],
        }
        for row in rows
    ]


def progress(group: list[Experiment]) -> dict[str, Any]:
    total = sum(e.total_cells for e in group)
    done = sum(e.cells_done for e in group)
    return {
        "finished": all(e.finished for e in group),
        "total": total,
        "done": done,
        "errors": sum(e.cells_failed for e in group),
        "spend": sum((e.spend_usd for e in group), Decimal(0)),
        "percent": round(100 * done / total) if total else 100,
        "failed": [e for e in group if e.error],
    }
