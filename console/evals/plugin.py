"""What the evaluations plug in (``gateway.base.hooks``), from ``Unit.register``: their
runners, background tasks of the worker role, each started once there is a job for it
(its modules, which import the request stack, loaded then: a management command never
needs them)."""

from __future__ import annotations

from console.evals.models import Evaluator, Experiment, ShadowScoring, SliceScoring
from gateway.base import hooks, lazy_import, process_role


async def _run_evaluations() -> None:
    """The evaluations' runner with its job kinds."""
    from console import (
        shadow_scoring,  # noqa: F401 - registers its jobs with the runner
        slice_scoring,  # noqa: F401 - registers its jobs with the runner
    )
    from console.evals import runner

    await runner.run_forever()


# Every worker process (and `all`) runs one runner, once there is a job for it; the lease
# says which runs what.
EVALUATIONS = hooks.BackgroundTask(
    "evaluations",
    _run_evaluations,
    process_role.WORKER,
    jobs=(Experiment, ShadowScoring, SliceScoring),
)
# Continuous evaluators: one loop per worker process once one is active; the
# ``continuous-evaluators`` lease says which process of all runs the rounds.
EVALUATORS = hooks.BackgroundTask(
    "continuous-evaluators",
    lazy_import.function("console.evals.continuous:run_forever"),
    process_role.WORKER,
    jobs=(Evaluator,),
)


def register() -> None:
    hooks.background_tasks.register(EVALUATIONS)
    hooks.background_tasks.register(EVALUATORS)
