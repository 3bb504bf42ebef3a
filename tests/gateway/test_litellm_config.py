"""LiteLLM config.yaml import and export: the rows an import creates, idempotence,
dry runs, all-or-nothing, error messages that point at the problem, and the
import -> export -> import fixed point."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection

from gateway import registry
from gateway.litellm_config import (
    ConfigError,
    apply_plan,
    export_config,
    parse_config,
    plan_import,
)
from gateway.models import ApiKey, Deployment, Provider, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "litellm"
REALISTIC = FIXTURES / "realistic.yaml"
LITERAL_KEYS = FIXTURES / "literal_keys.yaml"
MASTER = "sk-litellm-master-from-env-0001"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "AZURE_API_KEY", "GROQ_API_KEY"):
        monkeypatch.setenv(name, f"value-of-{name}")
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER)


def import_text(text: str):
    return apply_plan(plan_import(parse_config(text)))


def row_ids() -> dict[str, list[int]]:
    return {
        model.__name__: sorted(model.objects.values_list("id", flat=True))
        for model in (Provider, Route, Deployment, ApiKey)
    }


# --- what an import creates -----------------------------------------------------------


@pytest.mark.django_db
def test_realistic_config_creates_the_expected_rows(env: None) -> None:
    import_text(REALISTIC.read_text())

    providers = {p.name: p for p in Provider.objects.all()}
    assert set(providers) == {"openai", "azure-acme-eu", "groq"}
    assert providers["openai"].kind == "openai"
    assert providers["openai"].base_url == "https://api.openai.com/v1"
    assert providers["openai"].secret_ref == "os.environ/OPENAI_API_KEY"
    assert providers["openai"].timeout is None  # a LiteLLM timeout is its route's
    azure = providers["azure-acme-eu"]
    assert (azure.kind, azure.base_url, azure.api_version) == (
        "azure",
        "https://acme-eu.openai.azure.com",  # trailing slash normalised
        "2024-10-21",
    )
    assert providers["groq"].base_url == "https://api.groq.com/openai/v1"

    gpt = Route.objects.get(name="gpt-4o")
    assert gpt.fallbacks == ["llama-fast"]
    assert gpt.drop_params is True
    assert gpt.strategy == Route.Strategy.WEIGHTED
    assert gpt.max_attempts == 3  # num_retries 2 + the first attempt
    assert gpt.timeout == 60  # litellm_params.timeout of its deployment
    first, second = gpt.deployments.order_by("id")
    assert (first.provider.name, first.model) == ("openai", "gpt-4o")
    assert (second.provider.name, second.model, second.weight) == ("azure-acme-eu", "gpt-4o-eu", 2)
    assert (first.rpm, first.tpm, second.rpm) == (500, 200000, 300)
    # USD per token in the file, USD per 1M tokens here.
    assert first.input_price == Decimal("2.5")
    assert first.output_price == Decimal("10")
    assert first.cache_read_price == Decimal("1.25")
    assert (first.context_window, first.max_output_tokens) == (128000, 16384)

    llama = Route.objects.get(name="llama-fast").deployments.get()
    assert llama.params == {"temperature": 0.2}
    assert llama.output_price == Decimal("0.79")
    assert (llama.supports_tools, llama.supports_reasoning) == (True, False)

    key = ApiKey.objects.get(name="litellm-master-key")
    assert key.key_hash == ApiKey.hash_key(MASTER)
    assert key.prefix == MASTER[:10]
    assert not key.routes.exists()
    # The snapshot the request path reads accepts the LiteLLM master key.
    entry = registry.build_snapshot().key(MASTER)
    assert entry is not None and entry.name == "litellm-master-key" and entry.allows("gpt-4o")


@pytest.mark.django_db
def test_master_key_note_names_switchyard_admin_key(env: None) -> None:
    plan = plan_import(parse_config(REALISTIC.read_text()))
    assert "SWITCHYARD_MASTER_KEY" in plan.describe()


@pytest.mark.django_db
def test_unset_environment_variables_are_warnings_and_master_key_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "AZURE_API_KEY", "GROQ_API_KEY", "LITELLM_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = import_text(REALISTIC.read_text())
    assert any(
        "model_list[1].litellm_params.api_key" in w and "AZURE_API_KEY" in w
        for w in result.warnings
    )
    assert any("LITELLM_MASTER_KEY" in w for w in result.warnings)
    assert not ApiKey.objects.exists()
    # The reference is kept: the adapter resolves it when called.
    assert Provider.objects.get(name="groq").secret_ref == "os.environ/GROQ_API_KEY"


@pytest.mark.django_db(transaction=True)
def test_literal_api_keys_never_reach_the_database_in_clear(tmp_path: Path) -> None:
    import_text(LITERAL_KEYS.read_text())
    vllm = Provider.objects.get(name="localhost-8000")
    assert vllm.secret_ciphertext.startswith("fernet:")
    assert "sk-literal-vllm-secret-4242" not in vllm.secret_ciphertext
    assert vllm.stored_secret() == "sk-literal-vllm-secret-4242"
    # Read the bytes of the database itself (copied to a file) for every literal.
    copy = tmp_path / "copy.sqlite3"
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(copy)])
    data = copy.read_bytes()
    assert sqlite3.connect(copy).execute("select count(*) from gateway_provider").fetchone() == (3,)
    for literal in (
        "sk-literal-vllm-secret-4242",
        "sk-ant-literal-secret-9999",
        "sk-or-literal-secret-7777",
        "sk-litellm-master-1234567890",
    ):
        assert literal.encode() not in data


@pytest.mark.django_db
def test_providers_are_shared_by_identity_and_named_readably() -> None:
    text = """
