"""The guardrails feature as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; what it plugs in is registered here, from ``GatewayConfig.ready``.
The feature's modules are imported inside the methods: an app config module is loaded
before the tables are, and the feature's modules read them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.base.plugins import Sink
from gateway.web.units import Unit


class GuardrailsConfig(Unit):
    name = "gateway.features.guardrails"
    label = "guardrails"
    verbose_name = "Switchyard guardrails"

    def register(self) -> None:
        from gateway.features.guardrails import plugin, rules  # noqa: F401 - rules declare

        plugin.register()  # the guardrail plane: pipeline and MCP hooks

    def plugin_sinks(self) -> Mapping[str, Sink]:
        from gateway.features.guardrails import kinds

        return {"guardrail_kinds": Sink(kinds.register, kinds.unregister)}

    def builtin_plugins(self) -> Sequence[tuple[str, object]]:
        from gateway.features.guardrails import plugin

        return [("switchyard.guardrails", plugin)]
