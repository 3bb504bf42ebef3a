"""The cache doctor as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; it plugs nothing into the request path: its page, its API and a daily
background task of the worker role (``alerting``) that tells the alert channels of
routes losing money to misses."""

from __future__ import annotations

from gateway.base import hooks, process_role
from gateway.web.units import Unit


async def _alert_losses() -> None:
    from gateway.features.cache_doctor import alerting

    await alerting.run_forever()


class CacheDoctorConfig(Unit):
    name = "gateway.features.cache_doctor"
    label = "cache_doctor"
    verbose_name = "Switchyard cache doctor"

    def register(self) -> None:
        hooks.background_tasks.register(
            hooks.BackgroundTask("cache-loss-alerts", _alert_losses, process_role.WORKER)
        )
