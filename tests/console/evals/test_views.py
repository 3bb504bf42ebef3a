"""The /evals pages: the results page of 1,000 rows × 3 routes renders in < 300 ms
(summary precomputed, table paginated), the row page links to the log, exports, the
progress partial, blind review with randomised sides, and comparison."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from console.evals import datasets, experiments, summary
from console.evals.models import Cell, Experiment
from console.evals.parsing import ParsedRow
from tests.console.role_sets import ADMINS, Expectation

from ..playground_support import make_echo_routes

# Who may open the evaluations' pages (the role matrix collects this): datasets come from
# every key's logged bodies, so owners and admins.
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    name: (ADMINS, ADMINS)
    for name in (
        "evals",
        "evals-upload",
        "evals-from-log",
        "evals-dataset",
        "evals-row-edit",
        "evals-experiment-new",
        "evals-experiment",
        "evals-progress",
        "evals-cancel",
        "evals-resume",
        "evals-row",
        "evals-export",
        "evals-review",
        "evals-compare",
    )
}

pytestmark = pytest.mark.django_db


@pytest.fixture
def big(db) -> Experiment:
    make_echo_routes({"route-alpha": {}, "route-beta": {}, "route-gamma": {}})
    rows = [
        ParsedRow([{"role": "user", "content": f"question {i}"}], reference=f"answer {i}")
        for i in range(1000)
    ]
    dataset = datasets.create("big", rows)
    experiment = experiments.start(dataset, ["route-alpha", "route-beta", "route-gamma"], ["exact"])
    rng = random.Random(1)
    Cell.objects.bulk_create(
        [
            Cell(
                experiment=experiment,
                row_index=i,
                column=c,
                output=f"answer {i}" if rng.random() < 0.5 + 0.1 * c else "nope",
                latency_ms=rng.uniform(5, 500),
                ttft_ms=rng.uniform(1, 50),
                input_tokens=5,
                output_tokens=7,
                cost_usd=Decimal("0.0001") * (c + 1),
                request_id=f"req-{i}-{c}",
            )  # fmt: skip
            for i in range(1000)
            for c in range(3)
        ],
        batch_size=1000,
    )
    cells = list(Cell.objects.filter(experiment=experiment))
    for cell in cells:
        cell.score = float(cell.output.startswith("answer"))
        cell.scores = {"exact": cell.score}
    Cell.objects.bulk_update(cells, ["score", "scores"], batch_size=1000)
    Experiment.objects.filter(pk=experiment.pk).update(
        status="done", cells_done=3000, total_cells=3000
    )
    experiment.refresh_from_db()
    summary.refresh(experiment)
    return experiment


def test_results_page_of_a_thousand_rows_reads_one_page(
    staff_client, big, django_assert_max_num_queries
) -> None:
    """A thousand rows: the page renders one page of them with a bounded number of
    queries whatever the page (its speed is bench/'s to measure, not a timed test)."""
    url = f"/evals/experiments/{big.pk}/"
    with django_assert_max_num_queries(12):
        response = staff_client.get(url)
    assert response.status_code == 200
    with django_assert_max_num_queries(12):
        staff_client.get(url + "?page=20")
    html = response.content.decode()
    assert html.count(f'href="/evals/experiments/{big.pk}/rows/') <= 2 * 50
    assert "rows 1–50 of 1000" in html and "95% Wilson" in html
    assert 'id="scatter-chart"' in html and 'id="evals-chart-data"' in html
    route = big.summary["routes"]
    assert route[0]["mean_score"] < route[2]["mean_score"]
    assert route[2]["win_rate"]["low"] > 0.5  # r3 beats the baseline, and the interval says so


def test_row_page_export_and_progress(staff_client, big) -> None:
    row = staff_client.get(f"/evals/experiments/{big.pk}/rows/7/").content.decode()
    assert "question 7" in row and "/logs/req-7-2/" in row
    csv_text = staff_client.get(f"/evals/experiments/{big.pk}/export.csv").content.decode()
    assert len(csv_text.strip().splitlines()) == 3001
    data = staff_client.get(f"/evals/experiments/{big.pk}/export.json").json()
    assert len(data["results"]) == 3000 and data["summary"]["headline"] == "exact"
    Experiment.objects.filter(pk=big.pk).update(status="running", cells_done=1500)
    partial = staff_client.get(
        f"/evals/experiments/{big.pk}/progress/?was=running", HTTP_HX_REQUEST="true"
    )
    assert 'value="50"' in partial.content.decode() and "HX-Refresh" not in partial
    Experiment.objects.filter(pk=big.pk).update(status="done", cells_done=3000)
    partial = staff_client.get(
        f"/evals/experiments/{big.pk}/progress/?was=running", HTTP_HX_REQUEST="true"
    )
    assert partial["HX-Refresh"] == "true"


def test_blind_review_records_the_vote_for_the_right_side(staff_client, big) -> None:
    url = f"/evals/experiments/{big.pk}/review/?column=2"
    sides = set()
    for _ in range(16):
        page = staff_client.get(url).content.decode()
        assert "route-" not in page  # nothing names the routes
        pending = staff_client.session[f"evals-review-{big.pk}"]
        sides.add(pending["candidate"])
        staff_client.post(url, {"column": 2, "choice": pending["candidate"]})
        cell = Cell.objects.get(experiment=big, row_index=pending["row"], column=2)
        assert cell.scores["human"] == 1.0
    assert sides == {"left", "right"}  # randomised
    big.refresh_from_db()
    assert big.summary["routes"][2]["human_win_rate"]["n"] == 16


def test_compare_and_index(staff_client, big) -> None:
    other = Experiment.objects.create(
        name="other",
        dataset=big.dataset,
        dataset_version=1,
        columns=big.columns,
        scorers=big.scorers,
    )
    page = staff_client.get(f"/evals/compare/?a={big.pk}&b={other.pk}").content.decode()
    assert page.count("<table") == 2
    index = staff_client.get("/evals/").content.decode()
    assert "big" in index and "Upload a dataset" in index
