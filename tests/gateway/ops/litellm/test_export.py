"""LiteLLM config.yaml import and export: the rows an import creates, idempotence,
dry runs, all-or-nothing, error messages that point at the problem, and the
import -> export -> import fixed point."""

from __future__ import annotations

import copy
import os
import random
import re
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from django.core.management import call_command
from django.db import connection

from gateway.access import registry
from gateway.base import http
from gateway.models import ApiKey, Deployment, Provider, Route
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import ConfigError, LiteLLMConfig
from gateway.ops.litellm.parse import parse_config as _parse_config
from gateway.ops.litellm.plan import plan_import


def parse_config(text: str, *args: Any, **kwargs: Any) -> LiteLLMConfig:
    """What ``manage.py import_config`` reads: the operator's own file, trusted (issue
    #61); the console's upload is judged, see tests/gateway/ops/test_references.py."""
    config = _parse_config(text, *args, **kwargs)
    config.operator = True
    return config


FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "litellm"
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


@pytest.mark.django_db
def test_fallback_to_unknown_route_is_skipped_or_a_strict_error() -> None:
    text = (
        "model_list: [{model_name: a, litellm_params: {model: openai/x}}]\n"
        "router_settings: {fallbacks: [{a: [nowhere]}]}"
    )
    with pytest.raises(ConfigError, match=r"router_settings\.fallbacks\.a: 'nowhere'"):
        plan_import(parse_config(text, strict=True))
    plan = plan_import(parse_config(text))
    assert [s.path for s in plan.skipped] == ["router_settings.fallbacks.a"]
    apply_plan(plan)
    assert Route.objects.get(name="a").fallbacks == []


@pytest.mark.django_db
def test_fallback_to_existing_route_is_accepted() -> None:
    Route.objects.create(name="already-here")
    import_text(
        "model_list: [{model_name: a, litellm_params: {model: openai/x}}]\n"
        "router_settings: {fallbacks: [{a: [already-here]}]}"
    )
    assert Route.objects.get(name="a").fallbacks == ["already-here"]


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
    assert qwen.context_window_fallbacks == ["claude"]
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
    # asked to add: the route's own deployment stays, and the preview says traffic splits
    plan = plan_import(parse_config(REALISTIC.read_text()), existing="add")
    assert not plan.has_changes
    (existing,) = plan.existing_routes
    assert "route gpt-4o exists: the file's deployments are added beside its groq/x" in existing
    assert "so its traffic is split" in existing
    apply_plan(plan)
    assert Deployment.objects.filter(pk=extra.pk).exists()
    extra_route.refresh_from_db()
    assert extra_route.drop_params is False  # a route the file does not name is kept


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


SEMANTIC = """
model_list:
  - model_name: a
    litellm_params: {model: openai/x, api_key: os.environ/K}
  - model_name: embed
    litellm_params: {model: openai/text-embedding-3-small, api_key: os.environ/K}
litellm_settings:
  cache: true
  cache_params:
    type: redis-semantic
    similarity_threshold: 0.8
    redis_semantic_cache_embedding_model: embed
    ttl: 120
    host: redis.internal
    password: hunter2
"""


@pytest.mark.django_db
def test_a_semantic_cache_type_turns_on_the_semantic_cache_of_the_chat_routes() -> None:
    config = parse_config(SEMANTIC)
    assert config.cache_ttl is None  # the exact cache is left as it is
    warnings = "\n".join(config.warnings)
    assert "cache_params.host: not used; Switchyard keeps semantic cache entries" in warnings
    assert "semantic_cache_scope key" in warnings and "hunter2" not in warnings
    import_text(SEMANTIC)
    a, embed = Route.objects.get(name="a"), Route.objects.get(name="embed")
    assert (a.semantic_cache_ttl, a.semantic_cache_threshold) == (120, 0.8)
    assert (a.semantic_cache_route, a.semantic_cache_scope) == ("embed", "key")
    assert embed.semantic_cache_ttl == 0 and embed.semantic_cache_route == ""
    exported = export_config()
    assert "type: redis-semantic" in exported and "similarity_threshold: 0.8" in exported
    assert "redis_semantic_cache_embedding_model: embed" in exported
    plan = plan_import(parse_config(exported))
    changes = {c.label: c.action for c in plan.routes}
    assert changes["route a"] == changes["route embed"] == "unchanged", plan.describe()


