"""Config as code (gateway.ops.apply, ``manage.py apply``): the plan with removals,
dry-run exit codes for CI, ownership (``managed_by_config``) and ``--prune``, the
fixed point (export before and after a second apply is the same text), refusals of
literal secrets, disallowed references and removals that would leave something
dangling, all or nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.models import (
    ApiKey,
    Deployment,
    Guardrail,
    McpServer,
    Provider,
    RegistryState,
    Route,
    Team,
)
from gateway.ops.apply import ApplyRefused, apply_config, plan_apply
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import ConfigError, parse_config

MASTER = "sk-apply-master-from-env-0042"
CONFIG = """
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY, rpm: 60}
  - model_name: chat
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/ANTHROPIC_API_KEY
  - model_name: fast
    litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/OPENAI_API_KEY}
  - model_name: local
    litellm_params: {model: hosted_vllm/llama, api_base: "http://127.0.0.1:8000/v1"}
router_settings:
  num_retries: 2
  fallbacks: [{chat: [fast]}]
general_settings:
  master_key: os.environ/APPLY_MASTER_KEY
mcp_servers:
  docs:
    url: https://mcp.example.test/mcp
    auth_type: bearer_token
    auth_value: os.environ/DOCS_MCP_TOKEN
guardrails:
  - guardrail_name: no-words
    litellm_params:
      guardrail: litellm_content_filter
      mode: pre_call
      blocked_words: [{keyword: project-x}]
switchyard:
  teams:
    research:
      description: the research group
      rpm_limit: 600
      budget_usd: 250
      guardrails: [no-words]
      mcp_allowed: [docs]
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DOCS_MCP_TOKEN"):
        monkeypatch.setenv(name, f"value-of-{name}")
    monkeypatch.setenv("APPLY_MASTER_KEY", MASTER)


def apply(text: str, **options: Any):
    return apply_config(parse_config(text), **options)


def plan(text: str, **options: Any):
    return plan_apply(parse_config(text), **options)


def without(text: str, *lines: str) -> str:
    for line in lines:
        assert line in text, line
        text = text.replace(line, "", 1)
    return text


def route_names() -> list[str]:
    return sorted(Route.objects.values_list("name", flat=True))


def console_route(name: str = "console-made") -> Route:
    provider = Provider.objects.create(name=f"{name}-p", kind="openai", base_url="http://h/v1")
    route = Route.objects.create(name=name)
    Deployment.objects.create(route=route, provider=provider, model="m")
    return route


# --- the plan and the fixed point --------------------------------------------------------


@pytest.mark.django_db
def test_first_apply_creates_everything_and_marks_it_managed(env: None) -> None:
    result = apply(CONFIG)
    assert route_names() == ["chat", "fast", "local"]
    assert Deployment.objects.count() == 4
    assert all(r.managed_by_config for r in Route.objects.all())
    assert all(p.managed_by_config for p in Provider.objects.all())
    key = ApiKey.objects.get(name="litellm-master-key")
    assert key.managed_by_config and key.key_hash == ApiKey.hash_key(MASTER)
    team = Team.objects.get(name="research")
    assert team.managed_by_config and team.rpm_limit == 600 and team.guardrails == ["no-words"]
    assert team.mcp_allowed == ["docs"] and team.budget_usd == Decimal("250")
    assert McpServer.objects.get(name="docs").managed_by_config
    assert Guardrail.objects.get(name="no-words").managed_by_config
    assert Route.objects.get(name="chat").fallbacks == ["fast"]
    assert "applied" in result.totals


@pytest.mark.django_db
def test_applying_the_same_file_twice_is_a_fixed_point(env: None) -> None:
    apply(CONFIG)
    before = export_config()
    ids = {m.__name__: sorted(m.objects.values_list("pk", flat=True))
           for m in (Provider, Route, Deployment, ApiKey, Team, McpServer, Guardrail)}  # fmt: skip
    again = plan(CONFIG)
    assert not again.has_changes, again.describe()
    apply(CONFIG)
    assert export_config() == before
    assert ids == {m.__name__: sorted(m.objects.values_list("pk", flat=True))
                   for m in (Provider, Route, Deployment, ApiKey, Team, McpServer, Guardrail)}  # fmt: skip
    assert "switchyard:" in before and "research:" in before  # teams round-trip too


