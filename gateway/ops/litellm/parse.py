"""A LiteLLM proxy ``config.yaml`` read into a plain description (``LiteLLMConfig``).

Forgiving: an entry or setting that cannot be imported is listed in ``skipped`` with its
reason (naming the field path) and the rest goes in; ``strict`` makes any skip an error.
Keys Switchyard does not model are "skipped parameter" warnings, never silent. String
values may be ``os.environ/NAME`` references, kept and resolved at call time. Reads no
database: the planner (``plan``) compares the result with the registry."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.base.numbers import ascii_int
from gateway.catalog import capability_flags
from gateway.models import ENV_REFERENCE, Provider, Route
from gateway.ops.litellm.prefixes import (
    BEDROCK_ROLE_PARAMS,
    KIND_PARAMS,
    MILLION,
    OWN_KEY,
    PARAM_ALIASES,
    PRICE_FIELDS,
    SERVICES,
    STRATEGIES,
    TOP_K_PREFIXES,
    UNIT_PRICE_FIELDS,
    UPSTREAM_PARAMS,
    Service,
    flag_keys,
)
from gateway.ops.litellm.teams import FIELDS as TEAM_FIELDS
from gateway.ops.litellm.teams import PERIODS as TEAM_PERIODS
from gateway.ops.litellm.teams import SECTION as OWN_SECTION
from gateway.ops.litellm.teams import TeamSpec
from gateway.providers import kinds
from gateway.web import litellm_sections

# The file cannot be imported; the message names the line or the field path (the kit's,
# so that a unit's section raises the same error).
from gateway.web.litellm_sections import ConfigError as ConfigError

PRICE_QUANTUM = Decimal("0.000001")
PRICE_MAX = Decimal("999999.999999")  # Deployment price fields: 12 digits, 6 decimals
# litellm_settings.cache_params: the cache types Switchyard's own cache stands in for,
# and the settings of LiteLLM's Redis connection (Switchyard's comes from REDIS_URL).
CACHE_TYPES = ("local", "redis")
CACHE_CONNECTION_PARAMS = frozenset({"host", "port", "password", "namespace", "url", "ssl"})
DEFAULT_CACHE_TTL = 600
# LiteLLM's semantic cache types -> the gateway's semantic cache (its entries kept in the
# gateway's database): the setting that names the embedding model (one of the file's
# model_list names: a route here), and those of the vector store it would connect to.
SEMANTIC_CACHE_TYPES = {
    "redis-semantic": "redis_semantic_cache_embedding_model",
    "qdrant-semantic": "qdrant_semantic_cache_embedding_model",
}
SEMANTIC_STORE_PARAMS = frozenset(
    {
        "redis_semantic_cache_index_name",
        "qdrant_api_base",
        "qdrant_api_key",
        "qdrant_collection_name",
        "qdrant_quantization_config",
        "qdrant_semantic_cache_vector_size",
    }
)
DEFAULT_SIMILARITY = 0.95


@dataclass(slots=True)
class SemanticCacheSpec:
    """``cache_params`` of a semantic type: what every imported chat route gets."""

    ttl: int
    threshold: float
    embedding_route: str


# Why some common keys are skipped: the warning says what to use instead.
NOT_MODELLED = {
    "stream_timeout": "Switchyard has one timeout per provider: timeout",
    "max_retries": "retries are per route: num_retries",
    "additional_drop_params": "not modelled; drop_params is per route",
    "tags": "tag-based routing is not supported",
    "id": "Switchyard numbers deployments itself",
    "base_model": "prices come from model_info's cost fields",
    "success_callback": "callbacks are not supported; every request is in the request logs",
    "failure_callback": "callbacks are not supported; every request is in the request logs",
    "callbacks": "callbacks are not supported; every request is in the request logs",
    "set_verbose": "use LOG_LEVEL",
    "redis_host": "set REDIS_URL",
    "redis_port": "set REDIS_URL",
    "redis_password": "set REDIS_URL",
    "database_url": "set DATABASE_URL",
}


# --- the parsed config ----------------------------------------------------------------


@dataclass(slots=True)
class ProviderSpec:
    """What identifies a provider (kind, base URL, secret, api version, headers) plus
    the deployment's timeout (which goes to its route). Deployments with equal identities
    share one Provider row."""

    kind: str
    base_url: str
    secret: str  # literal, ``os.environ/NAME`` or ""
    api_version: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    prefix: str = "openai"

    @property
    def identity(self) -> tuple[Any, ...]:
        return (
            self.kind,
            self.base_url,
            self.secret,
            self.api_version,
            tuple(sorted(self.extra_headers.items())),
        )


def _unset_flags() -> dict[str, bool | None]:
    return {flag.name: flag.unset for flag in capability_flags.FLAGS}


@dataclass(slots=True)
class DeploymentSpec:
    path: str  # "model_list[3]", for messages
    route: str
    model: str  # upstream model id
    provider: ProviderSpec
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    # None: not in the file, so the model catalog's figure applies (gateway.catalog)
    input_price: Decimal | None = None
    output_price: Decimal | None = None
    cache_read_price: Decimal | None = None
    cache_write_price: Decimal | None = None
    search_unit_price: Decimal | None = None  # rerank: USD per search unit (per query)
    context_window: int | None = None
    max_output_tokens: int | None = None
    # capability flag -> its value (gateway.catalog.capability_flags; unset: the field's default)
    flags: dict[str, bool | None] = field(default_factory=_unset_flags)
    params: dict[str, Any] = field(default_factory=dict)
    # Route-wide settings LiteLLM lets a deployment carry (None: the file's global one).
    drop_params: bool | None = None
    max_attempts: int | None = None
    strategy: str | None = None
    auto_cache_breakpoints: bool | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A part of the file that is not imported (forgiving mode), and why."""

    path: str  # "model_list[3]", "router_settings.fallbacks", ...
    reason: str  # the full message, starting with the field path
    route: str = ""  # the entry's model_name, when known

    def __str__(self) -> str:
        return f"{self.reason} (route {self.route})" if self.route else self.reason


