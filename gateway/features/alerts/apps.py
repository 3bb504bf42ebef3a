"""Budget alerts as a unit (``gateway.web.units``): its loop, a worker's background
task, and the notices other features send (``plugin.py``); its settings' field
rules (``rules.py``)."""

from __future__ import annotations

from gateway.web.units import Unit


class AlertsConfig(Unit):
    name = "gateway.features.alerts"
    label = "alerts"
    verbose_name = "Switchyard budget alerts"

    def register(self) -> None:
        from gateway.features.alerts import plugin, rules  # noqa: F401 - rules declare

        plugin.register()
