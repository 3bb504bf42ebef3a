"""Which provider, route and deployment a passthrough request reaches.

The rule (docs/providers.md, "Passthrough"):

1. The path's prefix names a vendor. A provider answers to its vendor's prefix: the
   vendor its kind states (``catalog_vendor``: ``anthropic``, ``vertex_ai``, ...), else
   the one its base URL's host is (an OpenAI-compatible provider at ``api.mistral.ai``
   answers ``/mistral/``), else its kind's own names (``/openai/``: a self-hosted vLLM).
   A provider whose ``passthrough`` setting is ``off``, or whose kind takes no
   passthrough, answers to none.
2. The caller may name one (``x-switchyard-provider`` or ``?switchyard_provider=``).
3. The key must be allowed a route with a deployment on the provider (``route.call``:
   the key's route list, the route's teams). The first such route by name admits the
   request (its rpm, tpm, budgets, tags, guardrails and journal row) and its deployment
   on the provider is the one whose settings reach the upstream (region, project,
   credentials). With no provider named, exactly one provider of the prefix must be
   open to the key; several are a 400 that names them (to this key only).
4. A key allowed no route on any of them is refused 403 without being told of any
   route or provider; its journal row names the first route of the first provider of
   the prefix (the one it was refused on).

Everything here is read from the registry snapshot, indexed once per snapshot."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gateway.access import authorization, registry
from gateway.base.entries import DeploymentEntry, KeyEntry, ProviderEntry, RouteEntry, Snapshot
from gateway.base.errors import ConfigurationError, GatewayError, InvalidRequest, ModelNotFound
from gateway.catalog.matching import vendor_of
from gateway.features.passthrough.paths import PROVIDER_HEADER, SPELLING
from gateway.providers import kinds, wire
from gateway.providers.kinds import SWITCH_OFF, SWITCH_ON, path_prefixes


@dataclass(frozen=True, slots=True)
class Reach:
    """A provider passthrough reaches: the client dialect its gateway errors are
    rendered in (its kind's format), and the enabled routes with a deployment on it."""

    provider: ProviderEntry
    dialect: str
    routes: tuple[tuple[RouteEntry, DeploymentEntry], ...]  # by route name


@dataclass(frozen=True, slots=True)
class Index:
    snapshot: Snapshot
    prefixes: dict[str, dict[str, Reach]]  # prefix -> provider name -> its reach
    # (provider name, upstream model) -> a deployment of it, for its prices
    models: dict[tuple[str, str], DeploymentEntry]


_lock = threading.Lock()
_index: Index | None = None


def index() -> Index:
    """The snapshot in force, indexed by prefix (built once per snapshot)."""
    global _index
    snapshot = registry.current()
    known = _index
    if known is not None and known.snapshot is snapshot:
        return known
    with _lock:
        made = _build(snapshot)
        _index = made
    return made


def prefix_of_provider(provider: ProviderEntry) -> str | None:
    """The prefix a provider answers to (rule 1), or None."""
    cls = kinds.adapter_class(provider.kind)
    if cls is None or "passthrough" not in {s.name for s in cls.settings_taken}:
        return None
    declared = cls.catalog_vendor
    try:
        base = wire.base_url(provider) or cls.default_base_url
    except ConfigurationError:  # an unset variable: the call says so, not this
        base = ""
    vendor = vendor_of(declared, base) or declared.by_name
    return SPELLING.get(vendor) if vendor else None


def _build(snapshot: Snapshot) -> Index:
    routes: dict[str, dict[str, list[tuple[RouteEntry, DeploymentEntry]]]] = {}
    providers: dict[str, ProviderEntry] = {}
    models: dict[tuple[str, str], DeploymentEntry] = {}
    every = sorted([*snapshot.routes.values(), *snapshot.patterns], key=lambda r: r.name)
    for route in every:
        if not route.enabled:
            continue
        for deployment in route.deployments:
            provider = deployment.provider
            models.setdefault((provider.name, deployment.model), deployment)
            reached = routes.setdefault(provider.name, {})
            if route.name not in reached:
                reached[route.name] = [(route, deployment)]
                providers.setdefault(provider.name, provider)
    prefixes: dict[str, dict[str, Reach]] = {}
    for name in sorted(providers):
        provider = providers[name]
        prefix = prefix_of_provider(provider)
        if prefix is None:
            continue
        cls = kinds.adapter_class(provider.kind)
        dialect = cls.speaks.name if cls is not None and cls.speaks is not None else "openai"
        pairs = tuple(pair for reached in routes[name].values() for pair in reached)
        prefixes.setdefault(prefix, {})[name] = Reach(provider, dialect, pairs)
    return Index(snapshot, prefixes, models)


def dialect_for(prefix: str) -> str:
    """The client dialect a prefix's errors are rendered in: its providers' format
    (OpenAI's envelope for vendors without a client codec of their own)."""
    for reach in index().prefixes.get(prefix, {}).values():
        return reach.dialect
    return "openai"


def enabled(provider: ProviderEntry) -> bool:
    """The provider's ``passthrough`` setting: off unless ``on`` (the provider's whole
    account is reached, so the operator opts each provider in); a reference resolved now,
    and a value that is neither refused loudly."""
    value = _setting(provider, "passthrough").lower()
    if value and value not in SWITCH_OFF and kinds.switch(value):
        raise ConfigurationError(
            f"provider {provider.name!r}: settings.passthrough: {kinds.switch(value)}"
        )
    return value in SWITCH_ON


def allowed_paths(provider: ProviderEntry) -> tuple[str, ...]:
    """The path prefixes the provider's ``passthrough_paths`` allows (empty: any)."""
    try:
        return path_prefixes(_setting(provider, "passthrough_paths"))
    except ValueError as exc:
        raise ConfigurationError(
            f"provider {provider.name!r}: settings.passthrough_paths: {exc}"
        ) from None


def _setting(provider: ProviderEntry, name: str) -> str:
    value = provider.settings.get(name, "")
    if isinstance(value, str) and value.startswith("os.environ/"):
        value = wire.setting(provider, value, f"settings.{name}")
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Chosen:
    reach: Reach
    route: RouteEntry  # the admitting route (rule 3), or the one refused on (rule 4)
    deployment: DeploymentEntry
    open_to_key: bool  # False: rule 4, the key may call no route on any provider


def choose(key: KeyEntry, prefix: str, named: str) -> Chosen:
    """The provider, the admitting route and the deployment for ``key`` (rules 2 to 4)."""
    answering = [r for r in index().prefixes.get(prefix, {}).values() if enabled(r.provider)]
    if named:
        answering = [r for r in answering if r.provider.name == named]
        if not answering:
            raise _not_found(f"no provider named {named!r} answers /{prefix}/ passthrough")
    if not answering:
        raise _not_found(
            f"no provider answers /{prefix}/ passthrough (none of this vendor, or its "
            "passthrough is off)"
        )
    open_to_key = [
        (reach, pair) for reach in answering if (pair := _admitting(key, reach)) is not None
    ]
    if len(open_to_key) > 1:
        names = ", ".join(reach.provider.name for reach, _ in open_to_key)
        raise InvalidRequest(
            f"several providers answer /{prefix}/ for this key ({names}): name one with "
            f"the {PROVIDER_HEADER} header",
            code="ambiguous_provider",
        )
    if open_to_key:
        reach, (route, deployment) = open_to_key[0]
        return Chosen(reach, route, deployment, True)
    first = answering[0]
    route, deployment = first.routes[0]
    return Chosen(first, route, deployment, False)


def _admitting(key: KeyEntry, reach: Reach) -> tuple[RouteEntry, DeploymentEntry] | None:
    for route, deployment in reach.routes:
        if authorization.decide(key, "route.call", route):
            return route, deployment
    return None


def _not_found(message: str) -> GatewayError:
    return ModelNotFound(message, code="unknown_url")


def priced_deployment(provider: ProviderEntry, model: str) -> DeploymentEntry | None:
    """A deployment of ``model`` on ``provider`` in the snapshot (its prices, which the
    operator may have set), or None."""
    return index().models.get((provider.name, model))
