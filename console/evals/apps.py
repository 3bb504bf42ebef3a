"""The evaluations as a unit (``gateway.web.units``): the shells compose its pages and
``/api`` router; its tables and migrations stay its own (label ``evals``)."""

from gateway.web.units import Unit


class EvalsConfig(Unit):
    name = "console.evals"
    label = "evals"
    verbose_name = "Switchyard evaluations"
    default_auto_field = "django.db.models.BigAutoField"

    def register(self) -> None:
        from console.evals.models import Evaluator, Experiment, ShadowScoring, SliceScoring
        from gateway.base import hooks, process_role

        # Every worker process (and `all`) runs one runner, once there is a job for it;
        # the lease says which runs what.
        hooks.background_tasks.register(
            hooks.BackgroundTask(
                "evaluations",
                _run_evaluations,
                process_role.WORKER,
                jobs=(Experiment, ShadowScoring, SliceScoring),
            )
        )
        # Continuous evaluators: one loop per worker process once one is active; the
        # ``continuous-evaluators`` lease says which process of all runs the rounds.
        hooks.background_tasks.register(
            hooks.BackgroundTask(
                "continuous-evaluators", _run_evaluators, process_role.WORKER, jobs=(Evaluator,)
            )
        )


async def _run_evaluations() -> None:
    """The evaluations' runner with its job kinds, imported when a serving process
    starts it (a management command never needs the request stack they import)."""
    from console import (
        shadow_scoring,  # noqa: F401 - registers its jobs with the runner
        slice_scoring,  # noqa: F401 - registers its jobs with the runner
    )
    from console.evals import runner

    await runner.run_forever()


async def _run_evaluators() -> None:
    from console.evals import continuous

    await continuous.run_forever()
