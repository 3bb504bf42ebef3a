"""Import and export of LiteLLM proxy ``config.yaml`` files.

Three steps, so that a person can look before anything changes:

``parse_config(text)``   YAML -> typed ``LiteLLMConfig``. Forgiving: an entry or setting
                         that cannot be imported is listed in ``skipped`` with its reason
                         (naming the field path) and the rest goes in; ``strict`` makes
                         any skip an error. Keys we do not model are "skipped parameter"
                         warnings, never silent. String values may be ``os.environ/NAME``
                         references, kept and resolved at call time.
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

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.utils.text import slugify

from .import_preview import Row, plain, table
from .models import (
    ENV_REFERENCE,
    ApiKey,
    Deployment,
    Provider,
    Route,
)
from .providers import kinds

MASTER_KEY_NAME = "litellm-master-key"
MILLION = Decimal(1_000_000)
PRICE_QUANTUM = Decimal("0.000001")
PRICE_MAX = Decimal("999999.999999")  # Deployment price fields: 12 digits, 6 decimals
# litellm_settings.cache_params: the cache types Switchyard's own cache stands in for,
# and the settings of LiteLLM's Redis connection (Switchyard's comes from REDIS_URL).
CACHE_TYPES = ("local", "redis")
CACHE_CONNECTION_PARAMS = frozenset({"host", "port", "password", "namespace", "url", "ssl"})
DEFAULT_CACHE_TTL = 600


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
        Service("codestral", Provider.Kind.OPENAI, "https://codestral.mistral.ai/v1"),
        Service("together_ai", Provider.Kind.OPENAI, "https://api.together.xyz/v1"),
        Service("fireworks_ai", Provider.Kind.OPENAI, "https://api.fireworks.ai/inference/v1"),
        Service("openrouter", Provider.Kind.OPENAI, "https://openrouter.ai/api/v1"),
        Service("xai", Provider.Kind.OPENAI, "https://api.x.ai/v1"),
        Service("perplexity", Provider.Kind.OPENAI, "https://api.perplexity.ai"),
        Service("cerebras", Provider.Kind.OPENAI, "https://api.cerebras.ai/v1"),
        Service("deepinfra", Provider.Kind.OPENAI, "https://api.deepinfra.com/v1/openai"),
        Service("nvidia_nim", Provider.Kind.OPENAI, "https://integrate.api.nvidia.com/v1"),
        Service("sambanova", Provider.Kind.OPENAI, "https://api.sambanova.ai/v1"),
        Service("hyperbolic", Provider.Kind.OPENAI, "https://api.hyperbolic.xyz/v1"),
        Service("moonshot", Provider.Kind.OPENAI, "https://api.moonshot.ai/v1"),
        Service("ollama", Provider.Kind.OPENAI, "http://localhost:11434/v1"),
        Service("ollama_chat", Provider.Kind.OPENAI, "http://localhost:11434/v1"),
        Service("lm_studio", Provider.Kind.OPENAI, "http://localhost:1234/v1"),
        Service("llamafile", Provider.Kind.OPENAI, "http://localhost:8080/v1"),
        Service("hosted_vllm", Provider.Kind.OPENAI, ""),
        Service("litellm_proxy", Provider.Kind.OPENAI, ""),
        Service("openai_like", Provider.Kind.OPENAI, ""),
        Service("custom_openai", Provider.Kind.OPENAI, ""),
        Service("anthropic", Provider.Kind.ANTHROPIC, "https://api.anthropic.com"),
        Service("azure", Provider.Kind.AZURE, ""),
        # Native upstreams: an empty base URL is the adapter's default.
        Service("gemini", Provider.Kind.GEMINI, ""),
        Service("vertex_ai", Provider.Kind.VERTEX_AI, ""),
        Service("vertex_ai_beta", Provider.Kind.VERTEX_AI, ""),
        Service("bedrock", Provider.Kind.BEDROCK, ""),
        Service("cohere", Provider.Kind.COHERE, ""),
        Service("cohere_chat", Provider.Kind.COHERE, ""),
        # openai/responses/<model>: matched before the generic openai/.
        Service("openai/responses", Provider.Kind.OPENAI_RESPONSES, "https://api.openai.com/v1"),
    )
}
# Export: the prefix of each kind that has one of its own.
PREFIX_BY_KIND = {
    Provider.Kind.ANTHROPIC: "anthropic",
    Provider.Kind.AZURE: "azure",
    Provider.Kind.GEMINI: "gemini",
    Provider.Kind.VERTEX_AI: "vertex_ai",
    Provider.Kind.BEDROCK: "bedrock",
    Provider.Kind.COHERE: "cohere",
    Provider.Kind.OPENAI_RESPONSES: "openai/responses",
}
# Where a kind's LiteLLM config carries the provider secret (else api_key).
SECRET_PARAM = {
    Provider.Kind.BEDROCK: "aws_secret_access_key",
    Provider.Kind.VERTEX_AI: "vertex_credentials",
}
# What the exported environment variable of a stored secret is called after the stem.
SECRET_VARIABLE_SUFFIX = {
    Provider.Kind.BEDROCK: "SECRET_ACCESS_KEY",
    Provider.Kind.VERTEX_AI: "CREDENTIALS",
}
# litellm_params that steer a kind's adapter (kept in Deployment.params under LiteLLM's
# names, exported back as litellm_params). Secrets are not here: see SECRET_PARAM.
KIND_PARAMS: dict[str, tuple[str, ...]] = {
    Provider.Kind.BEDROCK: (
        "aws_access_key_id",
        "aws_region_name",
        "aws_profile_name",
        "aws_bedrock_runtime_endpoint",
        "aws_session_token",  # only as an os.environ/ reference
    ),
    Provider.Kind.VERTEX_AI: ("vertex_project", "vertex_location", "vertex_credentials"),
}
# LiteLLM's other spellings of those.
PARAM_ALIASES = {
    "vertex_ai_project": "vertex_project",
    "vertex_ai_location": "vertex_location",
    "vertex_ai_credentials": "vertex_credentials",
}
# Bedrock settings for assuming a role: the adapter does not; a profile can.
BEDROCK_ROLE_PARAMS = (
    "aws_role_name",
    "aws_session_name",
    "aws_web_identity_token",
    "aws_sts_endpoint",
    "aws_external_id",
)
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
# model_info key for what Switchyard exports that LiteLLM has no field for.
OWN_KEY = "switchyard"
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
    "supports_top_k": "supports_top_k",  # Switchyard's own; LiteLLM keeps unknown keys
}
# Services whose APIs take top_k (a deployment's model_info.supports_top_k overrides).
TOP_K_PREFIXES = frozenset(
    {"ollama", "ollama_chat", "hosted_vllm", "together_ai", "fireworks_ai", "openrouter"}
)
STRATEGIES = {
    "simple-shuffle": Route.Strategy.WEIGHTED,
    "least-busy": Route.Strategy.LEAST_BUSY,
    "latency-based-routing": Route.Strategy.LOWEST_LATENCY,
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
    # None: not in the file, so the model catalog's figure applies (gateway.catalog)
    input_price: Decimal | None = None
    output_price: Decimal | None = None
    cache_read_price: Decimal | None = None
    cache_write_price: Decimal | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_reasoning: bool | None = None
    supports_top_k: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    # Route-wide settings LiteLLM lets a deployment carry (None: the file's global one).
    drop_params: bool | None = None
    max_attempts: int | None = None
    strategy: str | None = None


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
    deployments: list[DeploymentSpec] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    drop_params: bool | None = None
    master_key: str | None = None
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    context_window_fallbacks: dict[str, str] = field(default_factory=dict)
    strategy: str | None = None
    max_attempts: int | None = None
    cache_ttl: int | None = None  # litellm_settings.cache: None when the file is silent
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


def parse_config(text: str, *, strict: bool = False) -> LiteLLMConfig:
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
    _refuse_skipped(config.skipped, strict)
    return config


def _refuse_skipped(skipped: list[Skipped], strict: bool) -> None:
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
        if per_token * MILLION > PRICE_MAX:  # before quantize, which fails on huge values
            raise ConfigError(f"{path}: {value!r} per token is beyond the supported range")
        return (per_token * MILLION).quantize(PRICE_QUANTUM)

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
        spec.supports_top_k = prefix in TOP_K_PREFIXES
        if provider.kind == Provider.Kind.OPENAI_RESPONSES:  # its models reason
            spec.supports_reasoning = True
        self.kind_params(spec, params, p)
        weight = self.number(params.pop("weight", None), f"{p}.weight")
        spec.weight = 1.0 if weight is None else weight
        spec.rpm = self.whole(params.pop("rpm", None), f"{p}.rpm")
        spec.tpm = self.whole(params.pop("tpm", None), f"{p}.tpm")
        spec.drop_params = self.boolean(params.pop("drop_params", None), f"{p}.drop_params")
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

    def kind_params(self, spec: DeploymentSpec, params: dict, path: str) -> None:
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
        own = self.mapping(info.pop(OWN_KEY, None), f"{path}.{OWN_KEY}")
        self.own_settings(spec, dict(own), f"{path}.{OWN_KEY}")
        self.unknown(path, info, "parameter")

    def own_settings(self, spec: DeploymentSpec, own: dict, path: str) -> None:
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

    def retry_settings(self, settings: dict, path: str) -> None:
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
        for source, targets in (cw or {}).items():
            if targets:
                self.config.context_window_fallbacks[source] = targets[0]
            if len(targets) > 1:
                self.warn(f"{cw_path}.{source}: only the first ({targets[0]}) is used")
        nr_path = f"{path}.num_retries"
        retries = self.guarded(nr_path, self.whole, settings.pop("num_retries", None), nr_path)
        if retries is not None:
            self.config.max_attempts = retries + 1

    def litellm_settings(self, settings: dict) -> None:
        settings = dict(settings)
        path = "litellm_settings.drop_params"
        self.config.drop_params = self.guarded(
            path, self.boolean, settings.pop("drop_params", None), path
        )
        self.retry_settings(settings, "litellm_settings")
        self.cache_settings(settings)
        self.unknown("litellm_settings", settings)

    def cache_settings(self, settings: dict) -> None:
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

    def router_settings(self, settings: dict) -> None:
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

    def general_settings(self, settings: dict) -> None:
        settings = dict(settings)
        path = "general_settings.master_key"
        key = self.guarded(path, self.string, settings.pop("master_key", None), path)
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
    route: str = ""  # for the preview table: the route it belongs to
    item: str = ""  # and its own name (deployment "provider/model", provider, key)


@dataclass(slots=True)
class ImportPlan:
    config: LiteLLMConfig
    providers: list[Change] = field(default_factory=list)
    routes: list[Change] = field(default_factory=list)
    deployments: list[Change] = field(default_factory=list)
    keys: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

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
                        f"{name}: {plain(name, old)} -> {plain(name, new)}"
                        for name, (old, new) in change.fields.items()
                    )
                    lines.append(f"  ~ {change.label} ({detail})")
        if not self.has_changes:
            lines.append("nothing to change")
        lines += [f"skipped: {s}" for s in self.skipped]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def summary(self, verb: str = "imported") -> str:
        """``2 routes, 3 deployments imported, 1 entry skipped, 4 warnings``."""
        names = self.config.routes.keys()  # fallback-only routes are not counted
        routes = sum(1 for c in self.routes if c.route in names)
        return (
            f"{_count(routes, 'route')}, {_count(len(self.deployments), 'deployment')} "
            f"{verb}, {_count(len(self.skipped), 'entry', 'entries')} skipped, "
            f"{_count(len(self.warnings), 'warning')}"
        )

    @property
    def pending_summary(self) -> str:
        return self.summary("to import")

    def provider_rows(self) -> list[Row]:
        return table(self, "providers", "keys")

    def route_rows(self) -> list[Row]:
        return table(self, "routes", "deployments")


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


@dataclass(slots=True)
class ImportResult:
    counts: dict[str, Counter]
    warnings: list[str]
    notes: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    totals: str = ""  # ImportPlan.summary() of what was applied

    def summary(self) -> str:
        parts = [
            f"{section}: {c['create']} created, {c['update']} updated, {c['unchanged']} unchanged"
            for section, c in self.counts.items()
        ]
        return "; ".join(parts)


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
        new = {n: (None, v) for n, v in values.items() if v != _default(obj, n)}
        change = Change("create", label, obj, new)
    else:
        fields = _diff(obj, values)
        change = Change("update" if fields else "unchanged", label, obj, fields)
    _validate(obj, path, None if change.action == "create" else set(change.fields))
    return change


def _default(obj: models.Model, name: str) -> Any:
    try:
        return obj._meta.get_field(name).get_default()
    except FieldDoesNotExist:
        return None


def _validate(obj: models.Model, path: str, only: set[str] | None = None) -> None:
    """Model validation at plan time, so a dry run catches what saving would reject.
    ``only``: the fields an update changes (a row saved elsewhere with, say, a provider
    name the console would refuse still takes the file's values)."""
    exclude = [f.name for f in obj._meta.fields if f.is_relation] + ["key_hash"]
    if only is not None:
        exclude += [f.name for f in obj._meta.fields if f.name not in only]
    try:
        obj.clean_fields(exclude=exclude)
        obj.clean()
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ConfigError(f"{path}: {detail}") from None


class _Planner:
    def __init__(self, config: LiteLLMConfig) -> None:
        self.config = config
        self.plan = ImportPlan(
            config=config, warnings=list(config.warnings), skipped=list(config.skipped)
        )
        self.existing_providers = list(Provider.objects.all())
        self.secret_variables = secret_variables(self.existing_providers)
        self.taken_names = {p.name for p in self.existing_providers}
        self.provider_changes: dict[tuple, Change] = {}
        self.routes = {r.name: r for r in Route.objects.all()}

    def build(self) -> ImportPlan:
        self.assign_providers()
        self.timeouts = self.route_timeouts()
        self.check_environment()
        routes = self.viable_routes()
        self.check_fallbacks(set(routes))
        for name, specs in routes.items():
            route_change = self.route(name, specs[0].path, specs)
            existing = list(route_change.obj.deployments.all()) if route_change.obj.pk else []
            kept = list(existing)
            for spec in specs:
                try:
                    self.deployment(route_change.obj, spec, kept)
                except ConfigError as exc:
                    self.plan.skipped.append(Skipped(spec.path, str(exc), name))
            for leftover in kept:
                self.plan.warnings.append(
                    f"route {name}: deployment {leftover.provider.name}/{leftover.model} is not "
                    "in the file and is kept"
                )
        for source in self.fallbacks.keys() | self.cw_fallbacks.keys():
            if source not in routes:  # fallbacks set on a route the file only names there
                self.route(source, "router_settings.fallbacks", [])
        self.master_key()
        _refuse_skipped(self.plan.skipped, self.config.strict)
        return self.plan

    def viable_routes(self) -> dict[str, list[DeploymentSpec]]:
        """The file's routes whose names the registry accepts; the others are skipped."""
        viable = {}
        for name, specs in self.config.routes.items():
            try:
                _validate(self.routes.get(name) or Route(name=name), f"{specs[0].path}.model_name")
            except ConfigError as exc:
                self.plan.skipped += [Skipped(spec.path, str(exc), name) for spec in specs]
            else:
                viable[name] = specs
        return viable

    def check_environment(self) -> None:
        for path, name in self.config.env_references.items():
            if name not in os.environ and path != "general_settings.master_key":
                self.plan.warnings.append(
                    f"{path}: environment variable {name} is not set here; calls fail until it is"
                )

    def check_fallbacks(self, imported: set[str]) -> None:
        """Keep the fallbacks whose routes exist or are imported; skip the others."""
        known = {name for name, route in self.routes.items() if route.pk} | imported
        self.fallbacks: dict[str, list[str]] = {}
        self.cw_fallbacks: dict[str, str] = {}
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
            unknown = [name for name in (source, target) if name not in known]
            if unknown:
                self.plan.skipped.append(
                    Skipped(
                        f"{path}.{source}",
                        f"{path}.{source}: {unknown[0]!r} is neither an existing route nor "
                        "imported from model_list",
                    )
                )
            elif path.endswith("context_window_fallbacks"):
                self.cw_fallbacks[source] = target
            else:
                self.fallbacks.setdefault(source, []).append(target)

    def route(self, name: str, path: str, specs: list[DeploymentSpec]) -> Change:
        route = self.routes.get(name) or Route(name=name)
        values: dict[str, Any] = {
            "fallbacks": list(self.fallbacks.get(name, [])),
            "context_window_fallback": self.cw_fallbacks.get(name, ""),
        }
        if specs:
            for attr in ("drop_params", "strategy", "max_attempts"):
                value = self.route_setting(name, specs, attr)
                if value is not None:
                    values[attr] = value
            values["timeout"] = self.timeouts.get(name)
            if self.config.cache_ttl is not None:
                values["cache_ttl"] = self.config.cache_ttl
        change = _change(route, values, f"route {name}", f"{path}.model_name")
        change.route = name
        self.routes[name] = route
        self.plan.routes.append(change)
        return change

    def route_setting(self, name: str, specs: list[DeploymentSpec], attr: str) -> Any:
        """A route-wide setting: from the route's deployments when they set it (LiteLLM
        allows drop_params and num_retries per deployment), else the file's global one."""
        values = [getattr(s, attr) for s in specs if getattr(s, attr) is not None]
        if len(set(values)) > 1:
            self.plan.warnings.append(
                f"route {name}: its deployments set different {attr} values; "
                f"{values[0]!r} ({specs[0].path}) is used"
            )
        return values[0] if values else getattr(self.config, attr)

    def assign_providers(self) -> None:
        """Which existing provider each entry goes to. Several may match what the file
        says (same kind, URL, secret, headers: they differ only in name or timeout);
        the one already serving that route and model wins, so that importing an export
        changes nothing. Each (identity, chosen provider) is one slot."""
        serving: dict[int, set[tuple[str, str]]] = {}
        for pk, route, model in Deployment.objects.values_list(
            "provider_id", "route__name", "model"
        ):
            serving.setdefault(pk, set()).add((route, model))
        self.chosen: dict[str, Provider | None] = {}
        self.slots: dict[str, tuple] = {}
        for spec in self.config.deployments:
            candidates = self.find_providers(spec.provider)
            chosen = next(
                (p for p in candidates if (spec.route, spec.model) in serving.get(p.pk, ())),
                candidates[0] if candidates else None,
            )
            self.chosen[spec.path] = chosen
            self.slots[spec.path] = (spec.provider.identity, chosen.pk if chosen else None)

    def route_timeouts(self) -> dict[str, float | None]:
        """One timeout per route: LiteLLM sets it per deployment, Switchyard per route
        (never per provider: that would change other routes' calls to the provider), so
        a route's deployments get the longest any of them asked for. A route whose every
        deployment asks for exactly its existing provider's timeout (an export of
        provider timeouts) keeps none of its own: its providers' apply already."""
        timeouts: dict[str, float | None] = {}
        specs = [s for s in self.config.deployments if not self.inherits_timeout(s.route)]
        for spec in specs:
            route, timeout = spec.route, spec.provider.timeout
            current = timeouts.get(route)
            if timeout is not None and current is not None and timeout != current:
                self.plan.warnings.append(
                    f"{spec.path}.litellm_params.timeout: {timeout} differs from another "
                    f"deployment of route {route}; the longer one is used"
                )
            if timeout is not None:
                timeouts[route] = max(timeout, current or 0)
            else:
                timeouts.setdefault(route, None)
        for spec in specs:
            if spec.provider.timeout is None and timeouts.get(spec.route) is not None:
                self.plan.warnings.append(
                    f"{spec.path}.litellm_params: no timeout; route {spec.route}'s "
                    f"{timeouts[spec.route]:g} s applies to it"
                )
        return timeouts

    def inherits_timeout(self, route: str) -> bool:
        entries = [s for s in self.config.deployments if s.route == route]
        return any(s.provider.timeout is not None for s in entries) and all(
            (chosen := self.chosen.get(s.path)) is not None and chosen.timeout == s.provider.timeout
            for s in entries
        )

    def provider(self, entry: DeploymentSpec) -> Provider:
        spec, path, slot = entry.provider, entry.path, self.slots[entry.path]
        if slot in self.provider_changes:
            return self.provider_changes[slot].obj
        values: dict[str, Any] = {}
        provider = self.chosen[path]
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
        change.item = provider.name
        if change.action == "create" and spec.secret:
            change.fields["secret"] = (None, spec.secret)
        self.provider_changes[slot] = change
        self.plan.providers.append(change)
        return provider

    def find_providers(self, spec: ProviderSpec) -> list[Provider]:
        return [
            provider
            for provider in self.existing_providers
            if provider.kind == spec.kind
            and _effective_base(provider) == spec.base_url
            and provider.api_version == spec.api_version
            and self.same_headers(provider, spec.extra_headers)
            and self.same_secret(provider, spec.secret)
        ]

    def same_secret(self, provider: Provider, secret: str) -> bool:
        """Equal, or the reference ``export_config`` wrote for a literal secret it did
        not reveal (so that exporting and importing again changes nothing)."""
        if _stored_secret(provider) == secret:
            return True
        variable = self.secret_variables.get(provider.pk)
        return variable is not None and secret == f"os.environ/{variable}"

    def same_headers(self, provider: Provider, headers: dict[str, str]) -> bool:
        """Equal once decrypted, or each literal value written by ``export_config`` as
        its ``os.environ/`` reference (extra headers may hold tokens)."""
        stored = _stored_headers(provider)
        if stored is None or set(stored) != set(headers):
            return False
        return all(
            headers[name] == value
            or headers[name] == f"os.environ/{_env_variable(provider.name, name)}"
            for name, value in stored.items()
        )

    def new_provider_name(self, spec: ProviderSpec) -> str:
        service = SERVICES[spec.prefix]
        reference = ENV_REFERENCE.match(spec.base_url)
        if spec.base_url == service.default_base and (
            spec.base_url or not kinds.needs_base_url(spec.kind)
        ):  # named after the service (cohere_chat/ -> cohere)
            prefix = PREFIX_BY_KIND.get(spec.kind, spec.prefix)
            base = slugify(prefix.replace("_", "-").replace("/", "-"))
        elif reference:  # named after the variable: the URL is not known until called
            base = slugify(reference.group(1).lower().replace("_", "-"))
            if spec.kind == Provider.Kind.AZURE and not base.startswith("azure"):
                base = f"azure-{base}"
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
        provider = self.provider(spec)
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
        inherited = provider.settings or {}  # what the provider sets, the deployment need not
        params = {k: v for k, v in spec.params.items() if inherited.get(k) != v}
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
            "supports_top_k": spec.supports_top_k,
            "params": params,
        }
        label = f"deployment {spec.route} -> {provider.name}/{spec.model}"
        change = _change(deployment, values, label, spec.path)
        change.route, change.item = spec.route, f"{provider.name}/{spec.model}"
        self.plan.deployments.append(change)

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
        change.item = f"{key.name} ({raw[:10]}…)"
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
    if not base and provider.kind in PREFIX_BY_KIND:
        return SERVICES[PREFIX_BY_KIND[provider.kind]].default_base
    return base


