"""The registry (providers, routes, deployments, API keys) and the request journal.

The ORM is the source of truth; the request path reads an in-memory snapshot built
from these tables (``gateway.access.registry``) and never queries them per request.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from gateway.base import derived_bodies
from gateway.base.errors import MissingSecret  # noqa: F401 (raised by resolve_secret; a ConfigurationError)
from gateway.base.secrets import crypto
from gateway.base.secrets.declared import mask_url_secrets
from gateway.base.secrets.secret_refs import ENV_REFERENCE as ENV_REFERENCE  # ops reads it here
from gateway.base.secrets.secret_refs import resolve_secret  # noqa: F401 (re-exported)
from gateway.catalog import entry_for
from gateway.models.sealed import HEADER_MASK as HEADER_MASK  # forms and the API show it
from gateway.models.sealed import BearerSecret, SealedUrlField, seal
from gateway.providers import kinds

# What is shown instead of a stored extra header value (and, sent back unchanged by a
# form or an API client, keeps that value).
# Public model names; ``*``, ``?`` and ``[...]`` make a pattern route (e.g. ``claude-*``).
ROUTE_NAME = re.compile(r"^[A-Za-z0-9*?\[][A-Za-z0-9._:/@+*?\[\]-]{0,199}$")


def _price_field(help_text: str, empty: str = "from the model catalog") -> models.DecimalField:
    """A price a deployment (or a setting) may set; empty (NULL) means ``empty`` (the
    catalog's), 0 means free."""
    return models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        default=None,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=f"{help_text} (empty: {empty})",
    )


class ConfigRow(models.Model):
    """A row config as code may own, with the times it was made and last changed.
    ``managed_by_config``: written by ``apply`` (gateway.ops.apply), the file owns the row,
    and an apply whose file no longer names it removes it. Console-made rows are False."""

    managed_by_config = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class SettingsRow(models.Model):
    """The one row of a table of settings (pk 1), shown by the table's plural name."""

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return str(self._meta.verbose_name_plural)


class NamedRow:
    """A row shown by its name (``str(row)``: the admin, messages, logs)."""

    name: Any

    def __str__(self) -> str:
        return str(self.name)


def budget_field(**more: Any) -> models.DecimalField:
    """A budget in USD, never negative; empty (NULL): none."""
    return models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        **more,
    )


def budget_period_field() -> models.CharField:
    """What a budget is per: a day, a month, or in total."""
    return models.CharField(
        max_length=10,
        choices=[("day", "Per day"), ("month", "Per month"), ("total", "In total")],
        default="month",
    )


def _capability_field() -> models.BooleanField:
    """Yes, no, or empty (NULL): the model catalog decides."""
    return models.BooleanField(
        null=True, blank=True, default=None, help_text="empty: from the model catalog"
    )