@pytest.mark.django_db
def test_a_semantic_cache_without_its_embedding_model_stays_off() -> None:
    unnamed = parse_config(
        SEMANTIC.replace("type: redis-semantic", "type: qdrant-semantic").replace(
            "redis_semantic_cache_embedding_model: embed", "qdrant_collection_name: c"
        )
    )
    assert unnamed.semantic_cache is None
    assert "qdrant_semantic_cache_embedding_model: not set" in "\n".join(unnamed.warnings)
    plan = plan_import(parse_config(SEMANTIC.replace("model: embed", "model: nowhere")))
    assert any("embedding model 'nowhere' is not in model_list" in w for w in plan.warnings)
    assert all(change.obj.semantic_cache_ttl == 0 for change in plan.routes)
    with pytest.raises(ConfigError, match=r"similarity_threshold"):
        parse_config(SEMANTIC.replace("similarity_threshold: 0.8", "similarity_threshold: 3"))


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


# --- forgiving import, strict mode, references kept ------------------------------------

MESSY = FIXTURES / "messy.yaml"


@pytest.fixture
def messy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "AZURE_API_KEY", "XAI_API_KEY", "GROQ_API_KEY"):
        monkeypatch.setenv(name, f"value-of-{name}")
    for name in ("AZURE_API_BASE", "AZURE_API_VERSION", "LITELLM_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def no_cloud_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The import's Bedrock and Vertex checks see no AWS or Google setup of this machine."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))


@pytest.mark.django_db
def test_forgiving_import_takes_what_it_supports_and_lists_the_rest(messy_env: None) -> None:
    plan = plan_import(parse_config(MESSY.read_text()))
    skipped = {s.path: str(s) for s in plan.skipped}
    assert skipped == {  # Bedrock, Vertex AI and Cohere entries import (issue #15)
        "model_list[7]": "model_list[7].litellm_params.rpm: must be a whole number, got 'abc' "
        "(route llama-fast)",
        "model_list[9]": "model_list[9].litellm_params.model: provider 'sagemaker' is not "
        "supported yet (route sage)",
    }
    warnings = "\n".join(plan.warnings)
    for parameter in (
        "model_list[0].litellm_params.stream_timeout: skipped parameter",
        "model_list[0].litellm_params.max_retries: skipped parameter",
        "model_list[0].litellm_params.tags: skipped parameter",
        "model_list[0].model_info.id: skipped parameter",
        "model_list[0].model_info.base_model: skipped parameter",
        "model_list[1].litellm_params.additional_drop_params: skipped parameter",
        "litellm_settings.success_callback: skipped setting",
        "litellm_settings.set_verbose: skipped setting",
        "router_settings.redis_host: skipped setting (set REDIS_URL)",
        "general_settings.database_url: skipped setting (set DATABASE_URL)",
        "general_settings.alerting: skipped setting",
    ):
        assert parameter in warnings
    # nothing about the parameters of entries that are skipped as a whole
    assert "aws_region_name" not in warnings and "vertex_project" not in warnings
    # ... but the Bedrock and Vertex lines that would fail on first use are named
    assert "(route claude-bedrock): no AWS credentials found in the environment" in warnings
    assert "(route gemini-vertex): no Google credentials found" in warnings
    assert plan.summary() == "7 routes, 8 deployments imported, 2 entries skipped, 21 warnings"

    apply_plan(plan)
    assert sorted(Route.objects.values_list("name", flat=True)) == [
        "claude-bedrock",
        "command-r",
        "gemini-vertex",
        "gpt-4o",
        "grok",
        "llama-fast",
        "sonar",
    ]
    gpt = Route.objects.get(name="gpt-4o")
    assert gpt.fallbacks == ["claude-bedrock", "llama-fast"]
    assert gpt.max_attempts == 4  # router_settings.num_retries 3
    openai_ = gpt.deployments.get(provider__name="openai")
    assert openai_.params == {"temperature": 0.2, "max_tokens": 1024, "seed": 7}
    assert (openai_.rpm, openai_.tpm, openai_.input_price) == (500, 200000, Decimal("2.5"))
    azure = gpt.deployments.get(model="gpt-4o-eu").provider
    assert (azure.kind, azure.base_url, azure.api_version) == (
        "azure",
        "os.environ/AZURE_API_BASE",
        "os.environ/AZURE_API_VERSION",
    )
    assert azure.stored_extra_headers() == {"OpenAI-Organization": "org-acme"}  # encrypted at rest
    assert Provider.objects.get(name="xai").base_url == "https://api.x.ai/v1"
    assert Provider.objects.get(name="perplexity").base_url == "https://api.perplexity.ai"
    # llama-fast keeps its one valid deployment (the cerebras entry with rpm: abc is skipped)
    assert [d.provider.name for d in Route.objects.get(name="llama-fast").deployments.all()] == [
        "groq"
    ]


