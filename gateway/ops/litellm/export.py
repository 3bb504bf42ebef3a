"""The registry written as a LiteLLM proxy config that imports to the same rows."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from django.conf import settings

from gateway.base.secrets.declared import url_has_secret
from gateway.catalog import capability_flags
from gateway.models import ENV_REFERENCE, ApiKey, Deployment, Provider, Route
from gateway.ops.litellm.prefixes import (
    KIND_PARAMS,
    MASTER_KEY_NAME,
    MILLION,
    OWN_KEY,
    PREFIX_BY_DEFAULT,
    PREFIX_BY_KIND,
    PRICE_FIELDS,
    SECRET_PARAM,
    SERVICES,
    STRATEGIES,
    UNIT_PRICE_FIELDS,
    UPSTREAM_PARAMS,
    effective_base,
)
from gateway.ops.litellm.teams import SECTION
from gateway.ops.litellm.teams import export_section as teams_section
from gateway.ops.litellm.variables import base_variable, env_variable, secret_variables
from gateway.web import litellm_sections


def export_config(*, include_secrets: bool = False) -> str:
    """The registry as a LiteLLM config. Literal provider secrets are written only with
    ``include_secrets``; otherwise each becomes an ``os.environ/NAME`` to set.

    Importing the result into the same registry changes nothing, and exporting again
    gives the same text: route settings that differ from the file-wide ones ride on the
    route's deployments (``drop_params``, ``num_retries``, ``model_info.switchyard``)."""
    comments: list[str] = []
    routes = list(Route.objects.prefetch_related("deployments__provider").order_by("id"))
    variables = secret_variables(list(Provider.objects.all()))
    chosen = _exportable(routes, comments)
    exported = [route for route, _ in chosen]
    config: dict[str, Any] = {"model_list": []}
    if exported:
        common = {attr: _common(exported, attr) for attr in ("drop_params", "strategy")}
        common["max_attempts"] = _common(exported, "max_attempts")
        for route, deployments in chosen:
            own = {a: getattr(route, a) for a in common if getattr(route, a) != common[a]}
            if not route.auto_cache_breakpoints:  # on is the default and goes unsaid
                own["auto_cache_breakpoints"] = False
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
        cw = [
            {r.name: list(r.context_window_fallbacks)}
            for r in exported
            if r.context_window_fallbacks
        ]
        if cw:
            router["context_window_fallbacks"] = cw
        config["router_settings"] = router
        config["litellm_settings"].update(_export_cache(exported, comments))
    for section in litellm_sections.sections():  # the units' (mcp_servers, guardrails)
        written = section.export(include_secrets, comments)
        if written:
            config[section.key] = written

    teams = teams_section()
    if teams:
        config[SECTION] = {"teams": teams}
    if ApiKey.objects.filter(name=MASTER_KEY_NAME).exists():
        comments.append(
            f"the {MASTER_KEY_NAME} key is stored only as a hash; add "
            "general_settings.master_key yourself if LiteLLM should accept it"
        )
    header = "# Exported by Switchyard as a LiteLLM proxy config.\n"
    header += "".join(f"# {c}\n" for c in dict.fromkeys(comments))
    import yaml  # here, not at the top: a serving process imports this module unused

    body: str = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    return header + body


def _exportable(routes: list[Route], comments: list[str]) -> list[tuple[Route, list[Deployment]]]:
    """The enabled routes with the deployments LiteLLM can express; a comment for each
    one left out (disabled, or an echo provider)."""
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
    return chosen


def _route_overrides(entry: dict[str, Any], own: dict[str, Any]) -> None:
    """Write a route's settings that differ from the file-wide ones on its deployment."""
    params = entry["litellm_params"]
    if "drop_params" in own:
        params["drop_params"] = own["drop_params"]
    if "max_attempts" in own:
        params["num_retries"] = max(own["max_attempts"] - 1, 0)
    if "strategy" in own:  # LiteLLM has no per-route strategy: Switchyard's own key
        info = entry.setdefault("model_info", {})
        info.setdefault(OWN_KEY, {})["strategy"] = str(own["strategy"])
    if "auto_cache_breakpoints" in own:  # LiteLLM injects none unless told: Switchyard's own
        info = entry.setdefault("model_info", {})
        info.setdefault(OWN_KEY, {})["auto_cache_breakpoints"] = False


