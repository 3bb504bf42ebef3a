"""A feature as a unit: one package that owns its slice of every layer, installed by one
line (its app in ``INSTALLED_APPS``), composed by the shells that never name it.

A unit is a Django app without models (its tables stay in ``gateway/models/``: the
store's migrations never move), so ``APP_DIRS`` and the static files finder find its
``templates/`` and ``static/``. Beside its pipeline modules it may hold, by name:

- ``pages.py``: its console pages (``gateway.web.pages.register``), composed into the
  console's URLconf by ``console/urls.py``;
- ``api.py``: its ``/api`` router, ``router`` mounted at ``PATH`` by ``gateway.edge.api``
  (or ``ROUTERS``, (path, router) pairs, for a unit of several resources), imported on
  the first request under one of its config's ``api_paths``;
- ``urls.py``: Django URL patterns of its own outside the console (``urlpatterns``),
  included at the root by ``gateway/server/urls.py``;
- ``litellm.py``: its section of a LiteLLM config (``gateway.web.config_sections``),
  composed by ``gateway.ops.litellm``;
- ``rules.py``: its authorization rules and field rules, imported by ``register``;
- ``signals.py``: its model signals' receivers, connected when ``register`` imports it;
- ``plugin.py``: a ``register()`` plugging it into the hooks, called by ``register``.

Each shell asks ``modules(name)`` for the units' modules of that name, in the order of
``INSTALLED_APPS``, when it builds what it composes (the URLconf, the API, an import);
a worker serving only the pipeline imports none of them.

``Unit.register`` is what the unit plugs into the lower layers (``gateway.base.hooks``,
its rules); the wiring (``GatewayConfig.ready``) calls it for every installed unit in
order, after its own registrations and before the plugins load, so the order of hooks
is the order of ``INSTALLED_APPS``. ``plugin_sinks``, ``builtin_plugins`` and
``counter_books`` are what it gives the plugin API and the counter service."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from django.apps import AppConfig, apps
from django.utils.module_loading import module_has_submodule

if TYPE_CHECKING:
    from gateway.base.plugins import Sink


class Unit(AppConfig):
    """A feature's app. Subclasses set ``name`` (the package), a unique ``label`` and
    override what they plug in."""

    default = False  # never picked by itself: INSTALLED_APPS names the subclass
    counter_books: tuple[str, ...] = ()  # modules defining the unit's counter-service books
    # the first segments of the /api paths its ``api`` module serves (``teams`` for
    # /api/teams/...): the API imports the module when a request first reaches one
    # (gateway.web.api.mounts); none named, the first /api path that reaches it
    api_paths: tuple[str, ...] = ()

    def register(self) -> None:
        """Plug the unit into the lower layers: its ``rules`` module imported (its rules
        and field rules declare themselves), its ``signals`` (receivers connect), then
        its ``plugin.register()`` (the hooks), each if it has one. Called once per
        ``GatewayConfig.ready``; registries ignore a second registration."""
        for name in ("rules", "signals", "plugin"):
            if module_has_submodule(self.module, name):
                module = importlib.import_module(f"{self.name}.{name}")
                if name == "plugin":
                    module.register()

    def plugin_sinks(self) -> Mapping[str, Sink]:
        """The plugin API's hooks whose items this unit takes, by hook name."""
        return {}

    def builtin_plugins(self) -> Sequence[tuple[str, object]]:
        """(name, module) of the unit's own plugins, loaded through the plugin API's door
        before the installed ones."""
        return ()


def installed() -> list[Unit]:
    """The installed units, in the order of ``INSTALLED_APPS``."""
    return [config for config in apps.get_app_configs() if isinstance(config, Unit)]


def has_module(unit: Unit, name: str) -> bool:
    """Whether ``unit`` has a module ``name``, found without importing it."""
    return bool(module_has_submodule(unit.module, name))


def module_names(name: str) -> list[str]:
    """The dotted names of the units' modules ``name``, in order, none imported."""
    return [f"{unit.name}.{name}" for unit in installed() if has_module(unit, name)]


def modules(name: str) -> list[ModuleType]:
    """Each installed unit's module ``name`` (``pages``, ``api``, ``litellm``...),
    imported, in the order of ``INSTALLED_APPS``; units without one are skipped."""
    return [importlib.import_module(module) for module in module_names(name)]