@pytest.mark.django_db
def test_unset_api_base_is_a_warning_and_dry_run_succeeds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    monkeypatch.delenv("MY_LLM_BASE", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        "model_list: [{model_name: m, litellm_params: {model: openai/x,"
        " api_base: os.environ/MY_LLM_BASE}}]"
    )
    call_command("import_config", str(path), "--dry-run")
    out = capsys.readouterr().out
    assert (
        "warning: model_list[0].litellm_params.api_base: environment variable MY_LLM_BASE is "
        "not set here; calls fail until it is"
    ) in out
    call_command("import_config", str(path))
    provider = Provider.objects.get()
    assert (provider.name, provider.base_url) == ("my-llm-base", "os.environ/MY_LLM_BASE")


@pytest.mark.django_db(transaction=True)
async def test_request_to_an_unset_api_base_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, snapshot_reset
) -> None:
    """Imported with the variable unset: the request fails with a clear error naming it
    (never a crash); once it is set, requests go to its value."""
    from asgiref.sync import sync_to_async

    from gateway.base import lifecycle
    from gateway.edge import endpoints

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.delenv("MY_LLM_BASE", raising=False)
    monkeypatch.setenv("MY_LLM_KEY", "sk-upstream")
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER)
    text = (
        "model_list: [{model_name: m, litellm_params: {model: openai/up-model,"
        " api_base: os.environ/MY_LLM_BASE, api_key: os.environ/MY_LLM_KEY}}]\n"
        "router_settings: {num_retries: 0}\n"
        "general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}"
    )
    await sync_to_async(import_text)(text)
    registry.install(await sync_to_async(registry.build_snapshot)())
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]

    async def post() -> tuple[int, dict]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": [(b"authorization", f"Bearer {MASTER}".encode())],
        }
        await app(scope, receive, send)
        return sent[0]["status"], orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))

    status, body = await post()
    assert status == 500, body  # a configuration error (routing: no retry, failover)
    assert "MY_LLM_BASE" in body["error"]["message"]
    assert "sk-upstream" not in orjson.dumps(body).decode()

    seen: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "model": "up-model",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "hello"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    http.use_transport(httpx.MockTransport(upstream))
    monkeypatch.setenv("MY_LLM_BASE", "http://llm.internal:8000/v1/")
    status, body = await post()
    assert status == 200, body
    assert seen == ["http://llm.internal:8000/v1/chat/completions"]


# --- export -> import -> export on an awkward registry ----------------------------------


GEMINI_COMPAT = "https://generativelanguage.googleapis.com/v1beta/openai"


