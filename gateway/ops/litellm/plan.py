"""An import's plan: the parsed config compared with the registry, deciding what is
created, updated, replaced or left as is, validated as saving would. The preview (the
console's table, the CLI's ``--dry-run``), the import (``apply.apply_plan``) and config
as code (``gateway.ops.apply``, which adds removals of what it manages) use it.

An import never deletes providers or routes the file does not name; an existing route's
deployments the file does not list are replaced (the default) or kept (``ADD``).
Route-wide settings (``drop_params``, ``routing_strategy``, ``num_retries``) are applied
to the routes the file names, and only when the file sets them."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.text import slugify

from gateway.base.entries import same_named
from gateway.base.secrets import secret_refs
from gateway.models import ENV_REFERENCE, ApiKey, Deployment, Guardrail, McpServer, Provider, Route
from gateway.ops import cloud_checks
from gateway.ops.litellm.parse import (
    ConfigError,
    DeploymentSpec,
    LiteLLMConfig,
    ProviderSpec,
    Skipped,
    refuse_skipped,
)
from gateway.ops.litellm.prefixes import MASTER_KEY_NAME, PREFIX_BY_KIND, SERVICES, effective_base
from gateway.ops.litellm.preview import Row, plain, table
from gateway.ops.litellm.teams import plan_teams
from gateway.ops.litellm.variables import base_variable, env_variable, secret_variables
from gateway.providers import kinds
from gateway.web import litellm_sections, references

# One row an import creates, updates or leaves as is (the kit's: the units' sections
# make them too).
from gateway.web.litellm_sections import Change as Change
from gateway.web.litellm_sections import validate

# What an import does with the deployments of an existing route the file does not list.
REPLACE, ADD = "replace", "add"


@dataclass(slots=True)
class ImportPlan:
    config: LiteLLMConfig
    providers: list[Change] = field(default_factory=list)
    routes: list[Change] = field(default_factory=list)
    deployments: list[Change] = field(default_factory=list)
    keys: list[Change] = field(default_factory=list)
    teams: list[Change] = field(default_factory=list)
    # the units' sections (gateway.web.litellm_sections), by the file's key
    units: dict[str, list[Change]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # What happens to the deployments of routes that exist already (REPLACE or ADD),
    # and one plain sentence per such route for the preview.
    existing: str = "replace"
    existing_routes: list[str] = field(default_factory=list)

    OWN = ("providers", "routes", "deployments", "keys", "teams")

    @property
    def sections(self) -> tuple[str, ...]:
        """Every section, in the order they are counted and shown: the registry's, the
        units' (``INSTALLED_APPS``), then the teams (which may name the units' rows)."""
        units = tuple(section.key for section in litellm_sections.sections())
        return (*self.OWN[:4], *units, "teams")

    def changes(self, section: str) -> list[Change]:
        """The changes of ``section`` (a unit's key or one of ``OWN``)."""
        if section in self.OWN:
            own: list[Change] = getattr(self, section)
            return own
        return self.units.setdefault(section, [])

    @property
    def has_changes(self) -> bool:
        return any(c.action != "unchanged" for s in self.sections for c in self.changes(s))

    def counts(self) -> dict[str, Counter[str]]:
        return {s: Counter(c.action for c in self.changes(s)) for s in self.sections}

    def describe(self) -> str:
        lines: list[str] = []
        for section in self.sections:
            changes = self.changes(section)
            counts = Counter(c.action for c in changes)
            removed = f", {counts['delete']} to remove" if counts["delete"] else ""
            lines.append(
                f"{section}: {counts['create']} to create, {counts['update']} to update"
                f"{removed}, {counts['unchanged']} unchanged"
            )
            for change in changes:
                if change.action == "create":
                    lines.append(f"  + {change.label}")
                elif change.action == "delete":
                    lines.append(f"  - {change.label}")
                elif change.action == "update":
                    detail = ", ".join(
                        f"{name}: {plain(name, old)} -> {plain(name, new)}"
                        for name, (old, new) in change.fields.items()
                    )
                    lines.append(f"  ~ {change.label} ({detail})")
        if not self.has_changes:
            lines.append("nothing to change")
        lines += [f"existing: {e}" for e in self.existing_routes]
        lines += [f"skipped: {s}" for s in self.skipped]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def summary(self, verb: str = "imported") -> str:
        """``2 routes, 3 deployments imported, 1 entry skipped, 4 warnings``."""
        names = self.config.routes.keys()  # fallback-only routes are not counted
        routes = sum(1 for c in self.routes if c.route in names)
        deployments = sum(1 for c in self.deployments if c.action != "delete")
        removed = len(self.deployments) - deployments
        return (
            f"{_count(routes, 'route')}, {_count(deployments, 'deployment')} {verb}, "
            + (f"{_count(removed, 'deployment')} removed, " if removed else "")
            + f"{_count(len(self.skipped), 'entry', 'entries')} skipped, "
            f"{_count(len(self.warnings), 'warning')}"
        )

    @property
    def pending_summary(self) -> str:
        return self.summary("to import")

    def provider_rows(self) -> list[Row]:
        return table([*self.providers, *self.keys])

    def route_rows(self) -> list[Row]:
        return table([*self.routes, *self.deployments], routes=self.routes)


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


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
    validate(obj, path, None if change.action == "create" else set(change.fields))
    return change


def _default(obj: models.Model, name: str) -> Any:
    try:
        return obj._meta.get_field(name).get_default()
    except FieldDoesNotExist:
        return None


class _Planner:
    def __init__(self, config: LiteLLMConfig, existing: str = REPLACE) -> None:
        if existing not in (REPLACE, ADD):
            raise ValueError(f"existing: {REPLACE!r} or {ADD!r}, got {existing!r}")
        self.config = config
        self.plan = ImportPlan(
            config=config,
            warnings=list(config.warnings),
            skipped=list(config.skipped),
            existing=existing,
        )
        self.existing_providers = list(Provider.objects.all())
        self.secret_variables = secret_variables(self.existing_providers)
        self.taken_names = {p.name for p in self.existing_providers}
        self.provider_changes: dict[tuple[Any, ...], Change] = {}
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
            planned = []
            for spec in specs:
                try:
                    self.deployment(route_change.obj, spec, kept)
                    planned.append(spec)
                except ConfigError as exc:
                    self.plan.skipped.append(Skipped(spec.path, str(exc), name))
            self.existing_deployments(name, planned, kept, partial=len(planned) < len(specs))
        for source in self.fallbacks.keys() | self.cw_fallbacks.keys():
            if source not in routes:  # fallbacks set on a route the file only names there
                self.route(source, "router_settings.fallbacks", [])
        self.master_key()
        self.unit_sections()
        self.teams()
        refuse_skipped(self.plan.skipped, self.config.strict)
        return self.plan

    def existing_deployments(
        self, name: str, specs: list[DeploymentSpec], kept: list[Deployment], partial: bool
    ) -> None:
        """The deployments of an existing route that the file does not list. Replace
        (the default): they are removed, so the route serves what the file says and a
        second import of the same file changes nothing. Add: they stay beside the
        file's, and the route's traffic is split between them by weight; said plainly,
        since that is rarely what a re-import means."""
        # A LiteLLM file cannot write a disabled deployment or an echo one (the export
        # leaves them out): those are kept, so importing an export changes nothing.
        unwritable = [d for d in kept if not d.enabled or d.provider.kind == Provider.Kind.ECHO]
        for d in unwritable:
            note = (
                f"route {name}: deployment {d.provider.name}/{d.model} "
                f"({'off' if not d.enabled else 'echo'}) has no LiteLLM form and is kept"
            )
            if d.enabled and specs:  # it keeps answering beside the file's deployments
                note += (
                    ": the route's traffic is split between it and the file's deployments"
                    " by weight (remove it on the route's card if that is not meant)"
                )
                self.plan.warnings.append(note)
            else:
                self.plan.notes.append(note)
        kept = [d for d in kept if d not in unwritable]
        if not kept:
            return
        names = ", ".join(f"{d.provider.name}/{d.model}" for d in kept)
        if self.plan.existing == REPLACE and partial:
            # never leave a route with less than it had because the file's lines for it
            # could not be imported
            self.plan.existing_routes.append(
                f"route {name} exists: its {names} are kept, since some of the file's "
                "deployments for it are skipped (see Skipped)"
            )
            return
        if self.plan.existing == REPLACE:
            for leftover in kept:
                item = f"{leftover.provider.name}/{leftover.model}"
                change = Change("delete", f"deployment {name} -> {item}", leftover)
                change.route, change.item = name, item
                self.plan.deployments.append(change)
            self.plan.existing_routes.append(
                f"route {name} exists: the file's deployments replace its {names} "
                f"({_count(len(kept), 'deployment')} removed)"
            )
            return
        ours = sum(spec.weight for spec in specs)
        theirs = sum(d.weight for d in kept if d.enabled)
        share = 100 * ours / (ours + theirs) if ours + theirs else 0
        self.plan.existing_routes.append(
            f"route {name} exists: the file's deployments are added beside its {names}, "
            f"so its traffic is split: {share:.0f}% to the file's, {100 - share:.0f}% to "
            "the ones already there"
        )

    def viable_routes(self) -> dict[str, list[DeploymentSpec]]:
        """The file's routes whose names the registry accepts; the others are skipped."""
        viable = {}
        for name, specs in self.config.routes.items():
            try:
                validate(self.routes.get(name) or Route(name=name), f"{specs[0].path}.model_name")
            except ConfigError as exc:
                self.plan.skipped += [Skipped(spec.path, str(exc), name) for spec in specs]
            else:
                viable[name] = specs
        return viable

    def check_environment(self) -> None:
        """Warn of variables not set here. A name the allow list refuses is the
        operator's to read in their own file (trusted); anyone else's file has it
        refused with its entry (``references_refused``)."""
        for path, name in self.config.env_references.items():
            refused = secret_refs.refusal(name)
            if refused and not self.config.operator:
                continue  # the entry is skipped, naming why
            if name not in os.environ and path != "general_settings.master_key":
                self.plan.warnings.append(
                    f"{path}: environment variable {name} is not set here; calls fail until it is"
                )
        self.check_clouds()

    def check_clouds(self) -> None:
        """Bedrock and Vertex AI lines whose region, project or credentials cannot be
        found here would fail on first use: warn now (gateway.ops.cloud_checks; no network)."""
        checks = {
            Provider.Kind.BEDROCK: cloud_checks.bedrock,
            Provider.Kind.VERTEX_AI: cloud_checks.vertex,
        }
        for spec in self.config.deployments:
            check = checks.get(spec.provider.kind)
            if check is None:
                continue
            chosen = self.chosen.get(spec.path)
            params = {**((chosen.settings or {}) if chosen else {}), **spec.params}
            for message in check(params, spec.provider.secret):
                self.plan.warnings.append(f"{spec.path} (route {spec.route}): {message}")

    def check_fallbacks(self, imported: set[str]) -> None:
        """Keep the fallbacks whose routes exist or are imported; skip the others."""
        known = {name for name, route in self.routes.items() if route.pk} | imported
        self.fallbacks: dict[str, list[str]] = {}
        self.cw_fallbacks: dict[str, list[str]] = {}
        pairs = [
            ("router_settings.fallbacks", s, t)
            for s, ts in self.config.fallbacks.items()
            for t in ts
        ]
        pairs += [
            ("router_settings.context_window_fallbacks", s, t)
            for s, ts in self.config.context_window_fallbacks.items()
            for t in ts
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
                self.cw_fallbacks.setdefault(source, []).append(target)
            else:
                self.fallbacks.setdefault(source, []).append(target)

    def route(self, name: str, path: str, specs: list[DeploymentSpec]) -> Change:
        route = self.routes.get(name) or Route(name=name)
        values: dict[str, Any] = {
            "fallbacks": self.route_names(route, route.fallbacks, self.fallbacks.get(name)),
            "context_window_fallbacks": self.route_names(
                route, route.context_window_fallbacks, self.cw_fallbacks.get(name)
            ),
        }
        if specs:
            for attr in ("drop_params", "strategy", "max_attempts", "auto_cache_breakpoints"):
                value = self.route_setting(name, specs, attr)
                if value is not None:
                    values[attr] = value
            values["timeout"] = self.timeouts.get(name)
            if self.config.cache_ttl is not None:
                values["cache_ttl"] = self.config.cache_ttl
            values.update(self.semantic_cache(name))
        change = _change(route, values, f"route {name}", f"{path}.model_name")
        change.route = name
        self.routes[name] = route
        self.plan.routes.append(change)
        return change

    def semantic_cache(self, name: str) -> dict[str, Any]:
        """The semantic cache settings of route ``name`` from ``cache_params`` of a
        semantic type (none for the embedding route itself, nor when it names a model
        neither the file nor the gateway has: warned once)."""
        spec = self.config.semantic_cache
        if spec is None or name == spec.embedding_route:
            return {}
        known = spec.embedding_route in self.config.routes or (
            Route.objects.filter(name=spec.embedding_route).exists()
        )
        if not known:
            warning = (
                f"litellm_settings.cache_params: embedding model {spec.embedding_route!r} is "
                "not in model_list; the semantic cache stays off"
            )
            if warning not in self.plan.warnings:
                self.plan.warnings.append(warning)
            return {}
        return {
            "semantic_cache_ttl": spec.ttl,
            "semantic_cache_threshold": spec.threshold,
            "semantic_cache_route": spec.embedding_route,
        }

    def route_names(
        self, route: Route, own: list[str] | None, filed: list[str] | None
    ) -> list[str]:
        """A route's fallbacks after the import. Replace: the file's (none if it names
        none). Add (keep what exists): the route's own first, then the file's others;
        a keep-mode import removed a route's own fallbacks before."""
        filed = list(filed or [])
        if self.plan.existing != ADD or route.pk is None:
            return filed
        own = list(own or [])
        return own + [name for name in filed if name not in own]

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
        self.slots: dict[str, tuple[Any, ...]] = {}
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
            planned: Provider = self.provider_changes[slot].obj
            return planned
        values: dict[str, Any] = {}
        provider = self.chosen[path]
        if provider is None:
            provider = Provider(name=self.new_provider_name(spec))
            provider.set_secret(spec.secret)
            values |= {
                **same_named(spec, "kind base_url api_version extra_headers"),
            }
        if values:
            values["from_operator"] = self.config.operator
            if not self.config.operator and (problem := _host_credentials(provider, values)):
                raise ConfigError(f"{path}.litellm_params: {problem}")
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
            and (
                effective_base(provider) == spec.base_url
                or spec.base_url == f"os.environ/{base_variable(provider)}"
            )
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
            or headers[name] == f"os.environ/{env_variable(provider.name, name)}"
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
            **same_named(spec, "model weight rpm tpm input_price output_price cache_read_price"),
            **same_named(spec, "cache_write_price search_unit_price context_window"),
            "max_output_tokens": spec.max_output_tokens,
            **spec.flags,
            "params": params,
        }
        refs = secret_refs.references(params)
        if self.config.operator:
            if refs:  # the operator's references: trusted when called
                values["from_operator"] = True
        else:  # judged as a console save; an operator's unchanged params stay theirs
            ours = bool(deployment.pk is not None and deployment.from_operator)
            same = deployment.params == params and deployment.provider_id == provider.pk
            if not (ours and same) and (refs or ours):
                values["from_operator"] = False
            self.references_refused(spec.path, provider, ours and same, params)
        label = f"deployment {spec.route} -> {provider.name}/{spec.model}"
        change = _change(deployment, values, label, spec.path)
        change.route, change.item = spec.route, f"{provider.name}/{spec.model}"
        self.plan.deployments.append(change)

    def references_refused(
        self, path: str, provider: Provider, kept: bool, params: dict[str, Any]
    ) -> None:
        """A ``ConfigError`` (the entry skipped) when a file that is not the operator's
        reads a variable the allow list refuses, or sends a host credential where it
        may not go (``gateway.web.references``): never accepted, then failing at call
        time. What an operator's row already holds, unchanged, stays theirs."""

        found: dict[str, list[str]] = {}
        if not (provider.pk and provider.from_operator):
            found |= references.problems(
                references.provider_fields(provider), references.provider_endpoints(provider)
            )
            found |= references.problems({"base_url": provider.base_url}, [])
        if not kept:
            sent, where = references.split_params(params)
            endpoints = references.deployment_endpoints(params, provider)
            found |= references.problems(sent, endpoints) | references.problems(where, [])
        if found:
            detail = "; ".join(f"{field}: {' '.join(r)}" for field, r in found.items())
            raise ConfigError(f"{path}.litellm_params: {detail}")

    def unit_sections(self) -> None:
        """The installed units' sections (MCP servers, guardrails), each validated as the
        unit's own save would; what cannot be saved is skipped, saying why."""
        for section in litellm_sections.sections():
            specs = self.config.specs(section.key)
            changes, skipped = section.plan(specs, self.config.operator)
            self.plan.changes(section.key).extend(changes)
            self.plan.skipped.extend(Skipped(path, reason) for path, reason in skipped)

    def teams(self) -> None:
        """``switchyard.teams`` (gateway.ops.litellm.teams); a team may name the
        guardrails and MCP servers the registry has or the file brings."""

        guardrails = {*Guardrail.objects.values_list("name", flat=True)}
        guardrails |= {c.obj.name for c in self.plan.changes("guardrails")}
        servers = {*McpServer.objects.values_list("name", flat=True)}
        servers |= {c.obj.name for c in self.plan.changes("mcp_servers")}
        changes, skipped = plan_teams(self.config.teams, Change, guardrails, servers)
        self.plan.teams.extend(changes)
        self.plan.skipped.extend(Skipped(path, reason) for path, reason in skipped)

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
        if weakness := weak_master_key(raw):
            if not self.config.allow_weak_master_key:
                self.plan.warnings.append(
                    f"general_settings.master_key {weakness}: anyone could guess it, and it "
                    f"would be a live key with no limits, so no {MASTER_KEY_NAME} key is "
                    "created; give a long random key, or ask for it anyway (the console's "
                    "'Import a weak master key', --allow-weak-master-key)"
                )
                return
            self.plan.warnings.append(
                f"general_settings.master_key {weakness}: imported as asked, as a live key "
                "with no limits; replace it with a long random key soon"
            )
        digest = ApiKey.hash_key(raw)
        holder = ApiKey.objects.filter(key_hash=digest).first()
        if holder is not None and not config_may_rebind(holder):
            self.plan.warnings.append(
                f"general_settings.master_key: key {holder.name!r} already has this value "
                "and belongs to someone; no master key is imported (revoke that key, or "
                "give the file another master key)"
            )
            return
        key = (
            holder
            or ApiKey.objects.filter(name=MASTER_KEY_NAME, user__isnull=True, team__isnull=True)
            .order_by("created_at")
            .first()
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


def config_may_rebind(key: ApiKey) -> bool:
    """Whether an import or ``apply`` may give ``key`` the file's master key: only a key
    owned by no one and of no team (M15: a member's key named ``litellm-master-key`` was
    rebound, and its owner then read every master-key request). Such a key named
    ``MASTER_KEY_NAME`` can only come from a config file: the console and ``/api``
    refuse the name (``gateway.access.keys.RESERVED_NAMES``)."""
    return key.user_id is None and key.team_id is None


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


# Example keys from LiteLLM's docs and configs, and a floor on length: such a master
# key is guessed, not cracked.
WELL_KNOWN_KEYS = frozenset(
    {"sk-1234", "sk-12345", "sk-123456", "sk-1234567890", "sk-admin", "sk-master", "sk-test"}
)
MIN_KEY_LENGTH = 16


def weak_master_key(raw: str) -> str:
    """Why ``raw`` is too weak to be a live key ("" if it is not), without quoting it."""
    if raw.strip().lower() in WELL_KNOWN_KEYS:
        return "is a well-known example key"
    if len(raw) < MIN_KEY_LENGTH:
        return f"is only {len(raw)} characters long (at least {MIN_KEY_LENGTH})"
    return ""


def plan_import(config: LiteLLMConfig, existing: str = REPLACE) -> ImportPlan:
    """The import's plan. ``existing``: what becomes of the deployments of a route that
    exists already and that the file does not list: REPLACE (removed) or ADD (kept)."""
    return _Planner(config, existing).build()


def _host_credentials(provider: Provider, values: dict[str, Any]) -> str | None:
    """Why a new provider with ``values`` would send the host's cloud credentials to an
    unofficial endpoint: an upload's entry is skipped saying so (the operator's file may)."""
    probe = Provider(name=provider.name, kind=values["kind"], base_url=values["base_url"] or "")
    probe.secret_ciphertext = provider.secret_ciphertext
    probe.secret_ref = provider.secret_ref
    return probe.host_credentials_problem()
