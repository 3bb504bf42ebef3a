"""The field-rule table (``gateway.access.field_rules``) covers every writable field: every
body (and form) schema of every unsafe ``/api`` operation and every console form is
mapped to a resource, and each of its fields has a rule there. A new operation, form
or field without one fails here; a test-only schema and form show that it is caught.
Then the table's semantics: set, clear, only add."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from django import forms
from ninja import NinjaAPI, Router, Schema

import console
from gateway.access import field_rules, roles
from gateway.edge.api.keys import KeyPatch
from gateway.web import units

# Which resource each write schema fills (by class name: ninja builds some of them).
SCHEMAS = {
    "ProviderIn": "providers",
    "ProviderPatch": "providers",
    "RouteIn": "routes",
    "RoutePatch": "routes",
    "DeploymentIn": "deployments",
    "DeploymentPatch": "deployments",
    "KeyIn": "keys",
    "KeyPatch": "keys",
    "ScoreIn": "scores",
    "ScoreConfigIn": "score_configs",
    "ScoreConfigPatch": "score_configs",
    "DatasetIn": "datasets",
    "DatasetPatch": "datasets",
    "RowPatch": "datasets",
    "DatasetFromLog": "datasets_from_log",
    "ExperimentIn": "experiments",
    "ComparisonIn": "prompt_comparisons",
    "EvaluatorIn": "evaluators",
    "QueueIn": "annotation_queues",
    "QueueItemsIn": "annotation_queue_items",
    "TeamIn": "teams",
    "TeamPatch": "teams",
    "TagBudgetIn": "tags",
    "TagBudgetPatch": "tags",
    "MemberIn": "team_members",
    "UserIn": "users",
    "UserPatch": "users",
    "UserLimitsPatch": "user_limits",
    "InviteIn": "invites",
    "McpServerIn": "mcp_servers",
    "McpServerPatch": "mcp_servers",
    "AgentIn": "a2a_agents",
    "AgentPatch": "a2a_agents",
    "GuardrailIn": "guardrails",
    "GuardrailPatch": "guardrails",
    "SettingsPatch": "alerts",
    "SignInPatch": "sso",
    "PromptIn": "prompts",
    "VersionIn": "prompts",
    "LabelIn": "prompts",
    "PinnedChartIn": "pinned_charts",
}
# Inputs of an action that stores none of them (each with why).
ACTIONS = {
    "CallIn": "runs an MCP tool once (admins): nothing stored",
    "RenderIn": "renders a prompt version (read-only)",
    "RunIn": "reconciles the providers' bills now (owners): writes only the job's own rows",
}
FORMS = {
    "KeyForm": "keys",
    "RouteForm": "routes",
    "DeploymentForm": "deployments",
    "AddModelForm": "add_model",
    "ProviderForm": "providers",
    "ProviderAdminForm": "providers",  # Django admin (owners only, console/admin.py)
    "McpServerForm": "mcp_servers",
    "AgentForm": "a2a_agents",
    "TeamForm": "teams",
    "TagBudgetForm": "tags",
    "MemberForm": "team_members",
    "RoleForm": "users",
    "UserLimitsForm": "user_limits",
    "InviteForm": "invites",
    "GuardrailForm": "guardrails",
    "AlertSettingsForm": "alerts",
    "SsoSettingsForm": "sso",
    "PinForm": "pinned_charts",
}
NOT_RESOURCE_FORMS = {
    "LogFilterForm": "filters a page",
    "AuditFilterForm": "filters a page",
    "SignInForm": "signs in",
    "ThrottledAuthenticationForm": "signs in",
    "AcceptForm": "the invited person's own name and password: the link is the credential",
    "ImportForm": "a whole config imported by an admin (config.import), checked by the import",
}


def write_schemas(api: NinjaAPI) -> list[tuple[str, type]]:
    """(operation, schema) for every body or form schema of every unsafe operation."""
    found = []
    for bound in api._get_bound_routers():  # every router, a ManagementApi's mounts too
        prefix, router = bound.prefix, bound.template
        for path, view in router.path_operations.items():
            for operation in view.operations:
                if not set(operation.methods) & {"POST", "PUT", "PATCH"}:
                    continue
                for model in operation.models:
                    if getattr(model, "__ninja_param_source__", None) not in ("body", "form"):
                        continue
                    where = f"{'/'.join(operation.methods)} {prefix}{path}"
                    for name, info in model.model_fields.items():
                        kind = info.annotation
                        if inspect.isclass(kind) and issubclass(kind, Schema):
                            found.append((where, kind))
                        else:  # a form's or a file's own field
                            found.append((where, _single(name)))
    return found


def _single(name: str) -> type:
    return type(f"form:{name}", (), {"model_fields": {name: None}})


def undeclared_in_api(api: NinjaAPI, extra_schemas: dict[str, str] | None = None) -> list[str]:
    schemas = {**SCHEMAS, **(extra_schemas or {})}
    problems = []
    for where, schema in write_schemas(api):
        name = schema.__name__
        if name.startswith("form:"):  # a form field: its operation's resource
            field = name.split(":", 1)[1]
            resource = "datasets" if "/datasets" in where else None
            if resource is None or field not in field_rules.FIELDS[resource]:
                problems.append(f"{where}: form field {field} has no rule")
            continue
        if name in ACTIONS:
            continue
        resource = schemas.get(name)
        if resource is None:
            problems.append(f"{where}: schema {name} is mapped to no resource")
            continue
        table = field_rules.FIELDS.get(resource, {})
        problems += [
            f"{where}: {resource}.{f} has no rule" for f in schema.model_fields if f not in table
        ]
    return problems


def console_forms() -> list[type[forms.BaseForm]]:
    """Every form of the console and of the installed units (a unit's pages are console
    pages: ``gateway.web.units``)."""
    importlib.import_module("gateway.server.urls")  # the API first: console.evals.api is its router
    packages = [("console.", console.__path__)]
    packages += [(f"{unit.name}.", unit.module.__path__) for unit in units.installed()]
    found: dict[str, type[forms.BaseForm]] = {}
    for prefix, path in packages:
        for module in pkgutil.walk_packages(path, prefix):
            if ".migrations" in module.name or module.name.endswith("tests"):
                continue
            loaded = importlib.import_module(module.name)
            for _, value in vars(loaded).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, forms.BaseForm)
                    and value.__module__.startswith(tuple(p for p, _ in packages))
                ):
                    found[value.__name__] = value
    return list(found.values())


def undeclared_in_forms(classes: list[type[forms.BaseForm]]) -> list[str]:
    problems = []
    for form in classes:
        name = form.__name__
        if name in NOT_RESOURCE_FORMS:
            continue
        resource = FORMS.get(name)
        if resource is None:
            problems.append(f"console form {name} is mapped to no resource")
            continue
        table = field_rules.FIELDS.get(resource, {})
        problems += [
            f"{name}: {resource}.{f} has no rule" for f in form.base_fields if f not in table
        ]
    return problems


class KeyPatchPlus(KeyPatch):  # test-only: the keys' PATCH with a field nobody declared
    owner_override: bool = False


class WidgetIn(Schema):  # test-only: a resource nobody declared
    colour: str


def test_every_api_write_field_has_a_rule() -> None:
    from gateway.edge.api import api

    assert len(write_schemas(api)) > 30  # the walk sees the API (no vacuous pass)
    assert undeclared_in_api(api) == []


def test_every_console_form_field_has_a_rule() -> None:
    classes = console_forms()
    names = {c.__name__ for c in classes}
    assert {"KeyForm", "RouteForm", "TeamForm", "GuardrailForm", "McpServerForm"} <= names
    assert undeclared_in_forms(classes) == []


def test_an_undeclared_field_or_schema_is_caught() -> None:
    """A test-only API with a new field on the keys' schema and a new resource schema,
    and a test-only console form: each is named."""
    router = Router()

    @router.patch("/keys/{key_id}")
    def patch_key(request: Any, key_id: int, payload: KeyPatchPlus) -> None: ...

    @router.post("/widgets")
    def make_widget(request: Any, payload: WidgetIn) -> None: ...

    toy = NinjaAPI(urls_namespace="toy-field-rules")
    toy.add_router("/", router)
    problems = undeclared_in_api(toy, {"KeyPatchPlus": "keys"})
    assert any("keys.owner_override has no rule" in p for p in problems), problems
    assert any("WidgetIn is mapped to no resource" in p for p in problems), problems
    assert not any("keys.name" in p for p in problems)  # declared fields pass

    class KeyFormPlus(forms.Form):
        name = forms.CharField()
        budget_override = forms.BooleanField()

    KeyFormPlus.__name__ = "KeyForm"  # as if the keys' form had gained a field
    assert undeclared_in_forms([KeyFormPlus]) == ["KeyForm: keys.budget_override has no rule"]


def test_a_unit_declares_its_own_resources_once(monkeypatch) -> None:
    """The guardrails' and the MCP servers' tables come from their units' ``rules.py``
    (``field_rules.declare``), and the walk above holds them as it holds the rest: with
    a unit's table gone, its form and its API fields are named. The same table again
    changes nothing, another one raises."""
    from gateway.edge.api import api
    from gateway.features.guardrails.forms import GuardrailForm

    assert field_rules.FIELDS["mcp_servers"]["command"].rule == "mcp_server.stdio"
    monkeypatch.delitem(field_rules.FIELDS, "guardrails")
    assert "GuardrailForm: guardrails.kind has no rule" in undeclared_in_forms([GuardrailForm])
    assert any("guardrails.params has no rule" in p for p in undeclared_in_api(api))
    monkeypatch.undo()
    field_rules.declare("guardrails", dict(field_rules.FIELDS["guardrails"]))
    with pytest.raises(ValueError, match="declared twice"):
        field_rules.declare("guardrails", field_rules.same(field_rules.MEMBER, "name"))
    assert field_rules.FIELDS["guardrails"]["name"].set == field_rules.ADMIN


def test_every_rule_names_a_registered_action() -> None:
    import gateway.access.rules  # noqa: F401 - registers the rules
    from gateway.access.authorization import RULES

    named = {r.rule for table in field_rules.FIELDS.values() for r in table.values() if r.rule}
    assert named - set(RULES) == set()


# --- semantics ---------------------------------------------------------------------------

MEMBER = roles.Actor(role=roles.MEMBER, user_id=1)
EDITOR = roles.Actor(role=roles.EDITOR, user_id=2)
ADMIN = roles.Actor(role=roles.ADMIN, user_id=3)


@pytest.mark.parametrize(
    "actor, sent, stored, refused",
    [
        (MEMBER, {"tags": ["a", "b"]}, {"tags": ["a"]}, False),  # adds
        (MEMBER, {"tags": ["b"]}, {"tags": ["a"]}, True),  # swaps: a removed
        (MEMBER, {"tags": None}, {"tags": ["a"]}, True),
        (MEMBER, {"tags": "a, b"}, {"tags": ["a"]}, False),  # a string spelling
        (MEMBER, {"tags": []}, {"tags": []}, False),  # nothing to remove
        (ADMIN, {"tags": []}, {"tags": ["a"]}, False),
        (MEMBER, {"team": None}, {"team": "t"}, True),  # clearing the team: admins
        (MEMBER, {"team": "u"}, {"team": "t"}, False),  # key.grant judges which
        (MEMBER, {"scopes": ["management"]}, {"scopes": ""}, True),
        (MEMBER, {"scopes": ["management"]}, {"scopes": "management"}, False),  # unchanged
        (MEMBER, {"scopes": []}, {"scopes": ""}, False),
        (MEMBER, {"mcp_allowed": []}, {"mcp_allowed": ["s"]}, False),  # narrowing is free
        (MEMBER, {"tags": ["a"]}, None, False),  # a new key
    ],
)
def test_keys(actor, sent, stored, refused) -> None:
    assert bool(field_rules.refusals(actor, "keys", sent, stored)) is refused


def test_route_teams_and_guardrails_for_an_editor() -> None:
    stored = {"teams": ["a", "b"], "guardrails": ["g"]}
    assert not field_rules.refusals(EDITOR, "routes", {"teams": ["a"]}, stored)
    assert "teams" in field_rules.refusals(EDITOR, "routes", {"teams": []}, stored)
    assert "guardrails" in field_rules.refusals(EDITOR, "routes", {"guardrails": []}, stored)
    assert not field_rules.refusals(ADMIN, "routes", {"teams": [], "guardrails": []}, stored)


def test_a_reason_names_the_field_and_who_may() -> None:
    why = field_rules.refusal(MEMBER, "keys", {"guardrails": []}, {"guardrails": ["strict"]})
    assert why == (
        "guardrails: your role may add to guardrails but not remove strict "
        "(only owners and admins may)"
    )
