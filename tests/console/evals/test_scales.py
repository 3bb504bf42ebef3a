"""A scorer's value in its own words: a pointwise judge out of 10, a score config's
range or boolean, pass/fail kinds, a pairwise verdict; means the same way; and the
experiment page's cells and summary read so ("Judge (1–10): 8 / 10", never 0.80)."""

from __future__ import annotations

import pytest

from console.evals import datasets, experiments, scales, summary
from console.evals.models import Cell
from console.evals.parsing import ParsedRow
from gateway.models import ScoreConfig

from ..playground_support import make_echo_routes

JUDGE = {"kind": "judge", "route": "j", "mode": "pointwise"}


def config(**fields) -> ScoreConfig:
    return ScoreConfig(name="quality", **fields)


def test_without_a_config_each_kind_reads_in_its_own_words() -> None:
    assert scales.scale_of(JUDGE).show(0.8) == "8 / 10"
    assert scales.scale_of(JUDGE).show(0.75) == "7.5 / 10"
    assert scales.scale_of(JUDGE).show_mean(0.733) == "7.3 / 10"
    pairwise = scales.scale_of({**JUDGE, "mode": "pairwise"})
    assert [pairwise.show(v) for v in (1.0, 0.5, 0.0)] == ["win", "tie", "loss"]
    assert pairwise.show_mean(0.625) == "62% wins"
    exact = scales.scale_of({"kind": "exact"})
    assert (exact.show(1.0), exact.show(0.0), exact.show_mean(0.75)) == ("pass", "fail", "75% pass")
    assert scales.scale_of({"kind": "similarity", "route": "e"}).show(0.834) == "0.83"
    assert exact.show(None) == exact.show_mean(None) == "—"


def test_a_config_sets_the_scale() -> None:
    ranged = scales.scale_of(JUDGE, config(data_type="numeric", min_value=1, max_value=5))
    assert ranged.show(0.5) == "3 / 5" and ranged.show(1.0) == "5 / 5"
    assert ranged.words == "1 to 5 (quality)"
    boolean = scales.scale_of(JUDGE, config(data_type="boolean"))
    assert (boolean.show(0.7), boolean.show(0.2), boolean.show_mean(0.5)) == (
        "true", "false", "50% true",
    )  # fmt: skip
    open_ended = scales.scale_of(JUDGE, config(data_type="numeric", min_value=0))
    assert open_ended.show(0.8) == "0.80"  # no top to spread over: the value as stored


@pytest.mark.django_db
def test_the_experiment_page_shows_values_in_their_scales(staff_client) -> None:
    make_echo_routes({"fast": {}, "j": {}})
    ScoreConfig.objects.create(name="helpful", data_type="numeric", min_value=0, max_value=5)
    dataset = datasets.create("ds", [ParsedRow([{"role": "user", "content": "q"}], reference="a")])
    experiment = experiments.start(
        dataset, ["fast"], [{**JUDGE, "name": "helpful"}, JUDGE, "exact"]
    )
    Cell.objects.create(
        experiment=experiment, row_index=0, column=0, output="a", latency_ms=5,
        scores={"helpful": 0.8, "judge_pointwise": 0.8, "exact": 1.0}, score=0.8,
    )  # fmt: skip
    summary.refresh(experiment)
    page = staff_client.get(f"/evals/experiments/{experiment.pk}/").content.decode()
    results = page[page.index('id="results"') :]
    assert "helpful: 4 / 5" in results and "Judge (1–10): 8 / 10" in results
    assert "Exact match: pass" in results and "0.80" not in results
    head = page[page.index('id="summary"') : page.index('id="results"')]
    assert "4 / 5" in head and "8 / 10" in head and "100% pass" in head
    assert 'title="0 to 5 (helpful)"' in head
    row = staff_client.get(f"/evals/experiments/{experiment.pk}/rows/0/").content.decode()
    assert "Judge (1–10): 8 / 10" in row


def test_a_judge_picked_with_a_config_is_named_after_it() -> None:
    """The experiment and comparison forms' "grade out of 10" select: a config's name
    becomes the judge's name, so its grades read in that config's scale."""
    from django.http import QueryDict

    from console.evals.views import form_scorers

    post = QueryDict(mutable=True)
    post.update({"scorer": "judge", "judge_route": "j", "judge_config": "helpful"})
    assert form_scorers(post)[0]["name"] == "helpful"
    post["judge_mode"] = "pairwise"  # a verdict is no grade: it keeps its own name
    assert "name" not in form_scorers(post)[0]