def awkward_registry() -> None:
    """Names with '-', '.', a leading digit, two providers whose names differ only by
    punctuation, literal and referenced secrets, a referenced base URL, a pattern route,
    per-route settings that differ, prices, params LiteLLM has no field for."""

    def provider(name: str, kind: str, base: str, secret: str, **extra) -> Provider:
        p = Provider(name=name, kind=kind, base_url=base, **extra)
        p.set_secret(secret)
        p.save()
        return p

    azure = provider(
        "my-azure.eu",
        "azure",
        "https://my-eu.openai.azure.com",
        "sk-azure-literal",
        api_version="2024-10-21",
        timeout=30,
        extra_headers={"X-Tenant": "acme"},
    )
    first = provider("1st-openai", "openai", "https://api.openai.com/v1", "sk-first-literal")
    twin = provider("1st_openai", "openai", "http://vllm.local:8000/v1", "sk-twin-literal")
    env_base = provider("env-base", "openai", "os.environ/MY_BASE", "os.environ/MY_KEY")
    claude = provider("claude", "anthropic", "", "os.environ/ANTHROPIC_API_KEY")
    echo = Provider.objects.create(name="echo", kind="echo")

    gpt = Route.objects.create(name="gpt-4o", fallbacks=["claude-*"])
    Deployment.objects.create(
        route=gpt,
        provider=azure,
        model="gpt-4o-eu",
        rpm=100,
        input_price=Decimal("2.5"),
        output_price=Decimal("10"),
        cache_read_price=Decimal("1.25"),
    )
    Deployment.objects.create(
        route=gpt,
        provider=first,
        model="gpt-4o",
        weight=2,
        params={"temperature": 0.3, "max_tokens_field": "max_completion_tokens", "x": {"a": 1}},
    )
    Deployment.objects.create(route=gpt, provider=echo, model="echo-1")
    Deployment.objects.create(route=gpt, provider=first, model="gpt-old", enabled=False)
    pattern = Route.objects.create(
        name="claude-*", strategy="least_busy", drop_params=False, max_attempts=5
    )
    Deployment.objects.create(
        route=pattern,
        provider=claude,
        model="claude-sonnet-4",
        input_price=Decimal("3.333333"),
        output_price=Decimal("15"),
        supports_reasoning=True,
        context_window=200_000,
    )
    local = Route.objects.create(
        name="local:qwen@2", strategy="lowest_latency", context_window_fallbacks=["gpt-4o"]
    )
    Deployment.objects.create(route=local, provider=twin, model="qwen", tpm=9000)
    Deployment.objects.create(route=local, provider=env_base, model="qwen-b", weight=0.5)
    # two providers the file cannot tell apart (same URL, no secret): only name and timeout
    twin_a = provider("gpu-a", "openai", "http://gpu:11434/v1", "", timeout=30)
    twin_b = provider("gpu-b", "openai", "http://gpu:11434/v1", "", timeout=90)
    Deployment.objects.create(route=local, provider=twin_a, model="qwen-gpu")
    Deployment.objects.create(route=gpt, provider=twin_b, model="llama-gpu")
    off = Route.objects.create(name="off", enabled=False)
    Deployment.objects.create(route=off, provider=first, model="x")
    # the kinds of issue #15: provider settings, secrets in their own LiteLLM names
    native = Route.objects.create(name="native")
    kinds = [
        provider("gem", "gemini", "", "gm-literal"),
        provider("gem-compat", "openai", GEMINI_COMPAT, "os.environ/GEMINI_API_KEY"),
        provider(
            "vx", "vertex_ai", "", '{"private_key": "literal"}', settings={"vertex_project": "p1"}
        ),
        provider("aws", "bedrock", "", "aws-literal", settings={"aws_region_name": "eu-west-1"}),
        provider("co", "cohere", "https://co.example/v1", "os.environ/CO_KEY"),
        provider("resp", "openai_responses", "", "os.environ/OPENAI_API_KEY"),
    ]
    models = ["gemini-2.5-pro", "gemini-2.0-flash", "gemini-2.5-flash", "amazon.nova-pro-v1:0"]
    models += ["command-a-03-2025", "o3-pro"]
    params: list[dict] = [{}, {}, {"vertex_location": "europe-west4"}]
    params += [{"aws_access_key_id": "AKIAEXAMPLE", "aws_region_name": "us-east-1"}, {}, {}]
    for p, model, extra in zip(kinds, models, params, strict=True):
        Deployment.objects.create(
            route=native,
            provider=p,
            model=model,
            params=extra,
            supports_reasoning=True if p.kind == "openai_responses" else None,
        )