model_list:
  - model_name: a
    litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/K1}
  - model_name: b
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/K1}
  - model_name: c
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/K2}
  - model_name: d
    litellm_params: {model: hosted_vllm/qwen, api_base: "http://localhost:8000/v1/"}
"""
    import_text(text)
    by_route = {d.route.name: d.provider.name for d in Deployment.objects.select_related()}
    assert by_route == {"a": "openai", "b": "openai", "c": "openai-2", "d": "localhost-8000"}
    assert Provider.objects.count() == 3
    before = row_ids()
    import_text(text)
    assert row_ids() == before


@pytest.mark.parametrize(
    ("model", "api_base", "kind", "base_url"),
    [
        ("deepseek/deepseek-chat", None, "openai", "https://api.deepseek.com/v1"),
        ("mistral/mistral-large-latest", None, "openai", "https://api.mistral.ai/v1"),
        ("together_ai/meta-llama/x", None, "openai", "https://api.together.xyz/v1"),
        (
            "fireworks_ai/accounts/f/models/x",
            None,
            "openai",
            "https://api.fireworks.ai/inference/v1",
        ),
        ("openrouter/openai/gpt-4o", None, "openai", "https://openrouter.ai/api/v1"),
        ("ollama/llama3", None, "openai", "http://localhost:11434/v1"),
        ("ollama_chat/llama3", "http://gpu-box:11434/", "openai", "http://gpu-box:11434/v1"),
        (
            "gemini/gemini-2.0-flash",
            None,
            "openai",
            "https://generativelanguage.googleapis.com/v1beta/openai",
        ),
        ("anthropic/claude-3-5-haiku", None, "anthropic", "https://api.anthropic.com"),
        (
            "anthropic/claude-3-5-haiku",
            "https://proxy.example/v1/",
            "anthropic",
            "https://proxy.example",
        ),
        ("openai/my-model", "http://h:8000/v1///", "openai", "http://h:8000/v1"),
    ],
)
def test_provider_prefixes_map_to_kind_and_base_url(
    model: str, api_base: str | None, kind: str, base_url: str
) -> None:
    base = f", api_base: '{api_base}'" if api_base else ""
    config = parse_config(
        f"model_list: [{{model_name: m, litellm_params: {{model: {model}{base}}}}}]"
    )
    provider = config.deployments[0].provider
    assert (provider.kind, provider.base_url) == (kind, base_url)
    assert config.deployments[0].model == model.split("/", 1)[1]


# --- idempotence, dry run, all-or-nothing ---------------------------------------------


@pytest.mark.django_db
def test_reimport_is_idempotent(env: None) -> None:
    import_text(REALISTIC.read_text())
    before = row_ids()
    plan = plan_import(parse_config(REALISTIC.read_text()))
    assert not plan.has_changes
    result = apply_plan(plan)
    assert row_ids() == before
    assert sum(c["create"] + c["update"] for c in result.counts.values()) == 0


@pytest.mark.django_db
def test_reimport_updates_changed_values_in_place(env: None) -> None:
    import_text(REALISTIC.read_text())
    before = row_ids()
    changed = REALISTIC.read_text().replace("rpm: 500", "rpm: 900")
    plan = plan_import(parse_config(changed))
    assert plan.has_changes
    assert "rpm: 500 -> 900" in plan.describe()
    apply_plan(plan)
    assert row_ids() == before
    assert Deployment.objects.get(model="gpt-4o").rpm == 900


@pytest.mark.django_db
def test_dry_run_prints_the_plan_and_changes_nothing(env: None, capsys) -> None:
    call_command("import_config", str(REALISTIC), "--dry-run")
    out = capsys.readouterr().out
    assert "+ route gpt-4o" in out
    assert "+ deployment gpt-4o -> azure-acme-eu/gpt-4o-eu" in out
    assert "dry run" in out
    assert row_ids() == {"Provider": [], "Route": [], "Deployment": [], "ApiKey": []}


@pytest.mark.django_db
def test_command_applies_and_prints_summary_and_warnings(capsys, monkeypatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    call_command("import_config", str(REALISTIC))
    out = capsys.readouterr().out
    assert "imported: providers: 3 created" in out
    assert "warning: model_list[2].litellm_params.api_key" in out
    assert Route.objects.count() == 2


@pytest.mark.django_db
def test_error_in_last_entry_leaves_database_untouched(env: None, tmp_path: Path) -> None:
    bad = REALISTIC.read_text().replace("model: groq/llama-3.3-70b-versatile", "model: llama-3.3")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(CommandError, match=r"model_list\[2\]\.litellm_params\.model"):
        call_command("import_config", str(path))
    assert not Route.objects.exists() and not Provider.objects.exists()


@pytest.mark.django_db
def test_failure_while_saving_rolls_back_everything(env: None, monkeypatch) -> None:
    import_text(LITERAL_KEYS.read_text())  # rows that must survive the failed import
    before = row_ids()
    plan = plan_import(parse_config(REALISTIC.read_text()))
    original_save = Deployment.save

    def save(self, *args, **kwargs):
        if self.model == "llama-3.3-70b-versatile":  # the last entry
            raise RuntimeError("disk full")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Deployment, "save", save)
    with pytest.raises(RuntimeError):
        apply_plan(plan)
    assert row_ids() == before
    assert not Route.objects.filter(name="gpt-4o").exists()


# --- error messages -------------------------------------------------------------------


def test_invalid_yaml_names_line_and_column() -> None:
    # line 5 is indented one space less than its sibling "model:"
    text = (
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n     rpm: 5\n"
    )
    with pytest.raises(ConfigError, match=r"invalid YAML at line 5, column 6"):
        parse_config(text)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("model_list: {a: 1}", "model_list: must be a list"),
        ("model_list: [{litellm_params: {model: openai/x}}]", r"model_list\[0\]\.model_name"),
        (
            "model_list: [{model_name: a, litellm_params: {api_key: k}}]",
            r"model_list\[0\]\.litellm_params\.model",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: openai/x}},"
            " {model_name: b, litellm_params: {model: openai/y, rpm: abc}}]",
            r"model_list\[1\]\.litellm_params\.rpm",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: openai/x},"
            " model_info: {input_cost_per_token: cheap}}]",
            r"model_list\[0\]\.model_info\.input_cost_per_token",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: gpt-4o}}]",
            r"no known provider prefix",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: hosted_vllm/x}}]",
            r"api_base: is required",
        ),
        ("model_list: [{model_name: a, litellm_params: {model: openai/x, weight: -1}}]", r"weight"),
        ("litellm_settings: {drop_params: maybe}", r"litellm_settings\.drop_params"),
        ("router_settings: {fallbacks: {a: b}}", r"router_settings\.fallbacks"),
        ("- just a list", "top level"),
        ("", "empty"),
    ],
)
def test_wrong_shapes_name_the_field(text: str, path: str) -> None:
    with pytest.raises(ConfigError, match=path):
        parse_config(text)


@pytest.mark.django_db
def test_fallback_to_unknown_route_is_an_error() -> None:
    config = parse_config(
        "model_list: [{model_name: a, litellm_params: {model: openai/x}}]\n"
        "router_settings: {fallbacks: [{a: [nowhere]}]}"
    )
    with pytest.raises(ConfigError, match=r"router_settings\.fallbacks\.a: 'nowhere'"):
        plan_import(config)


@pytest.mark.django_db
def test_fallback_to_existing_route_is_accepted() -> None:
    Route.objects.create(name="already-here")
    import_text(
        "model_list: [{model_name: a, litellm_params: {model: openai/x}}]\n"
        "router_settings: {fallbacks: [{a: [already-here]}]}"
    )
    assert Route.objects.get(name="a").fallbacks == ["already-here"]


def test_unknown_keys_are_reported_with_their_path() -> None:
    config = parse_config(
        """
