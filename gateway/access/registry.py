"""The in-memory snapshot of providers, routes, deployments and keys that the request
path reads (no database query per request).

Freshness: a change saved anywhere (console, API, admin, import_config) bumps
``RegistryState.version`` in the same transaction and, once committed, rebuilds this
process's snapshot and announces the change on the channel layer group
``switchyard.registry`` (with Redis: every instance). Without Redis, the workers of one
``serve`` tell each other through its counter service (``registry_book``), the writer
waiting until every worker has rebuilt. Each process also polls the version about once
a second (``watch``), so snapshots converge whatever else is down. On
PostgreSQL a change that bumped nothing (SQL, a queryset ``.update()``) is found by
comparing the tables' fingerprint every few seconds (``watch_fingerprint``,
``gateway.access.registry_fingerprint``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from gateway import catalog
from gateway.access import caller_entries, registry_fingerprint, registry_settle
from gateway.access.caller_entries import names_list
from gateway.base import db_work, hooks, lifecycle
from gateway.base.background import woken
from gateway.base.entries import (
    DeploymentEntry,
    GuardrailEntry,
    McpServerEntry,
    ProviderEntry,
    RouteEntry,
    Snapshot,
    same_named,
)
from gateway.base.secrets import crypto, provider_credentials, secret_refs
from gateway.base.secrets.secret_refs import references
from gateway.catalog import capability_flags
from gateway.models import Deployment, Guardrail, McpServer, Provider, RegistryState, Route
from gateway.models.sealed import stored_tokens
from gateway.providers import kinds

log = logging.getLogger(__name__)

GROUP = "switchyard.registry"

# The tables a snapshot opens sealed values of (its parts' too: A2A agents' bearers).
SEALED_IN = (
    "gateway.Provider",
    "gateway.Deployment",
    "gateway.Route",
    "gateway.McpServer",
    "gateway.Guardrail",
    "gateway.A2aAgent",
)


def _as_route_reaches_it(provider: ProviderEntry, timeout: float | None) -> ProviderEntry:
    """The provider as one route's deployments call it: with the route's own timeout,
    when it has one, so it never changes another route's calls to the same provider."""
    if timeout is None or timeout == provider.timeout:
        return provider
    return dataclasses.replace(provider, timeout=timeout)


def build_snapshot() -> Snapshot:
    """Read the registry tables into a new Snapshot (sync; run it in a thread from async).
    Their sealed values are opened first, together (``crypto.open_ahead``: in a child
    process unless this one has loaded ``cryptography``)."""
    crypto.open_ahead(lambda: stored_tokens(SEALED_IN))
    try:
        models = catalog.load()
    except catalog.CatalogError as exc:  # a broken bundled file: serve without it
        log.error("model catalog unavailable: %s", exc)
        models = catalog.Catalog()
    version = RegistryState.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    providers = _providers()
    routes, patterns = _routes(providers, models)
    keys = caller_entries.keys()
    mcp_servers = {m.name: mcp_entry(m) for m in McpServer.objects.all()}
    guardrails = _guardrails()
    return Snapshot(
        version=version,
        routes=routes,
        patterns=patterns,
        providers={p.name: p for p in providers.values()},
        keys=keys,
        mcp_servers=mcp_servers,
        guardrails=guardrails,
        default_guardrails=tuple(name for name, g in guardrails.items() if g.default_on),
        parts={name: load() for name, load in hooks.snapshot_parts.items()},
        trusted_names=_operator_references(),
        tag_limits=caller_entries.limited_tags(),
    )


def _providers() -> dict[int, ProviderEntry]:
    """The providers by id, their secrets opened (an undecryptable one: empty)."""
    providers: dict[int, ProviderEntry] = {}
    for p in Provider.objects.all():
        try:
            secret = p.stored_secret()
            extra_headers = p.stored_extra_headers()
        except Exception as exc:  # undecryptable: the deployment call will say so
            log.error("provider %s: %s", p.name, exc)
            secret, extra_headers = "", {}
        providers[p.id] = ProviderEntry(
            **same_named(p, "id name kind api_version timeout from_operator"),
            base_url=p.base_url.rstrip("/"),
            secret=secret,
            extra_headers=extra_headers,
            settings=dict(p.settings or {}),
        )
    return providers