class Provider(NamedRow, ConfigRow):
    # Names for the built-in kinds (Provider.Kind.BEDROCK == "bedrock"), made from the
    # kinds registry when this module loads. The field's choices are the registry itself,
    # read on each use: a kind added there is valid at once and needs no migration.
    Kind = models.TextChoices(
        "Kind", [(kind.name.upper(), (kind.name, kind.label)) for kind in kinds.KINDS.values()]
    )

    name: str = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=kinds.choices, default=Kind.OPENAI)
    # sealed at rest when it carries user info or a query (the URL type: secrecy.py)
    base_url: str = SealedUrlField(
        blank=True,
        help_text="OpenAI-compatible: include the version path (http://host:8000/v1). "
        "Anthropic: the host root (https://api.anthropic.com).",
    )
    # Either a reference ``os.environ/NAME`` read at call time, or a literal secret kept
    # only encrypted. Never both.
    secret_ref: str = models.CharField(max_length=200, blank=True)
    secret_ciphertext = models.TextField(blank=True)
    extra_headers = models.JSONField(default=dict, blank=True)
    api_version = models.CharField(max_length=50, blank=True, help_text="Azure api-version")
    timeout = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.1)], help_text="seconds"
    )
    # Kind-specific defaults under every deployment's params (LiteLLM's names, e.g.
    # aws_region_name, vertex_project); a deployment's own params win. Each kind's
    # adapter lists what it takes (settings_taken); no secrets here (the secret field
    # holds those).
    settings = models.JSONField(default=dict, blank=True)
    # Written by the operator's config file (import_config, apply): its references
    # resolve whatever SWITCHYARD_ENV_ALLOW says and it may send the host's credentials
    # to its own endpoint (the operator owns the host). A console or /api save that
    # changes its references or endpoint ends that (gateway.web.references).
    from_operator = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["name"]

    # --- secret handling ---------------------------------------------------------------
    def set_secret(self, value: str | None) -> None:
        """Store ``value``: an ``os.environ/NAME`` reference as is, anything else
        encrypted. An empty value clears the secret."""
        self.secret_ref, self.secret_ciphertext = seal(value or "", "secret")

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ref or self.secret_ciphertext)

    @property
    def secret_display(self) -> str:
        """What may be shown to a person: the reference, or a mask."""
        if self.secret_ref:
            return self.secret_ref
        return "•••••••• (stored encrypted)" if self.secret_ciphertext else ""

    def stored_secret(self) -> str:
        """The reference or the decrypted literal (resolve_secret reads the env)."""
        if self.secret_ref:
            return self.secret_ref
        return crypto.decrypt(self.secret_ciphertext)

    @property
    def base_url_display(self) -> str:
        """The base URL as it may be shown: user info and every query value masked, as
        the URL type says (``https://***@host/v1?api-key=***``). Sent back unchanged, it keeps the
        stored URL (``admin_ops.save_provider``)."""
        return mask_url_secrets(self.base_url)

    # --- extra headers (where users put tokens): encrypted like the secret ------------
    def set_extra_headers(self, headers: dict[str, str]) -> None:
        """Replace the extra headers. A value equal to HEADER_MASK keeps what is stored
        under that name (it is what the console and the API show); literals are
        encrypted when saved, ``os.environ/NAME`` references kept as they are."""
        stored = self.extra_headers if isinstance(self.extra_headers, dict) else {}
        if not isinstance(headers, dict):
            self.extra_headers = headers  # clean() reports it
            return
        out = {}
        for name, value in headers.items():
            problem = header_problem(name, value)
            if problem is not None:
                raise ValidationError({"extra_headers": problem})
            if value == HEADER_MASK:
                if name not in stored:
                    raise ValidationError(
                        {"extra_headers": f"{name}: give a value (the mask keeps a stored one)"}
                    )
                value = stored[name]
            out[name] = value
        self.extra_headers = out

    def stored_extra_headers(self) -> dict[str, str]:
        """The headers with literals decrypted (references still to resolve)."""
        return {
            name: crypto.decrypt(value) if _sealed(value) else value
            for name, value in (self.extra_headers or {}).items()
        }

    @property
    def extra_headers_display(self) -> dict[str, str]:
        """What may be shown to a person: references as they are, literals masked."""
        return {
            name: value if ENV_REFERENCE.match(value) else HEADER_MASK
            for name, value in (self.extra_headers or {}).items()
        }

    def save(self, *args: Any, **kwargs: Any) -> None:
        if isinstance(self.extra_headers, dict):
            self.extra_headers = seal_headers(self.extra_headers)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if not self.base_url and kinds.needs_base_url(self.kind):
            raise ValidationError({"base_url": "a base URL is required for this kind"})
        self._clean_settings()
        self._clean_host_credentials()
        if self.base_url.startswith("os.environ/"):
            if not ENV_REFERENCE.match(self.base_url):
                raise ValidationError(
                    {"base_url": f"not a valid environment reference: {self.base_url!r}"}
                )
        elif self.base_url and not re.match(r"^https?://", self.base_url):
            raise ValidationError(
                {"base_url": "must start with http:// or https:// (or be os.environ/NAME)"}
            )
        if self.api_version.startswith("os.environ/") and not ENV_REFERENCE.match(self.api_version):
            raise ValidationError(
                {"api_version": f"not a valid environment reference: {self.api_version!r}"}
            )
        if not isinstance(self.extra_headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.extra_headers.items()
        ):
            raise ValidationError({"extra_headers": "must be an object of string to string"})
        for name, value in self.extra_headers.items():
            problem = header_problem(name, "" if _sealed(value) else value)
            if problem is not None:
                raise ValidationError({"extra_headers": problem})

    def host_credentials_problem(self) -> str | None:
        """Why this provider would send the host's cloud credentials to an endpoint that
        is not the provider's official one (``gateway.providers.ambient``), or None."""
        check = getattr(kinds.adapter_class(self.kind), "ambient_problem", None)
        if check is None:
            return None
        secret = self.stored_secret() if self.has_secret else None
        return check(self.base_url, secret)  # type: ignore[no-any-return]

    def _clean_host_credentials(self) -> None:
        """The host's cloud credentials go only to official endpoints (the adapter's
        ``ambient_problem``; ``gateway.providers.ambient``)."""
        check = getattr(kinds.adapter_class(self.kind), "ambient_problem", None)
        if check is None or self.from_operator:  # the operator's own host and endpoint
            return
        secret = self.stored_secret() if self.has_secret else None
        problem = check(self.base_url, secret)
        if problem:
            raise ValidationError({"base_url": problem})

    def _clean_settings(self) -> None:
        if not isinstance(self.settings, dict):
            raise ValidationError({"settings": "must be an object of string to string"})
        taken = {setting.name: setting for setting in kinds.settings_taken(self.kind)}
        allowed = list(taken)
        for key, value in self.settings.items():
            if key not in allowed:
                takes = ", ".join(allowed) if allowed else "none"
                raise ValidationError(
                    {"settings": f"{key}: not a setting of a {self.kind} provider (takes: {takes})"}
                )
            if not isinstance(value, str):
                raise ValidationError({"settings": f"{key}: must be a string"})
            if value.startswith("os.environ/") and not ENV_REFERENCE.match(value):
                raise ValidationError(
                    {"settings": f"{key}: not a valid environment reference: {value!r}"}
                )
            if problem := taken[key].problem(value):
                raise ValidationError({"settings": f"{key}: {problem}"})
        # Empty values mean "not set": drop them so that exports stay minimal.
        self.settings = {k: v.strip() for k, v in self.settings.items() if v.strip()}


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")


def header_problem(name: object, value: object) -> str | None:
    """Why ``name: value`` cannot be sent as an HTTP header, or None. A CR or LF in a
    value made every call to the provider fail as a connection error, retried."""
    if not isinstance(name, str) or not isinstance(value, str):
        return None  # clean() reports the types
    if not _HEADER_NAME.match(name):
        return f"{name!r}: not a valid header name (letters, digits and !#$%&'*+.^_`|~-)"
    if _HEADER_VALUE_FORBIDDEN.search(value):
        return f"{name}: a header value cannot hold a line break (CR, LF) or NUL"
    return None


def _sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(crypto.PREFIX)


def seal_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """``headers`` with every literal string value encrypted (references and values
    already encrypted kept). Also used by the migration that encrypted existing rows."""
    return {
        name: crypto.encrypt(value)
        if isinstance(value, str) and not _sealed(value) and not ENV_REFERENCE.match(value)
        else value
        for name, value in headers.items()
    }


class BatchMode(models.TextChoices):
    AUTO = "auto", "Auto"
    GATEWAY = "gateway", "Run by the gateway"
    NATIVE = "native", "Native only"


class CacheScope(models.TextChoices):
    """Who may be served a route's cached answer."""

    ROUTE = "route", "Every key allowed on the route"
    KEY = "key", "Only the key that asked"


class SemanticScope(models.TextChoices):
    """Who may be served an answer the semantic cache found for a similar request."""

    KEY = "key", "Only the key that asked"
    TEAM = "team", "Keys of the asking key's team"
    ROUTE = "route", "Every key allowed on the route"


class Role(models.TextChoices):
    """What a console user or a management key may do (gateway/access/roles.py has the
    rules). Ordered from most to least: owner > admin > editor > member > viewer."""

    OWNER = "owner", "Owner (everything, users and settings included)"
    ADMIN = "admin", "Admin (providers, routes, keys, MCP servers of every team)"
    EDITOR = "editor", "Editor (routes and keys of their teams)"
    MEMBER = "member", "Member (own keys, the playground, own requests' logs)"
    VIEWER = "viewer", "Viewer (read-only dashboards and logs of their teams)"


