"""Config as code: ``apply`` makes the registry what a LiteLLM-compatible file says.

The file is the one ``import_config`` reads (gateway.ops.litellm), and the plan is the
import's (``plan_import``: create, update, unchanged, a named route's other deployments
removed), made stricter and completed with removals:

- **Strict.** Any part the importer would skip fails the apply: a skipped route would
  otherwise read as "no longer in the file" and be removed.
- **Secrets only as references.** Every value Switchyard keeps encrypted (provider keys
  and credentials, extra headers, a base URL carrying credentials, MCP tokens, headers
  and env, the params a guardrail's kind declares secret, the master key) must be an
  ``os.environ/NAME`` reference: a file kept in git never holds a secret. A refusal names
  each place (``model_list[2].litellm_params.api_key``).
- **The operator's file.** ``apply`` is the operator's command: the file's references may
  name any variable but the gateway's own settings (``SWITCHYARD_*``, ``SECRET_KEY``...),
  whatever ``SWITCHYARD_ENV_ALLOW`` says, and its rows are marked ``from_operator`` (their
  references resolve when called, their endpoints may receive the host's credentials:
  ``gateway.web.references``).
- **Ownership.** What the file writes is marked ``managed_by_config``: the routes,
  teams, MCP servers and guardrails it names (a console-made one it names is adopted),
  the providers it creates and the master key. A marked row the file no longer names is
  removed; a console-made one stays unless ``prune``. A route goes with its deployments;
  a provider goes when no deployment uses it any more. API keys other than the master
  key have no form in the file and are never removed.
- **Nothing dangling.** Removing what something that stays still names (a route a key
  is limited to or another route falls back to or shadows, a guardrail or MCP server a
  key, team or route names, a team that holds keys) refuses the whole apply, naming who
  names it.
- **One transaction.** ``apply_config`` plans again inside it (the registry row locked,
  so concurrent applies queue), writes, and commits once: other processes rebuild their
  snapshot once, from the whole change. Applying the same file twice changes nothing
  (``export_config`` before and after is the same text).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from gateway.base.secrets import secret_refs
from gateway.base.secrets.declared import url_has_secret
from gateway.models import (
    ENV_REFERENCE,
    ApiKey,
    Deployment,
    Provider,
    RegistryState,
    Route,
    Team,
)
from gateway.ops.litellm.apply import ImportResult
from gateway.ops.litellm.parse import ConfigError, LiteLLMConfig
from gateway.ops.litellm.plan import REPLACE, Change, ImportPlan, plan_import
from gateway.ops.litellm.prefixes import MASTER_KEY_NAME, SECRET_PARAM
from gateway.telemetry import audit
from gateway.web import litellm_sections

MARK = "managed_by_config"


class ApplyRefused(ConfigError):
    """The file cannot be applied as it is; the message names every place."""


# --- secrets ----------------------------------------------------------------------------


def _literal(value: str) -> bool:
    return bool(value.strip()) and not ENV_REFERENCE.match(value.strip())


def secret_problems(config: LiteLLMConfig) -> list[str]:
    """Each literal secret in ``config`` and each ``os.environ/`` reference it may not
    make (the operator's file: a gateway setting; anyone else's: what the allow list
    refuses), as ``path: why``."""
    secrets: list[tuple[str, str]] = []  # (path, value) of values kept encrypted
    plain: list[tuple[str, str]] = []  # (path, value) of other strings (references only)
    for spec in config.deployments:
        p, provider = f"{spec.path}.litellm_params", spec.provider
        secrets.append((f"{p}.{SECRET_PARAM.get(provider.kind, 'api_key')}", provider.secret))
        secrets += [(f"{p}.extra_headers.{k}", v) for k, v in provider.extra_headers.items()]
        if url_has_secret(provider.base_url) and not ENV_REFERENCE.match(provider.base_url):
            secrets.append((f"{p}.api_base", provider.base_url))
        plain += [(f"{p}.api_base", provider.base_url), (f"{p}.api_version", provider.api_version)]
        plain += [(path, v) for path, _, v in litellm_sections.strings(spec.params, p)]
    for section in litellm_sections.sections():  # the units': what each would seal
        for spec in config.specs(section.key):
            sealed, others = section.secrets(spec)
            secrets += sealed
            plain += others
    if config.master_key:
        secrets.append(("general_settings.master_key", config.master_key))
    problems = [
        f"{path}: a literal secret; give it as os.environ/NAME (set NAME where Switchyard runs)"
        for path, value in secrets
        if _literal(value)
    ]
    references = dict(config.env_references)
    for path, value in (*secrets, *plain):
        if (name := secret_refs.reference_name(value)) is not None:
            references.setdefault(path, name)
    for path, name in sorted(references.items()):
        if path == "general_settings.master_key":  # read here, by the operator's command
            continue
        if config.operator and not secret_refs.gateway_setting(name):
            continue  # trusted: any variable the operator names
        if reason := secret_refs.refusal(name):
            problems.append(f"{path}: {reason}")
    return problems


# --- the plan ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Names:
    """Who names what, once the plan is applied."""

    routes: dict[str, Route]  # surviving routes, with their planned values
    teams: dict[str, Team]
    keys: list[ApiKey]  # active keys


def _mark(change: Change) -> None:
    obj = change.obj
    if getattr(obj, MARK):
        return
    setattr(obj, MARK, True)
    if change.action in ("unchanged", "update"):
        change.action = "update"
        change.fields[MARK] = (False, True)


def _delete(section: list[Change], obj: Any, label: str, route: str = "", item: str = "") -> None:
    change = Change("delete", label, obj)
    change.route, change.item = route, item
    section.append(change)


def plan_apply(config: LiteLLMConfig, *, prune: bool = False) -> ImportPlan:
    """The plan that makes the registry what ``config`` says (see the module docstring);
    an ``ApplyRefused`` (a ``ConfigError``) naming every place when it cannot be. The
    file is the operator's (``manage.py apply``, the one way in): trusted."""
    config.operator = True
    problems = secret_problems(config)
    if problems:
        raise ApplyRefused(f"{len(problems)} value(s) cannot be applied: " + "; ".join(problems))
    config.strict = True
    plan = plan_import(config, REPLACE)
    named_routes = set(config.routes)
    for change in plan.routes:
        if change.route in named_routes:
            _mark(change)
    for change in plan.providers:
        if change.action == "create":
            setattr(change.obj, MARK, True)
    units = [section.key for section in litellm_sections.sections()]
    for change in (*plan.keys, *(c for key in units for c in plan.changes(key)), *plan.teams):
        _mark(change)
    _plan_removals(plan, config, prune)
    _refuse_dangling(plan)
    if prune:
        plan.notes.append("--prune: what the file does not name is removed, console-made too")
    return plan


