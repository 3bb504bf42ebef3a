"""The audit events of evaluations (``console.evals.events``): each names its object,
what changed and the dataset's version at the time."""

from __future__ import annotations

import pytest

from console.evals import events
from console.evals.models import Dataset, Experiment
from gateway.models import AuditEvent

pytestmark = pytest.mark.django_db


def last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("id")


def test_dataset_events_carry_the_version() -> None:
    dataset = Dataset.objects.create(name="tickets", version=3)
    events.created(dataset, 12, "from the log")
    event = last("create")
    assert (event.object_type, event.object_id, event.object_name) == (
        "dataset", str(dataset.pk), "tickets",
    )  # fmt: skip
    assert event.changes == {"rows": 12, "version": 3}
    assert event.detail == "dataset created (from the log)"
    events.changed(dataset, {"name": ["old", "tickets"]})
    assert last("update").changes == {"name": ["old", "tickets"], "version": 3}
    events.row_edited(dataset, 4, deleted=False)
    events.row_edited(dataset, 5, deleted=True)
    assert last("row_edit").changes == {"row": 4, "version": 3}
    assert last("row_delete").changes == {"row": 5, "version": 3}
    events.deleted(99, "gone")
    assert (last("delete").object_id, last("delete").object_name) == ("99", "gone")


def test_experiment_events_and_exports() -> None:
    dataset = Dataset.objects.create(name="tickets")
    experiment = Experiment.objects.create(
        name="ab", dataset=dataset, dataset_version=1, columns=[{"route": "fast"}]
    )
    events.experiment_event("cancel", experiment, why="asked")
    event = last("cancel")
    assert (event.object_type, event.object_name, event.changes) == (
        "experiment", "ab", {"why": "asked"},
    )  # fmt: skip
    events.experiment_exported(experiment, "csv")
    exported = last("export")
    assert exported.object_id == str(experiment.pk) and "as csv" in exported.detail