class SharedLimits(models.Model):
    """The limits a team or a user sets over every key it holds (gateway/limits/limits.py):
    rpm and tpm across the keys, and a budget per period. None: no such limit."""

    rpm_limit = models.PositiveIntegerField(null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(null=True, blank=True)
    budget_usd = budget_field()
    budget_period = budget_period_field()
    # Budget alert thresholds in percent of the budget (gateway/features/alerts); None: the
    # global default (AlertSettings.default_thresholds), []: no alerts.
    alert_thresholds = models.JSONField(null=True, blank=True, default=None)

    class Meta:
        abstract = True


class Team(NamedRow, ConfigRow, SharedLimits):
    """A group of users and keys sharing limits: a key's requests count against its
    team's rpm/tpm and its spend against the team's budget, like the key's own."""

    name: str = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=500, blank=True)
    # MCP servers and tools the team's keys may use at most (entries as a key's
    # ``mcp_allowed``): a key's effective permission is its own list intersected with
    # this one. None: the team does not restrict MCP; []: its keys may use none.
    mcp_allowed = models.JSONField(null=True, blank=True, default=None)
    # A2A agents (names, or "*") the team's keys may call at most; None: no restriction
    a2a_allowed = models.JSONField(null=True, blank=True, default=None)
    # Guardrails (names) every request of the team's keys runs (gateway.features.guardrails).
    guardrails = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]


class Profile(SharedLimits):
    """A console user's role and own limits (counted across every key they own; owners
    and admins set them: /api/users, the users page). A user without a profile is an
    owner when staff (what staff meant before roles) and has no console access otherwise."""

    user = models.OneToOneField(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="switchyard"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class Membership(models.Model):
    """A user in a team, with the role they hold there (editor, member or viewer; an
    owner or admin acts on every team anyway)."""

    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Route(NamedRow, ConfigRow):
    class Strategy(models.TextChoices):
        WEIGHTED = "weighted", "Weighted random"
        LEAST_BUSY = "least_busy", "Least busy"
        LOWEST_LATENCY = "lowest_latency", "Lowest latency"

    name: str = models.CharField(max_length=200, unique=True, help_text="public model name")
    description = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.WEIGHTED)
    fallbacks = models.JSONField(
        default=list, blank=True, help_text="ordered names of routes tried when this one fails"
    )
    context_window_fallbacks = models.JSONField(
        default=list,
        blank=True,
        help_text="ordered names of larger routes tried when the prompt is too long for "
        "this one's context windows",
    )
    drop_params = models.BooleanField(
        default=True, help_text="drop parameters the upstream does not know (else reject: 400)"
    )
    default_params = models.JSONField(
        default=dict, blank=True, help_text="defaults applied when the request omits them"
    )
    max_attempts = models.PositiveSmallIntegerField(default=3)
    timeout = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1)],
        help_text="seconds an upstream may stay silent, for this route's deployments only "
        "(overrides their provider's timeout)",
    )
    retry_budget = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(10.0)],
        help_text="share of this route's requests a minute it may retry (0.2 = 20%; "
        "empty: the server's SWITCHYARD_RETRY_BUDGET, 20%)",
    )
    cache_ttl = models.PositiveIntegerField(
        default=0,
        help_text="seconds an answer stays in the response cache (0: the route is not cached)",
    )
    cache_scope = models.CharField(
        max_length=10,
        choices=CacheScope.choices,
        default=CacheScope.ROUTE,
        help_text="route: keys allowed on this route share answers; key: each key its own",
    )
    auto_cache_breakpoints = models.BooleanField(
        default=True,
        help_text="place prompt-cache breakpoints (tools, system prompt, last stable turn) "
        "for Anthropic and Bedrock upstreams when the client's API cannot mark them",
    )
    # The semantic cache (gateway.features.semantic_cache): on when a TTL and an
    # embedding route are set; answers a request similar enough to an earlier one.
    semantic_cache_ttl = models.PositiveIntegerField(
        default=0,
        help_text="seconds an answer stays in the semantic cache (0: off)",
    )
    semantic_cache_threshold = models.FloatField(
        default=0.95,
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="cosine similarity from which an earlier answer is served (0.5-1)",
    )
    semantic_cache_scope = models.CharField(
        max_length=10,
        choices=SemanticScope.choices,
        default=SemanticScope.KEY,
        help_text="key: each key its own answers; team: the key's team shares; route: "
        "every key allowed on the route shares",
    )
    semantic_cache_route = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="the gateway route whose deployments embed the requests (an embedding route)",
    )
    semantic_cache_dialects = models.JSONField(
        default=list,
        blank=True,
        help_text="client APIs whose chat requests use the semantic cache (empty: all)",
    )
    # Server tools on upstreams that do not run them (gateway.features.server_tools): the
    # search API web search goes to (empty: none, web search is not emulated), where it
    # is, its key (an os.environ/ reference) and what a search costs the caller.
    web_search_backend = models.CharField(
        max_length=20,
        blank=True,
        default="",
        help_text="the search API web search tools use off Anthropic and OpenAI (searxng, "
        "brave, tavily; empty: none)",
    )
    # sealed at rest when it carries user info or a query (the URL type: secrecy.py)
    web_search_url: str = SealedUrlField(
        blank=True,
        default="",
        help_text="the search API's URL (https://api.search.brave.com/res/v1/web/search...)",
    )
    web_search_key = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="the search API's key, as os.environ/NAME (the operator's environment)",
    )
    web_search_price = _price_field("USD charged per search the gateway runs", empty="free")
    shadow_routes = models.JSONField(
        default=list,
        blank=True,
        help_text="routes that get a copy of this route's requests in the background "
        "(their answers are journaled beside the primary's, never sent to the client)",
    )
    shadow_percent = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="share of this route's requests mirrored to the shadow routes (0-100)",
    )
    mcp_passthrough = models.BooleanField(
        default=False,
        help_text="hand hosted MCP tools (Responses mcp tools, Anthropic mcp_servers) to "
        "upstreams that speak the client's API and run them themselves; off: the gateway "
        "runs them (gateway/features/mcp/hosted)",
    )
    mcp_servers = models.JSONField(
        default=list,
        blank=True,
        help_text="registered MCP servers whose tools every request on this route gets, run by "
        "the gateway (how Chat Completions and Gemini clients use MCP tools)",
    )
    guardrails = models.JSONField(
        default=list,
        blank=True,
        help_text="guardrails (names) every request on this route runs (gateway.features.guardrails)",
    )
    batch_mode = models.CharField(
        max_length=10,
        choices=BatchMode.choices,
        default=BatchMode.AUTO,
        help_text="how a batch on this route runs: auto (the upstream's own batch API when "
        "every line's deployment has one, else the gateway), gateway, or native (refused "
        "when the upstream has none)",
    )
    teams = models.ManyToManyField(
        Team,
        blank=True,
        related_name="routes",
        help_text="teams whose keys may use this route (none: every team)",
    )

    class Meta:
        ordering = ["name"]

    @property
    def web_search_host(self) -> str:
        """The web search backend's host (its URL may carry a key in its query)."""
        from urllib.parse import urlsplit

        return urlsplit(self.web_search_url).hostname or ""

    def clean(self) -> None:
        if not ROUTE_NAME.match(self.name or ""):
            raise ValidationError(
                {"name": "letters, digits and . _ : / @ + - only (* ? [ ] for patterns)"}
            )
        if not isinstance(self.fallbacks, list) or not all(
            isinstance(n, str) for n in self.fallbacks
        ):
            raise ValidationError({"fallbacks": "must be a list of route names"})
        if self.name in self.fallbacks:
            raise ValidationError({"fallbacks": "a route cannot fall back to itself"})
        if not isinstance(self.default_params, dict):
            raise ValidationError({"default_params": "must be an object"})
        shadows = self.shadow_routes
        if not isinstance(shadows, list) or not all(isinstance(n, str) for n in shadows):
            raise ValidationError({"shadow_routes": "must be a list of route names"})
        if self.name in shadows:
            raise ValidationError({"shadow_routes": "a route cannot shadow itself"})
        if any(ch in n for n in shadows for ch in "*?["):
            raise ValidationError({"shadow_routes": "name routes, not patterns"})
        dialects = self.semantic_cache_dialects
        if not isinstance(dialects, list) or not all(isinstance(n, str) for n in dialects):
            raise ValidationError({"semantic_cache_dialects": "must be a list of client APIs"})
        if self.semantic_cache_route and self.semantic_cache_route == self.name:
            raise ValidationError({"semantic_cache_route": "a route cannot embed for itself"})
        if self.web_search_backend and not self.web_search_url.strip():
            raise ValidationError(
                {"web_search_url": "name the URL of the search API web search uses"}
            )
        if self.semantic_cache_ttl and not self.semantic_cache_route:
            raise ValidationError(
                {"semantic_cache_route": "name the embedding route the semantic cache uses"}
            )


