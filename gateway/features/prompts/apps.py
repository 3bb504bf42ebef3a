"""The prompt registry as a unit (``gateway.web.units``): the snapshot part and the
body rewrite (``plugin.py``), its rules and field rules (``rules.py``)."""

from __future__ import annotations

from gateway.web.units import Unit


class PromptsConfig(Unit):
    name = "gateway.features.prompts"
    label = "prompts"
    verbose_name = "Switchyard prompt registry"

    def register(self) -> None:
        from gateway.features.prompts import plugin, rules  # noqa: F401 - rules declare

        plugin.register()
