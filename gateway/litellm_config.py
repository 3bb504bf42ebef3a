"""Import and export of LiteLLM proxy ``config.yaml`` files.

Three steps, so that a person can look before anything changes:

``parse_config(text)``   YAML -> typed ``LiteLLMConfig`` (shape errors name the field path;
                         keys we do not apply become warnings, never silent).
``plan_import(config)``  compares with the database -> ``ImportPlan`` (what would be created
                         or updated, and what is unchanged); ``describe()`` renders it.
``apply_plan(plan)``     applies it in one transaction (re-planned inside it, so a preview
                         that went stale cannot half-apply); importing twice changes nothing.

``export_config()`` writes the registry back as a config that imports to the same rows.

An import never deletes: deployments, routes and providers the file does not name are
kept and reported. Route-wide settings (``drop_params``, ``routing_strategy``,
``num_retries``) are applied to the routes the file names, and only when the file sets them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.text import slugify

from .models import ENV_REFERENCE, ApiKey, Deployment, Provider, Route

MASTER_KEY_NAME = "litellm-master-key"
MILLION = Decimal(1_000_000)
PRICE_QUANTUM = Decimal("0.000001")
PRICE_MAX = Decimal("999999.999999")  # Deployment price fields: 12 digits, 6 decimals


class ConfigError(Exception):
    """The file cannot be imported; the message names the line or the field path."""


# --- provider prefixes ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Service:
    prefix: str
    kind: str
    default_base: str  # "" when api_base is required (or the kind needs none)


SERVICES: dict[str, Service] = {
    s.prefix: s
    for s in (
        Service("openai", Provider.Kind.OPENAI, "https://api.openai.com/v1"),
        Service("deepseek", Provider.Kind.OPENAI, "https://api.deepseek.com/v1"),
        Service("groq", Provider.Kind.OPENAI, "https://api.groq.com/openai/v1"),
        Service("mistral", Provider.Kind.OPENAI, "https://api.mistral.ai/v1"),
        Service("together_ai", Provider.Kind.OPENAI, "https://api.together.xyz/v1"),
        Service("fireworks_ai", Provider.Kind.OPENAI, "https://api.fireworks.ai/inference/v1"),
        Service("openrouter", Provider.Kind.OPENAI, "https://openrouter.ai/api/v1"),
        Service("ollama", Provider.Kind.OPENAI, "http://localhost:11434/v1"),
        Service("ollama_chat", Provider.Kind.OPENAI, "http://localhost:11434/v1"),
        Service("hosted_vllm", Provider.Kind.OPENAI, ""),
        Service(
            "gemini",
            Provider.Kind.OPENAI,
            "https://generativelanguage.googleapis.com/v1beta/openai",
        ),
        Service("anthropic", Provider.Kind.ANTHROPIC, "https://api.anthropic.com"),
        Service("azure", Provider.Kind.AZURE, ""),
    )
}
# Export: which prefix stands for a provider whose base URL is a service's default.
_PREFIX_BY_DEFAULT = {
    (s.kind, s.default_base): s.prefix
    for s in reversed(SERVICES.values())  # first listed wins (ollama over ollama_chat)
    if s.default_base
}

# litellm_params that are sent upstream as request defaults (Deployment.params).
UPSTREAM_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "stop",
        "reasoning_effort",
        "logit_bias",
        "parallel_tool_calls",
        "response_format",
    }
)
# model_info keys -> Deployment fields (prices: USD per token there, per 1M here).
PRICE_FIELDS = {
    "input_cost_per_token": "input_price",
    "output_cost_per_token": "output_price",
    "cache_read_input_token_cost": "cache_read_price",
    "cache_creation_input_token_cost": "cache_write_price",
}
FLAG_FIELDS = {
    "supports_function_calling": "supports_tools",
    "supports_vision": "supports_vision",
    "supports_reasoning": "supports_reasoning",
}
STRATEGIES = {
    "simple-shuffle": Route.Strategy.WEIGHTED,
    "least-busy": Route.Strategy.LEAST_BUSY,
    "latency-based-routing": Route.Strategy.LOWEST_LATENCY,
}


# --- the parsed config ----------------------------------------------------------------


@dataclass(slots=True)
class ProviderSpec:
    """What identifies a provider (kind, base URL, secret, api version, headers) plus
    its timeout. Deployments with equal identities share one Provider row."""

    kind: str
    base_url: str
    secret: str  # literal, ``os.environ/NAME`` or ""
    api_version: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    prefix: str = "openai"

    @property
    def identity(self) -> tuple:
        return (
            self.kind,
            self.base_url,
            self.secret,
            self.api_version,
            tuple(sorted(self.extra_headers.items())),
        )


@dataclass(slots=True)
class DeploymentSpec:
    path: str  # "model_list[3]", for messages
    route: str
    model: str  # upstream model id
    provider: ProviderSpec
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    input_price: Decimal = Decimal("0")
    output_price: Decimal = Decimal("0")
    cache_read_price: Decimal = Decimal("0")
    cache_write_price: Decimal = Decimal("0")
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool = True
    supports_vision: bool = True
    supports_reasoning: bool = False
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LiteLLMConfig:
    deployments: list[DeploymentSpec] = field(default_factory=list)
    drop_params: bool | None = None
    master_key: str | None = None
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    context_window_fallbacks: dict[str, str] = field(default_factory=dict)
    strategy: str | None = None
    max_attempts: int | None = None
    env_references: dict[str, str] = field(default_factory=dict)  # path -> NAME
    warnings: list[str] = field(default_factory=list)

    @property
    def routes(self) -> dict[str, list[DeploymentSpec]]:
        """Deployments grouped by public model name, in file order."""
        grouped: dict[str, list[DeploymentSpec]] = {}
        for spec in self.deployments:
            grouped.setdefault(spec.route, []).append(spec)
        return grouped


# --- parsing --------------------------------------------------------------------------


def parse_config(text: str) -> LiteLLMConfig:
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
    parser = _Parser()
    return parser.parse(data)


class _Parser:
    def __init__(self) -> None:
        self.config = LiteLLMConfig()

    # small typed readers; each names the path it complains about
    def warn(self, message: str) -> None:
        self.config.warnings.append(message)

    def unknown(self, path: str, keys: Any) -> None:
        for key in keys:
            self.warn(f"{path}.{key}: not supported by Switchyard, ignored")

    def mapping(self, value: Any, path: str) -> dict:
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

    def resolved(self, value: Any, path: str) -> str:
        """A string that cannot be stored as a reference (a URL, a version): an
        ``os.environ/NAME`` here is read now."""
        text = self.string(value, path)
        match = ENV_REFERENCE.match(text)
        if not match:
            return text
        self.config.env_references.pop(path, None)
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{path}: environment variable {name} is not set")
        self.warn(f"{path}: {text} was read at import time (Switchyard stores the value)")
        return os.environ[name].strip()

    def whole(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ConfigError(f"{path}: must be a whole number, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int):
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

    def price(self, value: Any, path: str) -> Decimal | None:
        """USD per token in the file -> USD per 1M tokens."""
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
        per_million = (per_token * MILLION).quantize(PRICE_QUANTUM)
        if per_million > PRICE_MAX:
            raise ConfigError(f"{path}: {value!r} per token is beyond the supported range")
        return per_million

    def boolean(self, value: Any, path: str) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: must be true or false, got {value!r}")
        return value

    def string_map(self, value: Any, path: str) -> dict[str, str]:
        headers = self.mapping(value, path)
        for key, item in headers.items():
            if not isinstance(key, str) or not isinstance(item, str | int | float):
                raise ConfigError(f"{path}.{key}: must be a string")
        return {str(k): str(v) for k, v in headers.items()}

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
        }
        self.unknown("(top level)", [k for k in data if k not in known])
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
            self.config.deployments.append(self.deployment(entry, f"model_list[{index}]"))
        self.litellm_settings(self.mapping(data.get("litellm_settings"), "litellm_settings"))
        self.router_settings(self.mapping(data.get("router_settings"), "router_settings"))
        self.general_settings(self.mapping(data.get("general_settings"), "general_settings"))
        return self.config

    def deployment(self, entry: Any, path: str) -> DeploymentSpec:
        entry = self.mapping(entry, path)
        if not entry:
            raise ConfigError(f"{path}: is empty")
        self.unknown(
            path, [k for k in entry if k not in ("model_name", "litellm_params", "model_info")]
        )
        route = self.string(entry.get("model_name"), f"{path}.model_name", required=True)
        params = dict(self.mapping(entry.get("litellm_params"), f"{path}.litellm_params"))
        p = f"{path}.litellm_params"
        full_model = self.string(params.pop("model", None), f"{p}.model", required=True)
        prefix, _, upstream = full_model.partition("/")
        service = SERVICES.get(prefix)
        if service is None or not upstream:
            raise ConfigError(
                f"{p}.model: {full_model!r} has no known provider prefix "
                f"(one of: {', '.join(SERVICES)})"
            )
        provider = ProviderSpec(
            kind=service.kind,
            base_url=self.base_url(service, params.pop("api_base", None), f"{p}.api_base"),
            secret=self.string(params.pop("api_key", None), f"{p}.api_key"),
            api_version=self.resolved(params.pop("api_version", None), f"{p}.api_version"),
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
        weight = self.number(params.pop("weight", None), f"{p}.weight")
        spec.weight = 1.0 if weight is None else weight
        spec.rpm = self.whole(params.pop("rpm", None), f"{p}.rpm")
        spec.tpm = self.whole(params.pop("tpm", None), f"{p}.tpm")
        # LiteLLM accepts custom prices in litellm_params as well as in model_info.
        info = dict(self.mapping(entry.get("model_info"), f"{path}.model_info"))
        for key in ("input_cost_per_token", "output_cost_per_token"):
            if key in params:
                info.setdefault(key, params.pop(key))
        for key in list(params):
            if key in UPSTREAM_PARAMS:
                spec.params[key] = params.pop(key)
        self.unknown(p, params)
        self.model_info(spec, info, f"{path}.model_info")
        return spec

    def base_url(self, service: Service, value: Any, path: str) -> str:
        url = self.resolved(value, path).rstrip("/")
        if not url:
            if not service.default_base and service.kind != Provider.Kind.ANTHROPIC:
                raise ConfigError(f"{path}: is required for {service.prefix}/ models")
            return service.default_base
        if not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{path}: must be an http:// or https:// URL, got {url!r}")
        if service.kind == Provider.Kind.ANTHROPIC:  # the host root: {base}/v1/messages
            url = re.sub(r"/v1(/messages)?$", "", url)
        elif service.prefix in ("ollama", "ollama_chat") and not url.endswith("/v1"):
            url += "/v1"  # LiteLLM's ollama api_base is the server root
        return url

    def model_info(self, spec: DeploymentSpec, info: dict, path: str) -> None:
        for key, attr in PRICE_FIELDS.items():
            value = self.price(info.pop(key, None), f"{path}.{key}")
            if value is not None:
                setattr(spec, attr, value)
        max_output = self.whole(info.pop("max_output_tokens", None), f"{path}.max_output_tokens")
        legacy_max = self.whole(info.pop("max_tokens", None), f"{path}.max_tokens")
        spec.max_output_tokens = max_output if max_output is not None else legacy_max
        spec.context_window = self.whole(
            info.pop("max_input_tokens", None), f"{path}.max_input_tokens"
        )
        for key, attr in FLAG_FIELDS.items():
            value = self.boolean(info.pop(key, None), f"{path}.{key}")
            if value is not None:
                setattr(spec, attr, value)
        if info.get("mode", "chat") == "chat":
            info.pop("mode", None)
        self.unknown(path, info)

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

    def retry_settings(self, settings: dict, path: str) -> None:
        """fallbacks, context_window_fallbacks and num_retries: LiteLLM reads them from
        both litellm_settings and router_settings (router_settings parsed last, wins)."""
        self.config.fallbacks.update(
            self.fallback_map(settings.pop("fallbacks", None), f"{path}.fallbacks")
        )
        cw_path = f"{path}.context_window_fallbacks"
        for source, targets in self.fallback_map(
            settings.pop("context_window_fallbacks", None), cw_path
        ).items():
            if targets:
                self.config.context_window_fallbacks[source] = targets[0]
            if len(targets) > 1:
                self.warn(f"{cw_path}.{source}: only the first ({targets[0]}) is used")
        retries = self.whole(settings.pop("num_retries", None), f"{path}.num_retries")
        if retries is not None:
            self.config.max_attempts = retries + 1

    def litellm_settings(self, settings: dict) -> None:
        settings = dict(settings)
        self.config.drop_params = self.boolean(
            settings.pop("drop_params", None), "litellm_settings.drop_params"
        )
        self.retry_settings(settings, "litellm_settings")
        self.unknown("litellm_settings", settings)

    def router_settings(self, settings: dict) -> None:
        settings = dict(settings)
        self.retry_settings(settings, "router_settings")
        strategy = settings.pop("routing_strategy", None)
        if strategy is not None:
            if strategy in STRATEGIES:
                self.config.strategy = STRATEGIES[strategy]
            else:
                self.warn(
                    f"router_settings.routing_strategy: {strategy!r} is not supported "
                    f"(supported: {', '.join(STRATEGIES)}); routes keep their strategy"
                )
        self.unknown("router_settings", settings)

    def general_settings(self, settings: dict) -> None:
        settings = dict(settings)
        key = self.string(settings.pop("master_key", None), "general_settings.master_key")
        self.config.master_key = key or None
        self.unknown("general_settings", settings)


def _type(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__
    )


# --- planning -------------------------------------------------------------------------


@dataclass(slots=True)
class Change:
    """One row the import creates, updates or leaves as is. ``obj`` carries the new
    values (unsaved when created); ``fields`` lists (old, new) for an update."""

    action: str  # "create" | "update" | "unchanged"
    label: str
    obj: models.Model
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class ImportPlan:
    config: LiteLLMConfig
    providers: list[Change] = field(default_factory=list)
    routes: list[Change] = field(default_factory=list)
    deployments: list[Change] = field(default_factory=list)
    keys: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    SECTIONS = ("providers", "routes", "deployments", "keys")

    @property
    def has_changes(self) -> bool:
        return any(c.action != "unchanged" for s in self.SECTIONS for c in getattr(self, s))

    def counts(self) -> dict[str, Counter]:
        return {s: Counter(c.action for c in getattr(self, s)) for s in self.SECTIONS}

    def describe(self) -> str:
        lines: list[str] = []
        for section in self.SECTIONS:
            changes = getattr(self, section)
            counts = Counter(c.action for c in changes)
            lines.append(
                f"{section}: {counts['create']} to create, {counts['update']} to update, "
                f"{counts['unchanged']} unchanged"
            )
            for change in changes:
                if change.action == "create":
                    lines.append(f"  + {change.label}")
                elif change.action == "update":
                    detail = ", ".join(
                        f"{name}: {_show(name, old)} -> {_show(name, new)}"
                        for name, (old, new) in change.fields.items()
                    )
                    lines.append(f"  ~ {change.label} ({detail})")
        if not self.has_changes:
            lines.append("nothing to change")
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass(slots=True)
class ImportResult:
    counts: dict[str, Counter]
    warnings: list[str]
    notes: list[str]

    def summary(self) -> str:
        parts = [
            f"{section}: {c['create']} created, {c['update']} updated, {c['unchanged']} unchanged"
            for section, c in self.counts.items()
        ]
        return "; ".join(parts)


def _show(name: str, value: Any) -> str:
    if name in ("secret_ciphertext", "key_hash"):
        return "(secret)" if value else "(none)"
    if name == "extra_headers" and isinstance(value, dict):  # may carry credentials
        return "{" + ", ".join(f"{k!r}: …" for k in value) + "}"
    return repr(value)


def _diff(obj: models.Model, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set ``values`` on ``obj``; return those that changed as (old, new)."""
    changed = {}
    for name, new in values.items():
        old = getattr(obj, name)
        if old != new:
            changed[name] = (old, new)
            setattr(obj, name, new)
    return changed