class Deployment(models.Model):
    route: Route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="deployments")
    provider: Provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="deployments"
    )
    model = models.CharField(max_length=200, help_text="upstream model id")
    enabled = models.BooleanField(default=True)
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)])
    rpm = models.PositiveIntegerField(null=True, blank=True, help_text="requests per minute cap")
    tpm = models.PositiveIntegerField(null=True, blank=True, help_text="tokens per minute cap")
    input_price = _price_field("USD per 1M input tokens")
    output_price = _price_field("USD per 1M output tokens")
    cache_read_price = _price_field("USD per 1M cache-read tokens")
    cache_write_price = _price_field("USD per 1M cache-write tokens")
    search_unit_price = _price_field(
        "USD per rerank search unit (one query with up to 100 documents)"
    )
    context_window = models.PositiveIntegerField(
        null=True, blank=True, help_text="most input tokens (empty: from the model catalog)"
    )
    max_output_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="most output tokens (empty: from the model catalog)"
    )
    supports_tools = _capability_field()
    supports_vision = _capability_field()
    supports_reasoning = _capability_field()
    supports_top_k = models.BooleanField(
        default=False,
        help_text="the upstream takes top_k (vLLM, Ollama); else a caller's top_k is dropped "
        "(drop_params) or refused",
    )
    params = models.JSONField(default=dict, blank=True, help_text="extra upstream parameters")
    # Written by the operator's config file: its params' references are trusted (see
    # Provider.from_operator).
    from_operator = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["route__name", "id"]

    def __str__(self) -> str:
        return f"{self.route.name} -> {self.provider.name}/{self.model}"

    def clean(self) -> None:
        if not isinstance(self.params, dict):
            raise ValidationError({"params": "must be an object"})
        self._clean_model()
        self._clean_api_version()

    def _clean_model(self) -> None:
        """The model, as the provider's kind can name it (``Provider.model_problem``:
        on Azure OpenAI, a deployment's name)."""
        if not self.provider_id:
            return
        adapter = kinds.adapter_class(self.provider.kind)
        problem = adapter.model_problem(self.model or "") if adapter is not None else None
        if problem:
            raise ValidationError({"model": problem})

    def catalog_entry(self) -> Any:
        """The catalog entry describing this deployment (None: none does), as its
        provider's kind and base URL find it (``gateway.catalog.matching``)."""

        vendor = kinds.catalog_vendor(self.provider.kind)
        return entry_for(vendor, self.provider.base_url.rstrip("/"), self.model)

    def _clean_api_version(self) -> None:
        """The API version the params name, and the params it refuses, checked against
        the provider's kind and the model's catalog entry (``Provider.param_problems``)."""
        if not self.provider_id or not self.params:
            return
        adapter = kinds.adapter_class(self.provider.kind)
        if adapter is None:
            return
        problems = adapter.param_problems(self.params, self.catalog_entry())
        if problems:
            name, why = next(iter(problems.items()))
            raise ValidationError({"params": f"{name}: {why}"})


