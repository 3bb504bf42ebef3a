"""The guardrails unit (``gateway.features.guardrails.apps``): what it gives the plugin
API: a ``guardrail_kinds`` sink that puts a plugin's kind in force and takes it back
(a taken name refused), and its own kinds and plane as the built-in plugin
``switchyard.guardrails``, loaded when the app started."""

from __future__ import annotations

import pytest
from django.apps import apps

from gateway.base import plugins
from gateway.features.guardrails import kinds, plugin
from gateway.features.guardrails.apps import GuardrailsConfig


def _unit() -> GuardrailsConfig:
    config = apps.get_app_config("guardrails")
    assert isinstance(config, GuardrailsConfig)
    return config


def test_the_kinds_sink_puts_a_plugins_kind_in_force_and_takes_it_back() -> None:
    sink = _unit().plugin_sinks()["guardrail_kinds"]
    extra = kinds.Kind("plugin_kind", "A plugin's kind", "content_filter")
    sink.add(extra)
    try:
        assert kinds.KINDS["plugin_kind"] is extra
        with pytest.raises(ValueError, match="is taken"):
            sink.add(kinds.Kind("plugin_kind", "Another", "content_filter"))
    finally:
        sink.remove(extra)
    assert "plugin_kind" not in kinds.KINDS


def test_its_own_kinds_and_plane_are_a_built_in_plugin() -> None:
    assert _unit().builtin_plugins() == [("switchyard.guardrails", plugin)]
    loaded = {p.name: p for p in plugins.loaded()}
    assert loaded["switchyard.guardrails"].builtin
    assert set(kinds.BUILT_IN) <= set(kinds.KINDS)