def secret_variables(providers: list[Provider]) -> dict[int, str]:
    """The environment variable ``export_config`` names for each provider whose secret
    is a stored literal: a valid shell identifier made from the provider's name
    (``my-azure.eu`` -> ``MY_AZURE_EU_API_KEY``; Bedrock ``..._SECRET_ACCESS_KEY``,
    Vertex AI ``..._CREDENTIALS``), unique, never one a reference uses."""
    taken = {
        match.group(1) for p in providers if (match := ENV_REFERENCE.match(p.secret_ref or ""))
    }
    names: dict[int, str] = {}
    for provider in sorted(providers, key=lambda p: p.pk):
        if provider.secret_ref or not provider.secret_ciphertext:
            continue
        stem = re.sub(r"[^A-Z0-9]+", "_", provider.name.upper()).strip("_")
        if not stem or stem[0].isdigit():
            stem = f"PROVIDER_{stem}".rstrip("_")
        what = SECRET_VARIABLE_SUFFIX.get(provider.kind, "API_KEY")
        name, n = f"{stem}_{what}", 1
        while name in taken:
            n += 1
            name = f"{stem}_{n}_{what}"
        taken.add(name)
        names[provider.pk] = name
    return names


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
    return ImportResult(
        counts=fresh.counts(),
        warnings=fresh.warnings,
        notes=fresh.notes,
        skipped=fresh.skipped,
        totals=fresh.summary(),
    )


