"""The one implementation of registry actions behind the console and the management API.

Every change goes through ``full_clean`` so both front ends report the same errors,
keyed by field (``django.core.exceptions.ValidationError`` with an ``error_dict``;
``gateway.web.saving.errors_by_field`` flattens it). Provider secrets are only ever written through
``Provider.set_secret`` and never read back out of here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from gateway.access.authorization import decide
from gateway.access.keys import clean_guardrails
from gateway.base.entries import ProviderEntry, same_named
from gateway.base.errors import GatewayError
from gateway.base.numbers import row_id
from gateway.catalog import capability_flags
from gateway.features.semantic_cache import route_problems
from gateway.models import Deployment, Provider, Route
from gateway.providers.base import adapter_for

PROVIDER_FIELDS = frozenset(
    {"name", "kind", "base_url", "extra_headers", "api_version", "timeout", "settings"}
)
ROUTE_FIELDS = frozenset(
    {
        "name",
        "description",
        "enabled",
        "strategy",
        "fallbacks",
        "context_window_fallbacks",
        "drop_params",
        "default_params",
        "max_attempts",
        "timeout",
        "retry_budget",
        "cache_ttl",
        "cache_scope",
        "semantic_cache_ttl",
        "semantic_cache_threshold",
        "semantic_cache_scope",
        "semantic_cache_route",
        "semantic_cache_dialects",
        "web_search_backend",
        "web_search_url",
        "web_search_key",
        "web_search_price",
        "auto_cache_breakpoints",
        "shadow_routes",
        "shadow_percent",
        "mcp_passthrough",
        "mcp_servers",
        "batch_mode",
        "guardrails",
    }
)
DEPLOYMENT_FIELDS = frozenset(
    {
        "provider",
        "model",
        "enabled",
        "weight",
        "rpm",
        "tpm",
        "input_price",
        "output_price",
        "cache_read_price",
        "cache_write_price",
        "search_unit_price",
        "context_window",
        "max_output_tokens",
        "params",
    }
)  # and every capability flag (deployment_fields)
TEST_CONNECTION_TIMEOUT = 8.0


def deployment_fields() -> frozenset[str]:
    """What a caller may set on a deployment: its fields and its capability flags."""
    return DEPLOYMENT_FIELDS | set(capability_flags.names())


def _assign(obj: Any, values: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValidationError({name: "unknown field" for name in unknown})
    for name, value in values.items():
        setattr(obj, name, value)


# --- providers ------------------------------------------------------------------------


def save_provider(
    provider: Provider | None, values: Mapping[str, Any], secret: str | None = None
) -> Provider:
    """Create (``provider=None``) or update a provider. ``secret=None`` keeps the stored
    secret, ``""`` clears it, anything else replaces it (encrypted, or an env reference)."""
    provider = fill_provider(provider, values, secret)
    provider.full_clean()
    with transaction.atomic():
        provider.save()
    return provider


def fill_provider(
    provider: Provider | None, values: Mapping[str, Any], secret: str | None = None
) -> Provider:
    """``provider`` (a new one when None) with ``values`` and ``secret`` set, not validated
    and not saved: what ``save_provider`` saves, and what asks an upstream for its models
    before the provider exists (the add-model form). References are checked here, so an
    unsaved provider never reads an environment variable the operator did not allow, nor
    sends a host credential where it may not go (``gateway.web.references``)."""
    from gateway.web import references

    provider = provider if provider is not None else Provider()
    before = references.provider_state(provider)
    values = dict(values)
    if values.get("base_url") == provider.base_url_display:  # the mask keeps the stored URL
        values.pop("base_url")
    headers = values.pop("extra_headers", None)
    _assign(provider, values, PROVIDER_FIELDS)
    if headers is not None:  # masked values keep what is stored
        provider.set_extra_headers(headers)
    if secret is not None:
        provider.set_secret(secret)
    references.check_provider(provider, before)
    return provider


def delete_provider(provider: Provider) -> None:
    try:
        provider.delete()
    except ProtectedError:
        routes = sorted({d.route.name for d in provider.deployments.select_related("route")})
        raise ValidationError(
            f"{provider.name} is used by route(s) {', '.join(routes)}; "
            "remove those deployments first"
        ) from None


def provider_entry(provider: Provider) -> ProviderEntry:
    """The registry entry of a saved provider, as the request path would see it."""
    return ProviderEntry(
        id=provider.pk or 0,  # 0: not saved yet (the add-model form asks it for models)
        **same_named(provider, "name kind api_version timeout"),
        base_url=provider.base_url.rstrip("/"),
        secret=provider.stored_secret() if provider.has_secret else "",
        extra_headers=provider.stored_extra_headers(),
        settings=dict(provider.settings or {}),
    )


@dataclass(slots=True)
class ConnectionResult:
    ok: bool
    models: list[str]
    error: str = ""
    elapsed_ms: float = 0.0


async def test_connection(
    provider: Provider,
    timeout: float = TEST_CONNECTION_TIMEOUT,  # noqa: ASYNC109
) -> ConnectionResult:
    """Ask the upstream for its models; never raises, the error message is the result.
    The adapter never puts the secret into an error message."""

    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        entry = provider_entry(provider)
        models = await asyncio.wait_for(adapter_for(entry).list_models(), timeout)
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except GatewayError as exc:  # the operator sees the detail (URL without user info)
        error = exc.log_message
    except Exception as exc:  # any failure is the answer the operator needs to see
        error = str(exc) or type(exc).__name__
    else:
        return ConnectionResult(True, list(models), "", (loop.time() - started) * 1000)
    return ConnectionResult(False, [], error, (loop.time() - started) * 1000)


# --- routes and deployments -----------------------------------------------------------


ROUTE_NAME_LISTS = ("fallbacks", "context_window_fallbacks", "shadow_routes")


def _check_route_names(route: Route) -> None:
    """Every route a route names (fallbacks, context-window fallbacks, shadows) exists:
    all unknown names at once, each on its own field."""
    lists = {field: list(getattr(route, field) or []) for field in ROUTE_NAME_LISTS}
    names = {name for names in lists.values() for name in names}
    if not names:
        return
    known = set(Route.objects.filter(name__in=names).values_list("name", flat=True))
    errors = {
        field: f"unknown route(s): {', '.join(sorted(set(unknown)))}"
        for field, wanted in lists.items()
        if (unknown := [n for n in wanted if n not in known])
    }
    if errors:
        raise ValidationError(errors)


def _check_semantic_cache(route: Route) -> None:
    """The semantic cache's embedding route exists and embeds, its client APIs exist
    (``gateway.features.semantic_cache.route_problems``)."""
    if not route.semantic_cache_route and not route.semantic_cache_dialects:
        return

    problems = route_problems(route)
    if problems:
        raise ValidationError(problems)


def _check_web_search(route: Route) -> None:
    """The web search backend is a kind the gateway knows, reached at a URL, with its
    key a reference that may be read and sent there
    (``gateway.features.server_tools.route_problems``)."""
    if not (route.web_search_backend or route.web_search_url or route.web_search_key):
        return
    from gateway.features.server_tools import route_problems

    problems = route_problems(route)
    if problems:
        raise ValidationError(problems)


def route_errors(route: Route, values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every error saving ``values`` on ``route`` would meet, all at once (the guardrails
    named, the model's own checks, the routes named): ``{field: [message, ...]}``. The
    values are assigned to ``route`` (a form shows them back). One round of errors, not
    three: the route form took three submits to hear of them in turn (#66)."""
    errors: dict[str, list[str]] = {}

    def note(exc: ValidationError) -> None:
        found = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        for field, messages in found.items():
            errors.setdefault(field, []).extend(
                m for m in messages if m not in errors.get(field, [])
            )

    if "guardrails" in values:  # names of existing guardrails (null: none)
        try:
            values = {**values, "guardrails": clean_guardrails(values["guardrails"])}
        except ValueError as exc:
            errors["guardrails"] = [str(exc)]
            values = {k: v for k, v in values.items() if k != "guardrails"}
    _assign(route, values, ROUTE_FIELDS)
    for check in (
        route.full_clean,
        lambda: _check_route_names(route),
        lambda: _check_semantic_cache(route),
        lambda: _check_web_search(route),
    ):
        try:
            check()
        except ValidationError as exc:
            note(exc)
    return errors