def _change(obj: models.Model, values: dict[str, Any], label: str, path: str) -> Change:
    if obj.pk is None:
        for name, value in values.items():
            setattr(obj, name, value)
        change = Change("create", label, obj)
    else:
        fields = _diff(obj, values)
        change = Change("update" if fields else "unchanged", label, obj, fields)
    _validate(obj, path)
    return change


def _validate(obj: models.Model, path: str) -> None:
    """Model validation at plan time, so a dry run catches what saving would reject."""
    exclude = [f.name for f in obj._meta.fields if f.is_relation] + ["key_hash"]
    try:
        obj.clean_fields(exclude=exclude)
        obj.clean()
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ConfigError(f"{path}: {detail}") from None


class _Planner:
    def __init__(self, config: LiteLLMConfig) -> None:
        self.config = config
        self.plan = ImportPlan(config=config, warnings=list(config.warnings))
        self.existing_providers = list(Provider.objects.all())
        self.taken_names = {p.name for p in self.existing_providers}
        self.provider_changes: dict[tuple, Change] = {}
        self.routes = {r.name: r for r in Route.objects.all()}

    def build(self) -> ImportPlan:
        self.timeouts = self.provider_timeouts()
        self.check_environment()
        self.check_fallbacks()
        for name, specs in self.config.routes.items():
            route_change = self.route(name, specs[0].path)
            existing = list(route_change.obj.deployments.all()) if route_change.obj.pk else []
            kept = list(existing)
            for spec in specs:
                self.deployment(route_change.obj, spec, kept)
            for leftover in kept:
                self.plan.warnings.append(
                    f"route {name}: deployment {leftover.provider.name}/{leftover.model} is not "
                    "in the file and is kept"
                )
        for source in self.config.fallbacks.keys() | self.config.context_window_fallbacks.keys():
            if (
                source not in self.config.routes
            ):  # fallbacks set on a route the file only names there
                self.route(source, "router_settings.fallbacks")
        self.master_key()
        return self.plan

    def check_environment(self) -> None:
        for path, name in self.config.env_references.items():
            if name not in os.environ and path != "general_settings.master_key":
                self.plan.warnings.append(
                    f"{path}: environment variable {name} is not set here; calls fail until it is"
                )

    def check_fallbacks(self) -> None:
        known = set(self.routes) | set(self.config.routes)
        pairs = [
            ("router_settings.fallbacks", s, t)
            for s, ts in self.config.fallbacks.items()
            for t in ts
        ]
        pairs += [
            ("router_settings.context_window_fallbacks", s, t)
            for s, t in self.config.context_window_fallbacks.items()
        ]
        for path, source, target in pairs:
            for name in (source, target):
                if name not in known:
                    raise ConfigError(
                        f"{path}.{source}: {name!r} is neither an existing route nor in model_list"
                    )

    def route(self, name: str, path: str) -> Change:
        route = self.routes.get(name) or Route(name=name)
        values: dict[str, Any] = {
            "fallbacks": list(self.config.fallbacks.get(name, [])),
            "context_window_fallback": self.config.context_window_fallbacks.get(name, ""),
        }
        if name in self.config.routes:
            if self.config.drop_params is not None:
                values["drop_params"] = self.config.drop_params
            if self.config.strategy is not None:
                values["strategy"] = self.config.strategy
            if self.config.max_attempts is not None:
                values["max_attempts"] = self.config.max_attempts
        change = _change(route, values, f"route {name}", f"{path}.model_name")
        self.routes[name] = route
        self.plan.routes.append(change)
        return change

    def provider_timeouts(self) -> dict[tuple, float | None]:
        """One timeout per provider: LiteLLM sets it per deployment, Switchyard per
        provider, so deployments sharing a provider get the longest they asked for."""
        timeouts: dict[tuple, float | None] = {}
        for spec in self.config.deployments:
            identity, timeout = spec.provider.identity, spec.provider.timeout
            current = timeouts.get(identity)
            if timeout is not None and current is not None and timeout != current:
                self.plan.warnings.append(
                    f"{spec.path}.litellm_params.timeout: {timeout} differs from another "
                    "deployment on the same provider; the longer one is used"
                )
            if timeout is not None:
                timeouts[identity] = max(timeout, current or 0)
            else:
                timeouts.setdefault(identity, None)
        return timeouts

    def provider(self, spec: ProviderSpec, path: str) -> Provider:
        identity = spec.identity
        if identity in self.provider_changes:
            return self.provider_changes[identity].obj
        values: dict[str, Any] = {"timeout": self.timeouts[identity]}
        provider = self.find_provider(spec)
        if provider is None:
            provider = Provider(name=self.new_provider_name(spec))
            provider.set_secret(spec.secret)
            values |= {
                "kind": spec.kind,
                "base_url": spec.base_url,
                "api_version": spec.api_version,
                "extra_headers": spec.extra_headers,
            }
        label = f"provider {provider.name} ({spec.kind} {spec.base_url})"
        change = _change(provider, values, label, f"{path}.litellm_params")
        self.provider_changes[identity] = change
        self.plan.providers.append(change)
        return provider

    def find_provider(self, spec: ProviderSpec) -> Provider | None:
        for provider in self.existing_providers:
            if (
                provider.kind == spec.kind
                and _effective_base(provider) == spec.base_url
                and provider.api_version == spec.api_version
                and _stored_headers(provider) == spec.extra_headers
                and _stored_secret(provider) == spec.secret
            ):
                return provider
        return None

    def new_provider_name(self, spec: ProviderSpec) -> str:
        service = SERVICES[spec.prefix]
        if spec.base_url == service.default_base and spec.base_url:
            base = slugify(spec.prefix.replace("_", "-"))
        else:
            parts = urlsplit(spec.base_url)
            host = (parts.hostname or "provider").removesuffix(".openai.azure.com")
            base = slugify(f"{host}-{parts.port}" if parts.port else host.replace(".", "-"))
            if spec.kind == Provider.Kind.AZURE:
                base = f"azure-{base}"
        base = base[:90] or "provider"
        name, n = base, 1
        while name in self.taken_names:
            n += 1
            name = f"{base}-{n}"
        self.taken_names.add(name)
        return name

    def deployment(self, route: Route, spec: DeploymentSpec, kept: list[Deployment]) -> None:
        provider = self.provider(spec.provider, spec.path)
        match = next(
            (
                d
                for d in kept
                if provider.pk and d.provider_id == provider.pk and d.model == spec.model
            ),
            None,
        )
        if match is not None:
            kept.remove(match)
        deployment = match or Deployment(route=route, provider=provider)
        values = {
            "model": spec.model,
            "weight": spec.weight,
            "rpm": spec.rpm,
            "tpm": spec.tpm,
            "input_price": spec.input_price,
            "output_price": spec.output_price,
            "cache_read_price": spec.cache_read_price,
            "cache_write_price": spec.cache_write_price,
            "context_window": spec.context_window,
            "max_output_tokens": spec.max_output_tokens,
            "supports_tools": spec.supports_tools,
            "supports_vision": spec.supports_vision,
            "supports_reasoning": spec.supports_reasoning,
            "params": spec.params,
        }
        label = f"deployment {spec.route} -> {provider.name}/{spec.model}"
        self.plan.deployments.append(_change(deployment, values, label, spec.path))

    def master_key(self) -> None:
        reference = self.config.master_key
        if not reference:
            return
        raw = reference
        match = ENV_REFERENCE.match(reference)
        if match:
            raw = os.environ.get(match.group(1), "")
            if not raw:
                self.plan.warnings.append(
                    f"general_settings.master_key: environment variable {match.group(1)} is not "
                    f"set; no {MASTER_KEY_NAME} key is created"
                )
                return
        digest = ApiKey.hash_key(raw)
        key = (
            ApiKey.objects.filter(key_hash=digest).first()
            or ApiKey.objects.filter(name=MASTER_KEY_NAME).order_by("created_at").first()
            or ApiKey(name=MASTER_KEY_NAME)
        )
        values = {"key_hash": digest, "prefix": raw[:10]}
        change = _change(
            key, values, f"key {key.name} ({raw[:10]}…)", "general_settings.master_key"
        )
        if key.pk and key.routes.exists():
            change.action = "update"
            change.fields["routes"] = ("restricted", "all")
        if key.pk and not key.is_active:
            self.plan.warnings.append(
                f"key {key.name} is revoked or expired; the import keeps it so"
            )
        self.plan.keys.append(change)
        self.plan.notes.append(
            f"clients sending general_settings.master_key keep working through the key "
            f"{key.name!r}; Switchyard's own admin key is SWITCHYARD_MASTER_KEY"
        )


