"""``/api/datasets``, ``/api/experiments`` and ``/api/evaluators`` (django-ninja, registered in
``gateway/edge/api/__init__.py`` by its dotted path, so the gateway never imports it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import ConfigDict, Field

from console.evals import continuous, datasets, events, experiments, runner, summary
from console.evals.exports import csv_response, json_document
from console.evals.models import Dataset, Evaluator, Experiment
from console.evals.parsing import DatasetError, parse_file, row_from_object
from gateway.telemetry.logquery import InvalidFilter
from gateway.telemetry.scores import as_dict as scores_as_dict
from gateway.web.api.errors import ApiError
from gateway.web.api.writes import check_fields

PATH = "/"  # /api/datasets, /api/experiments
router = Router(tags=["evaluations"])


Problem = ApiError  # the management API's one error body


class DatasetOut(Schema):
    id: int
    name: str
    description: str
    version: int
    source: str
    rows: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_rows(obj: Dataset) -> int:
        count: int = obj.rows().count()
        return count


class DatasetIn(Schema):
    name: str
    description: str = ""
    rows: list[dict[str, Any]]


class LogSelection(Schema):
    """The request log's filters (``gateway.telemetry.logquery.FILTERS``), no others: an
    unknown one is a 422 naming it, not a 500 from the query."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = None  # ISO 8601, epoch seconds, or an age such as 15m, 12h, 7d
    until: str | None = None
    route: str | None = None
    key: str | None = None  # key id, or key name ("master" for the master key)
    status: str | None = None  # 404, a class (4xx, 5xx), ok or error
    dialect: str | None = None
    end_user: str | None = None
    session: str | None = None
    q: str | None = None  # text in request id, route, error, model, key name, status


class DatasetFromLog(Schema):
    name: str = Field(min_length=1, max_length=200)
    filters: LogSelection = LogSelection()
    with_answers: bool = False
    limit: int = Field(1000, ge=1, le=datasets.FROM_LOG_LIMIT)


class DatasetPatch(Schema):
    name: str | None = None
    description: str | None = None
    rows: list[dict[str, Any]] | None = None  # replaces every row: a new version


class RowPatch(Schema):
    row: dict[str, Any] | None = None  # null deletes the row (a new version either way)


def _rows(raw: list[dict[str, Any]]) -> list[Any]:
    if not raw:
        raise DatasetError("rows: at least one row")
    return [row_from_object(item, f"row {n}") for n, item in enumerate(raw)]


@router.get("/datasets/", response=list[DatasetOut])
def list_datasets(request: HttpRequest) -> Any:
    return list(Dataset.objects.all())


@router.post("/datasets/", response={201: DatasetOut, 422: Problem})
def create_dataset(request: HttpRequest, payload: DatasetIn) -> Any:
    check_fields(request, "datasets", payload.dict(exclude_unset=True))
    try:
        rows = _rows(payload.rows)
        dataset = datasets.create(payload.name, rows, description=payload.description, source="api")
    except DatasetError as exc:
        return Status(422, {"detail": str(exc)})
    events.created(dataset, len(rows), "through /api")
    return Status(201, dataset)


@router.post("/datasets/upload", response={201: DatasetOut, 422: Problem})
def upload_dataset(
    request: HttpRequest,
    file: File[UploadedFile],
    name: Form[str] = "",
    description: Form[str] = "",
) -> Any:
    check_fields(request, "datasets", {"file": file.name, "name": name, "description": description})
    """A JSONL or CSV file (multipart ``file``), all rows or none."""
    try:
        if file.size is not None and file.size >= 50 * 1024 * 1024:
            raise DatasetError(f"the file is {file.size / 1048576:.1f} MB: the limit is 50 MB")
        rows = parse_file(file.name or "", file.read())
        dataset = datasets.create(
            name or (file.name or "dataset").rsplit(".", 1)[0], rows, description=description
        )
    except DatasetError as exc:
        return Status(422, {"detail": str(exc)})
    events.created(dataset, len(rows), "upload through /api")
    return Status(201, dataset)


@router.post("/datasets/from-log", response={201: DatasetOut, 422: Problem})
def dataset_from_log(request: HttpRequest, payload: DatasetFromLog) -> Any:
    check_fields(request, "datasets_from_log", payload.dict(exclude_unset=True))

    try:
        rows = datasets.rows_from_log(
            payload.filters.dict(), with_answers=payload.with_answers, limit=payload.limit
        )
        dataset = datasets.create(payload.name, rows, source="log")
    except (DatasetError, InvalidFilter) as exc:
        return Status(422, {"detail": str(exc)})
    events.created(dataset, len(rows), "from the log through /api")
    return Status(201, dataset)


