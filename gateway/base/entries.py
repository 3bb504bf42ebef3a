"""The registry's entries: what a snapshot holds (providers, deployments, routes, teams,
users, MCP servers, keys) and the ``Snapshot`` itself, as the request path reads them.

Frozen data and the pure helpers they need, no database: ``gateway.access.registry``
builds them from the tables, installs the snapshot and keeps it fresh. They sit on the
floor because every layer reads them: providers call a ``DeploymentEntry``, limits admit
a ``KeyEntry``, the journal and the console show them. The catalog's facts a deployment
carries are typed here by what is read of them (``CatalogFacts``), so the floor never
imports the catalog."""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.core.signals import setting_changed

from gateway.base.types import SERVICE_TIERS

# (SERVICE_TIERS, in the spine: the catalog below us reads it too)
# A tier's prices per 1M tokens: input, output, cache read, cache write.
TierPrices = tuple[Decimal, Decimal, Decimal, Decimal]


def tier_for(
    tiers: Mapping[str, Any], long_context_above: int | None, service_tier: str, prompt: int
) -> str | None:
    """The tier a request pays among ``tiers`` (by name), or None for the standard one:
    its service tier (``batch``, ``flex``, ``priority``; any other value is the standard
    tier), ``long_context`` when its prompt (input tokens, cache reads and writes) is
    more than ``long_context_above`` tokens, and both at once (``long_context_flex``...)
    where the model prices the pair, else the service tier's price, else long context's."""
    service = service_tier if service_tier in SERVICE_TIERS else ""
    long = long_context_above is not None and prompt > long_context_above
    if long and service:
        order: tuple[str, ...] = (f"long_context_{service}", service, "long_context")
    elif long:
        order = ("long_context",)
    elif service:
        order = (service,)
    else:
        return None
    return next((name for name in order if name in tiers), None)


def same_named(source: Any, names: str) -> dict[str, Any]:
    """``source``'s attributes ``names`` (space-separated) by name: the fields an entry,
    an API answer or a form copies from a row as they are."""
    return {name: getattr(source, name) for name in names.split()}


class CatalogFacts(Protocol):
    """What is read of a deployment's model catalog entry (``gateway.catalog.Entry``)."""

    @property
    def reasoning_control(self) -> str | None: ...

    @property
    def rejects(self) -> frozenset[str]: ...

    @property
    def mode(self) -> str: ...

    @property
    def rules(self) -> tuple[Any, ...]: ...  # gateway.catalog.rules.ParamRule

    @property
    def api_versions(self) -> tuple[str, ...]: ...

    @property
    def api_version(self) -> str | None: ...

    def has(self, capability: str) -> bool: ...


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
    # written by the operator's config file: the host's credentials may go to its endpoint
    from_operator: bool = False


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
    catalog: CatalogFacts | None = None
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
    # The catalog's price tiers (gateway.catalog.entry.TIERS) with every price filled in,
    # while both token prices are the catalog's; empty: one price for every request.
    tier_prices: Mapping[str, TierPrices] = field(default_factory=dict)
    long_context_above: int | None = None  # prompt tokens past which long_context applies

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

    def tier(self, usage: Any, service_tier: str = "") -> str | None:
        """The price tier ``usage`` pays (None: the standard prices)."""
        if not self.tier_prices:
            return None
        prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        return tier_for(self.tier_prices, self.long_context_above, service_tier, prompt)

    def prices(self, usage: Any, service_tier: str = "") -> TierPrices:
        """(input, output, cache read, cache write) per 1M that ``usage`` pays."""
        tier = self.tier(usage, service_tier)
        if tier is not None:
            return self.tier_prices[tier]
        return (self.input_price, self.output_price, self.cache_read_price, self.cache_write_price)

    def cost(self, usage: Any, service_tier: str = "") -> Decimal:
        """USD cost of ``usage`` (a types.Usage) at this deployment's prices (per 1M), in
        the price tier it pays (``service_tier``: the request's, or ``batch``)."""
        million = Decimal(1_000_000)
        tier = self.tier(usage, service_tier)
        if tier is not None:
            input_price, output_price, read_price, write_price = self.tier_prices[tier]
        else:
            input_price, output_price = self.input_price, self.output_price
            read_price, write_price = self.cache_read_price, self.cache_write_price
        output = Decimal(usage.output_tokens) * output_price
        reasoning = getattr(usage, "reasoning_tokens", 0) or 0
        if (
            tier is None
            and self.reasoning_price is not None
            and 0 < reasoning <= usage.output_tokens
        ):
            output += Decimal(reasoning) * (self.reasoning_price - self.output_price)
        return (
            Decimal(usage.input_tokens) * input_price
            + output
            + Decimal(usage.cache_read_tokens) * read_price
            + Decimal(usage.cache_write_tokens) * write_price
        ) / million

    def cache_saved(self, usage: Any, service_tier: str = "") -> Decimal:
        """USD the prompt cache saved on ``usage`` against paying every prompt token at
        the input price: cached reads at (input - cache read price), less what cache
        writes cost above the input price (negative when writes were never read back)."""
        input_price, _, read_price, write_price = self.prices(usage, service_tier)
        read = Decimal(usage.cache_read_tokens) * (input_price - read_price)
        write = Decimal(usage.cache_write_tokens) * (write_price - input_price)
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
    # the semantic cache (gateway.features.semantic_cache): off while its TTL is 0
    semantic_cache_ttl: int = 0
    semantic_cache_threshold: float = 0.95
    semantic_cache_scope: str = "key"  # key | team | route
    semantic_cache_route: str = ""  # the embedding route
    semantic_cache_dialects: frozenset[str] = frozenset()  # empty: every chat dialect
    # web search run by the gateway (gateway.features.server_tools): off while no backend
    web_search_backend: str = ""  # searxng | brave | tavily
    web_search_url: str = ""
    web_search_key: str = ""  # an os.environ/ reference
    web_search_price: Decimal | None = None  # USD per search
    retry_budget: float | None = None  # share of requests it may retry; None: the global
    auto_cache_breakpoints: bool = True  # gateway/core/prompt_cache
    shadow_routes: tuple[str, ...] = ()  # mirrored to in the background (gateway/core/shadow)
    shadow_percent: float = 0.0
    mcp_passthrough: bool = False  # hosted MCP tools go to same-API upstreams (mcp/hosted)
    mcp_servers: tuple[str, ...] = ()  # registered MCP servers attached to every request
    batch_mode: str = "auto"  # auto | gateway | native (gateway/features/batches/native)
    teams: frozenset[int] | None = None  # ids of the teams whose keys may use it; None: all
    guardrails: tuple[
        str, ...
    ] = ()  # run on every request of this route (gateway.features.guardrails)