def _effective_base(provider: Provider) -> str:
    """The base URL requests go to (an Anthropic provider may leave it blank)."""
    base = provider.base_url.rstrip("/")
    if not base and provider.kind == Provider.Kind.ANTHROPIC:
        return SERVICES["anthropic"].default_base
    return base


def _stored_secret(provider: Provider) -> str:
    try:
        return provider.stored_secret()
    except Exception:  # undecryptable: it cannot equal anything in the file
        return "\0undecryptable"


def _stored_headers(provider: Provider) -> dict[str, str] | None:
    try:
        return provider.stored_extra_headers()
    except Exception:  # undecryptable: it cannot equal anything in the file
        return None


def plan_import(config: LiteLLMConfig) -> ImportPlan:
    return _Planner(config).build()


def apply_plan(plan: ImportPlan) -> ImportResult:
    """Apply ``plan`` all-or-nothing. It is planned again inside the transaction so the
    rows written match the database as it is now, not as it was at preview time."""
    with transaction.atomic():
        fresh = plan_import(plan.config)
        for section in ("providers", "routes", "deployments"):
            for change in getattr(fresh, section):
                if change.action != "unchanged":
                    change.obj.save()
        for change in fresh.keys:
            if change.action != "unchanged":
                change.obj.save()
                change.obj.routes.clear()
    return ImportResult(counts=fresh.counts(), warnings=fresh.warnings, notes=fresh.notes)