@router.get("/datasets/{rowid:dataset_id}", response=DatasetOut)
def get_dataset(request: HttpRequest, dataset_id: int) -> Any:
    return get_object_or_404(Dataset, pk=dataset_id)


@router.get("/datasets/{rowid:dataset_id}/rows")
def dataset_rows(request: HttpRequest, dataset_id: int, version: int | None = None) -> Any:
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    return {
        "version": version or dataset.version,
        "rows": [r.as_dict() for r in dataset.rows(version)],
    }


@router.patch("/datasets/{rowid:dataset_id}", response={200: DatasetOut, 422: Problem})
def patch_dataset(request: HttpRequest, dataset_id: int, payload: DatasetPatch) -> Any:
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    check_fields(request, "datasets", payload.dict(exclude_unset=True))
    changes: dict[str, Any] = {}
    try:
        if payload.name is not None and payload.name.strip() != dataset.name:
            if Dataset.objects.filter(name=payload.name.strip()).exclude(pk=dataset.pk).exists():
                raise DatasetError(f"a dataset named {payload.name!r} exists already")
            changes["name"] = [dataset.name, payload.name.strip()]
            dataset.name = payload.name.strip()
        if payload.description is not None and payload.description != dataset.description:
            changes["description"] = True
            dataset.description = payload.description
        with transaction.atomic():
            dataset.save(update_fields=["name", "description"])
            if payload.rows is not None:
                dataset = datasets.new_version(dataset, _rows(payload.rows))
                changes["rows"] = len(payload.rows)
            events.changed(dataset, changes)
        return dataset
    except DatasetError as exc:
        return Status(422, {"detail": str(exc)})


@router.put(
    "/datasets/{rowid:dataset_id}/rows/{rowid:index}", response={200: DatasetOut, 422: Problem}
)
def edit_row(request: HttpRequest, dataset_id: int, index: int, payload: RowPatch) -> Any:
    check_fields(request, "datasets", payload.dict(exclude_unset=True))
    try:
        dataset = datasets.edit_row(
            get_object_or_404(Dataset, pk=dataset_id), index, payload.row or {}
        )
    except DatasetError as exc:
        return Status(422, {"detail": str(exc)})
    events.row_edited(dataset, index, deleted=not payload.row)
    return dataset


@router.delete("/datasets/{rowid:dataset_id}", response={204: None, 409: Problem})
def delete_dataset(request: HttpRequest, dataset_id: int) -> Any:
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    if dataset.experiments.exists():
        return Status(409, {"detail": "experiments ran on this dataset: delete them first"})
    with transaction.atomic():
        events.deleted(dataset.pk, dataset.name)
        dataset.delete()
    return Status(204, None)


# --- experiments ---------------------------------------------------------------------------


class ExperimentIn(Schema):
    dataset: int
    columns: list[Any]
    scorers: list[Any] = []
    name: str = ""
    concurrency: int = 4
    baseline: int = 0


# an experiment's fields answered as stored, after its progress, name and dataset
EXPERIMENT_FIELDS = (
    *("dataset_version", "columns", "scorers", "baseline", "concurrency"),
    *("created_at", "finished_at"),
)


def _experiment_out(experiment: Experiment) -> dict[str, Any]:
    return {
        **experiments.progress(experiment),
        "name": experiment.name,
        "dataset": experiment.dataset_id,
        **{name: getattr(experiment, name) for name in EXPERIMENT_FIELDS},
    }


@router.get("/experiments/")
def list_experiments(request: HttpRequest) -> Any:
    return [_experiment_out(e) for e in Experiment.objects.all()[:200]]


@router.post("/experiments/", response={201: dict, 404: Problem, 422: Problem})
def start_experiment(request: HttpRequest, payload: ExperimentIn) -> Any:
    check_fields(request, "experiments", payload.dict(exclude_unset=True))
    dataset = get_object_or_404(Dataset, pk=payload.dataset)
    try:
        experiment = experiments.start(
            dataset, payload.columns, payload.scorers, name=payload.name,
            concurrency=payload.concurrency, baseline=payload.baseline,
            created_by=runner.starter_of(request.actor),  # who it runs as
        )  # fmt: skip
    except experiments.ExperimentError as exc:
        return Status(422, {"detail": str(exc)})
    return Status(201, _experiment_out(experiment))


@router.get("/experiments/{rowid:experiment_id}")
def poll_experiment(request: HttpRequest, experiment_id: int) -> Any:
    return _experiment_out(get_object_or_404(Experiment, pk=experiment_id))


@router.post("/experiments/{rowid:experiment_id}/cancel")
def cancel_experiment(request: HttpRequest, experiment_id: int) -> Any:
    return _after(experiments.cancel, experiment_id)


