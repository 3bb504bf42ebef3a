from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Switchyard gateway"

    def ready(self) -> None:
        from gateway import journal, signals  # noqa: F401  (signals: registry changes)
        from gateway.policy import rules  # noqa: F401  (the authorization rules register)
        from gateway.telemetry import metrics

        # metrics count every journaled request: the journal never imports them, and
        # metrics read the journal's stats only when rendered
        journal.subscribe(metrics.observe)

        from gateway.telemetry import audit

        audit.connect()  # the audit log's model signals and sign-in listeners

        from gateway.server import runtime

        runtime.at_start(_run_batches)  # gateway-run batches, one runner per process


async def _run_batches() -> None:
    """The batch runner, imported when a serving process starts it: it pulls in the
    request stack, which a management command (``create_key``, ``migrate``) never needs."""
    from gateway.core.batches import runner

    await runner.run_forever()
