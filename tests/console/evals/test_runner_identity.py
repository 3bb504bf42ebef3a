"""Evaluations and shadow scoring run as a user, never as the master key: an experiment's
cells and judges are journaled under its starter's console key (their team's route
limits apply), a job whose starter is unknown or deactivated fails with a message and
calls nothing, and a scoring run goes out as the admin who asked for it."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import User

from console import shadow_scoring
from console.evals import datasets, experiments, runner, scorers
from console.evals.models import Cell, Experiment, ShadowScoring
from console.evals.parsing import ParsedRow
from gateway.access import console_keys, registry, roles
from gateway.models import ApiKey, Route, Team

from ..playground_support import JournalRecorder, make_echo_routes

pytestmark = pytest.mark.django_db(transaction=True)


def admin(name: str, *teams: Team) -> User:
    user = User.objects.create_user(name, password="pw-123456789")
    roles.set_role(user, "admin")
    for team in teams:
        roles.assign_membership(user, team, "member")
    return user


def dataset(n: int = 2):
    rows = [
        ParsedRow([{"role": "user", "content": f"q{i}"}], reference=f"Echo: q{i}") for i in range(n)
    ]
    return datasets.create("ds", rows)


def run(pk: int) -> Experiment:
    assert runner.claim_one() == pk
    asyncio.run(runner.run_claimed(pk))
    return Experiment.objects.get(pk=pk)


def test_an_experiment_runs_as_its_starter(recorder: JournalRecorder) -> None:
    """Ada runs under her team "alpha": cells and judge calls are journaled under her
    console key, and the route limited to team "beta" is refused to her cells."""
    make_echo_routes({"fast": {}, "judge": {"reply": "Score: 7"}, "beta-only": {}})
    alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
    Route.objects.get(name="beta-only").teams.set([beta])
    registry.rebuild()
    ada = admin("ada", alpha)
    experiment = experiments.start(
        dataset(), ["fast", "beta-only"], ["exact", {"kind": "judge", "route": "judge"}],
        created_by="ada",
    )  # fmt: skip
    experiment = run(experiment.pk)

    assert experiment.status == "done"
    key = ApiKey.objects.get(user=ada, team=alpha, scopes=console_keys.CONSOLE_SCOPE)
    assert {(r.key_id, r.session) for r in recorder.records} == {
        (key.pk, f"experiment:{experiment.pk}")
    }
    cells = {(c.row_index, c.column): c for c in Cell.objects.filter(experiment=experiment)}
    assert cells[(0, 0)].output == "Echo: q0" and cells[(0, 0)].error == ""
    assert "other teams" in cells[(0, 1)].error and cells[(0, 1)].status == 403
    assert len(recorder.records) == 4 + 2  # four cells, two judged (the refused are not)


def test_an_experiment_without_a_known_starter_runs_nothing(recorder: JournalRecorder) -> None:
    """Before: it ran as the master key. Now it fails and says why."""
    make_echo_routes({"fast": {}})
    experiment = run(experiments.start(dataset(), ["fast"], created_by="api").pk)
    assert experiment.status == "failed" and "no known user started" in experiment.error
    assert recorder.records == [] and not Cell.objects.exists()


def test_a_deactivated_starter_runs_nothing(recorder: JournalRecorder) -> None:
    make_echo_routes({"fast": {}})
    ada = admin("ada")
    experiment = experiments.start(dataset(), ["fast"], created_by="ada")
    User.objects.filter(pk=ada.pk).update(is_active=False)
    experiment = run(experiment.pk)
    assert experiment.status == "failed" and "no longer use the console" in experiment.error
    assert recorder.records == []


def test_the_master_key_through_the_api_runs_as_the_master_key(recorder: JournalRecorder) -> None:
    make_echo_routes({"fast": {}})
    start = experiments.start(dataset(1), ["fast"], created_by=runner.MASTER_STARTER)
    assert run(start.pk).status == "done"
    assert [(r.key_id, r.key_name) for r in recorder.records] == [(None, f"experiment:{start.pk}")]


def scoring_job(created_by: str) -> ShadowScoring:
    from tests.console.test_shadow_scoring import log_pairs

    make_echo_routes({"grader": {"reply": "Score: 7"}})
    primary = Route.objects.create(name="big", shadow_routes=["small"], shadow_percent=100)
    Route.objects.create(name="small")
    log_pairs([("4", "4")])
    [scorer] = scorers.validate([{"kind": "judge", "route": "grader"}], lambda name: True)
    return shadow_scoring.create(primary, scorer, created_by)


def run_scoring() -> ShadowScoring:
    pk = runner.claim_one(model=ShadowScoring)
    assert pk is not None
    asyncio.run(shadow_scoring.run_claimed(pk))
    return ShadowScoring.objects.get(pk=pk)


def test_shadow_scoring_runs_as_the_admin_who_asked(recorder: JournalRecorder) -> None:
    ada = admin("ada")
    scoring_job("ada")
    job = run_scoring()
    assert job.status == "done" and job.verdict["scored"] == 1
    key = ApiKey.objects.get(user=ada, team=None, scopes=console_keys.CONSOLE_SCOPE)
    assert [(r.key_id, r.session) for r in recorder.records] == [
        (key.pk, f"shadow-scoring:{job.pk}")
    ]


def test_shadow_scoring_without_a_known_admin_runs_nothing(recorder: JournalRecorder) -> None:
    """Before: judged as the master key (``shadow-scoring``). Now it fails and says why."""
    scoring_job("")
    job = run_scoring()
    assert job.status == "failed" and "no known user started" in job.error
    assert recorder.records == []
