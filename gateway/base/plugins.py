"""The plugin API: what an installed package may add to the gateway, and its loading.

A plugin is a module (or any object) named by an entry point of the group
``switchyard`` in its package's metadata::

    [project.entry-points.switchyard]
    acme = "acme_switchyard"

It defines any of the three hooks below as plain functions; each returns an iterable
of what it adds. ``GatewayConfig.ready`` loads every installed plugin once per process
(``SWITCHYARD_PLUGINS``: ``all``, the default; ``none``; or the entry point names to
load, comma-separated), after the gateway's own features, through the same door: the
guardrails feature gives its kinds by ``guardrail_kinds`` like any plugin.

- ``provider_kinds()``: ``gateway.providers.kinds.Kind`` lines; each names its adapter
  (``"module:Class"``, a ``gateway.providers.base.Provider`` subclass whose ``kind`` is
  the line's name, at most 20 characters).
- ``guardrail_kinds()``: ``gateway.features.guardrails.kinds.Kind`` lines; ``module`` is the
  plugin's module with ``validate(params)`` and ``Checker`` (a dotted name: the built-in
  kinds name theirs relative to ``gateway.features.guardrails.kinds``).
- ``request_callbacks()``: callables of one argument, a ``RequestOutcome``, called
  after each request in a background thread (``gateway.journal.callbacks``): never on
  the request's path, and one that raises or is slow never reaches a request.

A plugin that fails to import, whose hook raises, or that adds a name already taken
stops the start-up with a ``PluginError`` naming it: a gateway never runs without a
plugin its operator installed, nor with half of one. A plugin is trusted code of the
host (it runs in the gateway's process): install only what you would run yourself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib import metadata

log = logging.getLogger(__name__)

GROUP = "switchyard"  # the entry point group plugins are found by
HOOKS = ("provider_kinds", "guardrail_kinds", "request_callbacks")


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """One request as a callback sees it (read-only; never a body, a prompt or a key's
    secret). ``success``: answered with a 2xx or 3xx and no error. ``model``: the
    upstream model that answered (the last one tried on a failure); ``route``: the name
    the caller asked for. ``error``: the error's message, ``error_kind`` its kind
    (``rate_limit``, ``upstream``, ``guardrail``...), both empty on success. Tokens and
    cost as journaled; times in milliseconds."""

    request_id: str
    success: bool
    status: int
    endpoint: str = ""
    route: str = ""
    model: str = ""
    provider: str = ""
    key_id: int | None = None
    key_name: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    stream: bool = False
    cache_hit: bool = False
    error_kind: str = ""
    error: str = ""
    tags: tuple[str, ...] = ()
    created_at: float = 0.0  # epoch seconds


class PluginError(RuntimeError):
    """A plugin could not be loaded: ``plugin`` names it (its entry point's name)."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin


@dataclass(frozen=True, slots=True)
class Sink:
    """Where one hook's items go (given by the wiring): ``add`` refuses a bad or taken
    item by raising; ``remove`` takes back one it added."""

    add: Callable[[Any], object]
    remove: Callable[[Any], object]


@dataclass(slots=True)
class Loaded:
    """A plugin loaded into this process and what each of its hooks added."""

    name: str
    source: str  # the package that installed it, or "gateway" for a built-in one
    sinks: Mapping[str, Sink] = field(repr=False)
    added: list[tuple[str, Any]] = field(default_factory=list, repr=False)

    @property
    def builtin(self) -> bool:
        return self.source == "gateway"


_loaded: dict[str, Loaded] = {}


def selection(setting: str) -> frozenset[str] | None:
    """The plugins ``SWITCHYARD_PLUGINS`` selects: None for all installed ones (unset,
    empty or ``all``), none for ``none``, else the names listed."""
    value = setting.strip()
    if value.lower() in ("", "all"):
        return None
    if value.lower() == "none":
        return frozenset()
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def installed() -> dict[str, metadata.EntryPoint]:
    """The entry points of the ``switchyard`` group, by name. ``importlib.metadata``
    (with zipfile and csv, about 1 MB of a worker, #67) is imported here: a process
    whose ``SWITCHYARD_PLUGINS`` is ``none`` never reads the installed distributions."""
    from importlib import metadata

    found: dict[str, metadata.EntryPoint] = {}
    for point in metadata.entry_points(group=GROUP):
        other = found.get(point.name)
        if other is not None and other.value != point.value:
            raise PluginError(point.name, f"installed twice: {other.value} and {point.value}")
        found[point.name] = point
    return found


def load(
    setting: str,
    sinks: Mapping[str, Sink],
    builtin: Sequence[tuple[str, object]] = (),
) -> list[Loaded]:
    """Load the built-in plugins (``(name, module)``, always) then the installed ones
    ``setting`` selects, each once per process; their hooks' items go to ``sinks`` (by
    hook name). Raises ``PluginError`` naming the first plugin that fails."""
    chosen = selection(setting)
    points = installed() if chosen is None or chosen else {}
    if chosen:
        missing = sorted(chosen - set(points))
        if missing:
            raise PluginError(
                missing[0],
                "named by SWITCHYARD_PLUGINS but not installed "
                f"(installed: {', '.join(sorted(points)) or 'none'})",
            )
    done = [_load_one(name, "gateway", _given(module), sinks) for name, module in builtin]
    for name, point in sorted(points.items()):
        if chosen is None or name in chosen:
            source = point.dist.name if point.dist is not None else point.value
            done.append(_load_one(name, source, point.load, sinks))
    return done


def _given(plugin: object) -> Callable[[], object]:
    return lambda: plugin


def _load_one(
    name: str, source: str, get: Callable[[], object], sinks: Mapping[str, Sink]
) -> Loaded:
    if name in _loaded:
        return _loaded[name]
    try:
        plugin = get()
    except Exception as exc:
        raise PluginError(name, f"could not be imported ({source}): {exc!r}") from exc
    loaded = Loaded(name, source, sinks)
    for hook in HOOKS:
        provide = getattr(plugin, hook, None)
        if provide is None:
            continue
        try:
            items: Iterable[Any] = provide()
            for item in items:
                sinks[hook].add(item)
                loaded.added.append((hook, item))
        except Exception as exc:
            _take_back(loaded)  # never half a plugin
            raise PluginError(name, f"{hook}() failed: {exc}") from exc
    if not loaded.added:
        log.warning("plugin %r (%s) adds nothing: no item from any of %s", name, source, HOOKS)
    _loaded[name] = loaded
    if not loaded.builtin:
        log.info("plugin %r (%s) loaded: %d item(s)", name, source, len(loaded.added))
    return loaded


def _take_back(loaded: Loaded) -> None:
    for hook, item in reversed(loaded.added):
        loaded.sinks[hook].remove(item)
    loaded.added.clear()


def loaded() -> list[Loaded]:
    """The plugins loaded in this process, in loading order."""
    return list(_loaded.values())


def unload(name: str) -> None:
    """Take back what plugin ``name`` added (tests; a process never unloads one)."""
    found = _loaded.pop(name, None)
    if found is not None:
        _take_back(found)
