from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Switchyard gateway"

    def ready(self) -> None:
        from . import journal, metrics, signals  # noqa: F401  (signals: registry changes)

        # metrics count every journaled request: the journal never imports them, and
        # metrics read the journal's stats only when rendered
        journal.subscribe(metrics.observe)

        from .telemetry import audit

        audit.connect()  # the audit log's model signals and sign-in listeners