class ApiKey(ConfigRow):
    class Period(models.TextChoices):
        DAY = "day", "Per day"
        MONTH = "month", "Per month"
        TOTAL = "total", "In total"

    name: str = models.CharField(max_length=200)
    prefix = models.CharField(max_length=32, help_text="visible start of the key")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    routes = models.ManyToManyField(
        Route, blank=True, related_name="api_keys", help_text="allowed routes (none: all)"
    )
    rpm_limit = models.PositiveIntegerField(null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(null=True, blank=True)
    budget_usd = budget_field()
    budget_period = models.CharField(max_length=10, choices=Period.choices, default=Period.MONTH)
    max_budget_per_user = budget_field(
        help_text="USD each end user (x-switchyard-user, OpenAI user, Anthropic "
        "metadata.user_id, Gemini labels) may spend through this key per budget period",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    # Existing keys have neither: they keep working, limited by their own limits only.
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="keys"
    )
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_keys",
    )
    # Who minted the key and so holds its raw key (shown once, to them): a person's own
    # upstream identities (their per-user OAuth tokens to MCP servers) go only with keys
    # they minted themselves (``KeyEntry.own_identity``). None: minted by the operator
    # (a command, the config) or the master key. Set when the key is created, never edited.
    minted_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="minted_keys",
        editable=False,
    )
    # Space-separated; "management": the key may call /api as its user (an owner or
    # admin) would.
    scopes = models.CharField(max_length=200, blank=True, default="")
    revoked_at = models.DateTimeField(null=True, blank=True)
    # MCP servers and tools this key may see and call through /mcp: entries ``server``
    # (all its tools) or ``server__tool``; empty: none (the master key sees all).
    mcp_allowed = models.JSONField(default=list, blank=True)
    # A2A agents (names, or "*") this key may call at /a2a/<name>; empty: none
    a2a_allowed = models.JSONField(default=list, blank=True)
    # Guardrails (names) every request made with this key runs (gateway.features.guardrails).
    guardrails = models.JSONField(default=list, blank=True)
    # Tags every request made with this key carries beside its own (gateway/telemetry/
    # tags.py), read from the snapshot: spend by tag and the log filter see them.
    tags = models.JSONField(default=list, blank=True)
    # Only the key's own tags may be asserted by its requests (header, body): a request
    # naming another is refused (403), so its tags' spend is attribution, not a claim.
    enforce_tags = models.BooleanField(default=False)
    # Budget alert thresholds in percent (gateway/features/alerts); None: the global default.
    alert_thresholds = models.JSONField(null=True, blank=True, default=None)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )


MCP_SERVER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_)){0,62}$")


class McpServer(NamedRow, BearerSecret, ConfigRow):
    """An upstream MCP server the gateway connects to (``gateway.features.mcp``): streamable HTTP,
    legacy SSE or a stdio command. Headers, the bearer token and stdio env values are
    literals kept encrypted or ``os.environ/NAME`` references resolved when connecting."""

    class Transport(models.TextChoices):
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
        SSE = "sse", "SSE (legacy)"
        STDIO = "stdio", "stdio command"

    name: str = models.CharField(
        max_length=63, unique=True, help_text="letters, digits, - and _ (never two _ in a row)"
    )
    description = models.CharField(max_length=300, blank=True)
    transport = models.CharField(
        max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP
    )
    url: str = SealedUrlField(blank=True)  # sealed with user info or a query (secrecy.py)
    headers = models.JSONField(default=dict, blank=True)
    bearer_ref: str = models.CharField(max_length=200, blank=True)
    bearer_ciphertext = models.TextField(blank=True)
    command = models.CharField(max_length=500, blank=True)
    args = models.JSONField(default=list, blank=True)
    env = models.JSONField(default=dict, blank=True)
    # Saved by the operator's own config file (import_config, apply): only such a stdio
    # server is launched unless SWITCHYARD_STDIO_MCP_SERVERS is on, and its references are
    # trusted (see Provider.from_operator).
    from_operator = models.BooleanField(default=False, editable=False)
    enabled = models.BooleanField(default=True)
    connect_timeout = models.FloatField(default=10.0, validators=[MinValueValidator(0.1)])
    call_timeout = models.FloatField(default=60.0, validators=[MinValueValidator(0.1)])
    # Charged to the caller's budget for each tool call the server answers, held while
    # the call runs (``gateway.features.mcp.calls``), as an A2A agent's ``price_usd``.
    price_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="USD charged to the caller's budget per tool call (0: free)",
    )
    # A route of this gateway that answers the server's sampling requests when the
    # client did not declare sampling (gateway.features.mcp.sampling); blank: such requests fail.
    sampling_route = models.CharField(max_length=200, blank=True)

    class OAuth(models.TextChoices):
        NONE = "", "none (static token or headers)"
        PER_USER = "per_user", "OAuth, per user (each person connects)"
        SERVICE = "service", "OAuth, one service token (client credentials)"

    # OAuth 2.1 to the server (``gateway.features.mcp.oauth``): discovered from the server's
    # protected resource metadata; a pre-registered client's id and secret, or none
    # (dynamic client registration); the scopes asked (blank: what the server names).
    oauth = models.CharField(max_length=10, choices=OAuth.choices, default="", blank=True)
    oauth_client_id = models.CharField(max_length=200, blank=True)
    oauth_client_secret_ciphertext = models.TextField(blank=True)
    oauth_scopes = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def unique_error_message(
        self, model_class: type[models.Model], unique_check: tuple[str, ...]
    ) -> ValidationError:
        """ "An MCP server named X already exists." (Django's own read "Mcp server with
        this Name already exists." on the console's form)."""
        if tuple(unique_check) == ("name",):
            return ValidationError(
                "An MCP server named %(name)s already exists.",
                code="unique",
                params={"name": self.name},
            )
        return super().unique_error_message(model_class, unique_check)

    def set_oauth_client_secret(self, value: str | None) -> None:
        """A literal, kept encrypted; empty clears it; None or HEADER_MASK keeps it."""
        if value is None or value == HEADER_MASK:
            return
        value = value.strip()
        self.oauth_client_secret_ciphertext = crypto.encrypt(value) if value else ""

    def stored_oauth_client_secret(self) -> str:
        return crypto.decrypt(self.oauth_client_secret_ciphertext)

    @property
    def oauth_client_secret_display(self) -> str:
        return HEADER_MASK if self.oauth_client_secret_ciphertext else ""

    def set_headers(self, headers: dict[str, str]) -> None:
        self.headers = _keep_masked(headers, self.headers, "headers")

    def set_env(self, env: dict[str, str]) -> None:
        self.env = _keep_masked(env, self.env, "env")

    def stored_headers(self) -> dict[str, str]:
        return _unsealed(self.headers)

    def stored_env(self) -> dict[str, str]:
        return _unsealed(self.env)

    @property
    def url_display(self) -> str:
        """The URL as it may be shown: user info and every query value masked (the URL
        type). Sent back unchanged, it keeps the stored URL (``mcp.save.save_server``)."""
        return mask_url_secrets(self.url) if self.url else ""

    @property
    def headers_display(self) -> dict[str, str]:
        return _masked(self.headers)

    @property
    def env_display(self) -> dict[str, str]:
        return _masked(self.env)

    def save(self, *args: Any, **kwargs: Any) -> None:
        for attr in ("headers", "env"):
            value = getattr(self, attr)
            if isinstance(value, dict):
                setattr(self, attr, seal_headers(value))
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if not MCP_SERVER_NAME.match(self.name or ""):
            raise ValidationError(
                {"name": "letters, digits, - and _ only, at most 63, never two _ in a row"}
            )
        if self.transport == self.Transport.STDIO:
            if not self.command.strip():
                raise ValidationError({"command": "a stdio server needs a command"})
        else:
            if self.url.startswith("os.environ/"):
                if not ENV_REFERENCE.match(self.url):
                    raise ValidationError(
                        {"url": f"not a valid environment reference: {self.url!r}"}
                    )
            elif not re.match(r"^https?://", self.url or ""):
                raise ValidationError({"url": "must start with http:// or https://"})
        if self.oauth and self.transport == self.Transport.STDIO:
            raise ValidationError({"oauth": "OAuth is for network servers, not stdio commands"})
        if self.oauth == self.OAuth.SERVICE and not self.oauth_client_id.strip():
            raise ValidationError(
                {"oauth_client_id": "a service token (client credentials) needs a client id"}
            )
        if not isinstance(self.args, list) or not all(isinstance(a, str) for a in self.args):
            raise ValidationError({"args": "must be a list of strings"})
        for attr in ("headers", "env"):
            value = getattr(self, attr)
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValidationError({attr: "must be an object of string to string"})
        for name, value in self.headers.items():
            problem = header_problem(name, "" if _sealed(value) else value)
            if problem is not None:
                raise ValidationError({"headers": problem})