def _export_deployment(
    route: Route,
    d: Deployment,
    include_secrets: bool,
    variables: dict[int, str],
    comments: list[str],
) -> dict[str, Any]:
    provider = d.provider
    base = effective_base(provider)
    prefix = PREFIX_BY_KIND.get(provider.kind) or PREFIX_BY_DEFAULT.get(
        (provider.kind, base), "openai"
    )
    params: dict[str, Any] = {"model": f"{prefix}/{d.model}"}
    if base and base != SERVICES[prefix].default_base:
        params["api_base"] = _export_base(provider, base, include_secrets, comments)
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
    for key, attr in UNIT_PRICE_FIELDS.items():
        if getattr(d, attr) is not None:
            info[key] = float(getattr(d, attr))
    if d.max_output_tokens is not None:
        info["max_output_tokens"] = d.max_output_tokens
    if d.context_window is not None:
        info["max_input_tokens"] = d.context_window
    for flag in capability_flags.FLAGS:  # written only where they differ from the default
        if getattr(d, flag.name) != flag.unset:
            info[flag.litellm_key] = getattr(d, flag.name)
    if own_params:
        info[OWN_KEY] = {"params": own_params}
    entry: dict[str, Any] = {"model_name": route.name, "litellm_params": params}
    if info:
        entry["model_info"] = info
    return entry


def _export_base(provider: Provider, base: str, include_secrets: bool, comments: list[str]) -> str:
    """The base URL, or, when it carries credentials (user info or a query: the URL type),
    an ``os.environ/`` reference to set to it (the stored URL only with
    ``include_secrets``): an export re-imports to the same provider either way."""
    if include_secrets or not url_has_secret(base) or ENV_REFERENCE.match(base):
        return base
    variable = base_variable(provider)
    note = f"provider {provider.name}: its base URL holds credentials; exported as os.environ/{variable}"
    if note not in comments:
        comments.append(note)
    return f"os.environ/{variable}"


def _export_headers(
    provider: Provider, include_secrets: bool, comments: list[str]
) -> dict[str, str]:
    """Extra headers as ``os.environ/`` references (their values may be tokens): kept
    references as they are; stored values only with ``include_secrets``."""
    stored = provider.stored_extra_headers() if include_secrets else {}
    headers: dict[str, str] = {}
    for name, value in provider.extra_headers.items():
        if ENV_REFERENCE.match(value):
            headers[name] = value
        elif include_secrets:
            headers[name] = stored[name]
        else:
            variable = env_variable(provider.name, name)
            headers[name] = f"os.environ/{variable}"
            note = f"provider {provider.name}: header {name} is exported as os.environ/{variable}"
            if note not in comments:
                comments.append(note)
    return headers


def _export_cache(routes: list[Route], comments: list[str]) -> dict[str, Any]:
    """``cache``/``cache_params`` when some route is cached (LiteLLM caches every model
    alike: the most common TTL of the cached routes is written)."""
    cached = [r for r in routes if r.cache_ttl]
    semantic = [r for r in routes if r.semantic_cache_ttl and r.semantic_cache_route]
    if semantic and cached:
        comments.append(
            "semantic cache of "
            f"{', '.join(r.name for r in semantic)} is not written: LiteLLM has one cache "
            "type, and the exact cache of other routes is"
        )
    elif semantic:
        return _export_semantic(routes, semantic, comments)
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


def _export_semantic(
    routes: list[Route], semantic: list[Route], comments: list[str]
) -> dict[str, Any]:
    """``cache_params`` of type ``redis-semantic`` for the routes with a semantic cache
    (LiteLLM has one threshold, TTL and embedding model: the most common are written)."""
    params: dict[str, Any] = {"type": "redis-semantic"}
    for attr, name in (
        ("semantic_cache_threshold", "similarity_threshold"),
        ("semantic_cache_route", "redis_semantic_cache_embedding_model"),
        ("semantic_cache_ttl", "ttl"),
    ):
        params[name] = _common(semantic, attr)
        if len({getattr(r, attr) for r in semantic}) > 1:
            comments.append(
                f"{attr} differs per route; {params[name]} (the most common) is written"
            )
    embedder = params["redis_semantic_cache_embedding_model"]
    off = [r.name for r in routes if r not in semantic and r.name != embedder]
    if off:
        comments.append(f"semantic cache is off for {', '.join(off)}; LiteLLM caches every model")
    scoped = [r.name for r in semantic if r.semantic_cache_scope != "route"]
    if scoped:
        comments.append(
            "semantic_cache_scope key or team (answers kept apart) has no LiteLLM form: "
            f"{', '.join(scoped)}"
        )
    return {"cache": True, "cache_params": params}


def _common(routes: list[Route], attr: str) -> Any:
    """LiteLLM has one value for what Switchyard sets per route: the most common one
    (ties: the first route's) is written file-wide; the others ride on deployments."""
    value, _ = Counter(getattr(r, attr) for r in routes).most_common(1)[0]
    return value