@dataclass(slots=True)
class LiteLLMConfig:
    strict: bool = False  # any skipped part makes the import fail instead
    # the operator's own file (manage.py import_config), not the console's or /api's
    # upload: only then are stdio MCP servers (commands on this host) imported
    operator: bool = False
    # a short or well-known general_settings.master_key (sk-1234) is imported only when
    # asked (the console's checkbox, --allow-weak-master-key): it makes an unlimited key
    allow_weak_master_key: bool = False
    deployments: list[DeploymentSpec] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    drop_params: bool | None = None
    master_key: str | None = None
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    context_window_fallbacks: dict[str, list[str]] = field(default_factory=dict)  # in order
    strategy: str | None = None
    max_attempts: int | None = None
    cache_ttl: int | None = None  # litellm_settings.cache: None when the file is silent
    semantic_cache: SemanticCacheSpec | None = None  # cache_params of a semantic type
    auto_cache_breakpoints: bool | None = None  # never file-wide: per deployment only
    env_references: dict[str, str] = field(default_factory=dict)  # path -> NAME
    warnings: list[str] = field(default_factory=list)
    teams: list[Any] = field(default_factory=list)  # teams.TeamSpec (switchyard.teams)
    # the units' sections (gateway.web.litellm_sections): their specs by the file's key
    sections: dict[str, list[Any]] = field(default_factory=dict)

    def specs(self, section: str) -> list[Any]:
        """The specs the file gives a unit's section (``mcp_servers``, ``guardrails``)."""
        return self.sections.get(section, [])

    @property
    def routes(self) -> dict[str, list[DeploymentSpec]]:
        """Deployments grouped by public model name, in file order."""
        grouped: dict[str, list[DeploymentSpec]] = {}
        for spec in self.deployments:
            grouped.setdefault(spec.route, []).append(spec)
        return grouped


# --- parsing --------------------------------------------------------------------------


