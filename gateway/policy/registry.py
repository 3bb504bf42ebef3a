"""The in-memory snapshot of providers, routes, deployments and keys that the request
path reads (no database query per request).

Freshness: a change saved anywhere (console, API, admin, import_config) bumps
``RegistryState.version`` in the same transaction and, once committed, rebuilds this
process's snapshot and announces the change on the channel layer group
``switchyard.registry`` (with Redis: every instance). Each process also polls the version
about once a second (``watch``), so snapshots converge even without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fnmatch
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from gateway.catalog import Entry as CatalogEntry
from gateway.catalog import capability_flags
from gateway.server import db_work

log = logging.getLogger(__name__)

GROUP = "switchyard.registry"


@dataclass(slots=True, frozen=True)
class ProviderEntry:
    id: int
    name: str
    kind: str
    base_url: str
    secret: str  # decrypted literal or an ``os.environ/NAME`` reference; resolve at call
    extra_headers: dict[str, str]
    api_version: str
    timeout: float | None
    # Kind-specific defaults under deployment params (the adapter's settings_taken).
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class DeploymentEntry:
    id: int
    route: str
    provider: ProviderEntry
    model: str
    weight: float
    rpm: int | None
    tpm: int | None
    input_price: Decimal
    output_price: Decimal
    cache_read_price: Decimal
    cache_write_price: Decimal
    context_window: int | None
    max_output_tokens: int | None
    supports_tools: bool
    supports_vision: bool
    supports_reasoning: bool
    params: dict[str, Any]
    supports_top_k: bool = False
    # The model catalog's entry (gateway.catalog), resolved when the snapshot is built;
    # the prices, windows and flags above already merge it with the deployment's own.
    catalog: CatalogEntry | None = None
    reasoning_price: Decimal | None = None  # reasoning tokens, when priced apart
    sources: dict[str, str] = field(default_factory=dict)  # figure -> where it came from
    # Realtime audio tokens (USD per 1M; None: priced as text) and rerank search units
    # (USD per unit; None: rerank priced by tokens), from the catalog or the deployment.
    audio_input_price: Decimal | None = None
    audio_output_price: Decimal | None = None
    # Realtime cached audio, image and cached image input tokens (USD per 1M; None:
    # the cache-read, input and cache-read prices), from the catalog.
    audio_cache_read_price: Decimal | None = None
    image_input_price: Decimal | None = None
    image_cache_read_price: Decimal | None = None
    search_unit_price: Decimal | None = None

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"

    def supports(self, capability: str) -> bool | None:
        """What the catalog says of ``capability`` (None: the model is not in it)."""
        return None if self.catalog is None else self.catalog.has(capability)

    @property
    def echo_reasoning(self) -> bool:
        """Send earlier turns' reasoning back as ``reasoning_content``: models whose
        catalog entry asks for it; without an entry, reasoning deployments (as before)."""
        if self.catalog is None:
            return self.supports_reasoning
        return self.catalog.has("reasoning_echo")

    @property
    def takes_reasoning_effort(self) -> bool:
        """False for models that always reason and take no effort setting (the
        catalog's ``reasoning_control: always``, e.g. deepseek-reasoner)."""
        return self.catalog is None or self.catalog.reasoning_control != "always"

    def cost(self, usage: Any) -> Decimal:
        """USD cost of ``usage`` (a types.Usage) at this deployment's prices (per 1M)."""
        million = Decimal(1_000_000)
        output = Decimal(usage.output_tokens) * self.output_price
        reasoning = getattr(usage, "reasoning_tokens", 0) or 0
        if self.reasoning_price is not None and 0 < reasoning <= usage.output_tokens:
            output += Decimal(reasoning) * (self.reasoning_price - self.output_price)
        return (
            Decimal(usage.input_tokens) * self.input_price
            + output
            + Decimal(usage.cache_read_tokens) * self.cache_read_price
            + Decimal(usage.cache_write_tokens) * self.cache_write_price
        ) / million

    def cache_saved(self, usage: Any) -> Decimal:
        """USD the prompt cache saved on ``usage`` against paying every prompt token at
        the input price: cached reads at (input - cache read price), less what cache
        writes cost above the input price (negative when writes were never read back)."""
        read = Decimal(usage.cache_read_tokens) * (self.input_price - self.cache_read_price)
        write = Decimal(usage.cache_write_tokens) * (self.cache_write_price - self.input_price)
        return (read - write) / Decimal(1_000_000)


@dataclass(slots=True, frozen=True)
class RouteEntry:
    id: int
    name: str
    enabled: bool
    strategy: str
    deployments: tuple[DeploymentEntry, ...]
    fallbacks: tuple[str, ...]
    context_window_fallbacks: tuple[str, ...]  # larger routes, in order
    drop_params: bool
    default_params: dict[str, Any]
    max_attempts: int
    created: int
    timeout: float | None = None  # applied to this route's deployments (their provider copy)
    cache_ttl: int = 0  # seconds; 0: answers are not cached (gateway/core/cache)
    cache_scope: str = "route"  # "key": each key sees only its own cached answers
    retry_budget: float | None = None  # share of requests it may retry; None: the global
    auto_cache_breakpoints: bool = True  # gateway/core/prompt_cache
    shadow_routes: tuple[str, ...] = ()  # mirrored to in the background (gateway/core/shadow)
    shadow_percent: float = 0.0
    mcp_passthrough: bool = False  # hosted MCP tools go to same-API upstreams (mcp/hosted)
    mcp_servers: tuple[str, ...] = ()  # registered MCP servers attached to every request
    batch_mode: str = "auto"  # auto | gateway | native (gateway/core/batches/native)
    teams: frozenset[int] | None = None  # ids of the teams whose keys may use it; None: all


def _mcp_list(value: object) -> frozenset[str]:
    return frozenset(str(item) for item in (value if isinstance(value, list) else ()))


def mcp_within(own: Iterable[str], team: Iterable[str] | None) -> frozenset[str]:
    """A key's MCP permission inside its team's: the entries (``*``, ``server``,
    ``server__tool``) that allow exactly what both lists allow. A team without a list
    (None) does not restrict; an empty one allows nothing."""
    mine = frozenset(own)
    if team is None:
        return mine
    bound = frozenset(team)
    if "*" in bound:
        return mine
    out: set[str] = set()
    for item in mine:
        if item == "*":
            out |= bound
            continue
        server, sep, _ = item.partition("__")
        if item in bound or (sep and server in bound):
            out.add(item)  # the team allows all of it
        elif not sep:  # a whole server: the team's tools of it
            out |= {t for t in bound if t.startswith(server + "__")}
    return frozenset(out)


@dataclass(slots=True, frozen=True)
class TeamEntry:
    """A team's limits, counted like a key's (gateway/policy/limits.py) by every key of it."""

    id: int
    name: str
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: Decimal | None
    budget_period: str
    # MCP servers/tools its keys may use at most; None: the team does not restrict MCP
    mcp_allowed: frozenset[str] | None = None

    @property
    def limited(self) -> bool:
        return not (self.rpm_limit is None and self.tpm_limit is None and self.budget_usd is None)


@dataclass(slots=True, frozen=True)
class UserEntry:
    """A console user's own limits, counted across every key they own
    (gateway/policy/limits.py: one more subject beside the key and its team)."""

    id: int
    name: str
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: Decimal | None
    budget_period: str

    @property
    def limited(self) -> bool:
        return not (self.rpm_limit is None and self.tpm_limit is None and self.budget_usd is None)


@dataclass(slots=True, frozen=True)
class McpServerEntry:
    """A registered MCP server (``gateway.mcp``). Secrets are decrypted literals or
    ``os.environ/NAME`` references, resolved when the pool connects."""

    id: int
    name: str
    transport: str  # streamable_http | sse | stdio
    url: str
    headers: tuple[tuple[str, str], ...]
    bearer: str
    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    enabled: bool
    connect_timeout: float
    call_timeout: float
    description: str = ""
    from_operator: bool = False  # saved by the operator's config import (stdio may launch)


@dataclass(slots=True, frozen=True)
class KeyEntry:
    id: int | None  # None for the master key
    name: str
    prefix: str
    routes: frozenset[str] | None  # None: every route
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: Decimal | None
    budget_period: str
    expires_at: datetime | None
    revoked: bool
    # Each end user's budget on this key, per budget_period (None: no such budget).
    max_budget_per_user: Decimal | None = None
    # Set on the entry ``limits`` derives to count one end user's spend on a key
    # (``parent_id``: the key); None on the keys themselves.
    end_user: str | None = None
    parent_id: int | None = None
    team: TeamEntry | None = None  # None: no team (keys made before teams)
    user_id: int | None = None
    # The owner's own limits when they have any (None: the owner is not limited), so
    # admission counts every key of theirs together without a query
    owner: UserEntry | None = None
    # MCP: ``server`` or ``server__tool`` entries this key may use (master: everything):
    # the key's own list within its team's (``mcp_within``), so every check sees both
    mcp_allowed: frozenset[str] = frozenset()

    @property
    def is_master(self) -> bool:
        return self.id is None

    def allows(self, route: str) -> bool:
        return self.routes is None or route in self.routes


MASTER = KeyEntry(
    id=None,
    name="master",
    prefix="master",
    routes=None,
    rpm_limit=None,
    tpm_limit=None,
    budget_usd=None,
    budget_period="total",
    expires_at=None,
    revoked=False,
)


@dataclass(slots=True)
class Snapshot:
    version: int = -1
    routes: dict[str, RouteEntry] = field(default_factory=dict)
    patterns: list[RouteEntry] = field(default_factory=list)  # names with * or ?
    providers: dict[str, ProviderEntry] = field(default_factory=dict)
    keys: dict[str, KeyEntry] = field(default_factory=dict)  # by sha256 hex
    built_at: float = 0.0
    mcp_servers: dict[str, McpServerEntry] = field(default_factory=dict)  # by name

    def route(self, name: str) -> RouteEntry | None:
        """The route serving public model ``name``: exact name first, then patterns."""
        entry = self.routes.get(name)
        if entry is not None:
            return entry
        for pattern in self.patterns:
            if fnmatch.fnmatchcase(name, pattern.name):
                return pattern
        return None

    def key(self, raw: str) -> KeyEntry | None:
        """The key entry for a raw bearer token (master key included), or None."""
        if not raw:
            return None
        encoded = raw.encode()
        master = _master_key()
        if master and hmac.compare_digest(encoded, master):
            return MASTER
        return self.keys.get(hashlib.sha256(encoded).hexdigest())


_master: bytes | None = None


def _master_key() -> bytes:
    """The master key's bytes, read from the settings once (on every request it was 2%
    of a plain request's CPU); a settings change (tests) reads it again."""
    global _master
    if _master is None:
        _master = (settings.SWITCHYARD_MASTER_KEY or "").encode()
    return _master


@receiver(setting_changed)
def _forget_master_key(setting: str, **kwargs: object) -> None:
    global _master
    if setting == "SWITCHYARD_MASTER_KEY":
        _master = None


def _as_route_reaches_it(provider: ProviderEntry, timeout: float | None) -> ProviderEntry:
    """The provider as one route's deployments call it: with the route's own timeout,
    when it has one, so it never changes another route's calls to the same provider."""
    if timeout is None or timeout == provider.timeout:
        return provider
    return dataclasses.replace(provider, timeout=timeout)


def _limited_users() -> dict[int, UserEntry]:
    """The users with limits of their own (``Profile``), by id: one query per build."""
    from django.db.models import Q

    from gateway.models import Profile

    rows = Profile.objects.select_related("user").filter(
        Q(rpm_limit__isnull=False) | Q(tpm_limit__isnull=False) | Q(budget_usd__isnull=False)
    )
    return {
        p.user_id: UserEntry(
            id=p.user_id,
            name=p.user.get_username(),
            rpm_limit=p.rpm_limit,
            tpm_limit=p.tpm_limit,
            budget_usd=p.budget_usd,
            budget_period=p.budget_period,
        )
        for p in rows
    }


def build_snapshot() -> Snapshot:
    """Read the registry tables into a new Snapshot (sync; run it in a thread from async)."""
    from gateway import catalog
    from gateway.models import ApiKey, McpServer, Provider, RegistryState, Route, Team

    try:
        models = catalog.load()
    except catalog.CatalogError as exc:  # a broken bundled file: serve without it
        log.error("model catalog unavailable: %s", exc)
        models = catalog.Catalog()
    version = RegistryState.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    providers: dict[int, ProviderEntry] = {}
    for p in Provider.objects.all():
        try:
            secret = p.stored_secret()
            extra_headers = p.stored_extra_headers()
        except Exception as exc:  # undecryptable: the deployment call will say so
            log.error("provider %s: %s", p.name, exc)
            secret, extra_headers = "", {}
        providers[p.id] = ProviderEntry(
            id=p.id,
            name=p.name,
            kind=p.kind,
            base_url=p.base_url.rstrip("/"),
            secret=secret,
            extra_headers=extra_headers,
            api_version=p.api_version,
            timeout=p.timeout,
            settings=dict(p.settings or {}),
        )
    routes: dict[str, RouteEntry] = {}
    patterns: list[RouteEntry] = []
    for r in Route.objects.prefetch_related("deployments", "teams"):
        deployments = tuple(
            _deployment_entry(r.name, d, providers[d.provider_id], models, r.timeout)
            for d in sorted(r.deployments.all(), key=lambda d: d.id)
            if d.enabled
        )
        entry = RouteEntry(
            id=r.id,
            name=r.name,
            enabled=r.enabled,
            strategy=r.strategy,
            deployments=deployments,
            fallbacks=tuple(r.fallbacks or ()),
            context_window_fallbacks=tuple(r.context_window_fallbacks or ()),
            drop_params=r.drop_params,
            default_params=r.default_params if isinstance(r.default_params, dict) else {},
            max_attempts=max(1, r.max_attempts),
            created=int(r.created_at.timestamp()),
            timeout=r.timeout,
            cache_ttl=r.cache_ttl,
            cache_scope=r.cache_scope,
            retry_budget=r.retry_budget,
            auto_cache_breakpoints=r.auto_cache_breakpoints,
            shadow_routes=tuple(r.shadow_routes or ()),
            shadow_percent=r.shadow_percent,
            mcp_passthrough=r.mcp_passthrough,
            mcp_servers=tuple(str(name) for name in r.mcp_servers or ()),
            batch_mode=r.batch_mode,
            teams=frozenset(t.id for t in r.teams.all()) or None,
        )
        if any(ch in r.name for ch in "*?["):
            patterns.append(entry)
        else:
            routes[r.name] = entry
    # Longest (most specific) patterns first.
    patterns.sort(key=lambda e: len(e.name.replace("*", "")), reverse=True)
    teams = {
        t.id: TeamEntry(
            id=t.id,
            name=t.name,
            rpm_limit=t.rpm_limit,
            tpm_limit=t.tpm_limit,
            budget_usd=t.budget_usd,
            budget_period=t.budget_period,
            mcp_allowed=None if t.mcp_allowed is None else _mcp_list(t.mcp_allowed),
        )
        for t in Team.objects.all()
    }
    owners = _limited_users()
    keys: dict[str, KeyEntry] = {}
    for k in ApiKey.objects.prefetch_related("routes"):
        allowed = frozenset(r.name for r in k.routes.all())
        keys[k.key_hash] = KeyEntry(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            routes=allowed or None,
            rpm_limit=k.rpm_limit,
            tpm_limit=k.tpm_limit,
            budget_usd=k.budget_usd,
            budget_period=k.budget_period,
            expires_at=k.expires_at,
            revoked=k.revoked_at is not None,
            max_budget_per_user=k.max_budget_per_user,
            team=teams.get(k.team_id) if k.team_id is not None else None,
            user_id=k.user_id,
            owner=owners.get(k.user_id) if k.user_id is not None else None,
            mcp_allowed=mcp_within(
                _mcp_list(k.mcp_allowed),
                teams[k.team_id].mcp_allowed if k.team_id in teams else None,
            ),
        )
    mcp_servers = {m.name: mcp_entry(m) for m in McpServer.objects.all()}
    return Snapshot(
        version=version,
        routes=routes,
        patterns=patterns,
        providers={p.name: p for p in providers.values()},
        keys=keys,
        built_at=time.time(),
        mcp_servers=mcp_servers,
    )


def mcp_entry(m: Any) -> McpServerEntry:
    """A McpServer row as the pool uses it (secrets decrypted; an undecryptable one is
    logged and left empty: connecting then fails and says so)."""
    try:
        bearer, headers, env = m.stored_bearer(), m.stored_headers(), m.stored_env()
    except Exception as exc:
        log.error("MCP server %s: %s", m.name, exc)
        bearer, headers, env = "", {}, {}
    return McpServerEntry(
        id=m.id,
        name=m.name,
        transport=m.transport,
        url=m.url,
        headers=tuple(sorted(headers.items())),
        bearer=bearer,
        command=m.command,
        args=tuple(m.args if isinstance(m.args, list) else ()),
        env=tuple(sorted(env.items())),
        enabled=m.enabled,
        connect_timeout=m.connect_timeout,
        call_timeout=m.call_timeout,
        description=m.description,
        from_operator=bool(getattr(m, "from_operator", False)),
    )


def _kind_max_output(kind: str) -> int | None:
    """The longest answer a provider kind gives by its nature (echo), if it says."""
    from gateway.providers import kinds

    try:
        return kinds.adapter_class(kind).max_output_tokens  # type: ignore[no-any-return]
    except Exception:  # an unknown kind: no figure
        return None


def _deployment_entry(
    route: str, d: Any, provider: ProviderEntry, models: Any, timeout: float | None = None
) -> DeploymentEntry:
    """A Deployment row with the catalog's figures filled in where it sets none, calling
    its provider with the route's own timeout when the route has one."""
    from gateway import catalog

    entry = catalog.lookup(models, provider.kind, provider.base_url, d.model)
    figures = catalog.resolve(d, entry)
    return DeploymentEntry(
        id=d.id,
        route=route,
        provider=_as_route_reaches_it(provider, timeout),
        model=d.model,
        weight=d.weight,
        rpm=d.rpm,
        tpm=d.tpm,
        input_price=figures.input_price,
        output_price=figures.output_price,
        cache_read_price=figures.cache_read_price,
        cache_write_price=figures.cache_write_price,
        context_window=figures.context_window,
        max_output_tokens=figures.max_output_tokens or _kind_max_output(provider.kind),
        **capability_flags.in_force(d, entry),  # the deployment's, else the catalog's
        params=d.params if isinstance(d.params, dict) else {},  # clean() checks it
        catalog=entry,
        reasoning_price=figures.reasoning_price,
        sources=figures.sources,
        audio_input_price=entry.audio_input if entry is not None else None,
        audio_output_price=entry.audio_output if entry is not None else None,
        audio_cache_read_price=entry.audio_cache_read if entry is not None else None,
        image_input_price=entry.image_input if entry is not None else None,
        image_cache_read_price=entry.image_cache_read if entry is not None else None,
        search_unit_price=figures.search_unit_price,
    )


_current = Snapshot()
_lock = threading.Lock()
_listeners: list[Any] = []


def current() -> Snapshot:
    """The snapshot in force in this process (never blocks, never queries)."""
    return _current


def install(snapshot: Snapshot) -> None:
    global _current
    with _lock:
        _current = snapshot
    for listener in list(_listeners):
        with contextlib.suppress(Exception):
            listener(snapshot)


def on_change(listener: Any) -> None:
    """Call ``listener(snapshot)`` after every rebuild (routing resets its state)."""
    _listeners.append(listener)


def rebuild() -> Snapshot:
    """Rebuild from the database now (sync)."""
    snapshot = build_snapshot()
    install(snapshot)
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
# one per request. A known key or model never gets here.
MISS_WAIT_SECONDS = 0.25


@dataclass(slots=True)
class _MissChecks:
    loop: asyncio.AbstractEventLoop | None = None
    running: asyncio.Task | None = None  # the check under way
    queued: asyncio.Task | None = None  # the next one: starts when ``running`` ends


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


async def _check_in_turn(state: _MissChecks, after: asyncio.Task | None) -> bool:
    """Wait for the check before (if any) to end, then compare the stored version with
    this process's snapshot and rebuild if they differ. Never raises."""
    if after is not None:
        await asyncio.wait([after])
        me = asyncio.current_task()
        if state.queued is me:
            state.running, state.queued = me, None
    try:
        version = await db_work.arun(_read_version)
        changed = version != _current.version
        if changed:
            await arebuild()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # database briefly down: answer from the snapshot we have
        _miss_outage.failed(exc)
        return False
    _miss_outage.recovered()
    return changed


def _read_version() -> int:
    from gateway.models import RegistryState

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
    layer = get_channel_layer()
    channel = None
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
        try:
            version = await db_work.arun(_read_version)
            if version != _current.version:
                await arebuild()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database briefly down: keep serving the old snapshot
            _watch_outage.failed(exc)
            continue
        _watch_outage.recovered()


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
