"""The audit events of evaluations, shared by the pages and ``/api``: a dataset created
(uploaded, from the log, through the API), changed or deleted, a row edited, an
experiment started, cancelled or resumed, a result exported. Each is one event naming
who did it (``gateway.telemetry.audit``); the runner's own progress writes are not
events."""

from __future__ import annotations

from typing import Any

from console.evals.models import Dataset, Experiment
from gateway.telemetry import audit


def created(dataset: Dataset, rows: int, how: str) -> None:
    audit.record(
        "create",
        object_type="dataset",
        object_id=dataset.pk,
        object_name=dataset.name,
        changes={"rows": rows, "version": dataset.version},
        detail=f"dataset created ({how})",
    )


def changed(dataset: Dataset, changes: dict[str, Any]) -> None:
    audit.record(
        "update",
        object_type="dataset",
        object_id=dataset.pk,
        object_name=dataset.name,
        changes={**changes, "version": dataset.version},
    )


def deleted(dataset_id: int, name: str) -> None:
    audit.record("delete", object_type="dataset", object_id=dataset_id, object_name=name)


def row_edited(dataset: Dataset, index: int, *, deleted: bool) -> None:
    audit.record(
        "row_delete" if deleted else "row_edit",
        object_type="dataset",
        object_id=dataset.pk,
        object_name=dataset.name,
        changes={"row": index, "version": dataset.version},
    )


def experiment_event(action: str, experiment: Experiment, **changes: object) -> None:
    audit.record(
        action,
        object_type="experiment",
        object_id=experiment.pk,
        object_name=experiment.name,
        changes=dict(changes),
    )


def experiment_exported(experiment: Experiment, fmt: str) -> None:
    audit.exported(
        "experiment",
        f"experiment results as {fmt}",
        object_id=experiment.pk,
        object_name=experiment.name,
    )
