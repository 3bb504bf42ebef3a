"""What the evaluations plug in (``console.evals.plugin``): their two runners, each
dormant until it has a job."""

from __future__ import annotations

import asyncio

import pytest

from console.evals import continuous, plugin
from console.evals.models import Evaluator, Experiment, ShadowScoring, SliceScoring
from gateway.base import hooks, process_role


def test_the_runners_wait_for_their_jobs() -> None:
    assert plugin.EVALUATIONS in list(hooks.background_tasks)
    assert plugin.EVALUATORS in list(hooks.background_tasks)
    assert plugin.EVALUATIONS.jobs == (Experiment, ShadowScoring, SliceScoring)
    assert plugin.EVALUATORS.jobs == (Evaluator,)
    assert plugin.EVALUATIONS.roles == plugin.EVALUATORS.roles == process_role.WORKER


def test_the_evaluators_task_is_the_continuous_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    async def run_forever() -> None:
        ran.append("continuous")

    monkeypatch.setattr(continuous, "run_forever", run_forever)
    asyncio.run(plugin.EVALUATORS.run())
    assert ran == ["continuous"]