# --- export ---------------------------------------------------------------------------


def export_config(*, include_secrets: bool = False) -> str:
    """The registry as a LiteLLM config. Literal provider secrets are written only with
    ``include_secrets``; otherwise each becomes an ``os.environ/NAME`` to set.

    Importing the result into the same registry changes nothing, and exporting again
    gives the same text: route settings that differ from the file-wide ones ride on the
    route's deployments (``drop_params``, ``num_retries``, ``model_info.switchyard``)."""
    comments: list[str] = []
    routes = list(Route.objects.prefetch_related("deployments__provider").order_by("id"))
    variables = secret_variables(list(Provider.objects.all()))
    chosen: list[tuple[Route, list[Deployment]]] = []
    for route in routes:
        if not route.enabled:
            comments.append(f"route {route.name} is disabled and not exported")
            continue
        deployments = []
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
                deployments.append(d)
        if deployments:
            chosen.append((route, deployments))
    exported = [route for route, _ in chosen]
    config: dict[str, Any] = {"model_list": []}
    if exported:
        common = {attr: _common(exported, attr) for attr in ("drop_params", "strategy")}
        common["max_attempts"] = _common(exported, "max_attempts")
        for route, deployments in chosen:
            own = {a: getattr(route, a) for a in common if getattr(route, a) != common[a]}
            for d in deployments:
                entry = _export_deployment(route, d, include_secrets, variables, comments)
                _route_overrides(entry, own)
                config["model_list"].append(entry)
        config["litellm_settings"] = {"drop_params": common["drop_params"]}
        reverse = {v: k for k, v in STRATEGIES.items()}
        router: dict[str, Any] = {
            "routing_strategy": reverse[common["strategy"]],
            "num_retries": max(common["max_attempts"] - 1, 0),
        }
        fallbacks = [{r.name: list(r.fallbacks)} for r in exported if r.fallbacks]
        if fallbacks:
            router["fallbacks"] = fallbacks
        cw = [{r.name: [r.context_window_fallback]} for r in exported if r.context_window_fallback]
        if cw:
            router["context_window_fallbacks"] = cw
        config["router_settings"] = router
        config["litellm_settings"].update(_export_cache(exported, comments))
    if ApiKey.objects.filter(name=MASTER_KEY_NAME).exists():
        comments.append(
            f"the {MASTER_KEY_NAME} key is stored only as a hash; add "
            "general_settings.master_key yourself if LiteLLM should accept it"
        )
    header = "# Exported by Switchyard as a LiteLLM proxy config.\n"
    header += "".join(f"# {c}\n" for c in dict.fromkeys(comments))
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _route_overrides(entry: dict, own: dict[str, Any]) -> None:
    """Write a route's settings that differ from the file-wide ones on its deployment."""
    params = entry["litellm_params"]
    if "drop_params" in own:
        params["drop_params"] = own["drop_params"]
    if "max_attempts" in own:
        params["num_retries"] = max(own["max_attempts"] - 1, 0)
    if "strategy" in own:  # LiteLLM has no per-route strategy: Switchyard's own key
        info = entry.setdefault("model_info", {})
        info.setdefault(OWN_KEY, {})["strategy"] = str(own["strategy"])


