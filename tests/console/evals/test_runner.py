"""The runner in-process over echo routes: every cell through the service, tagged with
the experiment in the journal; a failing route records its error and the run goes on;
scores and the summary; one claimant per experiment; cancel and resume run each cell
once. The ``/api`` endpoints: ``test_api.py``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from console.evals import datasets, experiments, runner
from console.evals.models import Cell, Dataset, Experiment
from console.evals.parsing import ParsedRow

from ..playground_support import make_echo_routes, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def routes(transactional_db) -> None:
    make_echo_routes(
        {"fast": {}, "also": {}, "broken": {"fail_status": 500}, "judge": {"reply": "Score: 7"}}
    )
    make_user(STARTER, staff=True)  # an owner: who the experiments below run as


STARTER = "eve"


def make_dataset(n: int = 6) -> Dataset:
    rows = [
        ParsedRow([{"role": "user", "content": f"q{i}"}], reference=f"Echo: q{i}") for i in range(n)
    ]
    return datasets.create("ds", rows)


def run(pk: int) -> None:
    assert runner.claim_one() == pk
    asyncio.run(runner.run_claimed(pk))


def test_runs_every_cell_scores_and_summarises(routes, recorder) -> None:
    dataset = make_dataset()
    experiment = experiments.start(
        dataset,
        [
            "fast",
            {
                "route": "also",
                "params": {"temperature": 0.5, "max_tokens": 50, "system": "Be brief."},
            },
            "broken",
        ],
        ["exact", {"kind": "contains", "value": "q"}, {"kind": "judge", "route": "judge"}],
        concurrency=3,
        created_by=STARTER,
    )
    run(experiment.pk)
    experiment.refresh_from_db()
    assert experiment.status == "done" and experiment.progress == 100
    assert (experiment.cells_done, experiment.cells_failed) == (18, 6)
    cells = {(c.row_index, c.column): c for c in Cell.objects.filter(experiment=experiment)}
    assert len(cells) == 18
    ok = cells[(2, 0)]
    assert ok.output == "Echo: q2" and ok.score == 1.0 and ok.error == "" and ok.request_id
    assert ok.scores == {"exact": 1.0, "contains": 1.0, "judge_pointwise": 0.7}
    assert ok.latency_ms is not None and ok.output_tokens > 0 and ok.cost_usd > 0
    assert cells[(2, 2)].error and cells[(2, 2)].score is None  # the route failed, the row says so
    # every call (18 cells + 12 judge calls) went through the service as the starter (their
    # console key), tagged with the experiment
    tags = {(r.key_name, r.session) for r in recorder.records}
    assert tags == {(f"console:{STARTER}", f"experiment:{experiment.pk}")}
    assert len(recorder.records) == 18 + 12
    routes_summary = experiment.summary["routes"]
    assert [r["route"] for r in routes_summary] == ["fast", "also", "broken"]
    assert routes_summary[0]["mean_score"] == 1.0 and routes_summary[0]["win_rate"] is None
    assert routes_summary[1]["win_rate"]["rate"] == 0.5  # ties with the baseline everywhere
    assert routes_summary[2]["errors"] == 6 and routes_summary[2]["win_rate"] is None
    assert routes_summary[0]["p50_ms"] is not None and float(routes_summary[0]["total_cost"]) > 0


def test_column_parameters_reach_the_request(routes, recorder) -> None:
    experiment = experiments.start(
        make_dataset(1),
        [{"route": "also", "params": {"temperature": 0.3, "max_tokens": 7, "system": "Override."}}],
        created_by=STARTER,
    )
    body = runner.column_body(experiment, experiment.dataset.rows()[0], 0)
    assert body["temperature"] == 0.3 and body["max_tokens"] == 7
    assert body["messages"][0] == {"role": "system", "content": "Override."}


def test_only_one_claimant(routes) -> None:
    experiment = experiments.start(make_dataset(1), ["fast"], created_by=STARTER)
    assert runner.claim_one("a") == experiment.pk
    assert runner.claim_one("b") is None  # the lease holds
    Experiment.objects.filter(pk=experiment.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert runner.claim_one("b") == experiment.pk  # expired: taken over
    assert runner.renew(experiment.pk, "a") is None  # and the old holder knows it lost it


def test_cancel_then_resume_runs_each_cell_once(routes, recorder) -> None:
    make_echo_routes({"slowish": {"delay": 0.05}})
    experiment = experiments.start(
        make_dataset(40), ["slowish", "fast"], concurrency=2, created_by=STARTER
    )
    assert runner.claim_one() == experiment.pk

    async def cancel_soon() -> None:
        task = asyncio.create_task(runner.run_claimed(experiment.pk))
        count = database_sync_to_async(Cell.objects.filter(experiment=experiment).count)
        while await count() < 10:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.05)
        await database_sync_to_async(experiments.cancel)(experiment)
        await asyncio.wait_for(task, 10)

    runner.RENEW_SECONDS, saved = 0.05, runner.RENEW_SECONDS
    try:
        asyncio.run(cancel_soon())
    finally:
        runner.RENEW_SECONDS = saved
    experiment.refresh_from_db()
    assert experiment.status == "cancelled" and experiment.runner == ""
    partial = Cell.objects.filter(experiment=experiment).count()
    assert 10 <= partial < 80
    calls_before = len(recorder.records)
    assert experiments.resume(experiment)
    run(experiment.pk)
    experiment.refresh_from_db()
    assert experiment.status == "done" and experiment.cells_done == 80
    assert Cell.objects.filter(experiment=experiment).count() == 80
    # the resumed run made only the missing calls (plus at most the in-flight ones lost at cancel)
    assert len(recorder.records) - calls_before == 80 - partial


def test_similarity_through_an_embedding_route_and_a_garbage_judge(routes, recorder) -> None:
    make_echo_routes({"babbler": {"reply": "What a lovely question."}})
    experiment = experiments.start(
        make_dataset(3),
        ["fast"],
        [{"kind": "similarity", "route": "fast"}, {"kind": "judge", "route": "babbler"}],
        created_by=STARTER,
    )
    run(experiment.pk)
    experiment.refresh_from_db()
    assert experiment.status == "done"
    for cell in Cell.objects.filter(experiment=experiment):
        # the echo route's embeddings of equal texts are equal: cosine 1
        assert cell.scores["similarity"] == pytest.approx(1.0) and cell.score == pytest.approx(1.0)
        assert cell.scores["judge_pointwise"] is None  # a judge that answers garbage: unscored
    assert experiment.summary["routes"][0]["scores"]["judge_pointwise"] is None
    assert {r.endpoint for r in recorder.records} >= {"embeddings"}


def test_a_judge_without_a_score_is_counted_with_its_reason_and_every_scorer_shows(
    routes, recorder
) -> None:
    """Issue #43: a judge that never gave a score showed "done · 0 errors" and nothing
    else; only the headline scorer was shown, headed by its internal id."""
    from django.contrib.auth.models import User
    from django.test import Client

    from console.evals.scorers import JUDGE_NO_SCORE

    make_echo_routes({"babbler": {"reply": "What a lovely question."}})
    experiment = experiments.start(
        make_dataset(3),
        ["fast"],
        [{"kind": "exact"}, {"kind": "judge", "route": "babbler"}],
        created_by=STARTER,
    )
    run(experiment.pk)
    experiment.refresh_from_db()
    for cell in Cell.objects.filter(experiment=experiment):
        assert cell.unscored == {"judge_pointwise": JUDGE_NO_SCORE}
    assert experiment.summary["unscored"] == [
        {"scorer": "judge_pointwise", "label": "Judge (1–10)", "count": 3, "why": JUDGE_NO_SCORE}
    ]
    assert experiment.summary["routes"][0]["unscored"] == 3
    client = Client()
    client.force_login(User.objects.get(username=STARTER))
    page = client.get(f"/evals/experiments/{experiment.pk}/").content.decode()
    assert "3 unscored" in page and "Judge (1–10): the judge&#x27;s answer had no score" in page
    summary_head = page[page.index('id="summary"') : page.index("</thead>")]
    assert "Exact match" in summary_head and "Judge (1–10)" in summary_head
    assert "judge_pointwise" not in page.lower()  # no internal id anywhere
    results = page[page.index('id="results"') :]
    # each value in its scorer's words: a pass/fail scorer passes, not "1.00"
    assert results.count("Exact match: pass") == 3 and results.count("Judge (1–10): unscored") == 3


def test_an_idle_runner_keeps_its_database_connection(monkeypatch, transactional_db) -> None:
    """With nothing to run, the runner looks for work every second in every worker: each
    look reuses its thread's connection. (channels' wrapper closed it after every look,
    and a new SQLite connection, with its PRAGMAs and functions, each second was a
    constant cost of a feature nobody used. The test database lives in memory, where a
    close is a no-op, so the closes themselves are counted.)"""
    import channels.db

    closes: list[int] = []
    monkeypatch.setattr(channels.db, "close_old_connections", lambda: closes.append(1))
    monkeypatch.setattr(runner, "POLL_SECONDS", 0.01)
    looks: list[int] = []
    real_claim = runner.claim_one

    async def idle() -> None:
        enough = asyncio.Event()
        loop = asyncio.get_running_loop()

        def claim(*args: object) -> int | None:
            looks.append(1)
            if len(looks) == 20:
                loop.call_soon_threadsafe(enough.set)
            return real_claim(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(runner, "claim_one", claim)
        task = asyncio.create_task(runner.run_forever())
        await asyncio.wait_for(enough.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(idle())
    assert closes == []