@router.post("/experiments/{rowid:experiment_id}/resume")
def resume_experiment(request: HttpRequest, experiment_id: int) -> Any:
    return _after(experiments.resume, experiment_id)


def _after(act: Callable[[Experiment], object], experiment_id: int) -> dict[str, Any]:
    """The experiment as ``act`` (cancel, resume) left it."""
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    act(experiment)
    experiment.refresh_from_db()
    return _experiment_out(experiment)


@router.get("/experiments/{rowid:experiment_id}/results")
def experiment_results(request: HttpRequest, experiment_id: int, format: str = "json") -> Any:
    """The summary and every row (``?format=csv`` for a CSV file)."""
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    events.experiment_exported(experiment, "csv" if format == "csv" else "json")
    if format == "csv":
        return csv_response(experiment)
    if not experiment.summary:
        summary.refresh(experiment)
    return HttpResponse(json_document(experiment), content_type="application/json")


# --- continuous evaluators -------------------------------------------------------------------


class EvaluatorIn(Schema):
    """An evaluator's fields (``console.evals.continuous.clean``); on PATCH, only those
    sent change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    route: str | None = None
    tag: str | None = None
    filters: dict[str, Any] | None = None
    scorer: dict[str, Any] | None = None
    score_name: str | None = None
    sample_rate: float | None = None
    budget_usd_per_day: float | str | None = None
    alert_below: float | None = None
    alert_window: int | None = None
    status: str | None = None


# an evaluator's fields answered as stored: its settings (before its budget and today's
# spend), then its alerting and counts
EVALUATOR_SETTINGS = ("name", "route", "tag", "filters", "scorer", "score_name", "sample_rate")
EVALUATOR_STATE = (
    *("alert_below", "alert_window", "alerting", "status", "sampled", "scored", "unscored"),
    *("skipped_budget", "last_error", "last_run_at", "created_by", "created_at"),
)


def _evaluator_out(evaluator: Evaluator) -> dict[str, Any]:
    return {
        "id": evaluator.pk,
        **{name: getattr(evaluator, name) for name in EVALUATOR_SETTINGS},
        "budget_usd_per_day": f"{Decimal(evaluator.budget_usd_per_day).normalize():f}",
        "spent_today_usd": f"{continuous.spent_today(evaluator).normalize():f}",
        **{name: getattr(evaluator, name) for name in EVALUATOR_STATE},
    }


def _save_evaluator(request: HttpRequest, payload: EvaluatorIn,
                    current: Evaluator | None) -> Any:  # fmt: skip
    given = payload.dict(exclude_unset=True)
    check_fields(request, "evaluators", given)
    try:
        fields = continuous.clean(given, current)
        saved = continuous.save(
            fields, current, by=runner.starter_of(request.actor) if current is None else ""
        )
    except continuous.EvaluatorError as exc:
        return Status(422, {"detail": str(exc), "errors": {exc.field: [str(exc)]}})
    return Status(201 if current is None else 200, _evaluator_out(saved))


@router.get("/evaluators/")
def list_evaluators(request: HttpRequest) -> Any:
    return [_evaluator_out(e) for e in Evaluator.objects.all()]


@router.post("/evaluators/", response={201: dict, 422: Problem})
def create_evaluator(request: HttpRequest, payload: EvaluatorIn) -> Any:
    return _save_evaluator(request, payload, None)


@router.get("/evaluators/{rowid:evaluator_id}", response={200: dict, 404: Problem})
def get_evaluator(request: HttpRequest, evaluator_id: int) -> Any:
    evaluator = get_object_or_404(Evaluator, pk=evaluator_id)
    out = _evaluator_out(evaluator)
    out["trend"] = continuous.trend(evaluator)
    out["recent"] = [
        {**scores_as_dict(s), "request_id": s.log.request_id}
        for s in continuous.recent_scores(evaluator)
    ]
    return out


@router.patch("/evaluators/{rowid:evaluator_id}", response={200: dict, 404: Problem, 422: Problem})
def edit_evaluator(request: HttpRequest, evaluator_id: int, payload: EvaluatorIn) -> Any:
    return _save_evaluator(request, payload, get_object_or_404(Evaluator, pk=evaluator_id))


@router.delete("/evaluators/{rowid:evaluator_id}", response={204: None, 404: Problem})
def delete_evaluator(request: HttpRequest, evaluator_id: int) -> Any:
    get_object_or_404(Evaluator, pk=evaluator_id).delete()  # its scores stay on the logs
    return Status(204, None)


# /api/annotation-queues: review queues (console.evals.queue_api)
router.add_router("/annotation-queues", "console.evals.queue_api.router")
# /api/prompt-comparisons: a prompt's versions side by side on a dataset
router.add_router("/prompt-comparisons", "console.evals.comparison_api.router")