model_list:
  - model_name: a
    litellm_params: {model: openai/x, order: 1, custom_thing: 3, temperature: 0.1}
    model_info: {id: abc, mode: chat}
    extra: 1
litellm_settings: {drop_params: false, success_callback: [langfuse]}
router_settings: {routing_strategy: usage-based-routing-v2, redis_host: r}
general_settings: {database_url: postgres://x}
surprise: 1
"""
    )
    warnings = "\n".join(config.warnings)
    for path in (
        "model_list[0].litellm_params.order",
        "model_list[0].litellm_params.custom_thing",
        "model_list[0].model_info.id",
        "model_list[0].extra",
        "litellm_settings.success_callback",
        "router_settings.routing_strategy",
        "router_settings.redis_host",
        "general_settings.database_url",
        "(top level).surprise",
    ):
        assert path in warnings
    assert "model_info.mode" not in warnings  # chat is what Switchyard serves
    assert config.deployments[0].params == {"temperature": 0.1}
    assert config.drop_params is False


# --- export ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_export_import_is_a_fixed_point(env: None) -> None:
    import_text(REALISTIC.read_text())
    first = export_config()
    before = row_ids()
    plan = plan_import(parse_config(first))
    assert not plan.has_changes, plan.describe()
    apply_plan(plan)
    assert row_ids() == before
    assert export_config() == first


@pytest.mark.django_db
def test_fixed_point_into_an_empty_database(env: None) -> None:
    """The exported file rebuilds the same registry elsewhere."""
    import_text(REALISTIC.read_text())
    first = export_config()
    for model in (Deployment, Route, Provider):
        for row in model.objects.all():
            row.delete()
    import_text(first)
    assert export_config() == first


@pytest.mark.django_db
def test_export_writes_each_routes_own_timeout() -> None:
    import yaml

    shared = Provider.objects.create(
        name="shared", kind="openai", base_url="http://shared:8000/v1", timeout=20
    )
    for name, timeout in (("quick", 5.0), ("patient", None)):
        route = Route.objects.create(name=name, timeout=timeout)
        Deployment.objects.create(route=route, provider=shared, model=f"{name}-model")
    exported = yaml.safe_load(export_config())
    params = {e["model_name"]: e["litellm_params"] for e in exported["model_list"]}
    assert params["quick"]["timeout"] == 5.0
    assert params["patient"]["timeout"] == 20  # no timeout of its own: the provider's


@pytest.mark.django_db
def test_export_with_literal_secrets(monkeypatch) -> None:
    import_text(LITERAL_KEYS.read_text())
    redacted = export_config()
    assert "sk-literal-vllm-secret-4242" not in redacted
    assert "os.environ/LOCALHOST_8000_API_KEY" in redacted
    full = export_config(include_secrets=True)
    assert "api_key: sk-literal-vllm-secret-4242" in full
    plan = plan_import(parse_config(full))
    assert not plan.has_changes, plan.describe()


@pytest.mark.django_db
def test_export_command_stdout_and_output_file(env: None, tmp_path: Path, capsys) -> None:
    import_text(REALISTIC.read_text())
    call_command("export_config")
    out = capsys.readouterr().out
    assert out == export_config()
    target = tmp_path / "exported.yaml"
    call_command("export_config", "--output", str(target))
    assert target.read_text() == out


@pytest.mark.django_db
def test_import_command_errors_exit_non_zero(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_config", str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_list:\n  - model_name: [\n")
    with pytest.raises(CommandError, match="invalid YAML at line"):
        call_command("import_config", str(broken))


# --- master key, settings, what an import keeps ---------------------------------------


@pytest.mark.django_db
def test_literal_master_key_is_updated_in_place_and_opened_to_all_routes() -> None:
    import_text(LITERAL_KEYS.read_text())
    key = ApiKey.objects.get(name="litellm-master-key")
    assert key.key_hash == ApiKey.hash_key("sk-litellm-master-1234567890")
    key.routes.set([Route.objects.get(name="claude")])
    rotated = LITERAL_KEYS.read_text().replace(
        "sk-litellm-master-1234567890", "sk-rotated-master-key-42"
    )
    plan = plan_import(parse_config(rotated))
    assert "~ key litellm-master-key" in plan.describe()
    apply_plan(plan)
    key.refresh_from_db()
    assert ApiKey.objects.count() == 1
    assert key.key_hash == ApiKey.hash_key("sk-rotated-master-key-42")
    assert key.prefix == "sk-rotated"
    assert not key.routes.exists()
    assert registry.build_snapshot().key("sk-litellm-master-1234567890") is None


@pytest.mark.django_db
def test_router_settings_map_to_route_fields() -> None:
    import_text(LITERAL_KEYS.read_text())
    qwen = Route.objects.get(name="local-qwen")
    assert qwen.strategy == Route.Strategy.LEAST_BUSY
    assert qwen.context_window_fallback == "claude"
    claude = Route.objects.get(name="claude")
    assert [d.provider.name for d in claude.deployments.order_by("id")] == [
        "anthropic",
        "openrouter",
    ]
    anthropic = claude.deployments.get(provider__name="anthropic")
    assert anthropic.params == {"max_tokens": 4096}
    assert anthropic.cache_write_price == Decimal("3.75")
    assert anthropic.supports_reasoning is True


@pytest.mark.django_db
def test_import_keeps_what_the_file_does_not_name(env: None) -> None:
    import_text(REALISTIC.read_text())
    extra_route = Route.objects.create(name="console-made", drop_params=False)
    gpt = Route.objects.get(name="gpt-4o")
    extra = Deployment.objects.create(
        route=gpt, provider=Provider.objects.get(name="groq"), model="x"
    )
    plan = plan_import(parse_config(REALISTIC.read_text()))
    assert not plan.has_changes
    assert any("groq/x is not in the file and is kept" in w for w in plan.warnings)
    apply_plan(plan)
    assert Deployment.objects.filter(pk=extra.pk).exists()
    extra_route.refresh_from_db()
    assert extra_route.drop_params is False


def test_conflicting_settings_are_reported() -> None:
    config = parse_config(
        """
model_list:
  - model_name: a
    litellm_params: {model: azure/x, api_base: "https://r.openai.azure.com"}
router_settings:
  context_window_fallbacks: [{a: [b, c]}]
"""
    )
    assert config.context_window_fallbacks == {"a": "b"}
    warnings = "\n".join(config.warnings)
    assert "context_window_fallbacks.a: only the first (b) is used" in warnings
    assert "model_list[0].litellm_params.api_version: not set" in warnings


@pytest.mark.django_db
def test_a_timeout_stays_with_its_route_not_the_shared_provider() -> None:
    # two routes on one provider: each keeps its own timeout, the provider gets none
    # (a provider timeout would shorten the other route's calls)
    plan = plan_import(
        parse_config(
            """
model_list:
  - model_name: a
    litellm_params: {model: openai/x, api_key: os.environ/K, timeout: 30}
  - model_name: b
    litellm_params: {model: openai/y, api_key: os.environ/K, timeout: 90}
  - model_name: c
    litellm_params: {model: openai/z, api_key: os.environ/K}
"""
        )
    )
    assert len(plan.providers) == 1 and plan.providers[0].obj.timeout is None
    routes = {change.obj.name: change.obj for change in plan.routes}
    assert (routes["a"].timeout, routes["b"].timeout, routes["c"].timeout) == (30, 90, None)
    assert not any("timeout" in w for w in plan.warnings)


@pytest.mark.django_db
def test_deployments_of_one_route_get_the_longest_timeout() -> None:
    plan = plan_import(
        parse_config(
            """
model_list:
  - model_name: a
    litellm_params: {model: openai/x, api_key: os.environ/K, timeout: 30}
  - model_name: a
    litellm_params: {model: openai/y, api_key: os.environ/K, timeout: 90}
  - model_name: a
    litellm_params: {model: groq/z, api_key: os.environ/K}
"""
        )
    )
    assert [change.obj.timeout for change in plan.routes] == [90]
    assert any("model_list[1].litellm_params.timeout" in w for w in plan.warnings)
    assert any("model_list[2].litellm_params: no timeout" in w for w in plan.warnings)


# --- the response cache (litellm_settings.cache / cache_params) -------------------------

CACHED = """
model_list:
  - model_name: a
    litellm_params: {model: openai/x, api_key: os.environ/K}
  - model_name: b
    litellm_params: {model: openai/y, api_key: os.environ/K}
litellm_settings:
  cache: true
  cache_params: {type: redis, ttl: 900, host: redis.internal, port: 6379, password: hunter2}
"""


@pytest.mark.django_db
def test_cache_true_sets_the_ttl_on_every_imported_route(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    config = parse_config(CACHED)
    assert config.cache_ttl == 900
    warnings = "\n".join(config.warnings)
    assert "cache_params.host: not used; Switchyard's cache uses REDIS_URL" in warnings
    assert "hunter2" not in warnings
    Route.objects.create(name="console-made")
    import_text(CACHED)
    assert {r.name: r.cache_ttl for r in Route.objects.all()} == {
        "a": 900,
        "b": 900,
        "console-made": 0,  # routes the file does not name keep their setting
    }
    exported = export_config()
    assert "cache: true" in exported and "type: redis" in exported and "ttl: 900" in exported
    plan = plan_import(parse_config(exported))
    changes = {c.label: c.action for c in plan.routes}
    assert changes["route a"] == changes["route b"] == "unchanged", plan.describe()


@pytest.mark.django_db
def test_cache_false_turns_caching_off_and_silence_keeps_it() -> None:
    import_text(CACHED)
    import_text(CACHED.replace("cache: true", "cache: false"))
    assert set(Route.objects.values_list("cache_ttl", flat=True)) == {0}
    assert "cache" not in export_config().split("litellm_settings:")[1].split("router")[0]
    import_text(CACHED)
    silent = CACHED.split("litellm_settings:")[0]
    import_text(silent)
    assert set(Route.objects.values_list("cache_ttl", flat=True)) == {900}


def test_cache_params_without_a_ttl_or_of_an_unknown_type_are_reported() -> None:
    config = parse_config(
        CACHED.replace(
            "{type: redis, ttl: 900, host: redis.internal, port: 6379, password: hunter2}",
            "{type: redis-semantic}",
        )
    )
    warnings = "\n".join(config.warnings)
    assert config.cache_ttl == 600
    assert "cache_params.type: 'redis-semantic' is not supported" in warnings
    assert "cache_params.ttl: not set; 600 seconds is used" in warnings
    off = parse_config(CACHED.replace("type: redis,", "type: local, mode: default_off,"))
    assert off.cache_ttl is None and "default_off is not supported" in "\n".join(off.warnings)
    with pytest.raises(ConfigError, match=r"litellm_settings\.cache_params\.ttl"):
        parse_config(CACHED.replace("ttl: 900", "ttl: soon"))
    with pytest.raises(ConfigError, match=r"litellm_settings\.cache:"):
        parse_config(CACHED.replace("cache: true", "cache: yes please"))


@pytest.mark.django_db
def test_top_k_capability_follows_the_service_and_model_info() -> None:
    """vLLM, Ollama, OpenRouter... take top_k; hosted OpenAI and Anthropic-native
    deployments are not marked (Anthropic takes it natively, the flag is for OpenAI-
    compatible upstreams). model_info.supports_top_k overrides, and export writes it."""
    import_text(LITERAL_KEYS.read_text())
    qwen = Route.objects.get(name="local-qwen").deployments.get()
    assert qwen.supports_top_k is True  # hosted_vllm/
    claude = Route.objects.get(name="claude")
    assert claude.deployments.get(provider__name="openrouter").supports_top_k is True
    assert claude.deployments.get(provider__name="anthropic").supports_top_k is False
    entry = registry.build_snapshot().route("local-qwen").deployments[0]
    assert entry.supports_top_k is True

    import_text(
        "model_list:\n"
        "  - model_name: gpt\n"
        "    litellm_params: {model: openai/gpt-4.1, api_key: sk-x}\n"
        "    model_info: {supports_top_k: true}\n"
        "  - model_name: local\n"
        "    litellm_params: {model: ollama/llama3}\n"
        "    model_info: {supports_top_k: false}\n"
    )
    assert Route.objects.get(name="gpt").deployments.get().supports_top_k is True
    assert Route.objects.get(name="local").deployments.get().supports_top_k is False
    exported = yaml.safe_load(export_config())
    gpt = next(e for e in exported["model_list"] if e["model_name"] == "gpt")
    assert gpt["model_info"]["supports_top_k"] is True