def _gone(model: type[Any], named: Iterable[str], prune: bool) -> list[Any]:
    rows = model.objects.exclude(name__in=set(named))
    return list(rows if prune else rows.filter(**{MARK: True}))


def _plan_removals(plan: ImportPlan, config: LiteLLMConfig, prune: bool) -> None:
    named = {c.route for c in plan.routes}  # with the routes named only in fallbacks
    gone_routes = _gone(Route, named, prune)
    for route in gone_routes:
        for d in route.deployments.select_related("provider").order_by("id"):
            item = f"{d.provider.name}/{d.model}"
            _delete(plan.deployments, d, f"deployment {route.name} -> {item}", route.name, item)
        _delete(plan.routes, route, f"route {route.name}", route.name)
    # providers no deployment uses once the plan is applied
    going = {c.obj.pk for c in plan.deployments if c.action == "delete"}
    used = {
        pk for pk, dpk in Deployment.objects.values_list("provider_id", "pk") if dpk not in going
    }
    used |= {c.obj.provider.pk for c in plan.deployments if c.action != "delete"}
    providers = Provider.objects.exclude(pk__in={pk for pk in used if pk is not None})
    for provider in providers if prune else providers.filter(**{MARK: True}):
        _delete(plan.providers, provider, f"provider {provider.name}", item=provider.name)
    for team in _gone(Team, [c.obj.name for c in plan.teams], prune):
        _delete(plan.teams, team, f"team {team.name}", item=team.name)
    for section in litellm_sections.sections():  # the units' rows (MCP servers, guardrails)
        changes = plan.changes(section.key)
        for row in _gone(section.model, [c.obj.name for c in changes], prune):
            _delete(changes, row, f"{section.what} {row.name}", item=row.name)
    if config.master_key is None:  # the file dropped it: the key it made goes
        for key in ApiKey.objects.filter(name=MASTER_KEY_NAME, **{MARK: True}):
            _delete(plan.keys, key, f"key {key.name} ({key.prefix}…)", item=key.name)


