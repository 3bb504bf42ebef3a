"""An experiment's results exported (``console.evals.exports``): one line per row ×
column, in CSV (scores as JSON, the fixed header) and JSON (with the experiment's own
fields); a cell not yet run is a line with the row only."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import orjson
import pytest

from console.evals import datasets, exports
from console.evals.models import Cell, Experiment
from console.evals.parsing import ParsedRow

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment() -> Experiment:
    dataset = datasets.create(
        "ds", [ParsedRow([{"role": "user", "content": 'q, "0"'}], reference="a0")]
    )
    experiment = Experiment.objects.create(
        name="ab", dataset=dataset, dataset_version=1, total_cells=2,
        columns=[{"route": "fast", "params": {}}, {"route": "slow", "params": {}}],
        scorers=[{"kind": "exact"}],
    )  # fmt: skip
    Cell.objects.create(
        experiment=experiment, row_index=0, column=1, output="a0", scores={"exact": 1.0},
        score=1.0, cost_usd=Decimal("0.002"), request_id="req-9",
    )  # fmt: skip
    return experiment


def test_one_line_per_row_and_column(experiment) -> None:
    lines = exports.lines(experiment)
    assert [(line["row"], line["column"], line["route"]) for line in lines] == [
        (0, 0, "fast"), (0, 1, "slow"),
    ]  # fmt: skip
    assert "output" not in lines[0]  # not run yet
    assert lines[1]["output"] == "a0" and lines[1]["request_id"] == "req-9"
    assert lines[1]["prompt"] == 'q, "0"' and lines[1]["reference"] == "a0"


def test_csv_quotes_the_fields_and_writes_scores_as_json(experiment) -> None:
    response = exports.csv_response(experiment)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="experiment-{experiment.pk}.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == list(exports.CSV_FIELDS)
    assert rows[0]["prompt"] == 'q, "0"' and rows[0]["scores"] == "{}"
    assert rows[1]["scores"] == '{"exact":1.0}' and rows[1]["cost_usd"] == "0.00200000"


def test_json_document_names_the_experiment(experiment) -> None:
    document = orjson.loads(exports.json_document(experiment))
    assert document["name"] == "ab" and document["dataset_version"] == 1
    assert document["scorers"] == [{"kind": "exact"}] and len(document["results"]) == 2
    assert document["results"][1]["scores"] == {"exact": 1.0}
