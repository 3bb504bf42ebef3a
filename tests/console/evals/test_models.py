"""The evaluations' tables (``console.evals.models``): a dataset's rows per version, a
row's prompt (its last user message) and its dict, an experiment's progress, finish and
column labels, the scoring runs' totals and progress (shadow pairs and log slices, with
the unscored counted), an evaluator's author and scorer label."""

from __future__ import annotations

import pytest

from console.evals.models import (
    Dataset,
    DatasetRow,
    Evaluator,
    Experiment,
    ShadowScoring,
    SliceScoring,
)
from gateway.models import Route


@pytest.mark.django_db
def test_a_datasets_rows_are_its_versions_in_order() -> None:
    dataset = Dataset.objects.create(name="d", version=2)
    for version, index in ((1, 0), (2, 1), (2, 0)):
        DatasetRow.objects.create(dataset=dataset, version=version, index=index,
                                  messages=[{"role": "user", "content": f"v{version} #{index}"}])  # fmt: skip
    assert [r.prompt() for r in dataset.rows()] == ["v2 #0", "v2 #1"]
    assert [r.prompt() for r in dataset.rows(1)] == ["v1 #0"]
    assert str(dataset) == "d"


def test_a_rows_prompt_is_its_last_user_message() -> None:
    row = DatasetRow(
        index=3, version=1, system="s", reference="r", metadata={"k": 1},
        messages=[{"role": "user", "content": "first"}, {"role": "user", "content": None},
                  {"role": "assistant", "content": "a"}],
    )  # fmt: skip
    assert row.prompt() == ""  # the last user message is empty
    row.messages = row.messages[:1] + row.messages[2:]
    assert row.prompt() == "first"
    assert DatasetRow(messages=[{"role": "system", "content": "x"}]).prompt() == ""
    assert row.as_dict() == {"index": 3, "messages": row.messages, "system": "s",
                             "reference": "r", "metadata": {"k": 1}}  # fmt: skip


def test_an_experiments_progress_finish_and_labels() -> None:
    experiment = Experiment(name="e", total_cells=3, cells_done=1,
                            columns=[{"route": "fast"}, {"route": "slow", "label": "Slow one"}])  # fmt: skip
    assert experiment.progress == 33 and not experiment.finished
    assert [experiment.column_label(i) for i in (0, 1)] == ["fast", "Slow one"]
    experiment.status = Experiment.Status.CANCELLED
    assert experiment.finished and Experiment(total_cells=0).progress == 100


def test_scoring_runs_count_what_they_scored() -> None:
    shadow = ShadowScoring(route=Route(name="r"), scorer={"kind": "exact"},
                           mirrors=["m1", "m2", "m3", "m4"], scores={"m1": 1.0})  # fmt: skip
    assert (shadow.total, shadow.done, shadow.progress) == (4, 1, 25)
    assert shadow.scorer_name == "exact" and not shadow.finished
    shadow.status = ShadowScoring.Status.DONE
    assert shadow.finished
    sliced = SliceScoring(logs=[1, 2], scored={"1": 0.5, "2": None})
    assert (sliced.total, sliced.done, sliced.unscored, sliced.progress) == (2, 2, 1, 100)
    assert SliceScoring(logs=[]).progress == 100


def test_an_evaluators_author_and_label() -> None:
    evaluator = Evaluator(name="tone", scorer={"kind": "judge", "route": "j"})
    assert evaluator.author == "evaluator:tone" and str(evaluator) == "tone"
    assert evaluator.scorer_label.startswith("Judge")
    assert len(Evaluator(name="x" * 300).author) == 200
