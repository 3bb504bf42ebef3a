from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Switchyard gateway"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (registry change notifications)
