from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "console.evals"
    label = "evals"
    verbose_name = "Switchyard evaluations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway.base import hooks

        # Every serving process runs one runner; the lease says which one runs what.
        hooks.background_tasks.register(_run_evaluations)


async def _run_evaluations() -> None:
    """The evaluations' runner with its job kinds, imported when a serving process
    starts it (a management command never needs the request stack they import)."""
    from console import shadow_scoring  # noqa: F401 - registers its jobs with the runner
    from console.evals import runner

    await runner.run_forever()