def exported_variables(text: str) -> list[str]:
    return re.findall(r"os\.environ/(\S+)", text)


@pytest.mark.django_db
def test_export_import_export_is_a_fixed_point_on_an_awkward_registry() -> None:
    awkward_registry()
    first = export_config()
    for name in exported_variables(first):
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), name
    assert "os.environ/MY_AZURE_EU_API_KEY" in first
    assert "os.environ/PROVIDER_1ST_OPENAI_API_KEY" in first
    assert "os.environ/PROVIDER_1ST_OPENAI_2_API_KEY" in first  # the twin: its own name
    assert "api_base: os.environ/MY_BASE" in first
    assert "literal" not in first  # no stored secret is written
    for line in (
        "model: gemini/gemini-2.5-pro",
        f"model: openai/gemini-2.0-flash\n    api_base: {GEMINI_COMPAT}",
        "model: vertex_ai/gemini-2.5-flash",
        "vertex_credentials: os.environ/VX_CREDENTIALS",
        "vertex_project: p1\n    vertex_location: europe-west4",
        "model: bedrock/amazon.nova-pro-v1:0",
        "aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY",
        "aws_region_name: us-east-1\n    aws_access_key_id: AKIAEXAMPLE",
        "model: cohere/command-a-03-2025\n    api_base: https://co.example/v1",
        "model: openai/responses/o3-pro\n    api_key: os.environ/OPENAI_API_KEY",
    ):
        assert line in first, line

    before = row_ids()
    plan = plan_import(parse_config(first))
    assert not plan.has_changes, plan.describe()
    assert not plan.skipped
    apply_plan(plan)
    assert row_ids() == before
    assert export_config() == first


@pytest.mark.django_db
def test_awkward_registry_survives_a_trip_through_an_empty_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    awkward_registry()
    first = export_config()
    for model in (Deployment, Route, Provider):
        model.objects.all().delete()
    result = import_text(first)
    assert not result.skipped
    pattern = Route.objects.get(name="claude-*")
    assert (pattern.strategy, pattern.drop_params, pattern.max_attempts) == (
        "least_busy",
        False,
        5,
    )
    local = Route.objects.get(name="local:qwen@2")
    assert (local.strategy, local.context_window_fallbacks) == ("lowest_latency", ["gpt-4o"])
    assert Route.objects.get(name="gpt-4o").fallbacks == ["claude-*"]
    assert pattern.deployments.get().input_price == Decimal("3.333333")
    gpt = Deployment.objects.get(model="gpt-4o")
    assert gpt.params == {
        "temperature": 0.3,
        "max_tokens_field": "max_completion_tokens",
        "x": {"a": 1},
    }
    assert gpt.provider.secret_ref == "os.environ/PROVIDER_1ST_OPENAI_API_KEY"
    second = export_config()
    assert plan_import(parse_config(second)).has_changes is False
    import_text(second)
    assert export_config() == second


# --- bad input never crashes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("litellm_params", "reason"),
    [
        ("{model: openai/x, input_cost_per_token: 1.0e+30}", "beyond the supported range"),
        ("{model: openai/x, api_key: 'os.environ/A B'}", "api_key: not a valid environment"),
        ("{model: azure/x, api_base: 'https://a', api_version: 'os.environ/'}", "api_version"),
        ("{model: openai/x, api_base: 'os.environ/1X'}", "api_base: not a valid environment"),
    ],
)
@pytest.mark.django_db
def test_bad_values_found_by_fuzzing_are_skipped_not_crashes(
    litellm_params: str, reason: str
) -> None:
    text = f"model_list: [{{model_name: m, litellm_params: {litellm_params}}}]"
    plan = plan_import(parse_config(text))
    assert len(plan.skipped) == 1 and reason in str(plan.skipped[0])
    apply_plan(plan)
    assert not Route.objects.exists()


