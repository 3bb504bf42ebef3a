"""Starting, cancelling and resuming experiments (``console.evals.experiments``): the
columns checked (a route that exists, known parameters only, a prompt named by name and
version), the status moves each allows (each one audited), the progress as the pages and
``/api`` read it, and the results table by row and column."""

from __future__ import annotations

from decimal import Decimal

import pytest

from console.evals import datasets, experiments
from console.evals.experiments import ExperimentError
from console.evals.models import Cell, Experiment
from console.evals.parsing import ParsedRow
from gateway.models import AuditEvent

from ..playground_support import make_echo_routes


@pytest.fixture
def routes(db, snapshot_reset) -> None:
    make_echo_routes({"fast": {}, "judge": {}})


def make_dataset(n: int = 2):
    rows = [ParsedRow([{"role": "user", "content": f"q{i}"}], reference=f"r{i}") for i in range(n)]
    return datasets.create("ds", rows)


def test_a_column_that_names_a_prompt_is_checked() -> None:
    with pytest.raises(ExperimentError, match="prompt is"):
        experiments._prompt_of({"name": "x", "version": "2"}, 1)
    assert experiments._prompt_of({"name": "x", "version": 2, "run": "ab"}, 1) == {
        "name": "x", "version": 2, "run": "ab", "own": False,
    }  # fmt: skip


def test_columns_keep_known_parameters_and_refuse_what_cannot_run(routes) -> None:
    columns = experiments.validate_columns(
        [
            "fast",
            {
                "route": "judge",
                "params": {"temperature": 0.2, "top_k": 5, "max_tokens": "", "system": 7},
                "label": "x" * 100,
            },
        ]
    )
    assert columns == [
        {"route": "fast", "params": {}},
        {"route": "judge", "params": {"temperature": 0.2, "system": "7"}, "label": "x" * 80},
    ]
    with pytest.raises(ExperimentError, match="1 to 6 routes"):
        experiments.validate_columns([])
    with pytest.raises(ExperimentError, match="1 to 6 routes"):
        experiments.validate_columns(["fast"] * 7)
    with pytest.raises(ExperimentError, match="column 2: needs a route"):
        experiments.validate_columns(["fast", {"params": {}}])
    with pytest.raises(ExperimentError, match="column 1: no route named 'gone'"):
        experiments.validate_columns(["gone"])
    with pytest.raises(ExperimentError, match="column 1"):
        experiments.validate_columns([{"route": "fast", "params": {"temperature": "hot"}}])


def test_start_checks_everything_then_queues_one_audited_experiment(routes) -> None:
    dataset = make_dataset(3)
    with pytest.raises(ExperimentError, match="baseline"):
        experiments.start(dataset, ["fast"], baseline=1)
    with pytest.raises(ExperimentError, match="concurrency"):
        experiments.start(dataset, ["fast"], concurrency=0)
    with pytest.raises(ExperimentError):
        experiments.start(dataset, ["fast"], [{"kind": "judge", "route": "gone"}])
    assert not Experiment.objects.exists()
    experiment = experiments.start(dataset, ["fast", "judge"], ["exact"], created_by="eve")
    assert experiment.name == "ds v1" and experiment.total_cells == 6
    assert experiment.status == Experiment.Status.QUEUED and experiment.created_by == "eve"
    event = AuditEvent.objects.get(action="start", object_type="experiment")
    assert event.changes["routes"] == ["fast", "judge"] and event.changes["dataset"] == "ds"


def test_cancel_only_what_runs_and_resume_only_what_stopped(routes) -> None:
    experiment = experiments.start(make_dataset(), ["fast"])
    assert not experiments.resume(experiment)  # queued: nothing to resume
    assert experiments.cancel(experiment)
    assert not experiments.cancel(experiment)  # already cancelled
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.CANCELLED
    Experiment.objects.filter(pk=experiment.pk).update(error="boom")
    assert experiments.resume(experiment)
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.QUEUED and experiment.error == ""
    actions = list(
        AuditEvent.objects.filter(object_type="experiment").values_list("action", flat=True)
    )
    assert sorted(actions) == ["cancel", "resume", "start"]


def test_progress_and_results_by_row_and_column(routes) -> None:
    experiment = experiments.start(make_dataset(), ["fast", "judge"], ["exact"])
    Experiment.objects.filter(pk=experiment.pk).update(
        cells_done=1, spend_usd=Decimal("0.5"), status="running"
    )
    experiment.refresh_from_db()
    progress = experiments.progress(experiment)
    assert progress["total"] == 4 and progress["done"] == 1 and progress["percent"] == 25
    assert progress["spend_usd"] == "0.50000000" and progress["status"] == "running"
    Cell.objects.create(
        experiment=experiment, row_index=1, column=1, output="r1", scores={"exact": 1.0},
        score=1.0, cost_usd=Decimal("0.25"),
    )  # fmt: skip
    rows = experiments.result_rows(experiment)
    assert [r["row"].index for r in rows] == [0, 1]
    assert rows[0]["cells"] == [None, None]
    cell = rows[1]["cells"][1]
    assert rows[1]["cells"][0] is None and cell.output == "r1"
    assert [(s["label"], s["shown"]) for s in cell.scored] == [("Exact match", "pass")]
    assert experiments.result_rows(experiment, 1)[0]["row"].index == 1
    data = experiments.cell_dict(cell)
    assert data["output"] == "r1" and data["cost_usd"] == "0.25000000"
    assert experiments.cell_dict(None) is None
