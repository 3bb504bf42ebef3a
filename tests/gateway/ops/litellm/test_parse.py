"""Reading a LiteLLM config.yaml: provider prefixes to kinds and base URLs, YAML and
shape errors naming the line or the path, wrong values skipped (or strict errors naming
the field), unknown keys and conflicting settings reported, and mutated files a
ConfigError or a skip, never a crash."""

from __future__ import annotations

import contextlib
import random
import re

import pytest
import yaml

from gateway.ops.litellm.parse import ConfigError
from tests.gateway.ops.litellm.test_export import (  # noqa: F401 (the autouse fixture)
    CACHED,
    LITERAL_KEYS,
    MESSY,
    REALISTIC,
    _mutations,
    no_cloud_credentials,
    parse_config,
)


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
        ("gemini/gemini-2.0-flash", None, "gemini", ""),  # native since issue #15
        ("vertex_ai/gemini-2.5-pro", None, "vertex_ai", ""),
        ("vertex_ai_beta/gemini-2.5-pro", "https://vx.example/", "vertex_ai", "https://vx.example"),
        ("bedrock/amazon.nova-pro-v1:0", None, "bedrock", ""),
        ("cohere/command-r-plus", None, "cohere", ""),
        ("cohere_chat/command-a-03-2025", None, "cohere", ""),
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


def test_invalid_yaml_names_line_and_column() -> None:
    # line 5 is indented one space less than its sibling "model:"
    text = (
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n     rpm: 5\n"
    )
    with pytest.raises(ConfigError, match=r"invalid YAML at line 5, column 6"):
        parse_config(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_list: {a: 1}", "model_list: must be a list"),
        ("- just a list", "top level"),
        ("", "empty"),
        ("just words", "must be a mapping at the top level, got a string"),
    ],
)
def test_file_shape_errors_fail_in_both_modes(text: str, message: str) -> None:
    for strict in (False, True):
        with pytest.raises(ConfigError, match=message):
            parse_config(text, strict=strict)


@pytest.mark.parametrize(
    ("text", "path"),
    [
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
            r"'gpt-4o' has no provider prefix",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: hosted_vllm/x}}]",
            r"api_base: is required",
        ),
        ("model_list: [{model_name: a, litellm_params: {model: openai/x, weight: -1}}]", r"weight"),
        ("litellm_settings: {drop_params: maybe}", r"litellm_settings\.drop_params"),
        ("router_settings: {fallbacks: {a: b}}", r"router_settings\.fallbacks"),
        ("litellm_settings: [drop_params]", r"litellm_settings: must be a mapping"),
    ],
)
def test_wrong_values_are_skipped_or_strict_errors_naming_the_field(text: str, path: str) -> None:
    """Forgiving: the part is listed as skipped with the reason naming the field.
    Strict: the same reason is the error."""
    config = parse_config(text)
    assert len(config.skipped) == 1
    assert re.search(path, str(config.skipped[0]))
    with pytest.raises(ConfigError, match=path):
        parse_config(text, strict=True)


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
    assert config.context_window_fallbacks == {"a": ["b", "c"]}  # every target, in order
    warnings = "\n".join(config.warnings)
    assert "context_window_fallbacks" not in warnings
    assert "model_list[0].litellm_params.api_version: not set" in warnings


def test_cache_params_without_a_ttl_or_of_an_unknown_type_are_reported() -> None:
    config = parse_config(
        CACHED.replace(
            "{type: redis, ttl: 900, host: redis.internal, port: 6379, password: hunter2}",
            "{type: disk}",
        )
    )
    warnings = "\n".join(config.warnings)
    assert config.cache_ttl == 600
    assert "cache_params.type: 'disk' is not supported" in warnings
    assert "cache_params.ttl: not set; 600 seconds is used" in warnings
    off = parse_config(CACHED.replace("type: redis,", "type: local, mode: default_off,"))
    assert off.cache_ttl is None and "default_off is not supported" in "\n".join(off.warnings)
    with pytest.raises(ConfigError, match=r"litellm_settings\.cache_params\.ttl"):
        parse_config(CACHED.replace("ttl: 900", "ttl: soon"))
    with pytest.raises(ConfigError, match=r"litellm_settings\.cache:"):
        parse_config(CACHED.replace("cache: true", "cache: yes please"))


@pytest.mark.parametrize(
    ("model", "base_url"),
    [
        ("xai/grok-2", "https://api.x.ai/v1"),
        ("perplexity/sonar", "https://api.perplexity.ai"),
        ("cerebras/llama3.1-8b", "https://api.cerebras.ai/v1"),
        ("deepinfra/meta-llama/Llama-3.3-70B", "https://api.deepinfra.com/v1/openai"),
        ("lm_studio/qwen2.5", "http://localhost:1234/v1"),
        ("nvidia_nim/meta/llama3-8b", "https://integrate.api.nvidia.com/v1"),
        ("sambanova/Meta-Llama-3.1-8B", "https://api.sambanova.ai/v1"),
    ],
)
def test_openai_compatible_services_have_their_public_base_url(model: str, base_url: str) -> None:
    config = parse_config(f"model_list: [{{model_name: m, litellm_params: {{model: {model}}}}}]")
    assert not config.skipped
    provider = config.deployments[0].provider
    assert (provider.kind, provider.base_url) == ("openai", base_url)
    assert config.deployments[0].model == model.split("/", 1)[1]


@pytest.mark.parametrize("prefix", ["sagemaker", "huggingface", "watsonx"])
def test_unsupported_provider_is_skipped_with_its_name(prefix: str) -> None:
    config = parse_config(
        f"model_list: [{{model_name: m, litellm_params: {{model: {prefix}/x}}}},"
        " {model_name: n, litellm_params: {model: openai/y}}]"
    )
    assert [str(s) for s in config.skipped] == [
        f"model_list[0].litellm_params.model: provider '{prefix}' is not supported yet (route m)"
    ]
    assert [d.route for d in config.deployments] == ["n"]


def test_routing_strategy_of_the_wrong_type_is_a_warning() -> None:
    config = parse_config("router_settings: {routing_strategy: [least-busy]}")
    assert config.strategy is None
    assert "router_settings.routing_strategy: skipped setting" in config.warnings[0]


def test_mutated_configs_are_config_errors_or_skips_never_crashes() -> None:
    documents = [yaml.safe_load(p.read_text()) for p in (MESSY, REALISTIC, LITERAL_KEYS)]
    rng = random.Random(12)
    for _ in range(300):
        text = yaml.safe_dump(_mutations(rng, rng.choice(documents)))
        for strict in (False, True):
            with contextlib.suppress(ConfigError):  # anything else fails the test
                parse_config(text, strict=strict)
