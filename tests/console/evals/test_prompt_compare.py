"""Comparing a registry prompt's versions on a dataset: one experiment per version, run
in-process over echo routes (the gateway's own prompt rewrite renders each version, so
the journal names the prompt and the version of every call); what is refused before
anything runs; the comparison page side by side with every version's totals and
answers; the prompt's page leads there; scores read in their scales."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest
from django.test import Client

from console.evals import datasets, experiments, prompt_runs, runner, scales
from console.evals.experiments import ExperimentError
from console.evals.models import Cell, Dataset, Experiment
from console.evals.parsing import ParsedRow
from gateway import journal
from gateway.access import registry
from gateway.base import lifecycle
from gateway.features.prompts import versions
from gateway.models import Prompt, ScoreConfig
from tests.console.role_sets import ADMINS, Expectation

from ..playground_support import JournalRecorder, make_echo_routes, make_user

# Running versions on a dataset reads and spends like any experiment: owners and admins.
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "evals-prompt-compare": (ADMINS, ADMINS),
    "evals-prompt-comparison": (ADMINS, ADMINS),
}

pytestmark = pytest.mark.django_db(transaction=True)
STARTER = "eve"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> JournalRecorder:
    rec = JournalRecorder()
    monkeypatch.setattr(journal, "record", rec)

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    return rec


@pytest.fixture
def setup(transactional_db) -> tuple[Prompt, Dataset]:
    make_echo_routes({"fast": {}, "judge": {"reply": "Score: 8"}})
    user = make_user(STARTER, staff=True)
    prompt, _ = versions.create(
        "support.triage",
        versions.draft([{"role": "user", "content": "Topic {{topic}}: {{input}}"}], "fast"),
        user=user,
        labels=("production",),
    )
    # v2: a system prompt only, so each row's own conversation follows it
    versions.add_version(prompt, versions.draft([{"role": "system", "content": "Be terse."}]))
    registry.rebuild()  # the snapshot the request path reads the prompt from
    rows = [
        ParsedRow(
            [{"role": "user", "content": f"q{i}"}],
            reference=f"Echo: Topic t{i}: q{i}",
            metadata={"topic": f"t{i}"},
        )
        for i in range(3)
    ]
    return prompt, datasets.create("tickets", rows)


def run_all(run: str) -> list[Experiment]:
    group = prompt_runs.experiments_of("support.triage", run)
    for experiment in group:
        assert runner.claim_one() == experiment.pk
        asyncio.run(runner.run_claimed(experiment.pk))
    return prompt_runs.experiments_of("support.triage", run)


def test_one_experiment_per_version_through_the_gateways_prompt_rewrite(setup, recorder) -> None:
    prompt, dataset = setup
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


def test_refused_before_anything_runs(setup) -> None:
    prompt, dataset = setup
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


def test_a_column_that_names_a_prompt_is_checked() -> None:
    with pytest.raises(ExperimentError, match="prompt is"):
        experiments._prompt_of({"name": "x", "version": "2"}, 1)
    assert experiments._prompt_of({"name": "x", "version": 2, "run": "ab"}, 1) == {
        "name": "x", "version": 2, "run": "ab", "own": False,
    }  # fmt: skip


def test_the_form_starts_and_the_comparison_shows_the_versions_side_by_side(
    setup, recorder
) -> None:
    prompt, dataset = setup
    client = Client()
    client.force_login(make_user("olive", staff=True))
    detail = client.get("/prompts/support.triage/").content.decode()
    assert 'action="/evals/prompts/support.triage/compare/"' in detail
    form = client.get("/evals/prompts/support.triage/compare/?v=2&v=1")
    assert form.status_code == 200 and b"Compare versions on a dataset" in form.content
    refused = client.post(
        "/evals/prompts/support.triage/compare/", {"v": ["1"], "dataset": dataset.pk}
    )
    assert refused.status_code == 422 and b"choose 2 to 6 versions" in refused.content
    ScoreConfig.objects.create(name="quality", data_type="numeric", min_value=0, max_value=5)
    started = client.post(
        "/evals/prompts/support.triage/compare/",
        {"v": ["1", "2"], "dataset": dataset.pk, "route": "fast", "scorer": ["judge"],
         "judge_route": "judge", "judge_config": "quality"},
    )  # fmt: skip
    assert started.status_code == 302
    run = started["Location"].rstrip("/").rsplit("/", 1)[1]
    running = client.get(started["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in running and "0 of 6 answers" in running
    run_all(run)
    partial = client.get(started["Location"] + "?part=progress&was=running")
    assert partial["HX-Refresh"] == "true"
    page = client.get(started["Location"]).content.decode()
    assert "<h1>support.triage: v1 vs v2</h1>" in page
    assert page.count("4 / 5") >= 2  # the judge's 8 of 10 in quality's 0 to 5 scale
    assert "Echo: Topic t0: q0" in page and "Echo: q0" in page
    assert page.count("cheapest") == 1
    assert re.search(r'href="/evals/experiments/\d+/">v1</a>', page)
    one = client.get(re.search(r'href="(/evals/experiments/\d+/)">v1</a>', page)[1]).content
    assert f'href="/evals/prompts/support.triage/compare/{run}/"'.encode() in one  # and back
    listed = client.get("/evals/prompts/support.triage/compare/").content.decode()
    assert f"/evals/prompts/support.triage/compare/{run}/" in listed


def test_an_unknown_comparison_goes_back_to_the_form(setup) -> None:
    client = Client()
    client.force_login(make_user("olive", staff=True))
    response = client.get("/evals/prompts/support.triage/compare/nope/")
    assert response.status_code == 302 and response["Location"].endswith("/compare/")