@pytest.mark.django_db
def test_the_export_applied_back_changes_nothing(env: None) -> None:
    apply(CONFIG)
    # the master key is stored as a hash: the export says to add it back yourself
    text = export_config() + "general_settings: {master_key: os.environ/APPLY_MASTER_KEY}\n"
    assert "general_settings.master_key yourself" in text
    again = plan(text)
    assert not again.has_changes, again.describe()


@pytest.mark.django_db
def test_removing_a_route_from_the_file_removes_it_and_its_deployments(env: None) -> None:
    apply(CONFIG)
    local = Route.objects.get(name="local")
    deployment = local.deployments.get()
    provider = deployment.provider
    smaller = without(
        CONFIG,
        "  - model_name: local\n    litellm_params: {model: hosted_vllm/llama, "
        'api_base: "http://127.0.0.1:8000/v1"}\n',
    )
    planned = plan(smaller)
    text = planned.describe()
    assert "  - route local" in text
    assert "  - deployment local -> " in text
    assert "  - provider " in text  # its provider served only it
    apply(smaller)
    assert route_names() == ["chat", "fast"]
    assert not Deployment.objects.filter(pk=deployment.pk).exists()
    assert not Provider.objects.filter(pk=provider.pk).exists()
    assert not plan(smaller).has_changes


@pytest.mark.django_db
def test_a_changed_setting_is_an_update_in_place(env: None) -> None:
    apply(CONFIG)
    pk = Deployment.objects.get(model="gpt-4o").pk
    changed = CONFIG.replace(
        "api_key: os.environ/OPENAI_API_KEY, rpm: 60", "api_key: os.environ/OPENAI_API_KEY, rpm: 90"
    )
    text = plan(changed).describe()
    assert "rpm: 60 -> 90" in text
    apply(changed)
    assert Deployment.objects.get(pk=pk).rpm == 90


# --- ownership and --prune ---------------------------------------------------------------


@pytest.mark.django_db
def test_console_made_objects_stay_unless_prune(env: None) -> None:
    apply(CONFIG)
    route = console_route()
    team = Team.objects.create(name="console-team")
    assert not plan(CONFIG).has_changes  # not the file's: no drift
    apply(CONFIG)
    assert Route.objects.filter(pk=route.pk).exists() and Team.objects.filter(pk=team.pk).exists()
    pruned = plan(CONFIG, prune=True)
    text = pruned.describe()
    assert "  - route console-made" in text and "  - team console-team" in text
    assert "  - provider console-made-p" in text
    apply(CONFIG, prune=True)
    assert route_names() == ["chat", "fast", "local"]
    assert not Team.objects.filter(pk=team.pk).exists()
    assert not Provider.objects.filter(name="console-made-p").exists()


@pytest.mark.django_db
def test_a_console_route_the_file_names_is_adopted(env: None) -> None:
    route = console_route("fast")
    planned = plan(CONFIG)
    (change,) = [c for c in planned.routes if c.route == "fast"]
    assert change.action == "update" and change.fields["managed_by_config"] == (False, True)
    apply(CONFIG)
    route.refresh_from_db()
    assert route.managed_by_config
    assert list(route.deployments.values_list("model", flat=True)) == ["gpt-4o-mini"]
    # the console provider it no longer uses was not the file's: it stays
    assert Provider.objects.filter(name="fast-p").exists()


@pytest.mark.django_db
def test_dropping_the_master_key_removes_the_key_the_file_made(env: None) -> None:
    apply(CONFIG)
    other = ApiKey.objects.create(name="console-key", prefix="sk-x", key_hash="h" * 64)
    apply(without(CONFIG, "general_settings:\n  master_key: os.environ/APPLY_MASTER_KEY\n"),
          prune=True)  # fmt: skip
    assert not ApiKey.objects.filter(name="litellm-master-key").exists()
    assert ApiKey.objects.filter(pk=other.pk).exists()  # keys have no form in the file


