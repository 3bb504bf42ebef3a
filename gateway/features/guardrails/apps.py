"""The guardrails feature as a unit (``gateway.web.units``): ``Unit.register`` imports
its ``rules`` and plugs in its plane (``plugin.register()``); here, what it gives the
plugin API. Modules are imported inside the methods: they read the tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.base.plugins import Sink
from gateway.web.units import Unit


class GuardrailsConfig(Unit):
    name = "gateway.features.guardrails"
    label = "guardrails"
    api_paths = ("guardrails",)  # /api/<each>/...
    verbose_name = "Switchyard guardrails"

    def plugin_sinks(self) -> Mapping[str, Sink]:
        from gateway.features.guardrails import kinds

        return {"guardrail_kinds": Sink(kinds.register, kinds.unregister)}

    def builtin_plugins(self) -> Sequence[tuple[str, object]]:
        from gateway.features.guardrails import plugin

        return [("switchyard.guardrails", plugin)]
