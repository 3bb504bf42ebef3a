"""The cache doctor as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; it plugs nothing into the request path: its page, its API and a daily
background task of the worker role (``alerting``) that tells the alert channels of
routes losing money to misses."""

from __future__ import annotations

from gateway.base import hooks, lazy_import, process_role
from gateway.web.units import Unit

LOSS_ALERTS = hooks.BackgroundTask(
    "cache-loss-alerts",
    lazy_import.function("gateway.features.cache_doctor.alerting:run_forever"),
    process_role.WORKER,
)


class CacheDoctorConfig(Unit):
    name = "gateway.features.cache_doctor"
    label = "cache_doctor"
    api_paths = ("cache-doctor",)  # /api/<each>/...
    verbose_name = "Switchyard cache doctor"

    def register(self) -> None:
        hooks.background_tasks.register(LOSS_ALERTS)