def _routes(
    providers: dict[int, ProviderEntry], models: Any
) -> tuple[dict[str, RouteEntry], list[RouteEntry]]:
    """The routes by name, and the pattern routes (``*?[``), most specific first."""
    routes: dict[str, RouteEntry] = {}
    patterns: list[RouteEntry] = []
    for r in Route.objects.prefetch_related("deployments", "teams"):
        deployments = tuple(
            _deployment_entry(r.name, d, providers[d.provider_id], models, r.timeout)
            for d in sorted(r.deployments.all(), key=lambda d: d.id)
            if d.enabled
        )
        entry = RouteEntry(
            **same_named(r, "id name enabled strategy drop_params timeout cache_ttl cache_scope"),
            **same_named(r, "semantic_cache_threshold semantic_cache_scope semantic_cache_route"),
            **same_named(r, "web_search_url web_search_key web_search_price retry_budget"),
            **same_named(r, "auto_cache_breakpoints shadow_percent mcp_passthrough batch_mode"),
            deployments=deployments,
            fallbacks=tuple(r.fallbacks or ()),
            context_window_fallbacks=tuple(r.context_window_fallbacks or ()),
            default_params=r.default_params if isinstance(r.default_params, dict) else {},
            max_attempts=max(1, r.max_attempts),
            created=int(r.created_at.timestamp()),
            semantic_cache_ttl=r.semantic_cache_ttl if r.semantic_cache_route else 0,
            semantic_cache_dialects=frozenset(
                str(name) for name in r.semantic_cache_dialects or ()
            ),
            web_search_backend=r.web_search_backend if r.web_search_url else "",
            shadow_routes=tuple(r.shadow_routes or ()),
            mcp_servers=tuple(str(name) for name in r.mcp_servers or ()),
            teams=frozenset(t.id for t in r.teams.all()) or None,
            guardrails=names_list(r.guardrails),
        )
        if any(ch in r.name for ch in "*?["):
            patterns.append(entry)
        else:
            routes[r.name] = entry
    # Longest (most specific) patterns first.
    patterns.sort(key=lambda e: len(e.name.replace("*", "")), reverse=True)
    return routes, patterns


def _guardrails() -> dict[str, GuardrailEntry]:
    """The enabled guardrails by name."""
    return {
        g.name: GuardrailEntry(
            **same_named(g, "id name kind default_on monitor timeout"),
            modes=frozenset(names_list(g.modes)),
            fail_open=g.unreachable_fallback == "fail_open",
            params=g.stored_params() if isinstance(g.params, dict) else {},
        )
        for g in Guardrail.objects.filter(enabled=True)
    }


def _operator_references() -> frozenset[str]:
    """The variables the rows the operator's config file wrote reference (any field:
    what the operator wrote is trusted, ``secret_refs.trust``)."""
    names: set[str] = set()
    for row in Provider.objects.filter(from_operator=True):
        names.update(references([row.secret_ref, row.base_url, row.api_version]))
        names.update(references(row.extra_headers) + references(row.settings))
    for params in Deployment.objects.filter(from_operator=True).values_list("params", flat=True):
        names.update(references(params))
    for server in McpServer.objects.filter(from_operator=True):
        names.update(references([server.url, server.bearer_ref]))
        names.update(references(server.headers) + references(server.env))
    for params in Guardrail.objects.filter(from_operator=True).values_list("params", flat=True):
        names.update(references(params))
    return frozenset(names)


def mcp_entry(m: Any) -> McpServerEntry:
    """A McpServer row as the pool uses it (secrets decrypted; an undecryptable one is
    logged and left empty: connecting then fails and says so)."""
    try:
        bearer, headers, env = m.stored_bearer(), m.stored_headers(), m.stored_env()
        client_secret = m.stored_oauth_client_secret() if m.oauth else ""
    except Exception as exc:
        log.error("MCP server %s: %s", m.name, exc)
        bearer, headers, env, client_secret = "", {}, {}, ""
    return McpServerEntry(
        **same_named(m, "id name transport url command enabled connect_timeout call_timeout"),
        **same_named(m, "description oauth oauth_client_id oauth_scopes"),
        headers=tuple(sorted(headers.items())),
        bearer=bearer,
        args=tuple(m.args if isinstance(m.args, list) else ()),
        env=tuple(sorted(env.items())),
        from_operator=bool(getattr(m, "from_operator", False)),
        sampling_route=getattr(m, "sampling_route", "") or "",
        oauth_client_secret=client_secret,
        price_usd=Decimal(m.price_usd or 0),
    )


def _kind_max_output(kind: str) -> int | None:
    """The longest answer a provider kind gives by its nature (echo), if it says."""
    try:
        return kinds.adapter_class(kind).max_output_tokens  # type: ignore[no-any-return]
    except Exception:  # an unknown kind: no figure
        return None