@pytest.mark.django_db
def test_an_unset_master_key_variable_never_removes_the_key(env: None, monkeypatch) -> None:
    apply(CONFIG)
    monkeypatch.delenv("APPLY_MASTER_KEY")
    assert not any(c.action == "delete" for c in plan(CONFIG).keys)


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("old", "new", "place"),
    [
        ("api_key: os.environ/OPENAI_API_KEY, rpm: 60", "api_key: sk-literal-1, rpm: 60",
         "model_list[0].litellm_params.api_key"),
        ('api_base: "http://127.0.0.1:8000/v1"', 'api_base: "http://u:pw@127.0.0.1:8000/v1"',
         "model_list[3].litellm_params.api_base"),
        ("auth_value: os.environ/DOCS_MCP_TOKEN", "auth_value: tok-literal",
         "mcp_servers.docs.auth_value"),
        ("blocked_words: [{keyword: project-x}]",
         "blocked_words: [{keyword: project-x}]\n      api_key: literal-guard",
         "guardrails[0].litellm_params.api_key"),
        ("master_key: os.environ/APPLY_MASTER_KEY", "master_key: sk-literal-master",
         "general_settings.master_key"),
    ],
)  # fmt: skip
def test_a_literal_secret_is_refused_naming_its_place(env: None, old, new, place) -> None:
    with pytest.raises(ApplyRefused) as caught:
        apply(CONFIG.replace(old, new))
    assert f"{place}: a literal secret" in str(caught.value)
    assert Route.objects.count() == 0  # nothing applied


@pytest.mark.django_db
def test_the_operators_file_may_name_any_variable_but_the_gateways_own(
    env: None, monkeypatch
) -> None:
    """``apply`` is the operator's command (issue #61, the operator boundary): a name the
    allow list leaves out is trusted, and the rows it writes are the operator's; the
    gateway's own settings are never read, whoever asks."""
    monkeypatch.setenv("SWITCHYARD_ENV_ALLOW", "OPENAI_*,ANTHROPIC_*")
    apply(CONFIG)
    assert McpServer.objects.get(name="docs").from_operator
    with pytest.raises(ApplyRefused) as caught:
        apply(CONFIG.replace("os.environ/DOCS_MCP_TOKEN", "os.environ/SWITCHYARD_MASTER_KEY"))
    message = str(caught.value)
    assert "mcp_servers.docs.auth_value: environment variable SWITCHYARD_MASTER_KEY is one of" in (
        message
    )
    assert "master_key" not in message.replace("SWITCHYARD_MASTER_KEY", "")


@pytest.mark.django_db
def test_a_part_the_importer_would_skip_fails_the_apply(env: None) -> None:
    apply(CONFIG)
    broken = CONFIG.replace("model: openai/gpt-4o-mini", "model: nosuch/gpt-4o-mini")
    with pytest.raises(ConfigError, match="model_list\\[2\\]"):
        apply(broken)
    assert route_names() == ["chat", "fast", "local"]  # not read as "fast is gone"


@pytest.mark.django_db
def test_removing_a_route_a_key_is_limited_to_fails_whole(env: None) -> None:
    apply(CONFIG)
    key = ApiKey.objects.create(name="ci-key", prefix="sk-c", key_hash="c" * 64)
    key.routes.add(Route.objects.get(name="local"), Route.objects.get(name="chat"))
    smaller = without(
        CONFIG,
        "  - model_name: local\n    litellm_params: {model: hosted_vllm/llama, "
        'api_base: "http://127.0.0.1:8000/v1"}\n',
    ).replace("rpm: 60", "rpm: 61")
    with pytest.raises(ApplyRefused, match="API key ci-key is limited to route\\(s\\) local"):
        apply(smaller)
    assert "local" in route_names()
    assert Deployment.objects.get(model="gpt-4o").rpm == 60  # nothing half-applied


@pytest.mark.django_db
def test_removing_a_guardrail_a_key_names_fails(env: None) -> None:
    apply(CONFIG)
    ApiKey.objects.create(name="guarded", prefix="sk-g", key_hash="g" * 64, guardrails=["no-words"])
    smaller = CONFIG.split("guardrails:\n  - guardrail_name")[0] + "switchyard: {teams: {}}\n"
    with pytest.raises(ApplyRefused) as caught:
        apply(smaller)
    assert "guardrail no-words is named by key(s) guarded" in str(caught.value)
    assert Guardrail.objects.filter(name="no-words").exists()
    assert Team.objects.filter(name="research").exists()