def _export_deployment(
    route: Route,
    d: Deployment,
    include_secrets: bool,
    variables: dict[int, str],
    comments: list[str],
) -> dict:
    provider = d.provider
    base = _effective_base(provider)
    prefix = PREFIX_BY_KIND.get(provider.kind) or _PREFIX_BY_DEFAULT.get(
        (provider.kind, base), "openai"
    )
    params: dict[str, Any] = {"model": f"{prefix}/{d.model}"}
    if base and base != SERVICES[prefix].default_base:
        params["api_base"] = base
    secret_param = SECRET_PARAM.get(provider.kind, "api_key")
    if provider.secret_ref:
        params[secret_param] = provider.secret_ref
    elif provider.secret_ciphertext:
        if include_secrets:
            params[secret_param] = provider.stored_secret()
        else:
            variable = variables[provider.pk]
            params[secret_param] = f"os.environ/{variable}"
            comments.append(
                f"provider {provider.name}: its stored key is exported as os.environ/{variable}"
            )
    if provider.api_version:
        params["api_version"] = provider.api_version
    timeout = route.timeout if route.timeout is not None else provider.timeout
    if timeout is not None:
        params["timeout"] = timeout
    if provider.extra_headers:
        params["extra_headers"] = _export_headers(provider, include_secrets, comments)
    if d.weight != 1.0:
        params["weight"] = d.weight
    for name in ("rpm", "tpm"):
        if getattr(d, name) is not None:
            params[name] = getattr(d, name)
    own_params = {}
    kind_params = KIND_PARAMS.get(provider.kind, ())
    for key, value in {**(provider.settings or {}), **(d.params or {})}.items():
        if key in UPSTREAM_PARAMS or key in kind_params:
            params[key] = value
        else:  # LiteLLM would not send it upstream; Switchyard's own key keeps it
            own_params[key] = value
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
    if own_params:
        info[OWN_KEY] = {"params": own_params}
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