def mcp_list(value: object) -> frozenset[str]:
    """A stored MCP permission list (JSON) as a set of entries; anything else: empty."""
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
class LimitsEntry:
    """A subject the limits count besides a key (gateway/limits/limits.py): its own rpm,
    tpm and budget, each None when it sets none."""

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
class TeamEntry(LimitsEntry):
    """A team's limits, counted like a key's (gateway/limits/limits.py) by every key of it."""

    # MCP servers/tools its keys may use at most; None: the team does not restrict MCP
    mcp_allowed: frozenset[str] | None = None


@dataclass(slots=True, frozen=True)
class UserEntry(LimitsEntry):
    """A console user's own limits, counted across every key they own
    (gateway/limits/limits.py: one more subject beside the key and its team)."""


@dataclass(slots=True, frozen=True)
class TagEntry(LimitsEntry):
    """A tag's limits (``TagBudget``), counted like a team's by every request carrying the
    tag (gateway/limits/limits.py: one more subject). Only tags with a limit are in the
    snapshot."""


@dataclass(slots=True, frozen=True)
class McpServerEntry:
    """A registered MCP server (``gateway.features.mcp``). Secrets are decrypted literals or
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
    sampling_route: str = ""  # answers the server's sampling for clients without it
    # OAuth (``gateway.features.mcp.oauth``): "" none, "per_user" or "service"; a pre-registered
    # client (id, decrypted secret) or none (dynamic registration); the scopes to ask
    oauth: str = ""
    oauth_client_id: str = ""
    oauth_client_secret: str = ""
    oauth_scopes: str = ""
    price_usd: Decimal = Decimal(0)  # charged to the caller's budget per tool call


@dataclass(slots=True, frozen=True)
class OAuthTarget:
    """An upstream other than an MCP server that takes each person's own OAuth token
    (``kind`` "agent": an A2A agent with ``auth`` "oauth"), as the MCP unit's OAuth client
    machinery (``gateway.features.mcp.oauth``, through ``hooks.upstream_oauth``) reads it:
    ``url`` is where the upstream is asked (the discovery probe, the RFC 8707 resource);
    the authorization server is ``oauth_issuer`` (blank: discovered from the upstream's
    401); a pre-registered client (id, its secret resolved) or none (dynamic
    registration); ``page``: the console path where a person connects."""

    kind: str
    id: int
    name: str
    url: str
    enabled: bool = True
    oauth_issuer: str = ""
    oauth_client_id: str = ""
    oauth_client_secret: str = ""
    oauth_scopes: str = ""
    page: str = ""
    oauth: str = "per_user"  # always each person's own (no service token for these)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(slots=True, frozen=True)
class GuardrailEntry:
    """A guardrail as the feature runs it (``gateway.features.guardrails``); ``params`` are the
    kind's, validated when saved (secrets as stored: literals or ``os.environ/NAME``)."""

    id: int
    name: str
    kind: str
    modes: frozenset[str]
    default_on: bool = False
    monitor: bool = False
    fail_open: bool = False
    timeout: float = 5.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return self.id


