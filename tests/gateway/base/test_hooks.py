"""The hooks the layers read and the units fill (``gateway.base.hooks``): a registry keeps
each entry once in registration order, and an iteration goes over the entries as they
were when it began; a named registry refuses a second entry under a name; an OAuth
refusal names its target and why. (What ``ready`` registers into them:
``tests/gateway/test_feature_hooks.py``.)"""

from __future__ import annotations

import pytest

from gateway.base import hooks
from gateway.base.entries import OAuthTarget


def test_a_registry_keeps_each_entry_once_in_order() -> None:
    registry: hooks.Registry[str] = hooks.Registry("things", "what it holds")
    assert registry.register("b") == "b"
    registry.register("a")
    registry.register("b")
    assert list(registry) == ["b", "a"] and len(registry) == 2
    assert registry.__doc__ == "what it holds"
    assert repr(registry) == "<hooks.things: 2 entries>"
    registry.unregister("b")
    registry.unregister("never-there")
    assert list(registry) == ["a"]


def test_a_registry_may_change_while_it_is_iterated() -> None:
    registry: hooks.Registry[int] = hooks.Registry("numbers", "")
    for n in (1, 2, 3):
        registry.register(n)
    seen = []
    for n in registry:
        seen.append(n)
        registry.unregister(n)
    assert seen == [1, 2, 3] and len(registry) == 0


def test_an_entry_registered_during_an_iteration_is_not_in_it() -> None:
    registry: hooks.Registry[int] = hooks.Registry("numbers", "")
    registry.register(1)
    seen = []
    for n in registry:
        seen.append(n)
        registry.register(n + 1)
    assert seen == [1] and list(registry) == [1, 2]


def test_a_registry_decorates_a_function() -> None:
    registry: hooks.Registry[object] = hooks.Registry("calls", "")

    @registry.register
    def hook() -> None: ...

    assert list(registry) == [hook] and callable(hook)


def test_a_named_registry_refuses_a_second_entry_under_a_name() -> None:
    named: hooks.NamedRegistry[object] = hooks.NamedRegistry("ops", "")
    first, second = object(), object()
    assert named.register("hold", first) is first
    named.register("hold", first)  # the same again: fine
    with pytest.raises(ValueError, match="'hold' is registered already"):
        named.register("hold", second)
    named.register("release", second)
    assert named["hold"] is first and named.get("nothing") is None
    assert "hold" in named and "nothing" not in named
    assert named.items() == [("hold", first), ("release", second)] and len(named) == 2
    assert repr(named) == "<hooks.ops: ['hold', 'release']>"
    with pytest.raises(KeyError):
        named["nothing"]  # noqa: B018


def test_an_oauth_refusal_names_its_target_and_why() -> None:
    target = OAuthTarget("agent", 3, "helper", "https://agent.example", page="/a2a/")
    refused = hooks.OAuthRequired(target, "never connected")
    assert str(refused) == "agent helper: never connected"
    assert refused.target is target and refused.why == "never connected"


def test_the_layers_hooks_are_registries_of_their_kind() -> None:
    assert isinstance(hooks.pruners, hooks.Registry)
    assert isinstance(hooks.counter_ops, hooks.NamedRegistry)
    assert hooks.background_tasks.name == "background_tasks"
    task = hooks.BackgroundTask("t", lambda: None, frozenset({"worker"}))  # type: ignore[arg-type,return-value]
    assert task.jobs == ()