def _keep_masked(new: object, stored: object, field: str) -> object:
    """``new`` where a value equal to HEADER_MASK keeps the stored one under that name."""
    if not isinstance(new, dict):
        return new  # clean() reports it
    old = stored if isinstance(stored, dict) else {}
    out = {}
    for name, value in new.items():
        if value == HEADER_MASK:
            if name not in old:
                raise ValidationError(
                    {field: f"{name}: give a value (the mask keeps a stored one)"}
                )
            value = old[name]
        out[name] = value
    return out


def _unsealed(values: object) -> dict[str, str]:
    return {
        name: crypto.decrypt(value) if _sealed(value) else value
        for name, value in (values if isinstance(values, dict) else {}).items()
    }


def _masked(values: object) -> dict[str, str]:
    return {
        name: value if ENV_REFERENCE.match(value) else HEADER_MASK
        for name, value in (values if isinstance(values, dict) else {}).items()
    }


class RegistryState(models.Model):
    """One row whose version is bumped on every registry change; each process polls
    it (about once a second) so snapshots stay fresh even without Redis."""

    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class StatusClass(models.Func):
    """A status code's class (5 for 5xx) as ``status / 100`` with a literal divisor: an
    index on this expression serves a query only if the query spells it the same way
    (a bound parameter would not match it on SQLite)."""

    template = "(%(expressions)s / 100)"
    output_field = models.PositiveSmallIntegerField()


