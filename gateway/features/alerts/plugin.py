"""What budget alerts plug in (``gateway.base.hooks``), registered from
``GatewayConfig.ready``: their loop, a background task of the worker role. The loop and
what it pulls in are imported when a serving process starts it."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks, process_role


async def _run_alerts() -> None:
    from gateway.features.alerts import runner

    await runner.run_forever()


async def _deliver_notice(notice: dict[str, Any]) -> list[str]:
    from gateway.features.alerts import delivery

    return await delivery.deliver_notice(notice)


def register() -> None:
    hooks.background_tasks.register(
        hooks.BackgroundTask("budget-alerts", _run_alerts, process_role.WORKER)
    )
    hooks.notices.register(_deliver_notice)  # other features' notices (bill drift)