def save_route(route: Route | None, values: Mapping[str, Any]) -> Route:
    route = route if route is not None else Route()
    if errors := route_errors(route, values):
        raise ValidationError(errors)
    with transaction.atomic():
        route.save()
    return route


def delete_route(route: Route) -> None:
    users = sorted(
        r.name
        for r in Route.objects.exclude(pk=route.pk)
        if any(route.name in (getattr(r, field) or []) for field in ROUTE_NAME_LISTS)
    )
    if users:
        raise ValidationError(
            f"{route.name} is a fallback or shadow of {', '.join(users)}; remove it there first"
        )
    embedders = sorted(
        Route.objects.filter(semantic_cache_route=route.name)
        .exclude(pk=route.pk)
        .values_list("name", flat=True)
    )
    if embedders:
        raise ValidationError(
            f"{route.name} embeds for the semantic cache of {', '.join(embedders)}; "
            "remove it there first"
        )
    try:
        route.delete()
    except ProtectedError as exc:  # a key's only allowed route (see signals)
        raise ValidationError(exc.args[0]) from None


def _resolve_provider(values: Mapping[str, Any]) -> dict[str, Any]:
    """Accept ``provider`` as a Provider, a primary key or a provider name."""
    values = dict(values)
    ref = values.get("provider")
    if ref is None or isinstance(ref, Provider):
        return values
    number = ref if isinstance(ref, int) else row_id(ref) if isinstance(ref, str) else None
    found = (
        Provider.objects.filter(pk=number).first()
        if number is not None
        else Provider.objects.filter(name=ref).first()
    )
    if found is None:
        raise ValidationError({"provider": f"no provider {ref!r}"})
    values["provider"] = found
    return values