def _mutations(rng: random.Random, document: Any) -> Any:
    """``document`` with one to three values replaced by values of other types."""
    replacements = [
        None,
        1,
        -5,
        2.5,
        True,
        "x",
        "os.environ/",
        "os.environ/A B",
        [],
        [1],
        {},
        {"a": 1},
        {1: 2},
        "http://h",
        "",
        10**30,
        "a b",
        "claude-*",
    ]
    document = copy.deepcopy(document)
    paths: list[tuple] = []

    def walk(node: Any, prefix: tuple) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            paths.append((*prefix, key))
            if isinstance(child, dict | list):
                walk(child, (*prefix, key))

    walk(document, ())
    for _ in range(rng.randint(1, 3)):
        *parents, last = rng.choice(paths)
        node = document
        try:
            for key in parents:
                node = node[key]
            node[last] = rng.choice(replacements)
        except (KeyError, IndexError, TypeError):  # an earlier replacement moved it
            pass
    return document


# --- the upstreams of issue #15 ---------------------------------------------------------

NEW_KINDS = FIXTURES / "new_kinds.yaml"


@pytest.mark.django_db
def test_new_upstream_prefixes_import_with_their_own_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    result = import_text(NEW_KINDS.read_text())
    assert not result.skipped
    warnings = "\n".join(result.warnings)
    assert "model_list[3].litellm_params.aws_session_token: skipped parameter" in warnings
    assert "model_list[3].litellm_params.aws_role_name: skipped parameter" in warnings

    def deployment(route: str) -> Deployment:
        return Route.objects.get(name=route).deployments.select_related("provider").get()

    gemini = deployment("gemini-pro")
    assert (gemini.provider.kind, gemini.provider.base_url, gemini.model) == (
        "gemini",
        "",
        "gemini-2.5-pro",
    )
    assert gemini.provider.name == "gemini"
    assert gemini.provider.secret_ciphertext and gemini.provider.stored_secret() == "gm-literal-key"

    vertex = deployment("gemini-vertex")
    assert vertex.provider.kind == "vertex_ai"
    assert vertex.params == {"vertex_project": "acme-prod", "vertex_location": "europe-west4"}
    # the service-account key is the encrypted secret, never a plain param
    assert "sa-literal-key" in vertex.provider.stored_secret()
    assert "sa-literal-key" not in vertex.provider.secret_ciphertext
    beta = deployment("gemini-vertex-beta")
    assert (beta.provider.kind, beta.provider.base_url) == (
        "vertex_ai",
        "https://vertex-proxy.internal",
    )
    assert beta.params == {"vertex_project": "acme-dev", "vertex_credentials": "/etc/gcp/sa.json"}
    assert not beta.provider.has_secret

    claude = deployment("claude-bedrock")
    assert (claude.provider.kind, claude.model) == (
        "bedrock",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    )
    assert claude.provider.stored_secret() == "aws-literal-secret"
    assert claude.provider.secret_ciphertext.startswith("fernet:")
    assert claude.params == {
        "temperature": 0.1,
        "aws_access_key_id": "AKIAEXAMPLE",
        "aws_region_name": "us-east-1",
    }  # the literal session token and the role are left out, with warnings
    nova = deployment("nova")
    assert nova.provider.secret_ref == "os.environ/AWS_SECRET_ACCESS_KEY"
    assert nova.params == {
        "aws_access_key_id": "os.environ/AWS_ACCESS_KEY_ID",
        "aws_session_token": "os.environ/AWS_SESSION_TOKEN",
        "aws_profile_name": "prod",
        "aws_bedrock_runtime_endpoint": "https://bedrock-vpce.internal",
    }

    command = deployment("command")
    assert (command.provider.kind, command.provider.name) == ("cohere", "cohere")
    assert command.provider.stored_secret() == "co-literal-key"

    o3 = deployment("o3-pro")
    assert (o3.provider.kind, o3.provider.base_url, o3.model) == (
        "openai_responses",
        "https://api.openai.com/v1",
        "o3-pro",
    )
    assert o3.supports_reasoning is True
    # and every provider is one the registry accepts as it is, the one that sends the
    # host's key file to a proxy included: the operator's file asks so, and the operator
    # owns the host (issue #61; before, it imported with a warning and failed every call)
    proxied = deployment("gemini-vertex-beta").provider
    assert proxied.from_operator
    assert not any("vertex-proxy.internal" in w for w in result.warnings)
    for provider in Provider.objects.all():
        provider.full_clean()

    # the export names them LiteLLM's way and imports to the same rows
    text = export_config(include_secrets=True)
    assert "model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0" in text
    assert "aws_secret_access_key: aws-literal-secret" in text
    assert "model: cohere/command-a-03-2025" in text
    before = row_ids()
    plan = plan_import(parse_config(text))
    assert not plan.has_changes, plan.describe()
    assert row_ids() == before