def _after(plan: ImportPlan) -> _Names:
    """The routes, teams and active keys that stay, as the plan leaves them."""
    deleted = {(type(c.obj), c.obj.pk) for s in plan.sections for c in plan.changes(s)
               if c.action == "delete"}  # fmt: skip
    routes: dict[str, Route] = {r.name: r for r in Route.objects.all()}
    routes |= {c.obj.name: c.obj for c in plan.routes if c.action != "delete"}
    teams: dict[str, Team] = {t.name: t for t in Team.objects.all()}
    teams |= {c.obj.name: c.obj for c in plan.teams if c.action != "delete"}
    keys = list(ApiKey.objects.filter(revoked_at__isnull=True).prefetch_related("routes"))
    return _Names(
        routes={n: r for n, r in routes.items() if (Route, r.pk) not in deleted},
        teams={n: t for n, t in teams.items() if (Team, t.pk) not in deleted},
        keys=[k for k in keys if (ApiKey, k.pk) not in deleted],
    )


def _users(rows: Iterable[Any], names: set[str], attrs: tuple[str, ...]) -> dict[str, list[str]]:
    """{name in ``names``: [rows naming it in one of ``attrs``]}."""
    found: dict[str, list[str]] = {}
    for row in rows:
        for attr in attrs:
            value = getattr(row, attr, None) or []
            entries = (
                {str(v).split("__", 1)[0] for v in value} if isinstance(value, list) else set()
            )
            for name in sorted(entries & names):
                users = found.setdefault(name, [])
                if row.name not in users:
                    users.append(row.name)
    return found


def _refuse_dangling(plan: ImportPlan) -> None:
    """Refuse the plan if it removes what something that stays still names."""
    names = _after(plan)
    units = litellm_sections.sections()
    gone = {
        section: {c.obj.name for c in plan.changes(section) if c.action == "delete"}
        for section in ("routes", "teams", *(unit.key for unit in units))
    }
    clearing = {c.obj.pk for c in plan.keys if c.action != "delete" and "routes" in c.fields}
    problems: list[str] = []
    for route, users in _users(
        names.routes.values(), gone["routes"], ("fallbacks", "context_window_fallbacks")
    ).items():
        problems.append(f"route {route} is a fallback of route(s) {', '.join(users)}")
    for route, users in _users(names.routes.values(), gone["routes"], ("shadow_routes",)).items():
        problems.append(f"route {route} is shadowed from route(s) {', '.join(users)}")
    for key in names.keys:
        if key.pk in clearing:
            continue
        limited = sorted({r.name for r in key.routes.all()} & gone["routes"])
        if limited:
            problems.append(f"API key {key.name} is limited to route(s) {', '.join(limited)}")
    for unit in units:  # a unit's row that keys, teams or routes name (named_by)
        for what, rows in (("key", names.keys), ("team", names.teams.values()),
                           ("route", names.routes.values())):  # fmt: skip
            for name, users in _users(rows, gone[unit.key], unit.named_by).items():
                problems.append(f"{unit.what} {name} is named by {what}(s) {', '.join(users)}")
    for team in (c.obj for c in plan.teams if c.action == "delete"):
        holders = sorted(ApiKey.objects.filter(team=team).values_list("name", flat=True))
        if holders:
            problems.append(f"team {team.name} holds API key(s) {', '.join(holders)}")
    if problems:
        raise ApplyRefused(
            "the file no longer names what is still in use, so nothing was applied: "
            + "; ".join(problems)
            + " (change those first, or keep the object in the file)"
        )


# --- applying ---------------------------------------------------------------------------


def apply_config(config: LiteLLMConfig, *, prune: bool = False) -> ImportResult:
    """Apply ``config`` all-or-nothing: planned again inside the transaction, with the
    registry's state row locked so that two applies run one after the other."""
    with transaction.atomic(), audit.via("apply"):
        RegistryState.objects.get_or_create(pk=1)
        RegistryState.objects.select_for_update().filter(pk=1).first()
        plan = plan_apply(config, prune=prune)
        _write(plan)
        if plan.has_changes:
            audit.record(
                "apply", object_type="config", object_name="config file", detail=plan.summary()
            )
    return ImportResult.of(plan, "applied")


def _write(plan: ImportPlan) -> None:
    """Saves in dependency order (providers before their deployments, the units' rows
    (MCP servers, guardrails) before the teams naming them), then removals (deployments
    before their routes and providers)."""
    units = [section.key for section in litellm_sections.sections()]
    for section in ("providers", "routes", "deployments", *units, "teams"):
        for change in plan.changes(section):
            if change.action in ("create", "update"):
                change.obj.save()
    for change in plan.keys:
        if change.action in ("create", "update"):
            change.obj.save()
            change.obj.routes.clear()
    for section in ("deployments", "routes", "providers", "teams", *units):
        for change in plan.changes(section):
            if change.action == "delete":
                change.obj.delete()
    for change in plan.keys:
        if change.action == "delete":
            change.obj.delete()
