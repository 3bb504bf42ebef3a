"""The pages under /evals: datasets (upload, from the log, rows and their edits),
experiments (the form, live progress polled by htmx, results with summary, charts and
a paginated table, one row in full, exports), blind human review and a comparison of
two experiments. Function views, staff only; the progress bar is a partial of the
results page that the page polls while the experiment runs."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.evals import datasets, events, experiments, scales, summary
from console.evals.exports import csv_response, json_document
from console.evals.models import Cell, Dataset, Experiment
from console.evals.parsing import MAX_BYTES, DatasetError, parse_file
from console.evals.queue_views import queues_to_send
from console.evals.scorers import DEFAULT_POINTWISE_RUBRIC, KINDS, label_of, name_of
from console.playground.spec import EFFORTS
from gateway.access import registry
from gateway.models import ScoreConfig
from gateway.telemetry.logquery import InvalidFilter
from gateway.web.decorators import actor_of, staff_required

TABLE_PAGE = 50
ROW_PAGE = 100


def route_names() -> list[str]:
    return sorted(registry.current().routes)


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "evals/index.html",
        {
            "datasets": Dataset.objects.all()[:200],
            "experiments": Experiment.objects.select_related("dataset")[:100],
            "max_mb": MAX_BYTES // 1048576,
            "routes": route_names(),
        },
    )


@staff_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    file = request.FILES.get("file")
    name = request.POST.get("name", "").strip()
    try:
        if file is None:
            raise DatasetError("choose a JSONL or CSV file")
        if file.size >= MAX_BYTES:
            raise DatasetError(
                f"the file is {file.size / 1048576:.1f} MB: the limit is {MAX_BYTES // 1048576} MB"
            )
        rows = parse_file(file.name, file.read())
        dataset = datasets.create(
            name or file.name.rsplit(".", 1)[0],
            rows,
            description=request.POST.get("description", ""),
        )
    except DatasetError as exc:
        messages.error(request, f"Not imported: {exc}")
        return redirect("console:evals")
    said = f"Imported {len(rows)} rows into {dataset.name}."
    return _created(request, dataset, len(rows), "upload", said)


@staff_required
@require_POST
def from_log(request: HttpRequest) -> HttpResponse:
    filters = {
        k: v
        for k in ("since", "until", "route", "key", "status", "dialect", "q")
        if (v := request.POST.get(k, "").strip())
    }
    try:
        limit = int(request.POST.get("limit") or 200)
        rows = datasets.rows_from_log(
            filters, with_answers=bool(request.POST.get("with_answers")), limit=limit
        )
        dataset = datasets.create(request.POST.get("name", ""), rows, source="log")
    except (DatasetError, InvalidFilter, ValueError) as exc:
        messages.error(request, f"Not created: {exc}")
        return redirect("console:evals")
    said = f"Created {dataset.name} with {len(rows)} requests from the log."
    return _created(request, dataset, len(rows), "from the log", said)


def _created(
    request: HttpRequest, dataset: Dataset, rows: int, how: str, said: str
) -> HttpResponse:
    """A new dataset of ``rows`` rows audited (``how`` it was made), said, and shown."""
    events.created(dataset, rows, how)
    messages.success(request, said)
    return redirect("console:evals-dataset", pk=dataset.pk)


@staff_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset, pk=pk)
    version = int(request.GET.get("version") or dataset.version)
    page = Paginator(dataset.rows(version), ROW_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "evals/dataset.html",
        {
            "dataset": dataset,
            "version": version,
            "versions": range(dataset.version, 0, -1),
            "page": page,
            "experiments": dataset.experiments.all()[:50],
        },
    )


@staff_required
def row_edit(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset, pk=pk)
    row = dataset.rows().filter(index=index).first()
    if row is None:
        return redirect("console:evals-dataset", pk=pk)
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("delete"):
                dataset = datasets.edit_row(dataset, index, {})
            else:
                metadata = request.POST.get("metadata", "").strip() or "{}"
                messages_raw = request.POST.get("messages", "").strip()
                dataset = datasets.edit_row(
                    dataset,
                    index,
                    {
                        "messages": messages_raw,
                        "system": request.POST.get("system", ""),
                        "reference": request.POST.get("reference", ""),
                        "metadata": metadata,
                    },
                )
            events.row_edited(dataset, index, deleted=bool(request.POST.get("delete")))
            messages.success(request, "Saved as a new version.")
            return redirect("console:evals-dataset", pk=pk)
        except DatasetError as exc:
            error = str(exc)
    return render(
        request,
        "evals/row_edit.html",
        {
            "dataset": dataset,
            "row": row,
            "error": error,
            "messages_json": json.dumps(row.messages, indent=2, ensure_ascii=False),
            "metadata_json": json.dumps(row.metadata, indent=2, ensure_ascii=False),
        },
    )


# --- experiments ---------------------------------------------------------------------------


def _form_columns(post: Any) -> list[dict[str, Any]]:
    columns = []
    for n in range(experiments.MAX_COLUMNS):
        route = post.get(f"route_{n}", "").strip()
        if not route:
            continue
        params = {
            key: post.get(f"{key}_{n}", "").strip()
            for key in ("temperature", "max_tokens", "system", "reasoning_effort")
        }
        columns.append({"route": route, "params": {k: v for k, v in params.items() if v}})
    return columns


def form_scorers(post: Any) -> list[dict[str, Any]]:
    chosen = post.getlist("scorer")
    out: list[dict[str, Any]] = []
    for kind in sorted(
        chosen, key=lambda k: (k != post.get("headline"), KINDS.index(k) if k in KINDS else 99)
    ):
        scorer: dict[str, Any] = {"kind": kind}
        if kind == "regex":
            scorer["pattern"] = post.get("regex_pattern", "")
        elif kind == "contains":
            scorer["value"] = post.get("contains_value", "")
        elif kind == "json_schema":
            scorer["schema"] = post.get("json_schema", "")
        elif kind == "numeric":
            scorer["tolerance"] = post.get("numeric_tolerance", "0") or "0"
        elif kind == "similarity":
            scorer["route"] = post.get("similarity_route", "")
        elif kind == "judge":
            scorer.update(
                route=post.get("judge_route", ""),
                mode=post.get("judge_mode", "pointwise"),
                rubric=post.get("judge_rubric", "").strip(),
            )
            config = post.get("judge_config", "").strip()
            if config and scorer["mode"] == "pointwise":
                scorer["name"] = config  # its grades read in the config's scale (scales)
        out.append(scorer)
    return out


def scale_configs() -> list[ScoreConfig]:
    """The score configs a judge's grade can be read in: numeric with both ends, or
    boolean (a categorical one takes no grade: ``gateway.telemetry.scores.judged``)."""
    return [
        c
        for c in ScoreConfig.objects.all()
        if c.data_type == ScoreConfig.DataType.BOOLEAN
        or (c.min_value is not None and c.max_value is not None)
    ]


@staff_required
def experiment_new(request: HttpRequest) -> HttpResponse:
    dataset_id = request.POST.get("dataset") or request.GET.get("dataset")
    error = ""
    if request.method == "POST":
        dataset = Dataset.objects.filter(pk=dataset_id).first() if dataset_id else None
        try:
            if dataset is None:
                raise experiments.ExperimentError("choose a dataset")
            experiment = experiments.start(
                dataset,
                _form_columns(request.POST),
                form_scorers(request.POST),
                name=request.POST.get("name", "").strip(),
                concurrency=int(request.POST.get("concurrency") or 4),
                baseline=int(request.POST.get("baseline") or 0),
                created_by=request.user.get_username(),
            )
            return redirect("console:evals-experiment", pk=experiment.pk)
        except (experiments.ExperimentError, ValueError) as exc:
            error = str(exc)
    return render(
        request,
        "evals/experiment_new.html",
        {
            "datasets": Dataset.objects.all(),
            "dataset_id": int(dataset_id) if dataset_id and str(dataset_id).isdigit() else None,
            "routes": route_names(),
            "slots": range(experiments.MAX_COLUMNS),
            "efforts": EFFORTS,
            "error": error,
            "post": request.POST,
            "pointwise_rubric": DEFAULT_POINTWISE_RUBRIC,
            "configs": scale_configs(),
        },
    )


def _chart_data(experiment: Experiment) -> dict[str, Any]:
    routes = experiment.summary.get("routes", [])
    return {
        "labels": [r["label"] for r in routes],
        "cost_per_row": [float(Decimal(r["cost_per_row"])) for r in routes],
        "mean_score": [r["mean_score"] for r in routes],
        "buckets": experiment.summary.get("latency_buckets_ms", []),
        "histograms": [r["latency_histogram"] for r in routes],
    }


@staff_required
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment.objects.select_related("dataset"), pk=pk)
    if not experiment.finished and not experiment.summary:
        experiment.summary = summary.compute(experiment)
    rows = experiment.dataset.rows(experiment.dataset_version)
    page = Paginator(rows.only("id"), TABLE_PAGE).get_page(request.GET.get("page"))
    start = (page.number - 1) * TABLE_PAGE
    by_name = scales.scales(experiment.scorers)
    table = experiments.result_rows(experiment, start, start + TABLE_PAGE, by_name)
    shown_summary = dict(experiment.summary)
    shown_summary["routes"] = [
        {**r, "shown_scores": experiments.shown_means(experiment, r, by_name)}
        for r in experiment.summary.get("routes", [])
    ]
    return render(
        request,
        "evals/experiment.html",
        {
            "experiment": experiment,
            "labels": [experiment.column_label(i) for i in range(len(experiment.columns))],
            "baseline_label": experiment.column_label(experiment.baseline),
            "scorer_labels": [(name_of(s), label_of(s)) for s in experiment.scorers],
            "scorer_heads": [
                (name_of(s), label_of(s), by_name[name_of(s)].words) for s in experiment.scorers
            ],
            "summary": shown_summary,
            "chart": _chart_data(experiment),
            "page": page,
            "table": table,
            "others": Experiment.objects.exclude(pk=pk).filter(status=Experiment.Status.DONE)[:50],
            "send_to": queues_to_send(actor_of(request)),
        },
    )


@staff_required
def experiment_progress(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    response = render(request, "evals/experiment.html#progress", {"experiment": experiment})
    if experiment.finished and request.GET.get("was") == "running":
        response["HX-Refresh"] = "true"  # the summary and charts are ready: show them
    return response


@staff_required
@require_POST
def experiment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    experiments.cancel(get_object_or_404(Experiment, pk=pk))
    return redirect("console:evals-experiment", pk=pk)


@staff_required
@require_POST
def experiment_resume(request: HttpRequest, pk: int) -> HttpResponse:
    experiments.resume(get_object_or_404(Experiment, pk=pk))
    return redirect("console:evals-experiment", pk=pk)


@staff_required
def experiment_row(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment.objects.select_related("dataset"), pk=pk)
    rows = experiments.result_rows(experiment, index, index + 1)
    if not rows or rows[0]["row"].index != index:
        rows = [item for item in experiments.result_rows(experiment) if item["row"].index == index]
    if not rows:
        return redirect("console:evals-experiment", pk=pk)
    item = rows[0]
    return render(
        request,
        "evals/experiment_row.html",
        {
            "experiment": experiment,
            "row": item["row"],
            "cells": list(
                zip(
                    [experiment.column_label(i) for i in range(len(experiment.columns))],
                    item["cells"],
                    strict=True,
                )
            ),
        },
    )


@staff_required
def experiment_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    if fmt == "csv":
        events.experiment_exported(experiment, "csv")
        return csv_response(experiment)
    if fmt != "json":
        return HttpResponseBadRequest("csv or json")
    events.experiment_exported(experiment, "json")
    response = HttpResponse(json_document(experiment), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="experiment-{experiment.pk}.json"'
    return response


# --- blind human review ----------------------------------------------------------------------


def _review_candidates(experiment: Experiment, column: int) -> list[int]:
    """Rows where both the baseline and ``column`` answered and no vote is in yet."""
    cells = Cell.objects.filter(
        experiment=experiment, column__in=(experiment.baseline, column), error=""
    )
    answered: dict[int, set[int]] = {}
    voted = set()
    for row, col, scores in cells.values_list("row_index", "column", "scores"):
        answered.setdefault(row, set()).add(col)
        if col == column and (scores or {}).get("human") is not None:
            voted.add(row)
    return sorted(r for r, cols in answered.items() if len(cols) == 2 and r not in voted)


@staff_required
def review(request: HttpRequest, pk: int) -> HttpResponse:
    """One row at a time: the baseline's and another column's answers on randomly
    chosen sides, no names, no metrics; A / B / T (tie) / S (skip) on the keyboard."""
    experiment = get_object_or_404(Experiment.objects.select_related("dataset"), pk=pk)
    others = [i for i in range(len(experiment.columns)) if i != experiment.baseline]
    if not others:
        messages.error(request, "Blind review needs two routes or more.")
        return redirect("console:evals-experiment", pk=pk)
    column = int(request.GET.get("column") or request.POST.get("column") or others[0])
    if column not in others:
        column = others[0]
    session_key = f"evals-review-{pk}"
    if request.method == "POST":
        pending = request.session.get(session_key) or {}
        choice = request.POST.get("choice")
        if pending and choice in ("left", "right", "tie") and pending.get("column") == column:
            candidate_side = pending["candidate"]
            value = 0.5 if choice == "tie" else (1.0 if choice == candidate_side else 0.0)
            cell = Cell.objects.filter(
                experiment=experiment, row_index=pending["row"], column=column
            ).first()
            if cell is not None:
                cell.scores = {**cell.scores, "human": value}
                cell.save(update_fields=["scores"])
                summary.refresh(experiment)
                changes = {"row": pending["row"], "column": column, "human": value}
                events.experiment_event("review", experiment, **changes)
        request.session.pop(session_key, None)
        return redirect(f"{reverse('console:evals-review', args=[pk])}?column={column}")
    candidates = _review_candidates(experiment, column)
    if request.GET.get("skip") and len(candidates) > 1:
        candidates = candidates[1:] + candidates[:1]
    context: dict[str, Any] = {
        "experiment": experiment,
        "column": column,
        "columns": [(i, experiment.column_label(i)) for i in others],
        "remaining": len(candidates),
    }
    if candidates:
        row_index = random.choice(candidates[:20])
        row = experiment.dataset.rows(experiment.dataset_version).get(index=row_index)
        cells = {
            c.column: c
            for c in Cell.objects.filter(
                experiment=experiment, row_index=row_index, column__in=(experiment.baseline, column)
            )
        }
        candidate_side = random.choice(("left", "right"))
        request.session[session_key] = {
            "row": row_index,
            "column": column,
            "candidate": candidate_side,
        }
        left, right = (cells[column], cells[experiment.baseline])
        if candidate_side == "right":
            left, right = right, left
        context.update(row=row, left=left.output, right=right.output)
    return render(request, "evals/review.html", context)


@staff_required
def compare(request: HttpRequest) -> HttpResponse:
    """Two experiments' per-route summaries side by side."""
    ids = [request.GET.get("a"), request.GET.get("b")]
    chosen = [Experiment.objects.filter(pk=i).first() if i and i.isdigit() else None for i in ids]
    for experiment in chosen:
        if experiment is not None and not experiment.summary:
            summary.refresh(experiment)
    return render(
        request,
        "evals/compare.html",
        {
            "pair": [e for e in chosen if e is not None],
            "experiments": Experiment.objects.all()[:100],
            "ids": ids,
        },
    )