# --- export ---------------------------------------------------------------------------


def export_config(*, include_secrets: bool = False) -> str:
    """The registry as a LiteLLM config. Literal provider secrets are written only with
    ``include_secrets``; otherwise each becomes an ``os.environ/NAME`` to set."""
    comments: list[str] = []
    model_list: list[dict] = []
    routes = list(Route.objects.prefetch_related("deployments__provider").order_by("id"))
    exported: list[Route] = []
    for route in routes:
        if not route.enabled:
            comments.append(f"route {route.name} is disabled and not exported")
            continue
        entries = []
        for d in sorted(route.deployments.all(), key=lambda d: d.id):
            if not d.enabled:
                comments.append(
                    f"deployment {route.name} -> {d.provider.name}/{d.model} is disabled"
                )
            elif d.provider.kind == Provider.Kind.ECHO:
                comments.append(
                    f"deployment {route.name} -> {d.provider.name} (echo) has no LiteLLM form"
                )
            else:
                entries.append(_export_deployment(route, d, include_secrets, comments))
        if entries:
            model_list += entries
            exported.append(route)
    config: dict[str, Any] = {"model_list": model_list}
    if exported:
        config["litellm_settings"] = {"drop_params": _common(exported, "drop_params", comments)}
        router: dict[str, Any] = {}
        reverse = {v: k for k, v in STRATEGIES.items()}
        router["routing_strategy"] = reverse[_common(exported, "strategy", comments)]
        router["num_retries"] = max(_common(exported, "max_attempts", comments) - 1, 0)
        fallbacks = [{r.name: list(r.fallbacks)} for r in exported if r.fallbacks]
        if fallbacks:
            router["fallbacks"] = fallbacks
        cw = [{r.name: [r.context_window_fallback]} for r in exported if r.context_window_fallback]
        if cw:
            router["context_window_fallbacks"] = cw
        config["router_settings"] = router
    if ApiKey.objects.filter(name=MASTER_KEY_NAME).exists():
        comments.append(
            f"the {MASTER_KEY_NAME} key is stored only as a hash; add "
            "general_settings.master_key yourself if LiteLLM should accept it"
        )
    header = "# Exported by Switchyard as a LiteLLM proxy config.\n"
    header += "".join(f"# {c}\n" for c in comments)
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _export_deployment(
    route: Route, d: Deployment, include_secrets: bool, comments: list[str]
) -> dict:
    provider = d.provider
    base = _effective_base(provider)
    prefix = {
        Provider.Kind.ANTHROPIC: "anthropic",
        Provider.Kind.AZURE: "azure",
    }.get(provider.kind) or _PREFIX_BY_DEFAULT.get((provider.kind, base), "openai")
    params: dict[str, Any] = {"model": f"{prefix}/{d.model}"}
    if base and base != SERVICES[prefix].default_base:
        params["api_base"] = base
    if provider.secret_ref:
        params["api_key"] = provider.secret_ref
    elif provider.secret_ciphertext:
        if include_secrets:
            params["api_key"] = provider.stored_secret()
        else:
            variable = _env_variable(provider.name, "API_KEY")
            params["api_key"] = f"os.environ/{variable}"
            comments.append(
                f"provider {provider.name}: its stored key is exported as os.environ/{variable}"
            )
    if provider.api_version:
        params["api_version"] = provider.api_version
    if provider.timeout is not None:
        params["timeout"] = provider.timeout
    if provider.extra_headers:
        params["extra_headers"] = _export_headers(provider, include_secrets, comments)
    if d.weight != 1.0:
        params["weight"] = d.weight
    for name in ("rpm", "tpm"):
        if getattr(d, name) is not None:
            params[name] = getattr(d, name)
    params.update(d.params or {})
    info: dict[str, Any] = {}
    for key, attr in PRICE_FIELDS.items():
        if getattr(d, attr):
            info[key] = float(Decimal(getattr(d, attr)) / MILLION)
    if d.max_output_tokens is not None:
        info["max_output_tokens"] = d.max_output_tokens
    if d.context_window is not None:
        info["max_input_tokens"] = d.context_window
    for key, attr in FLAG_FIELDS.items():  # written only where they differ from the default
        if getattr(d, attr) != Deployment._meta.get_field(attr).default:
            info[key] = getattr(d, attr)
    entry: dict[str, Any] = {"model_name": route.name, "litellm_params": params}
    if info:
        entry["model_info"] = info
    return entry


