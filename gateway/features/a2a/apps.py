"""The A2A feature as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; ``Unit.register`` imports its ``rules`` and calls its
``plugin.register()``, from ``GatewayConfig.ready``."""

from __future__ import annotations

from gateway.web.units import Unit


class A2aConfig(Unit):
    name = "gateway.features.a2a"
    label = "a2a"
    api_paths = ("a2a-agents",)  # /api/<each>/...
    verbose_name = "Switchyard A2A gateway"