def parse_config(text: str, *, strict: bool = False) -> LiteLLMConfig:
    import yaml  # here, not at the top: a serving process imports this module unused

    """Parse a config. Forgiving by default: an entry or setting that cannot be imported
    is listed in ``skipped`` (with its reason) and the rest goes in; ``strict`` makes any
    skipped part a ``ConfigError`` naming them all. Parameters Switchyard does not model
    are warnings in both modes."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ConfigError(f"invalid YAML at {where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}") from None
    if data is None:
        raise ConfigError("the config is empty")
    config = _Parser(strict).parse(data)
    refuse_skipped(config.skipped, strict)
    return config


def refuse_skipped(skipped: list[Skipped], strict: bool) -> None:
    if strict and skipped:
        raise ConfigError(
            f"{len(skipped)} part(s) cannot be imported (strict mode imports all or "
            f"nothing): {'; '.join(str(s) for s in skipped)}"
        )


class _Parser:
    def __init__(self, strict: bool = False) -> None:
        self.config = LiteLLMConfig(strict=strict)

    # small typed readers; each names the path it complains about
    def warn(self, message: str) -> None:
        self.config.warnings.append(message)

    def unknown(self, path: str, keys: Any, what: str = "setting") -> None:
        for key in keys:
            reason = NOT_MODELLED.get(key, "not supported by Switchyard")
            self.warn(f"{path}.{key}: skipped {what} ({reason})")

    def skip(self, path: str, reason: str, route: str = "") -> None:
        self.config.skipped.append(Skipped(path, reason, route))

    def guarded(self, path: str, read: Any, *args: Any) -> Any:
        """``read(*args)``; a ConfigError skips that part (listed) and returns None."""
        warnings, references = len(self.config.warnings), dict(self.config.env_references)
        try:
            return read(*args)
        except ConfigError as exc:
            del self.config.warnings[warnings:]  # about a part that is not imported
            self.config.env_references = references
            self.skip(path, str(exc))
            return None

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: must be a mapping, got {_type(value)}")
        return value

    def string(self, value: Any, path: str, *, required: bool = False) -> str:
        if value is None or value == "":
            if required:
                raise ConfigError(f"{path}: is required")
            return ""
        if not isinstance(value, str):
            raise ConfigError(f"{path}: must be a string, got {_type(value)}")
        if ENV_REFERENCE.match(value.strip()):
            self.config.env_references[path] = value.strip().split("/", 1)[1]
        return value.strip()

    def reference_or_text(self, value: Any, path: str) -> str:
        """A string where ``os.environ/...`` must be a valid reference (it is stored
        as one; a malformed one would be taken for a literal)."""
        text = self.string(value, path)
        if text.startswith("os.environ/") and not ENV_REFERENCE.match(text):
            raise ConfigError(f"{path}: not a valid environment reference: {text!r}")
        return text

    def whole(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and ascii_int(value) is not None:
            value = ascii_int(value)
        if isinstance(value, bool) or not isinstance(value, int):  # True is an int
            raise ConfigError(f"{path}: must be a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{path}: must not be negative, got {value}")
        return value

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ConfigError(f"{path}: must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: must be a number, got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")) or number < 0:
            raise ConfigError(f"{path}: must be a non-negative number, got {value!r}")
        return number

    def price(self, value: Any, path: str, per_unit: bool = False) -> Decimal | None:
        """USD per token in the file -> USD per 1M tokens (``per_unit``: kept as it is,
        USD per query / search unit)."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{path}: must be a number, got {value!r}")
        try:
            per_token = Decimal(str(value).strip())
        except InvalidOperation:
            raise ConfigError(f"{path}: must be a number, got {value!r}") from None
        if not per_token.is_finite() or per_token < 0:
            raise ConfigError(f"{path}: must be a non-negative number, got {value!r}")
        scale = 1 if per_unit else MILLION
        if per_token * scale > PRICE_MAX:  # before quantize, which fails on huge values
            raise ConfigError(f"{path}: {value!r} is beyond the supported range")
        return (per_token * scale).quantize(PRICE_QUANTUM)

    def boolean(self, value: Any, path: str) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: must be true or false, got {value!r}")
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: must be a list, got {_type(value)}")
        return value

    def string_map(self, value: Any, path: str) -> dict[str, str]:
        headers = self.mapping(value, path)
        for key, item in headers.items():
            if not isinstance(key, str) or not isinstance(item, str | int | float):
                raise ConfigError(f"{path}.{key}: must be a string")
        return {str(k): str(v) for k, v in headers.items()}

    def teams(self, section: Any, path: str) -> list[TeamSpec]:
        """``switchyard.teams`` (gateway.ops.litellm.teams): one entry per team name; an
        entry that cannot be read is skipped (listed)."""
        specs: list[TeamSpec] = []
        for name, entry in self.mapping(section, path).items():
            spec = self.guarded(f"{path}.{name}", self.team, str(name), entry, f"{path}.{name}")
            if spec is not None:
                specs.append(spec)
        return specs

    def team(self, name: str, entry: Any, path: str) -> TeamSpec:
        entry = dict(self.mapping(entry, path))
        self.unknown(path, [k for k in entry if k not in TEAM_FIELDS], "parameter")
        spec = TeamSpec(path=path, name=name)
        spec.description = self.string(entry.get("description"), f"{path}.description")
        spec.rpm_limit = self.whole(entry.get("rpm_limit"), f"{path}.rpm_limit")
        spec.tpm_limit = self.whole(entry.get("tpm_limit"), f"{path}.tpm_limit")
        budget = self.price(entry.get("budget_usd"), f"{path}.budget_usd", per_unit=True)
        spec.budget_usd = None if budget is None else budget.normalize()
        period = self.string(entry.get("budget_period"), f"{path}.budget_period") or "month"
        if period not in TEAM_PERIODS:
            raise ConfigError(
                f"{path}.budget_period: one of {', '.join(TEAM_PERIODS)}, got {period!r}"
            )
        spec.budget_period = period
        spec.guardrails = self.names(entry.get("guardrails"), f"{path}.guardrails") or []
        spec.mcp_allowed = self.names(entry.get("mcp_allowed"), f"{path}.mcp_allowed")
        return spec

    def names(self, value: Any, path: str) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{path}: must be a list of names")
        return list(dict.fromkeys(value))

    def references(self, value: Any, path: str) -> None:
        """Note every ``os.environ/NAME`` inside ``value`` (for the planner's warnings)."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.references(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.references(item, f"{path}[{index}]")
        elif isinstance(value, str) and ENV_REFERENCE.match(value.strip()):
            self.config.env_references[path] = value.strip().split("/", 1)[1]

    # sections
    def parse(self, data: Any) -> LiteLLMConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"the config must be a mapping at the top level, got {_type(data)}")
        known = {
            "model_list",
            "litellm_settings",
            "general_settings",
            "router_settings",
            "environment_variables",
            OWN_SECTION,
        }
        sections = litellm_sections.sections()
        known |= {section.key for section in sections}
        self.unknown("(top level)", [k for k in data if k not in known], "section")
        if data.get("environment_variables"):
            self.warn(
                "environment_variables: not applied; set these variables in Switchyard's "
                "own environment"
            )
        models_ = data.get("model_list")
        if models_ is None:
            models_ = []
        if not isinstance(models_, list):
            raise ConfigError(f"model_list: must be a list, got {_type(models_)}")
        for index, entry in enumerate(models_):
            path = f"model_list[{index}]"
            spec = self.guarded(path, self.deployment, entry, path)
            if spec is not None:
                self.config.deployments.append(spec)
            elif isinstance(entry, dict) and isinstance(entry.get("model_name"), str):
                skipped = self.config.skipped[-1]
                self.config.skipped[-1] = Skipped(path, skipped.reason, entry["model_name"])
        for section in sections:  # the units' (mcp_servers, guardrails)
            if data.get(section.key) is not None:
                read = self.guarded(section.key, section.parse, self, data[section.key])
                self.config.sections[section.key] = read or []
        own = self.guarded(OWN_SECTION, self.mapping, data.get(OWN_SECTION), OWN_SECTION)
        if own:
            own = dict(own)
            if own.get("teams") is not None:
                path = f"{OWN_SECTION}.teams"
                self.config.teams = self.guarded(path, self.teams, own.pop("teams"), path) or []
            own.pop("teams", None)
            self.unknown(OWN_SECTION, own, "section")
        for name in ("litellm_settings", "router_settings", "general_settings"):
            section = self.guarded(name, self.mapping, data.get(name), name)
            if section:
                getattr(self, name)(section)
        return self.config

    def deployment(self, entry: Any, path: str) -> DeploymentSpec:
        entry = self.mapping(entry, path)
        if not entry:
            raise ConfigError(f"{path}: is empty")
        self.unknown(
            path,
            [k for k in entry if k not in ("model_name", "litellm_params", "model_info")],
            "parameter",
        )
        route = self.string(entry.get("model_name"), f"{path}.model_name", required=True)
        params = dict(self.mapping(entry.get("litellm_params"), f"{path}.litellm_params"))
        p = f"{path}.litellm_params"
        full_model = self.string(params.pop("model", None), f"{p}.model", required=True)
        prefix, _, upstream = full_model.partition("/")
        if prefix == "openai" and upstream.startswith("responses/"):
            prefix, upstream = "openai/responses", upstream.removeprefix("responses/")
        elif prefix == "gemini" and upstream.startswith("interactions/"):
            prefix, upstream = "gemini/interactions", upstream.removeprefix("interactions/")
        elif prefix == "bedrock" and upstream.startswith(("converse/", "invoke/")):
            route_kind, _, upstream = upstream.partition("/")
            if route_kind == "invoke":
                self.warn(f"{p}.model: bedrock/invoke/ is called through Converse here")
        if not upstream:
            raise ConfigError(
                f"{p}.model: {full_model!r} has no provider prefix (such as openai/ or anthropic/)"
            )
        service = SERVICES.get(prefix)
        if service is None:
            raise ConfigError(f"{p}.model: provider {prefix!r} is not supported yet")
        provider = ProviderSpec(
            kind=service.kind,
            base_url=self.base_url(service, params.pop("api_base", None), f"{p}.api_base"),
            secret=self.reference_or_text(params.pop("api_key", None), f"{p}.api_key"),
            api_version=self.reference_or_text(params.pop("api_version", None), f"{p}.api_version"),
            extra_headers=self.string_map(params.pop("extra_headers", None), f"{p}.extra_headers"),
            timeout=self.number(params.pop("timeout", None), f"{p}.timeout"),
            prefix=prefix,
        )
        organization = self.string(params.pop("organization", None), f"{p}.organization")
        if organization:
            provider.extra_headers.setdefault("OpenAI-Organization", organization)
        if provider.kind == Provider.Kind.AZURE and not provider.api_version:
            self.warn(f"{p}.api_version: not set; the Azure adapter's default is used")
        if provider.timeout is not None and provider.timeout < 0.1:
            raise ConfigError(f"{p}.timeout: must be at least 0.1 seconds")
        spec = DeploymentSpec(path=path, route=route, model=upstream, provider=provider)
        spec.flags["supports_top_k"] = prefix in TOP_K_PREFIXES
        if provider.kind == Provider.Kind.OPENAI_RESPONSES:  # its models reason
            spec.flags["supports_reasoning"] = True
        self.kind_params(spec, params, p)
        weight = self.number(params.pop("weight", None), f"{p}.weight")
        spec.weight = 1.0 if weight is None else weight
        spec.rpm = self.whole(params.pop("rpm", None), f"{p}.rpm")
        spec.tpm = self.whole(params.pop("tpm", None), f"{p}.tpm")
        spec.drop_params = self.boolean(params.pop("drop_params", None), f"{p}.drop_params")
        self.cache_injection(spec, params.pop("cache_control_injection_points", None), p)
        retries = self.whole(params.pop("num_retries", None), f"{p}.num_retries")
        spec.max_attempts = None if retries is None else retries + 1
        # LiteLLM accepts custom prices in litellm_params as well as in model_info.
        info = dict(self.mapping(entry.get("model_info"), f"{path}.model_info"))
        for key in ("input_cost_per_token", "output_cost_per_token"):
            if key in params:
                info.setdefault(key, params.pop(key))
        for key in list(params):
            if key in UPSTREAM_PARAMS:
                spec.params[key] = params.pop(key)
        self.unknown(p, params, "parameter")
        self.model_info(spec, info, f"{path}.model_info")
        return spec

    def cache_injection(self, spec: DeploymentSpec, points: Any, path: str) -> None:
        """LiteLLM's ``cache_control_injection_points`` (where its proxy adds Anthropic
        ``cache_control``): Switchyard's nearest setting is the route's automatic
        breakpoints (tools, system prompt, last stable turn: gateway/core/prompt_cache), on
        when the list names any point, off when it is empty."""
        if points is None:
            return
        where = f"{path}.cache_control_injection_points"
        if not isinstance(points, list):
            raise ConfigError(f"{where}: must be a list")
        spec.auto_cache_breakpoints = bool(points)
        if points:
            self.warn(
                f"{where}: imported as the route's automatic prompt-cache breakpoints "
                "(after the tools, the system prompt and the last stable turn)"
            )

    def kind_params(self, spec: DeploymentSpec, params: dict[str, Any], path: str) -> None:
        """Move the settings of a Bedrock or Vertex AI deployment out of ``params``:
        secrets to the provider's secret (kept encrypted), the rest to the deployment's
        params under LiteLLM's names. A literal secret never lands in plain params."""
        kind, provider = spec.provider.kind, spec.provider
        if kind == Provider.Kind.VERTEX_AI:
            for alias, name in PARAM_ALIASES.items():
                if alias in params:
                    params.setdefault(name, params.pop(alias))
        if kind == Provider.Kind.BEDROCK:
            if provider.secret:  # api_key: Bedrock's bearer keys are not supported
                self.warn(
                    f"{path}.api_key: skipped parameter (Bedrock is called with "
                    "aws_access_key_id and aws_secret_access_key, a profile or the default "
                    "AWS credentials)"
                )
            provider.secret = self.reference_or_text(
                params.pop("aws_secret_access_key", None), f"{path}.aws_secret_access_key"
            )
            for name in BEDROCK_ROLE_PARAMS:
                if name in params:
                    params.pop(name)
                    self.warn(
                        f"{path}.{name}: skipped parameter (assuming a role is not "
                        "supported; use aws_profile_name with a profile that assumes it)"
                    )
            token = params.get("aws_session_token")
            if isinstance(token, str) and token and not ENV_REFERENCE.match(token):
                params.pop("aws_session_token")
                self.warn(
                    f"{path}.aws_session_token: skipped parameter (a literal session token "
                    "would be stored in plain text; give it as os.environ/NAME)"
                )
        elif kind == Provider.Kind.VERTEX_AI:
            if provider.secret:
                self.warn(
                    f"{path}.api_key: skipped parameter (Vertex AI authenticates with "
                    "vertex_credentials or the application default credentials)"
                )
                provider.secret = ""
            credentials = params.get("vertex_credentials")
            if isinstance(credentials, dict):  # inline service-account JSON
                provider.secret = json.dumps(credentials, sort_keys=True)
                params.pop("vertex_credentials")
            elif isinstance(credentials, str) and (
                credentials.lstrip().startswith("{") or credentials.startswith("os.environ/")
            ):  # the key itself (or where it is): the encrypted secret
                provider.secret = self.reference_or_text(
                    params.pop("vertex_credentials"), f"{path}.vertex_credentials"
                )
        for name in KIND_PARAMS.get(kind, ()):
            if name in params:
                value = self.reference_or_text(params.pop(name), f"{path}.{name}")
                if value:
                    spec.params[name] = value

    def base_url(self, service: Service, value: Any, path: str) -> str:
        url = self.string(value, path).rstrip("/")
        if not url:
            if not service.default_base and kinds.needs_base_url(service.kind):
                raise ConfigError(f"{path}: is required for {service.prefix}/ models")
            return service.default_base
        if url.startswith("os.environ/"):  # kept as a reference, read at call time
            return self.reference_or_text(url, path)
        if not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{path}: must be an http:// or https:// URL, got {url!r}")
        if service.kind == Provider.Kind.ANTHROPIC:  # the host root: {base}/v1/messages
            url = re.sub(r"/v1(/messages)?$", "", url)
        elif service.prefix in ("ollama", "ollama_chat") and not url.endswith("/v1"):
            url += "/v1"  # LiteLLM's ollama api_base is the server root
        return url

    def model_info(self, spec: DeploymentSpec, info: dict[str, Any], path: str) -> None:
        for key, attr in PRICE_FIELDS.items():
            value = self.price(info.pop(key, None), f"{path}.{key}")
            if value is not None:
                setattr(spec, attr, value)
        for key, attr in UNIT_PRICE_FIELDS.items():
            value = self.price(info.pop(key, None), f"{path}.{key}", per_unit=True)
            if value is not None:
                setattr(spec, attr, value)
        max_output = self.whole(info.pop("max_output_tokens", None), f"{path}.max_output_tokens")
        legacy_max = self.whole(info.pop("max_tokens", None), f"{path}.max_tokens")
        spec.max_output_tokens = max_output if max_output is not None else legacy_max
        spec.context_window = self.whole(
            info.pop("max_input_tokens", None), f"{path}.max_input_tokens"
        )
        for key, name in flag_keys().items():
            flag = self.boolean(info.pop(key, None), f"{path}.{key}")
            if flag is not None:
                spec.flags[name] = flag
        if info.get("mode", "chat") == "chat":
            info.pop("mode", None)
        own = self.mapping(info.pop(OWN_KEY, None), f"{path}.{OWN_KEY}")
        self.own_settings(spec, dict(own), f"{path}.{OWN_KEY}")
        self.unknown(path, info, "parameter")

    def own_settings(self, spec: DeploymentSpec, own: dict[str, Any], path: str) -> None:
        """``model_info.switchyard``: what Switchyard exports that LiteLLM has no field
        for (upstream params beyond LiteLLM's, a route's own strategy); LiteLLM keeps
        model_info as metadata and ignores it."""
        params = self.mapping(own.pop("params", None), f"{path}.params")
        spec.params = {**params, **spec.params}
        strategy = own.pop("strategy", None)
        if strategy is not None:
            if strategy not in Route.Strategy.values:
                raise ConfigError(
                    f"{path}.strategy: must be one of {', '.join(Route.Strategy.values)}, "
                    f"got {strategy!r}"
                )
            spec.strategy = strategy
        auto = own.pop("auto_cache_breakpoints", None)
        if auto is not None:
            spec.auto_cache_breakpoints = self.boolean(auto, f"{path}.auto_cache_breakpoints")
        self.unknown(path, own, "parameter")

    def fallback_map(self, value: Any, path: str) -> dict[str, list[str]]:
        if value is None:
            return {}
        if not isinstance(value, list):
            raise ConfigError(f"{path}: must be a list of {{model_name: [fallback, ...]}}")
        result: dict[str, list[str]] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise ConfigError(f"{path}[{index}]: must be a mapping {{model_name: [...]}}")
            for source, targets in item.items():
                if isinstance(targets, str):
                    targets = [targets]
                if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                    raise ConfigError(f"{path}[{index}].{source}: must be a list of model names")
                result.setdefault(str(source), []).extend(targets)
        return result

    def retry_settings(self, settings: dict[str, Any], path: str) -> None:
        """fallbacks, context_window_fallbacks and num_retries: LiteLLM reads them from
        both litellm_settings and router_settings (router_settings parsed last, wins)."""
        fb_path = f"{path}.fallbacks"
        fallbacks = self.guarded(
            fb_path, self.fallback_map, settings.pop("fallbacks", None), fb_path
        )
        self.config.fallbacks.update(fallbacks or {})
        cw_path = f"{path}.context_window_fallbacks"
        cw = self.guarded(
            cw_path, self.fallback_map, settings.pop("context_window_fallbacks", None), cw_path
        )
        self.config.context_window_fallbacks.update(cw or {})
        nr_path = f"{path}.num_retries"
        retries = self.guarded(nr_path, self.whole, settings.pop("num_retries", None), nr_path)
        if retries is not None:
            self.config.max_attempts = retries + 1

    def litellm_settings(self, settings: dict[str, Any]) -> None:
        settings = dict(settings)
        path = "litellm_settings.drop_params"
        self.config.drop_params = self.guarded(
            path, self.boolean, settings.pop("drop_params", None), path
        )
        self.retry_settings(settings, "litellm_settings")
        self.cache_settings(settings)
        self.unknown("litellm_settings", settings)

    def cache_settings(self, settings: dict[str, Any]) -> None:
        """``cache: true`` with ``cache_params`` (type, ttl) -> a cache TTL on every
        imported route. Switchyard's cache is exact-match, in memory or in Redis when
        REDIS_URL is set; LiteLLM's connection settings for it are not used."""
        enabled = self.boolean(settings.pop("cache", None), "litellm_settings.cache")
        path = "litellm_settings.cache_params"
        params = dict(self.mapping(settings.pop("cache_params", None), path))
        if enabled is None:
            if params:
                self.warn(f"{path}: ignored without litellm_settings.cache: true")
            return
        if not enabled:
            self.config.cache_ttl = 0
            return
        kind = params.pop("type", "local")
        if kind in SEMANTIC_CACHE_TYPES:
            self.semantic_cache_settings(kind, params, path)
            return
        if kind not in CACHE_TYPES:
            self.warn(
                f"{path}.type: {kind!r} is not supported; Switchyard's exact-match cache "
                "(memory, or Redis with REDIS_URL) is used"
            )
        elif kind == "redis":
            self.warn(f"{path}.type: redis is used when Switchyard has REDIS_URL set")
        if params.get("mode") == "default_off":
            self.warn(f"{path}.mode: default_off is not supported; caching stays off")
            return
        params.pop("mode", None)
        ttl = self.whole(params.pop("ttl", None), f"{path}.ttl")
        if ttl is None:
            self.warn(f"{path}.ttl: not set; {DEFAULT_CACHE_TTL} seconds is used")
            ttl = DEFAULT_CACHE_TTL
        self.config.cache_ttl = ttl
        for name in sorted(params):
            if name in CACHE_CONNECTION_PARAMS:
                self.warn(f"{path}.{name}: not used; Switchyard's cache uses REDIS_URL")
            else:
                self.warn(f"{path}.{name}: not supported by Switchyard, ignored")

    def semantic_cache_settings(self, kind: str, params: dict[str, Any], path: str) -> None:
        """``type: redis-semantic`` / ``qdrant-semantic`` -> the semantic cache on every
        imported chat route: ``similarity_threshold``, ``ttl`` and the embedding model,
        which must be a model_name of the file (one of its routes). Entries live in the
        gateway's database (and Redis announces them when REDIS_URL is set): the vector
        store's settings are not used. LiteLLM shares answers across keys; the import
        keeps each key's own (``semantic_cache_scope: key``), the safe default."""
        embedding = self.string(params.pop(SEMANTIC_CACHE_TYPES[kind], None), f"{path}.{kind}")
        if not embedding:
            self.warn(
                f"{path}.{SEMANTIC_CACHE_TYPES[kind]}: not set; name the model_list entry "
                "that embeds (the semantic cache stays off)"
            )
            return
        threshold = self.number(
            params.pop("similarity_threshold", None), f"{path}.similarity_threshold"
        )
        if threshold is None:
            self.warn(f"{path}.similarity_threshold: not set; {DEFAULT_SIMILARITY} is used")
            threshold = DEFAULT_SIMILARITY
        if not 0.5 <= threshold <= 1.0:
            raise ConfigError(
                f"{path}.similarity_threshold: must be between 0.5 and 1, got {threshold}"
            )
        ttl = self.whole(params.pop("ttl", None), f"{path}.ttl")
        if ttl is None:
            self.warn(f"{path}.ttl: not set; {DEFAULT_CACHE_TTL} seconds is used")
            ttl = DEFAULT_CACHE_TTL
        params.pop("mode", None)
        self.config.semantic_cache = SemanticCacheSpec(ttl, threshold, embedding)
        self.warn(
            f"{path}.type: {kind}: each key sees only its own cached answers "
            "(semantic_cache_scope key; LiteLLM shares them across keys)"
        )
        for name in sorted(params):
            if name in CACHE_CONNECTION_PARAMS or name in SEMANTIC_STORE_PARAMS:
                self.warn(
                    f"{path}.{name}: not used; Switchyard keeps semantic cache entries in "
                    "its database"
                )
            else:
                self.warn(f"{path}.{name}: not supported by Switchyard, ignored")

    def router_settings(self, settings: dict[str, Any]) -> None:
        settings = dict(settings)
        self.retry_settings(settings, "router_settings")
        strategy = settings.pop("routing_strategy", None)
        if strategy is not None:
            if isinstance(strategy, str) and strategy in STRATEGIES:
                self.config.strategy = STRATEGIES[strategy]
            else:
                self.warn(
                    f"router_settings.routing_strategy: skipped setting ({strategy!r} is not "
                    f"supported: {', '.join(STRATEGIES)}); routes keep their strategy"
                )
        self.unknown("router_settings", settings)

    def general_settings(self, settings: dict[str, Any]) -> None:
        settings = dict(settings)
        path = "general_settings.master_key"
        key = self.guarded(path, self.string, settings.pop("master_key", None), path)
        self.config.master_key = key or None
        self.unknown("general_settings", settings)


def _type(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)