@pytest.mark.django_db
def test_removing_a_fallback_target_still_named_fails(env: None) -> None:
    apply(CONFIG)
    chat = Route.objects.get(name="chat")
    chat.shadow_routes = ["local"]
    chat.save()
    smaller = without(
        CONFIG,
        "  - model_name: local\n    litellm_params: {model: hosted_vllm/llama, "
        'api_base: "http://127.0.0.1:8000/v1"}\n',
    )
    with pytest.raises(ApplyRefused, match="route local is shadowed from route\\(s\\) chat"):
        apply(smaller)


@pytest.mark.django_db(transaction=True)
def test_an_apply_is_one_commit_and_one_snapshot_rebuild(env: None, monkeypatch) -> None:
    from gateway.access import registry

    rebuilds: list[int] = []
    monkeypatch.setattr(
        registry, "rebuild", lambda *a, **k: rebuilds.append(1) or registry.current()
    )
    version = RegistryState.objects.get_or_create(pk=1)[0].version
    apply(CONFIG)
    assert rebuilds == [1]  # other processes see one change, the whole of it
    assert RegistryState.objects.get(pk=1).version > version


@pytest.mark.django_db(transaction=True)
def test_a_failure_while_writing_leaves_nothing_applied(env: None, monkeypatch) -> None:
    apply(CONFIG)
    exported = export_config()

    def fail(self: Team, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    smaller = without(
        CONFIG,
        "  - model_name: local\n    litellm_params: {model: hosted_vllm/llama, "
        'api_base: "http://127.0.0.1:8000/v1"}\n',
    ).replace("rpm_limit: 600", "rpm_limit: 700")
    monkeypatch.setattr(Team, "save", fail)
    with pytest.raises(RuntimeError):
        apply(smaller)
    assert export_config() == exported
    assert "local" in route_names()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("guardrails: [no-words]", "guardrails: [nosuch]",
         "switchyard.teams.research.guardrails: unknown guardrail(s): nosuch"),
        ("mcp_allowed: [docs]", "mcp_allowed: [docs, other__tool]",
         "switchyard.teams.research.mcp_allowed: unknown MCP server(s): other"),
        ("rpm_limit: 600", "rpm_limit: 600\n      budget_period: weekly",
         "switchyard.teams.research.budget_period: one of day, month, total, got 'weekly'"),
    ],
)  # fmt: skip
def test_a_team_that_cannot_be_saved_fails_the_apply(env: None, old, new, message) -> None:
    with pytest.raises(ConfigError) as caught:
        apply(CONFIG.replace(old, new))
    assert message in str(caught.value)
    assert Team.objects.count() == 0 and Route.objects.count() == 0


@pytest.mark.django_db
def test_removing_a_team_that_holds_keys_fails(env: None) -> None:
    apply(CONFIG)
    team = Team.objects.get(name="research")
    ApiKey.objects.create(name="member-key", prefix="sk-m", key_hash="m" * 64, team=team)
    smaller = CONFIG.split("switchyard:")[0]
    with pytest.raises(ApplyRefused, match="team research holds API key\\(s\\) member-key"):
        apply(smaller)
    ApiKey.objects.filter(name="member-key").delete()
    apply(smaller)
    assert not Team.objects.filter(pk=team.pk).exists()


@pytest.mark.django_db
def test_import_reads_teams_too_but_marks_nothing_as_the_files(env: None) -> None:
    from gateway.ops.litellm.apply import apply_plan
    from gateway.ops.litellm.plan import plan_import

    config = parse_config(CONFIG)
    config.operator = True  # import_config's
    result = apply_plan(plan_import(config))
    assert result.counts["teams"]["create"] == 1
    assert Team.objects.get(name="research").rpm_limit == 600
    assert not Team.objects.filter(managed_by_config=True).exists()
    assert not Route.objects.filter(managed_by_config=True).exists()
    # an apply of a file without them removes nothing the import made
    assert not any(c.action == "delete" for c in plan(CONFIG.split("switchyard:")[0]).teams)