def _deployment_entry(
    route: str, d: Any, provider: ProviderEntry, models: Any, timeout: float | None = None
) -> DeploymentEntry:
    """A Deployment row with the catalog's figures filled in where it sets none, calling
    its provider with the route's own timeout when the route has one."""
    entry = catalog.lookup(models, kinds.catalog_vendor(provider.kind), provider.base_url, d.model)
    figures = catalog.resolve(d, entry)
    # the capability flags: the deployment's, else the catalog's
    flags: dict[str, Any] = capability_flags.in_force(d, entry)
    return DeploymentEntry(
        **same_named(d, "id model weight rpm tpm"),
        route=route,
        provider=_as_route_reaches_it(provider, timeout),
        **same_named(figures, "input_price output_price cache_read_price cache_write_price"),
        **same_named(figures, "context_window reasoning_price sources search_unit_price"),
        tier_prices=figures.tier_prices,
        max_output_tokens=figures.max_output_tokens or _kind_max_output(provider.kind),
        **flags,
        params=d.params if isinstance(d.params, dict) else {},  # clean() checks it
        catalog=entry,
        audio_input_price=entry.audio_input if entry is not None else None,
        audio_output_price=entry.audio_output if entry is not None else None,
        audio_cache_read_price=entry.audio_cache_read if entry is not None else None,
        image_input_price=entry.image_input if entry is not None else None,
        image_cache_read_price=entry.image_cache_read if entry is not None else None,
        long_context_above=(
            entry.long_context_above if entry is not None and figures.tier_prices else None
        ),
    )


_current = Snapshot()
_lock = threading.Lock()
_listeners: list[Any] = []
_built_from: str | None = None  # the tables' fingerprint the snapshot in force was read at


def current() -> Snapshot:
    """The snapshot in force in this process (never blocks, never queries)."""
    return _current


def _deployment_credentials(provider: ProviderEntry) -> dict[str, Any]:
    """The credential-named params of ``provider``'s deployments in the snapshot in force,
    for scrubbing what its upstream echoes (``hooks.provider_credential_sources``)."""
    return provider_credentials.credential_params(current(), provider)


hooks.provider_credential_sources.register(_deployment_credentials)


def install(snapshot: Snapshot) -> None:
    global _current
    with _lock:
        _current = snapshot
        secret_refs.trust(snapshot.trusted_names)
    for listener in list(_listeners):
        with contextlib.suppress(Exception):
            listener(snapshot)


def on_change(listener: Any) -> None:
    """Call ``listener(snapshot)`` after every rebuild (routing resets its state)."""
    _listeners.append(listener)


def rebuild() -> Snapshot:
    """Rebuild from the database now (sync). The tables' fingerprint is read first: a
    change committed after it and before the tables were read changes the next one."""
    global _built_from
    fingerprint = registry_fingerprint.read()
    snapshot = build_snapshot()
    install(snapshot)
    _built_from = fingerprint
    return snapshot


async def arebuild() -> Snapshot:
    return await db_work.arun(rebuild)


async def ensure_loaded() -> Snapshot:
    """Load the first snapshot if this process has none yet."""
    if _current.version < 0:
        return await arebuild()
    return _current


# An unknown key or model may be one created a moment ago through another process (the
# other workers of ``serve``, another instance, ``manage.py create_key``, the API): they
# learn of it from the announcement or their next poll, so a client using it at once
# could get a 401 or 404. A miss therefore waits (at most MISS_WAIT_SECONDS) for a check
# of the stored version that began after the miss arrived, rebuilding if it moved on.
# One check runs at a time per process: misses arriving during one wait for the next,
# which they all share, so a flood of bad keys costs one tiny query at a time, never
# one per request. A known key or model never gets here. The bound is reached only when
# the database or the CPU is slow (a check takes milliseconds): then a key created a
# moment ago refused is worse than a refusal that took longer (at 0.25 s, 3 of 50 such
# requests were refused on a 2-core machine at a load average of 5).
MISS_WAIT_SECONDS = 1.0


@dataclass(slots=True)
class _MissChecks:
    loop: asyncio.AbstractEventLoop | None = None
    running: asyncio.Task[bool] | None = None  # the check under way
    queued: asyncio.Task[bool] | None = None  # the next one: starts when ``running`` ends


_misses = _MissChecks()
_miss_outage = db_work.Outage("registry check of an unknown key or model", log)


