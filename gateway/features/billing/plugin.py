"""What the bill reconciliation plugs in (``gateway.base.hooks``), registered from
``GatewayConfig.ready``: its daily loop, a background task of the worker role (it does
nothing until an admin key is set). The loop and what it pulls in are imported when a
serving process starts it."""

from __future__ import annotations

from gateway.base import hooks, process_role


async def _run_reconciliation() -> None:
    from gateway.features.billing import runner

    await runner.run_forever()


def _admin_keys() -> list[str]:
    from gateway.features.billing import sources

    return sources.admin_keys()


def register() -> None:
    hooks.background_tasks.register(
        hooks.BackgroundTask("bill-reconciliation", _run_reconciliation, process_role.WORKER)
    )
    hooks.operator_secrets.register(_admin_keys)  # redacted like the master key
