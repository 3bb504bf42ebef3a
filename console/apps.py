from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Switchyard console"

    def ready(self) -> None:
        from console import stats  # noqa: F401 - refolds the dashboard's week after a rollup rebuild
