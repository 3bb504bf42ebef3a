"""What budget alerts plug in (``gateway.base.hooks``), registered from
``GatewayConfig.ready``: their loop, a background task of the worker role. The loop and
what it pulls in are imported when a serving process starts it."""

from __future__ import annotations

from gateway.base import hooks, lazy_import, process_role

ALERTS = hooks.BackgroundTask(
    "budget-alerts",
    lazy_import.function("gateway.features.alerts.runner:run_forever"),
    process_role.WORKER,
)
_deliver_notice = lazy_import.function("gateway.features.alerts.delivery:deliver_notice")


def register() -> None:
    hooks.background_tasks.register(ALERTS)
    hooks.notices.register(_deliver_notice)  # other features' notices (bill drift)