@dataclass(slots=True, frozen=True)
class AgentRun:
    """An A2A agent run a request acts in (``gateway.access.delegation``): the agent
    called, the run's id (the A2A call's journal request id), the task and context the
    call named ('' when it started a new one), the agent's budget per run and per
    session (the context; None: none). A chain (an agent calling another with the token
    it was carried) stays in the run it started from: ``depth`` counts the agents
    called since (0: the caller called this one), ``surfaces`` are what the token it
    came with reached (empty: a run the caller started, every surface) and
    ``expires`` when that token expires (epoch seconds; 0: not carried yet)."""

    id: str
    agent: str
    task: str = ""
    context: str = ""
    budget_usd: Decimal | None = None
    session_budget_usd: Decimal | None = None
    depth: int = 0
    surfaces: tuple[str, ...] = field(default=(), compare=False)  # the token's, not the run's
    expires: int = field(default=0, compare=False)


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
    # Set on the entry ``limits`` derives to count one A2A session's spend (the run's
    # context id, ``subjects.session_entry``); None on the keys themselves.
    session: str | None = None
    team: TeamEntry | None = None  # None: no team (keys made before teams)
    user_id: int | None = None
    # Who minted the key (and holds its raw key); None: the operator or the master key.
    # The owner's own upstream identities go with it only when they minted it themselves
    # (``own_identity``): a key minted "for" someone never acts as them upstream.
    minted_by: int | None = None
    # The owner's own limits when they have any (None: the owner is not limited), so
    # admission counts every key of theirs together without a query
    owner: UserEntry | None = None
    # MCP: ``server`` or ``server__tool`` entries this key may use (master: everything):
    # the key's own list within its team's (``mcp_within``), so every check sees both
    mcp_allowed: frozenset[str] = frozenset()
    # Guardrails every request with this key runs: its own and its team's (names)
    guardrails: tuple[str, ...] = ()
    # Tags every request with this key carries (gateway/telemetry/tags.py)
    tags: tuple[str, ...] = ()
    # Its requests may assert only its own ``tags`` (another: 403)
    enforce_tags: bool = False
    # Set on the entry an agent's token acts with (``gateway.access.delegation``): the
    # caller's key, in the agent run that token was minted for; None on the keys themselves
    run: AgentRun | None = None

    @property
    def is_master(self) -> bool:
        return self.id is None

    @property
    def own_identity(self) -> bool:
        """Whether the key carries its owner's own upstream identities (their per-user
        OAuth tokens): only a key its owner minted, and so holds, does."""
        return own_identity(self.user_id, self.minted_by)

    def allows(self, route: str) -> bool:
        return self.routes is None or route in self.routes


def own_identity(owner: int | None, holder: int | None) -> bool:
    """Identity is the holder: a person's own upstream identities (per-user OAuth tokens
    to MCP servers, and any identity attached per person) act only for a credential that
    person holds themselves: ``holder`` (who minted the key, who signed in) is ``owner``."""
    return owner is not None and holder == owner


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


def charged_key(key: KeyEntry | None, route: str) -> KeyEntry:
    """The key a call the gateway makes for a request (a judge's verdict, an embedding,
    a web search) is asked and charged under: the request's (the master key without
    one), allowed ``route``, which the operator named, too."""
    if key is None:
        return MASTER
    if key.routes is not None and route not in key.routes:
        return replace(key, routes=key.routes | {route})
    return key


@dataclass(slots=True)
class Snapshot:
    version: int = -1
    routes: dict[str, RouteEntry] = field(default_factory=dict)
    patterns: list[RouteEntry] = field(default_factory=list)  # names with * or ?
    providers: dict[str, ProviderEntry] = field(default_factory=dict)
    keys: dict[str, KeyEntry] = field(default_factory=dict)  # by sha256 hex
    mcp_servers: dict[str, McpServerEntry] = field(default_factory=dict)  # by name
    guardrails: dict[str, GuardrailEntry] = field(default_factory=dict)  # enabled, by name
    default_guardrails: tuple[str, ...] = ()  # the enabled ones that are default_on
    parts: dict[str, Any] = field(default_factory=dict)  # features' own (hooks.snapshot_parts)
    # the variables the operator's own rows reference: they resolve whatever the allow
    # list says (``secret_refs.trust``, given them when the snapshot is installed)
    trusted_names: frozenset[str] = frozenset()
    # the tags with limits (TagBudget), by name: empty, a tagged request costs one lookup
    tag_limits: dict[str, TagEntry] = field(default_factory=dict)

    def route(self, name: str) -> RouteEntry | None:
        """The route serving public model ``name``: exact name first, then patterns."""
        entry = self.routes.get(name)
        if entry is not None:
            return entry
        for pattern in self.patterns:
            if fnmatch.fnmatchcase(name, pattern.name):
                return pattern
        return None

    def key_by_id(self, key_id: object) -> KeyEntry | None:
        """The key whose row id is ``key_id`` (its own entry, no end user's), or None."""
        return next((e for e in self.keys.values() if e.id == key_id and e.end_user is None), None)

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


def _forget_master_key(setting: str, **kwargs: object) -> None:
    global _master
    if setting == "SWITCHYARD_MASTER_KEY":
        _master = None


setting_changed.connect(_forget_master_key)  # what @receiver does, typed