class RequestLog(models.Model):
    """One row per request through the gateway (the journal writes it in batches).

    ``request_id`` is not unique: clients may send their own ``x-request-id`` and reuse
    it, and each of their requests still gets its row. The indexes end in
    (created_at, id) so that every console filter reads one index range in the order of
    the list and pages with a keyset cursor instead of OFFSET."""

    request_id = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    key_id = models.BigIntegerField(null=True, blank=True)
    key_name = models.CharField(max_length=200, blank=True)
    key_prefix = models.CharField(max_length=32, blank=True)
    dialect = models.CharField(max_length=20)
    endpoint = models.CharField(max_length=40)
    route = models.CharField(max_length=200, blank=True)
    deployment_id = models.BigIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    stream = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField(default=0)
    finish_reason = models.CharField(max_length=30, blank=True)
    error_kind = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.JSONField(default=list, blank=True)
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField(null=True, blank=True)
    upstream_ms = models.FloatField(null=True, blank=True)
    overhead_ms = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    # What the prompt cache saved at the deployment's prices (cached reads at the input
    # price less their cache price, less what cache writes cost above it); nullable for
    # the same reason as below (NULL on older rows: not known).
    cache_saved_usd = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True,
        help_text="USD the prompt cache saved (may be negative: writes cost more)",
    )  # fmt: skip
    user_agent = models.CharField(max_length=300, blank=True)
    from_playground = models.BooleanField(default=False)
    client_disconnected = models.BooleanField(default=False)
    cache_hit = models.BooleanField(default=False, help_text="answered from the response cache")
    # A hit's similarity to the request whose answer it served (the semantic cache;
    # NULL: an exact hit or no hit) and what the answer cost when it was made (NULL on
    # older rows and misses). Nullable: an ALTER TABLE ADD COLUMN.
    cache_similarity = models.FloatField(null=True, blank=True)
    cache_hit_saved_usd = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True,
        help_text="USD a cache hit saved: what its answer cost upstream",
    )  # fmt: skip
    # Nullable so that adding it is an ALTER TABLE ADD COLUMN, not a copy of the whole
    # log table (SQLite rebuilds a table for a NOT NULL column); NULL on older rows.
    prompt_cache_breakpoints = models.CharField(
        max_length=300,
        null=True,
        blank=True,
        help_text="prompt-cache breakpoints sent upstream (who placed them, where)",
    )
    shadow_of = models.CharField(
        max_length=40,
        null=True,
        blank=True,
        help_text="the request this one mirrors (shadow traffic, gateway/core/shadow)",
    )
    # Hosted MCP tool calls the gateway ran for this request (gateway/features/mcp/hosted): server,
    # tool, status, duration, error. Nullable for the same reason.
    mcp_calls = models.JSONField(
        null=True,
        blank=True,
        help_text="hosted MCP tool calls run for this request",
    )
    # The guardrails that ran (gateway.features.guardrails): name, mode, verdict, what changed,
    # latency, a bypass; nullable for the same reason (NULL: none ran).
    guardrails = models.JSONField(
        null=True,
        blank=True,
        help_text="guardrails run for this request and their verdicts",
    )
    # Request fields dropped or rewritten in translation (gateway.core.lossiness): field,
    # action (dropped | rewritten), detail; NULL when nothing was lost.
    translation = models.JSONField(
        null=True,
        blank=True,
        help_text="request fields dropped or rewritten on the way upstream",
    )
    # Spend attribution (gateway/telemetry/attribution.py); NULL when not given.
    end_user = models.CharField(max_length=200, null=True, blank=True)
    session = models.CharField(max_length=200, null=True, blank=True)
    # Request tags (gateway/telemetry/tags.py) as shown; filtered through RequestTag,
    # one indexed row per tag. NULL: no tags.
    tags = models.JSONField(null=True, blank=True, help_text="request tags")
    # The registry prompt the request named (gateway.features.prompts) and the version it ran;
    # NULL when it named none.
    prompt_name = models.CharField(max_length=100, null=True, blank=True)
    prompt_version = models.PositiveIntegerField(null=True, blank=True)
    # The route the caller named when another one answered (a fallback: ``route``);
    # NULL when the named route answered, or on rows from before the column.
    requested_route = models.CharField(max_length=200, null=True, blank=True)
    # The A2A agent run the request was made in: the run's id (the A2A call's request id)
    # on the call itself and on each call its agent made with the token it was carried
    # (gateway/access/delegation.py); NULL elsewhere.
    agent_run = models.CharField(max_length=40, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="log_time"),
            models.Index(fields=["request_id"], name="log_request_id"),
            # Shadow mirrors, end users and sessions are on few rows (NULL elsewhere):
            # these three index only those, so a plain request's row costs three index
            # inserts less (each filter compares the column, which implies NOT NULL).
            models.Index(
                fields=["shadow_of"], name="log_shadow_of", condition=Q(shadow_of__isnull=False)
            ),
            models.Index(fields=["route", "-created_at", "-id"], name="log_route_time"),
            models.Index(
                "route",
                StatusClass("status"),
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="log_route_status_class_time",
            ),
            models.Index(fields=["key_id", "-created_at", "-id"], name="log_key_time"),
            # A class (4xx, 5xx) is one value here, so its rows come in list order;
            # on (status, ...) a class was a range that had to be sorted.
            models.Index(
                StatusClass("status"),
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="log_status_class_time",
            ),
            models.Index(fields=["dialect", "-created_at", "-id"], name="log_dialect_time"),
            models.Index(
                fields=["end_user", "-created_at", "-id"],
                name="log_end_user_time",
                condition=Q(end_user__isnull=False),
            ),
            models.Index(
                fields=["session", "-created_at", "-id"],
                name="log_session_time",
                condition=Q(session__isnull=False),
            ),
            # a prompt's per-version metrics (gateway.features.prompts.metrics): only
            # the rows that named a prompt
            models.Index(
                fields=["prompt_name", "prompt_version", "-created_at"],
                name="log_prompt_version",
                condition=Q(prompt_name__isnull=False),
            ),
            models.Index(
                fields=["agent_run", "-created_at", "-id"],
                name="log_agent_run_time",
                condition=Q(agent_run__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.route} {self.status}"


class RequestBody(models.Model):
    """The four bodies of a request, apart from RequestLog so the list stays fast."""

    log = models.OneToOneField(
        RequestLog, on_delete=models.CASCADE, primary_key=True, related_name="body"
    )
    inbound_request = models.TextField(blank=True)
    upstream_request = models.TextField(blank=True)
    upstream_response = models.TextField(blank=True)
    outbound_response = models.TextField(blank=True)
    truncated = models.BooleanField(default=False)
    # how the upstream bodies stored empty are made from their neighbours
    # (gateway.base.derived_bodies); null: every body is stored whole
    derived = models.TextField(null=True, blank=True)
    # the request bodies stored as an envelope and parts stored once (BodyBlob,
    # gateway.base.body_parts): {field: {key: reference}}; null: every body is whole
    parts = models.TextField(null=True, blank=True)

    def __str__(self) -> str:
        return f"body of {self.log_id}"

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> RequestBody:
        """A loaded row, its split and derived bodies made again: readers see every
        body whole (parts first: a derived body is made from a whole one)."""
        body: RequestBody = super().from_db(db, field_names, values)
        loaded = body.__dict__
        if any(name in loaded for name in body_blobs.SPLIT_FIELDS):
            parts = body.parts  # (a deferred field: loaded now)
            if parts:
                body_blobs.join_into(loaded, parts, db or "default")
        if any(target in loaded for target, _ in derived_bodies.DERIVED):
            recipes = body.derived  # (a deferred field: loaded now)
            if recipes:
                for _target, source in derived_bodies.DERIVED:
                    getattr(body, source)  # (likewise)
                derived_bodies.expand(loaded, recipes)
        return body


class UsageCounts(models.Model):
    """What an hourly rollup adds up per group: requests, errors, tokens and cost."""

    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("0"))

    class Meta:
        abstract = True


