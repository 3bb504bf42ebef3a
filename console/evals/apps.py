from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "console.evals"
    label = "evals"
    verbose_name = "Switchyard evaluations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import shadow_scoring  # noqa: F401 - registers its jobs with the runner
        from console.evals import runner
        from gateway.server import runtime

        # Every serving process runs one runner; the lease says which one runs what.
        runtime.at_start(runner.run_forever)