async def refresh_on_miss() -> bool:
    """Rebuild now if the stored registry version moved on; True when it did. Called
    on the path of an unknown key or model only; waits at most MISS_WAIT_SECONDS."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MISS_WAIT_SECONDS
    state = _misses
    if state.loop is not loop:  # a new event loop (tests): forget the old one's tasks
        state.loop, state.running, state.queued = loop, None, None
    if state.queued is not None and not state.queued.done():
        task = state.queued  # not started yet: it begins after this miss arrived
    elif state.running is not None and not state.running.done():
        task = state.queued = loop.create_task(_check_in_turn(state, state.running))
    else:
        task = state.running = loop.create_task(_check_in_turn(state, None))
    try:
        return await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - loop.time()))
    except TimeoutError:
        return False
    except asyncio.CancelledError:
        if task.cancelled() and not _being_cancelled():
            return False  # the check was cancelled (loop shutting down), not this request
        raise


def _being_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


async def _check_in_turn(state: _MissChecks, after: asyncio.Task[bool] | None) -> bool:
    """Wait for the check before (if any) to end, then compare the stored version with
    this process's snapshot and rebuild if they differ. Never raises."""
    if after is not None:
        await asyncio.wait([after])
        me = asyncio.current_task()
        if state.queued is me:
            state.running, state.queued = me, None
    # the database briefly down: answer from the snapshot we have
    return await _miss_outage.attempt(_rebuild_if_stale) or False


async def _rebuild_if_stale() -> bool:
    """Rebuild when the stored registry version is not the snapshot's; whether it was."""
    changed = await db_work.arun(_read_version) != _current.version
    if changed:
        await arebuild()
    return changed


def _read_version() -> int:
    return RegistryState.objects.filter(pk=1).values_list("version", flat=True).first() or 0


_watch_outage = db_work.Outage("registry watcher", log)
_layer_outage = db_work.Outage("registry watcher", log, service="channel layer")


async def watch(stop: asyncio.Event | None = None) -> None:
    """Keep this process's snapshot fresh: listen on the channel layer for change
    announcements and poll the database version as a safety net. Runs until cancelled;
    a database or Redis outage costs ticks (logged once), never the loop."""
    from channels.layers import get_channel_layer

    stop = stop or asyncio.Event()
    poll = settings.SWITCHYARD_REGISTRY_POLL_SECONDS
    path = registry_settle.counter_service()
    if path:  # the workers of one ``serve`` without Redis
        await registry_settle.watch_workers(path, stop, poll, _checked)
        return
    marks = registry_settle.BuiltMarks.for_this_process()  # None without Redis
    layer, channel = get_channel_layer(), None
    if layer is not None:
        try:
            channel = await layer.new_channel()
            await layer.group_add(GROUP, channel)
        except Exception as exc:
            log.warning("registry: channel layer unavailable (%s); polling only", exc)
            channel = None
    while not stop.is_set():
        if channel is not None:
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(layer.receive(channel), timeout=poll)
                    # drain bursts of announcements into one rebuild
                    await asyncio.sleep(0.02)
                _layer_outage.recovered()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis briefly down: the poll below still runs
                _layer_outage.failed(exc)
                await asyncio.sleep(poll)
        else:
            await asyncio.sleep(poll)
        # the database briefly down: keep serving the old snapshot
        if await _checked() and marks is not None:
            await marks.mark(_current.version)


async def _checked() -> bool:
    """``_rebuild_if_stale`` through the watcher's outage: whether the check was made."""
    return await _watch_outage.attempt(_rebuild_if_stale) is not None


_fingerprint_outage = db_work.Outage("registry fingerprint check", log)


async def watch_fingerprint(stop: asyncio.Event | None = None) -> None:
    """Every ``SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS``, rebuild when the registry
    tables' fingerprint differs from the one the snapshot in force was read at: a
    change no signal announced (``registry_fingerprint``). Runs until cancelled or
    ``stop``; a database outage costs ticks (logged once), never the loop."""
    stop = stop or asyncio.Event()
    every = settings.SWITCHYARD_REGISTRY_FINGERPRINT_SECONDS
    while not stop.is_set():
        await woken(stop, every)
        if stop.is_set():
            return
        # the database briefly down: keep serving the old snapshot
        await _fingerprint_outage.attempt(_rebuild_if_unannounced)


async def _rebuild_if_unannounced() -> None:
    """Rebuild when the registry tables' fingerprint is not the snapshot's."""
    if await db_work.arun(registry_fingerprint.read) != _built_from:
        log.info("registry: the tables changed without an announcement; rebuilding")
        await arebuild()


async def start() -> None:
    """At start-up (``hooks.starters``, registered in GatewayConfig.ready): load the
    snapshot before the first request, then keep it fresh in the background (on
    PostgreSQL, changes no signal announced too)."""
    await arebuild()
    lifecycle.spawn(watch(), name="registry-watch")
    if registry_fingerprint.enabled():
        lifecycle.spawn(watch_fingerprint(), name="registry-fingerprint")


def announce() -> None:
    """Tell every instance (through the channel layer) that the registry changed."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(GROUP, {"type": "registry.changed"})
    except Exception as exc:
        log.warning("registry: could not announce change: %s", exc)
