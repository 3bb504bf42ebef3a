"""The plugin API's loading (gateway.base.plugins): hooks' items go to their registries,
each plugin once; SWITCHYARD_PLUGINS selects; a plugin that fails to import, whose
hook raises or that takes a name already taken stops the start-up naming it, and leaves
nothing of itself behind. The gateway's own guardrail kinds come through the same door."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.base import hooks, plugins
from gateway.features.guardrails import kinds as guardrail_kinds
from gateway.features.guardrails import plugin as guardrails_plugin
from gateway.providers import kinds as provider_kinds
from gateway.server import wiring

# a kind whose adapter class names itself otherwise: refused
MISNAMED = provider_kinds.Kind("test_echo", "Echo again", "gateway.providers.echo:EchoProvider")
WORDS = guardrail_kinds.Kind("test_words", "Words", "switchyard_example_plugin.word_block")


def seen(outcome: plugins.RequestOutcome) -> None:
    """A request callback that does nothing."""


@pytest.fixture
def fresh() -> Iterator[None]:
    """The plugins a test loads are taken back after it."""
    before = {p.name for p in plugins.loaded()}
    yield
    for plugin in plugins.loaded():
        if plugin.name not in before:
            plugins.unload(plugin.name)


def installed(monkeypatch: pytest.MonkeyPatch, **points: str) -> None:
    found = {name: EntryPoint(name, value, plugins.GROUP) for name, value in points.items()}
    monkeypatch.setattr(plugins, "installed", lambda: found)


def test_the_setting_selects_all_none_or_names() -> None:
    assert plugins.selection("") is None and plugins.selection(" ALL ") is None
    assert plugins.selection("none") == frozenset()
    assert plugins.selection("acme, other ,") == {"acme", "other"}


def test_the_gateways_own_guardrail_kinds_come_through_the_plugin_door() -> None:
    (own,) = [p for p in plugins.loaded() if p.name == "switchyard.guardrails"]
    assert own.builtin
    added = [item for hook, item in own.added if hook == "guardrail_kinds"]
    assert added == list(guardrail_kinds.BUILT_IN.values()) == guardrails_plugin.guardrail_kinds()
    assert all(guardrail_kinds.KINDS[k.name] is k for k in added)


def test_each_hooks_items_reach_their_registry_once(fresh: None) -> None:
    plugin = SimpleNamespace(guardrail_kinds=lambda: [WORDS], request_callbacks=lambda: [seen])
    plugins.load("none", wiring.plugin_sinks(), [("acme", plugin)])
    plugins.load("none", wiring.plugin_sinks(), [("acme", plugin)])  # ready again: no change
    assert guardrail_kinds.KINDS["test_words"] is WORDS
    assert list(hooks.request_callbacks) == [seen]
    plugins.unload("acme")
    assert "test_words" not in guardrail_kinds.KINDS and list(hooks.request_callbacks) == []


def test_a_plugin_that_raises_at_import_stops_the_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    installed(monkeypatch, broken="tests.gateway.base.raising_plugin")
    with pytest.raises(plugins.PluginError) as failed:
        plugins.load("all", wiring.plugin_sinks())
    assert failed.value.plugin == "broken"
    assert "plugin 'broken'" in str(failed.value) and "own bug at import" in str(failed.value)
    # the control: the same start-up without it loads
    assert plugins.load("none", wiring.plugin_sinks()) == []


def test_a_hook_that_raises_names_the_plugin_and_leaves_nothing_of_it(fresh: None) -> None:
    def broken() -> list[Any]:
        raise ValueError("no kinds today")

    half = SimpleNamespace(guardrail_kinds=lambda: [WORDS], request_callbacks=broken)
    with pytest.raises(plugins.PluginError, match=r"'half': request_callbacks\(\) failed"):
        plugins.load("none", wiring.plugin_sinks(), [("half", half)])
    assert "test_words" not in guardrail_kinds.KINDS  # its first hook's kind taken back
    assert "half" not in {p.name for p in plugins.loaded()}


@pytest.mark.parametrize(
    "hook, item, why",
    [
        ("guardrail_kinds", guardrail_kinds.Kind("presidio", "Mine", "x.y"), "is taken"),
        ("provider_kinds", provider_kinds.Kind("openai", "Mine", "x:Y"), "is taken"),
        ("provider_kinds", MISNAMED, "has kind 'echo', not 'test_echo'"),
        ("provider_kinds", provider_kinds.Kind("k" * 21, "Long", "x:Y"), "1 to 20 characters"),
        ("guardrail_kinds", "presidio", "is not a gateway.features.guardrails.kinds.Kind"),
    ],
)
def test_a_bad_or_taken_kind_is_refused_naming_the_plugin(
    hook: str, item: Any, why: str, fresh: None
) -> None:
    before = (dict(provider_kinds.KINDS), dict(guardrail_kinds.KINDS))
    plugin = SimpleNamespace(**{hook: lambda: [item]})
    with pytest.raises(plugins.PluginError, match="plugin 'taker'") as failed:
        plugins.load("none", wiring.plugin_sinks(), [("taker", plugin)])
    assert why in str(failed.value)
    assert before == (provider_kinds.KINDS, guardrail_kinds.KINDS)  # the gateway's stay


def test_none_loads_no_installed_plugin_and_a_list_only_those_named(
    monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    installed(monkeypatch, broken="tests.gateway.base.raising_plugin", fine="types")
    assert plugins.load("none", wiring.plugin_sinks()) == []  # broken never imported
    (fine,) = plugins.load("fine", wiring.plugin_sinks())  # nor here
    assert fine.name == "fine" and fine.added == []  # (``types`` defines no hook)
    with pytest.raises(plugins.PluginError, match="'absent': named by SWITCHYARD_PLUGINS but"):
        plugins.load("fine,absent", wiring.plugin_sinks())
