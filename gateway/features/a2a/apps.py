"""The A2A feature as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; what it plugs in is registered here, from ``GatewayConfig.ready``."""

from __future__ import annotations

from gateway.web.units import Unit


class A2aConfig(Unit):
    name = "gateway.features.a2a"
    label = "a2a"
    verbose_name = "Switchyard A2A gateway"

    def register(self) -> None:
        from gateway.features.a2a import plugin, rules  # noqa: F401 - rules register

        plugin.register()
