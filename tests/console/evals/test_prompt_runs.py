"""Comparing a registry prompt's versions on a dataset (``console.evals.prompt_runs``):
one experiment per version, run in-process over echo routes (the gateway's own prompt
rewrite renders each version, so the journal names the prompt and the version of every
call); what is refused before anything runs; scores read in their scales. The pages
that start and show a comparison: ``test_prompt_views.py``."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from console.evals import datasets, prompt_runs, runner, scales
from console.evals.experiments import ExperimentError
from console.evals.models import Cell, Experiment
from console.evals.parsing import ParsedRow
from gateway.features.prompts import versions

pytestmark = pytest.mark.django_db(transaction=True)
STARTER = "eve"  # who made the prompt (the ``triage`` fixture)


def run_all(run: str) -> list[Experiment]:
    group = prompt_runs.experiments_of("support.triage", run)
    for experiment in group:
        assert runner.claim_one() == experiment.pk
        asyncio.run(runner.run_claimed(experiment.pk))
    return prompt_runs.experiments_of("support.triage", run)


def test_one_experiment_per_version_through_the_gateways_prompt_rewrite(triage, recorder) -> None:
    prompt, dataset = triage
    run = prompt_runs.start(
        prompt,
        ["1", "2"],
        dataset,
        ["exact", {"kind": "judge", "route": "judge"}],
        route="fast",
        created_by=STARTER,
    )
    group = run_all(run)
    assert [e.columns[0]["prompt"]["version"] for e in group] == [1, 2]
    assert all(e.status == "done" and e.total_cells == 3 for e in group)
    v1 = {c.row_index: c for c in Cell.objects.filter(experiment=group[0])}
    v2 = {c.row_index: c for c in Cell.objects.filter(experiment=group[1])}
    # v1's user message rendered from the row (metadata fills {{topic}}, the row's prompt
    # {{input}}); v2 has no user message, so the row's conversation followed it
    assert v1[1].output == "Echo: Topic t1: q1" and v1[1].scores["exact"] == 1.0
    assert v2[1].output == "Echo: q1" and v2[1].scores["exact"] == 0.0
    assert v1[1].scores["judge_pointwise"] == 0.8
    answers = [r for r in recorder.records if r.session.startswith("experiment:")]
    named = {(r.prompt_name, r.prompt_version) for r in answers if r.prompt_name}
    assert named == {("support.triage", 1), ("support.triage", 2)}  # 3 rows each
    assert sum(1 for r in answers if r.prompt_name) == 6
    totals = [prompt_runs.totals(e, scales.scales(e.scorers)) for e in group]
    assert [t["means"][0]["shown"] for t in totals] == ["100% pass", "0% pass"]
    assert totals[0]["means"][1]["shown"] == "8 / 10"
    assert all(t["total_cost"] > Decimal(0) for t in totals)


def test_refused_before_anything_runs(triage) -> None:
    prompt, dataset = triage
    with pytest.raises(ExperimentError, match="2 to 6 versions"):
        prompt_runs.start(prompt, ["1"], dataset, route="fast")
    with pytest.raises(ExperimentError, match="has no version 9"):
        prompt_runs.start(prompt, ["1", "9"], dataset, route="fast")
    with pytest.raises(ExperimentError, match="version 2 names no route"):
        prompt_runs.start(prompt, ["1", "2"], dataset)  # v1 has its model, v2 none
    versions.add_version(prompt, versions.draft("Hi {{input}}", "gone"))  # v3: no such route
    with pytest.raises(ExperimentError, match="version 3: column 1: no route named 'gone'"):
        prompt_runs.start(prompt, ["1", "3"], dataset)
    bare = datasets.create("bare", [ParsedRow([{"role": "user", "content": "hi"}])])
    with pytest.raises(ExperimentError, match=r"needs variables .*topic \(1 row\)"):
        prompt_runs.start(prompt, ["1", "2"], bare, route="fast")
    assert not Experiment.objects.exists()  # all or none