def _export_cache(routes: list[Route], comments: list[str]) -> dict[str, Any]:
    """``cache``/``cache_params`` when some route is cached (LiteLLM caches every model
    alike: the most common TTL of the cached routes is written)."""
    cached = [r for r in routes if r.cache_ttl]
    if not cached:
        return {}
    ttl = _common(cached, "cache_ttl")
    if len({r.cache_ttl for r in cached}) > 1:
        comments.append(f"cache TTLs differ per route; {ttl} s (the most common) is written")
    uncached = [r.name for r in routes if not r.cache_ttl]
    if uncached:
        comments.append(f"cache is off for {', '.join(uncached)}; LiteLLM caches every model")
    scoped = [r.name for r in cached if r.cache_scope == "key"]
    if scoped:
        comments.append(
            f"cache_scope key (per-key answers) has no LiteLLM form: {', '.join(scoped)}"
        )
    kind = "redis" if getattr(settings, "REDIS_URL", "") else "local"
    return {"cache": True, "cache_params": {"type": kind, "ttl": ttl}}


def _common(routes: list[Route], attr: str) -> Any:
    """LiteLLM has one value for what Switchyard sets per route: the most common one
    (ties: the first route's) is written file-wide; the others ride on deployments."""
    value, _ = Counter(getattr(r, attr) for r in routes).most_common(1)[0]
    return value
