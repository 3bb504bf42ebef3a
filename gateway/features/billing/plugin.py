"""What the bill reconciliation plugs in (``gateway.base.hooks``), registered from
``GatewayConfig.ready``: its daily loop, a background task of the worker role (it does
nothing until an admin key is set). The loop and what it pulls in are imported when a
serving process starts it."""

from __future__ import annotations

from gateway.base import hooks, lazy_import, process_role

RECONCILIATION = hooks.BackgroundTask(
    "bill-reconciliation",
    lazy_import.function("gateway.features.billing.runner:run_forever"),
    process_role.WORKER,
)
_admin_keys = lazy_import.function("gateway.features.billing.sources:admin_keys")


def register() -> None:
    hooks.background_tasks.register(RECONCILIATION)
    hooks.operator_secrets.register(_admin_keys)  # redacted like the master key