def save_deployment(
    route: Route, deployment: Deployment | None, values: Mapping[str, Any], *, actor: Any
) -> Deployment:
    """Create (``deployment`` None) or change a deployment for ``actor`` (a console or
    /api ``roles.Actor``): params that steer the provider's credentials need the right
    to change that provider (rule ``deployment.params``), references in params the
    operator's allow-list (``env.resolve``)."""
    from gateway.web import references

    deployment = deployment if deployment is not None else Deployment(route=route)
    if deployment.route_id != route.pk:
        raise ValidationError({"route": "the deployment belongs to another route"})
    old_provider_id, old_params = deployment.provider_id, dict(deployment.params or {})
    before = (
        references.deployment_state(old_params, deployment.provider)
        if deployment.pk is not None and old_provider_id is not None
        else None
    )
    _assign(deployment, _resolve_provider(values), deployment_fields())
    _check_params(actor, deployment, old_provider_id, old_params)
    references.check_deployment(deployment, before)
    deployment.full_clean()
    with transaction.atomic():
        deployment.save()
    return deployment


def _check_params(
    actor: Any, deployment: Deployment, old_provider_id: int | None, old: dict[str, Any]
) -> None:
    """Refuse (a ``params`` error) credential-steering params this actor may not set:
    those added or changed, or all of them when the deployment moves to another provider
    (what an admin set for one provider must not carry another's credentials)."""

    params = deployment.params if isinstance(deployment.params, dict) else {}
    if deployment.provider_id is None:
        return  # the model's own validation names the missing provider
    moved = deployment.provider_id != old_provider_id
    changed = {k: v for k, v in params.items() if moved or old.get(k) != v}
    decision = decide(actor, "deployment.params", (deployment.provider, changed))
    if not decision:
        raise ValidationError({"params": decision.reason})


def delete_deployment(deployment: Deployment) -> None:
    deployment.delete()
