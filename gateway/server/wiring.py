"""The composition root: what ``GatewayConfig.ready`` plugs together once Django's app
registry is full (it imports this module then: the layers below read the tables, so none
of this can load while the app configs do). Every registration of the layers into
``gateway.base.hooks`` is here, in the order the process runs them; then the installed
units register (``Unit.register``), then the plugins load."""

from __future__ import annotations

from django.conf import settings

from gateway import journal
from gateway.access import (
    registry,
    rules,  # noqa: F401 - the authorization rules register
    signals,  # noqa: F401 - the registry's change receivers connect
)
from gateway.base import hooks, plugins, process_role
from gateway.base.plugins import Sink
from gateway.features.billing import plugin as billing_plugin
from gateway.features.interactions import plugin as interactions_plugin
from gateway.features.passthrough import plugin as passthrough_plugin
from gateway.features.responses import plugin as responses_plugin
from gateway.journal import callbacks
from gateway.limits import limits
from gateway.providers import kinds as provider_kinds
from gateway.server import memory_trim, warm_up
from gateway.telemetry import audit, metrics, rollups, spend, tag_spend, tracing
from gateway.web import units


def compose() -> None:
    """Every registration, once per ``ready`` (registries ignore a second one)."""
    # metrics count every journaled request: the journal never imports them, and
    # metrics read the journal's stats (registered here) only when rendered
    journal.subscribe(metrics.observe)
    hooks.journal_stats.register(journal.stats)
    audit.connect()  # the audit log's model signals and sign-in listeners
    # the pooled upstream client sends traceparent (none when tracing is off)
    hooks.http_client_hooks.register(tracing.client_hooks)
    _register_the_process_life()
    _register_pruners()
    billing_plugin.register()  # the providers' bills beside the journal, daily
    _register_the_region()  # several regions: this one's slices of the budgets
    # the units (INSTALLED_APPS): evaluations, MCP, guardrails...
    for unit in units.installed():
        unit.register()
    passthrough_plugin.register()  # /{vendor}/...: the vendors' own APIs
    # the Responses API's state (stored responses, conversations, background,
    # compaction, its WebSocket) and the Gemini Interactions API's: state kept for
    # their dialects, their endpoints' jobs, routes and socket, runner and pruners
    responses_plugin.register()
    interactions_plugin.register()
    load_plugins()


def _register_the_region() -> None:
    """With ``SWITCHYARD_REGION`` set, budgets are counted against this region's slices
    of the global ledger, rebalanced by a loop every process runs under the region's
    lease (gateway/limits/budget_ledger.py); unset, nothing is installed or started."""
    if not settings.SWITCHYARD_REGION:
        return
    from gateway.limits import budget_ledger

    budget_ledger.install(settings.SWITCHYARD_REGION)
    hooks.background_tasks.register(
        hooks.BackgroundTask("budget-ledger", budget_ledger.run_forever, process_role.EVERY)
    )


def plugin_sinks() -> dict[str, Sink]:
    """Where the plugin API's hooks put what they give (``gateway.base.plugins``): the
    layers' and the installed units' (``Unit.plugin_sinks``: guardrail kinds)."""
    sinks = {
        "provider_kinds": Sink(provider_kinds.register, provider_kinds.unregister),
        "request_callbacks": Sink(callbacks.register, callbacks.unregister),
    }
    for unit in units.installed():
        sinks.update(unit.plugin_sinks())
    return sinks


def load_plugins(setting: str | None = None) -> None:
    """The gateway's own plugin modules, then the installed plugins
    ``SWITCHYARD_PLUGINS`` selects (``setting`` in its place), each once per process:
    a plugin that fails stops the start-up with a ``PluginError`` naming it."""
    if setting is None:
        setting = settings.SWITCHYARD_PLUGINS
    builtin = [plugin for unit in units.installed() for plugin in unit.builtin_plugins()]
    plugins.load(setting, plugin_sinks(), builtin)
    hooks.drainers.register(callbacks.drain)  # outcomes still queued, at shutdown


def _register_the_process_life() -> None:
    """What ``gateway.base.lifecycle`` starts and stops, in the order it runs them."""
    # before serving, in order: the registry snapshot (and its watcher), memory trimming,
    # metrics publishing (several workers), the journal's writer
    hooks.starters.register(registry.start)
    hooks.starters.register(memory_trim.start)
    hooks.starters.register(metrics.start_publishing)
    hooks.starters.register(journal.start)
    hooks.warm_ups.register(warm_up.warm_up)
    # at shutdown, after the requests in flight: the journal's queue, the last counts,
    # the budget leases (the closers after them: the units', MCP's sessions)
    hooks.drainers.register(journal.drain_at_shutdown)
    hooks.drainers.register(metrics.publish_last)
    hooks.drainers.register(limits.return_leases)


def _register_pruners() -> None:
    """What the journal's pruning round deletes besides the logs (``hooks.pruners``), in
    this order: usage and spend rollups, audit events; then the features' (stored
    Responses and interactions, registered by their plugins)."""
    hooks.pruners.register(rollups.prune_expired)
    hooks.pruners.register(spend.prune_expired)
    hooks.pruners.register(tag_spend.prune_expired)
    hooks.pruners.register(audit.prune_expired)