@pytest.mark.django_db
def test_provider_settings_are_inherited_not_copied_on_import() -> None:
    """A deployment param equal to its provider's setting is not stored again (an
    export writes the provider's settings on each deployment)."""
    provider = Provider(name="aws", kind="bedrock", settings={"aws_region_name": "eu-west-1"})
    provider.set_secret("aws-literal")
    provider.save()
    route = Route.objects.create(name="nova")
    Deployment.objects.create(route=route, provider=provider, model="amazon.nova-lite-v1:0")
    text = export_config(include_secrets=True)
    assert "aws_region_name: eu-west-1" in text
    plan = plan_import(parse_config(text))
    assert not plan.has_changes, plan.describe()
    # into an empty registry the region lands on the deployment: the same calls
    Deployment.objects.all().delete()
    Provider.objects.all().delete()
    import_text(text)
    assert Deployment.objects.get().params == {"aws_region_name": "eu-west-1"}


SEVERAL_CW_FALLBACKS = """
model_list:
  - model_name: small
    litellm_params: {model: openai/gpt-4, api_key: os.environ/OPENAI_API_KEY}
  - model_name: mid
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
  - model_name: big
    litellm_params: {model: openai/gpt-4.1, api_key: os.environ/OPENAI_API_KEY}
router_settings:
  context_window_fallbacks: [{small: [mid, big]}, {mid: [big]}]
"""


@pytest.mark.django_db
def test_context_window_fallbacks_keep_every_target_through_import_and_export() -> None:
    import_text(SEVERAL_CW_FALLBACKS)
    assert Route.objects.get(name="small").context_window_fallbacks == ["mid", "big"]
    assert Route.objects.get(name="mid").context_window_fallbacks == ["big"]
    assert registry.build_snapshot().route("small").context_window_fallbacks == ("mid", "big")
    first = export_config()
    router = yaml.safe_load(first)["router_settings"]
    assert router["context_window_fallbacks"] == [{"small": ["mid", "big"]}, {"mid": ["big"]}]
    plan = plan_import(parse_config(first))
    assert not plan.has_changes, plan.describe()  # the export reads back as it is
    assert export_config() == first


# --- rerank priced per search unit ------------------------------------------------------


@pytest.mark.django_db
def test_input_cost_per_query_is_the_deployments_price_per_search_unit(env: None) -> None:
    text = (
        "model_list:\n"
        "  - model_name: rerank\n"
        "    litellm_params: {model: cohere/rerank-v3.5, api_key: os.environ/OPENAI_API_KEY}\n"
        "    model_info: {input_cost_per_query: 0.0025}\n"
    )
    import_text(text)
    deployment = Deployment.objects.get(route__name="rerank")
    assert deployment.search_unit_price == Decimal("0.0025")  # per query, not per token
    assert deployment.input_price is None
    exported = yaml.safe_load(export_config())
    [entry] = [m for m in exported["model_list"] if m["model_name"] == "rerank"]
    assert entry["model_info"]["input_cost_per_query"] == 0.0025
    with pytest.raises(ConfigError, match=r"model_info\.input_cost_per_query"):
        parse_config(text.replace("0.0025", "-1"), strict=True)