class UsageRollup(UsageCounts):
    """Hourly totals of RequestLog per (hour, route, key, dialect, status class), kept
    up to date by the journal writer in the same transaction as each batch, so the
    dashboard's day and week views read a few thousand rows instead of millions.

    ``key_id`` 0 stands for requests without a virtual key (the master key), so the
    group is unique on every database. Histograms are sparse ``{bucket index: count}``
    objects over ``gateway.telemetry.rollups.BOUNDS_MS``; names are kept so traffic of deleted
    routes and keys still shows."""

    hour = models.DateTimeField(help_text="start of the UTC hour")
    route = models.CharField(max_length=200, blank=True)
    key_id = models.BigIntegerField(default=0)
    key_name = models.CharField(max_length=200, blank=True)
    dialect = models.CharField(max_length=20, blank=True)
    status_class = models.PositiveSmallIntegerField(help_text="2 for 2xx ... 5 for 5xx, 0 none")
    cache_hits = models.BigIntegerField(default=0)
    cache_saved_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("0"))
    latency_ms_sum = models.FloatField(default=0)
    latency_hist = models.JSONField(default=dict)
    ttft_count = models.BigIntegerField(default=0)
    ttft_ms_sum = models.FloatField(default=0)
    ttft_hist = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "route", "key_id", "key_name", "dialect", "status_class"],
                name="rollup_group",
            )
        ]
        indexes = [
            # The dashboard's per-hour version check (console.stats.hour_summaries: the
            # highest id and the count of each hour's rows) reads only this index.
            # SQLite's rollup_group index already holds the rowid; PostgreSQL's does not,
            # and without this one it scanned the whole table for every week view.
            models.Index(fields=["hour", "id"], name="rollup_hour_id"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.route} key {self.key_id} {self.status_class}xx"


class StoredResponse(models.Model):
    """A Responses API response kept for ``GET /v1/responses/{id}`` and for chaining
    with ``previous_response_id`` (``store`` true, the API's default).

    Each row keeps its own turn only (``input_items``, ``output``) and links to the
    one before (``previous_response_id``): storage grows with the conversation, not
    with its square; a chain is read back in one recursive query. ``key_id`` is the
    creating key (NULL: the master key); only that key sees the response."""

    id: str = models.CharField(max_length=80, primary_key=True)
    key_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    route = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, blank=True)
    previous_response_id = models.CharField(max_length=80, blank=True)
    instructions = models.TextField(blank=True)
    input_items = models.JSONField(default=list, blank=True)
    output = models.JSONField(default=list, blank=True)
    usage = models.JSONField(null=True, blank=True)
    response = models.JSONField(default=dict, help_text="the response object as returned")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], name="stored_response_time"),
            # a key's count for its storage quota (gateway/core/storage_quota.py)
            models.Index(fields=["key_id"], name="stored_response_key"),
        ]

    def __str__(self) -> str:
        return self.id


class SsoLink(models.Model):
    """A console user as an OpenID provider knows them: the ID token's issuer and
    subject. Signing in again finds the user by this link, never by a username that
    merely matches (``gateway.access.sso``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_link_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class SsoRemoval(models.Model):
    """A single sign-on identity whose user was removed (#61, I11): its next sign-in is
    refused, not a new account, until an owner lets it in again
    (``gateway.features.people.save.readmit_sso``). Written when the user goes, on every path
    (``gateway.access.signals``)."""

    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    username = models.CharField(max_length=150, blank=True)  # the removed account's name
    removed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-removed_at"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_removal_unique")
        ]

    def __str__(self) -> str:
        return f"{self.username or self.subject} removed ({self.issuer})"


from gateway.models import body_blobs  # noqa: E402 (RequestBody joins its parts)
from gateway.models.a2a import A2aAgent as A2aAgent  # noqa: E402,F401 (gateway's tables)
from gateway.models.a2a import A2aContext as A2aContext  # noqa: E402,F401 (gateway's tables)
from gateway.models.a2a import A2aTask as A2aTask  # noqa: E402,F401 (gateway's tables)
from gateway.models.alerts import AlertSettings as AlertSettings  # noqa: E402,F401 (gateway's tables)
from gateway.models.alerts import BudgetAlert as BudgetAlert  # noqa: E402,F401 (gateway's tables)
from gateway.models.batches import Batch, BatchLine  # noqa: E402,F401 (gateway's tables)
from gateway.models.body_blobs import BodyBlob as BodyBlob  # noqa: E402,F401 (gateway's tables)
from gateway.models.conversations import (  # noqa: E402,F401 (gateway's tables)
    BackgroundEvent as BackgroundEvent,
)
from gateway.models.conversations import (  # noqa: E402,F401 (gateway's tables)
    BackgroundResponse as BackgroundResponse,
)
from gateway.models.conversations import Conversation as Conversation  # noqa: E402,F401
from gateway.models.conversations import (  # noqa: E402,F401 (gateway's tables)
    ConversationItem as ConversationItem,
)
from gateway.models.dashboards import PinnedChart as PinnedChart  # noqa: E402,F401 (gateway's tables)
from gateway.models.files import StoredFile  # noqa: E402,F401 (gateway's tables)
from gateway.models.guardrails import Guardrail as Guardrail  # noqa: E402,F401 (gateway's tables)
from gateway.models.interactions import StoredInteraction as StoredInteraction  # noqa: E402,F401 (gateway's tables)
from gateway.models.invites import Invite as Invite  # noqa: E402,F401 (gateway's tables)
from gateway.models.leases import SingletonLease as SingletonLease  # noqa: E402,F401 (gateway's tables)
from gateway.models.ledger import BillDrift as BillDrift  # noqa: E402,F401 (gateway's tables)
from gateway.models.ledger import BudgetLedger as BudgetLedger  # noqa: E402,F401
from gateway.models.ledger import BudgetSlice as BudgetSlice  # noqa: E402,F401
from gateway.models.mcp import (  # noqa: E402,F401 (gateway's tables)
    McpAccessToken,
    McpApprovalUse,
    McpAuthorizationCode,
    McpOAuthClient,
    McpOAuthState,
    McpOAuthToken,
    McpSessionEnd,
    McpTask,
    McpUpstreamClient,
)
from gateway.models.prompts import Prompt as Prompt  # noqa: E402,F401 (gateway's tables)
from gateway.models.prompts import PromptLabel as PromptLabel  # noqa: E402,F401
from gateway.models.prompts import PromptVersion as PromptVersion  # noqa: E402,F401
from gateway.models.scores import Score as Score  # noqa: E402,F401 (gateway's tables)
from gateway.models.scores import ScoreConfig as ScoreConfig  # noqa: E402,F401
from gateway.models.semantic_cache import SemanticCacheEntry as SemanticCacheEntry  # noqa: E402,F401 (gateway's tables)
from gateway.models.sso import SsoSettings as SsoSettings  # noqa: E402,F401 (gateway's tables)
from gateway.models.tags import RequestTag as RequestTag  # noqa: E402,F401 (gateway's tables)
from gateway.models.tags import TagBudget as TagBudget  # noqa: E402,F401 (gateway's tables)
from gateway.models.tags import TagSpendRollup as TagSpendRollup  # noqa: E402,F401 (gateway's tables)
from gateway.models.telemetry import AuditEvent, SpendRollup  # noqa: E402,F401 (gateway's tables)
