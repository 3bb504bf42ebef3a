"""The audit events of evaluations, shared by the pages and ``/api``: a dataset created
(uploaded, from the log, through the API), changed or deleted, a row edited, an
experiment started, cancelled, resumed or reviewed, a result exported, an annotation
queue or a score config made, changed or deleted. Each is one event naming who did it
(``gateway.telemetry.audit``); the runner's own progress writes are not events."""

from __future__ import annotations

from typing import Any

from console.evals.models import AnnotationQueue, Dataset, Experiment
from gateway.telemetry import audit


def event(
    action: str, object_type: str, thing: Any, changes: dict[str, Any], detail: str = ""
) -> None:
    """One event about ``thing`` (anything with a ``pk`` and a ``name``)."""
    audit.record(action, object_type=object_type, object_id=thing.pk, object_name=thing.name,
                 changes=changes, detail=detail)  # fmt: skip


def created(dataset: Dataset, rows: int, how: str) -> None:
    changes = {"rows": rows, "version": dataset.version}
    event("create", "dataset", dataset, changes, f"dataset created ({how})")


def changed(dataset: Dataset, changes: dict[str, Any]) -> None:
    event("update", "dataset", dataset, {**changes, "version": dataset.version})


def deleted(dataset_id: int, name: str) -> None:
    audit.record("delete", object_type="dataset", object_id=dataset_id, object_name=name)


def row_edited(dataset: Dataset, index: int, *, deleted: bool) -> None:
    changes = {"row": index, "version": dataset.version}
    event("row_delete" if deleted else "row_edit", "dataset", dataset, changes)


def experiment_event(action: str, experiment: Experiment, **changes: object) -> None:
    event(action, "experiment", experiment, changes)


def queue_event(action: str, queue: AnnotationQueue, **changes: object) -> None:
    event(action, "annotation_queue", queue, changes)


def experiment_exported(experiment: Experiment, fmt: str) -> None:
    audit.exported(
        "experiment",
        f"experiment results as {fmt}",
        object_id=experiment.pk,
        object_name=experiment.name,
    )
