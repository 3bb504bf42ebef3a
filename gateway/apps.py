import importlib

from django.apps import AppConfig

from gateway.base import hooks, plugins
from gateway.base.plugins import Sink
from gateway.web import units

# The modules that define the shared counter service's books and register them and their
# operations (gateway.base.hooks.counter_books, counter_ops) at import: imported in every
# Django process by ``ready`` below, and by the supervisor (which loads no Django, so each
# must import none) from the plan ``serve`` gives it (``counter_books()``: these and the
# units'), before the service starts.
COUNTER_BOOKS = (
    "gateway.limits.limits_book",
    "gateway.routing.cooldown_book",
    "gateway.routing.affinity_book",
    "gateway.routing.retry_budget",
    "gateway.access.login_attempts",
    "gateway.core.ledger_book",
)


def counter_books() -> tuple[str, ...]:
    """Every module defining a counter-service book: the layers' and the installed
    units' (``Unit.counter_books``), for the plan ``serve`` gives the supervisor."""
    return (*COUNTER_BOOKS, *(book for unit in units.installed() for book in unit.counter_books))


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Switchyard gateway"

    def ready(self) -> None:
        for module in counter_books():  # the counter service's books register
            importlib.import_module(module)
        from gateway import journal, signals  # noqa: F401  (signals: registry changes)
        from gateway.access import rules  # noqa: F401  (the authorization rules register)
        from gateway.telemetry import metrics

        # metrics count every journaled request: the journal never imports them, and
        # metrics read the journal's stats (registered here) only when rendered
        journal.subscribe(metrics.observe)
        hooks.journal_stats.register(journal.stats)

        from gateway.telemetry import audit

        audit.connect()  # the audit log's model signals and sign-in listeners

        from gateway.telemetry import tracing

        # the pooled upstream client sends traceparent (none when tracing is off)
        hooks.http_client_hooks.register(tracing.client_hooks)
        _register_the_process_life()

        _register_pruners()
        from gateway.features.billing import plugin as billing_plugin
        from gateway.features.interactions import plugin as interactions_plugin
        from gateway.features.passthrough import plugin as passthrough_plugin
        from gateway.features.responses import plugin as responses_plugin

        billing_plugin.register()  # the providers' bills beside the journal, daily
        _register_the_region()  # several regions: this one's slices of the budgets
        for (
            unit
        ) in units.installed():  # the units (INSTALLED_APPS): evaluations, MCP, guardrails...
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
    from django.conf import settings

    if not settings.SWITCHYARD_REGION:
        return
    from gateway.base import hooks, process_role
    from gateway.limits import budget_ledger

    budget_ledger.install(settings.SWITCHYARD_REGION)
    hooks.background_tasks.register(
        hooks.BackgroundTask("budget-ledger", budget_ledger.run_forever, process_role.EVERY)
    )


def plugin_sinks() -> dict[str, Sink]:
    """Where the plugin API's hooks put what they give (``gateway.base.plugins``): the
    layers' and the installed units' (``Unit.plugin_sinks``: guardrail kinds)."""
    from gateway.journal import callbacks
    from gateway.providers import kinds as provider_kinds

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
    from django.conf import settings

    from gateway.journal import callbacks

    if setting is None:
        setting = settings.SWITCHYARD_PLUGINS
    builtin = [plugin for unit in units.installed() for plugin in unit.builtin_plugins()]
    plugins.load(setting, plugin_sinks(), builtin)
    hooks.drainers.register(callbacks.drain)  # outcomes still queued, at shutdown


def _register_the_process_life() -> None:
    """What ``gateway.base.lifecycle`` starts and stops, in the order it runs them."""
    from gateway import journal
    from gateway.access import registry
    from gateway.server import memory_trim, warm_up
    from gateway.telemetry import metrics

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
    hooks.drainers.register(_return_limit_leases)


async def _return_limit_leases() -> None:
    """The worker's budget leases back to the counter service (imported when it stops:
    a management command never counts)."""
    from gateway.limits import limits

    await limits.return_leases()


def _register_pruners() -> None:
    """What the journal's pruning round deletes besides the logs (``hooks.pruners``), in
    this order: usage and spend rollups, audit events; then the features' (stored
    Responses and interactions, registered by their plugins)."""
    from gateway.telemetry import audit, rollups, spend, tag_spend

    hooks.pruners.register(rollups.prune_expired)
    hooks.pruners.register(spend.prune_expired)
    hooks.pruners.register(tag_spend.prune_expired)
    hooks.pruners.register(audit.prune_expired)