def _env_variable(*parts: str) -> str:
    """An environment variable name from ``parts`` that shells accept."""
    name = re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")
    return name if re.match(r"[A-Z_]", name) else f"_{name}"


def _export_headers(provider: Provider, include_secrets: bool, comments: list[str]) -> dict:
    """Extra headers as ``os.environ/`` references (their values may be tokens): kept
    references as they are; stored values only with ``include_secrets``."""
    stored = provider.stored_extra_headers() if include_secrets else {}
    headers = {}
    for name, value in provider.extra_headers.items():
        if ENV_REFERENCE.match(value):
            headers[name] = value
        elif include_secrets:
            headers[name] = stored[name]
        else:
            variable = _env_variable(provider.name, name)
            headers[name] = f"os.environ/{variable}"
            note = f"provider {provider.name}: header {name} is exported as os.environ/{variable}"
            if note not in comments:
                comments.append(note)
    return headers


def _common(routes: list[Route], attr: str, comments: list[str]) -> Any:
    """LiteLLM has one value for what Switchyard sets per route: the most common one."""
    counts = Counter(getattr(r, attr) for r in routes)
    value, _ = counts.most_common(1)[0]
    if len(counts) > 1:
        others = [r.name for r in routes if getattr(r, attr) != value]
        comments.append(
            f"{attr} differs per route; {value!r} is written, not used by: {', '.join(others)}"
        )
    return value
