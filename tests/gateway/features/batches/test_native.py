"""Which batches go to the upstream's own batch API (``native.choose``) and at what
price (``upstreams.price_factor``), from routes and providers in the database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.access import registry
from gateway.base.errors import InvalidRequest
from gateway.features.batches import native, upstreams
from gateway.models import Deployment, Provider, Route


def provider(name: str, kind: str, base_url: str, **settings: str) -> Provider:
    made = Provider(name=name, kind=kind, base_url=base_url, settings=settings)
    made.set_secret("sk-test")
    made.save()
    return made


def route(name: str, mode: str, *deployments: tuple[Provider, str, float]) -> None:
    made = Route.objects.create(name=name, batch_mode=mode)
    for up, model, weight in deployments:
        Deployment.objects.create(route=made, provider=up, model=model, weight=weight)


@pytest.fixture
def routes(db, snapshot_reset):
    openai = provider("openai", "openai", "https://api.openai.com/v1")
    vllm = provider("vllm", "openai", "http://vllm:8000/v1")
    vllm_on = provider("vllm-batch", "openai", "http://vllm2:8000/v1", native_batches="on")
    claude = provider("claude", "anthropic", "", native_batches="")
    claude_off = provider("claude-off", "anthropic", "", native_batches="off")
    azure = provider("azure", "azure", "https://x.openai.azure.com")
    route("gpt", "auto", (openai, "gpt-4o-mini", 1))
    route("gpt-too", "auto", (openai, "gpt-4o-mini", 1))
    route("local", "auto", (vllm, "llama", 1))
    route("local-native", "native", (vllm, "llama", 1))
    route("local-batch", "auto", (vllm_on, "llama", 1))
    route("mixed", "auto", (vllm, "llama", 5), (openai, "gpt-4o", 1), (openai, "gpt-4o-2", 2))
    route("gpt-here", "gateway", (openai, "gpt-4o-mini", 1))
    route("claude", "auto", (claude, "claude-x", 1))
    route("claude-off", "auto", (claude_off, "claude-x", 1))
    route("azure", "auto", (azure, "dep", 1))
    route("gpt-*", "native", (openai, "gpt-*", 1))
    batch = {"batch_s3_uri": "s3://b/jobs", "batch_role_arn": "arn:aws:iam::1:role/r"}
    bedrock = provider("bedrock", "bedrock", "", **batch, batch_min_records="3")
    bedrock_bare = provider("bedrock-bare", "bedrock", "", batch_s3_uri="s3://b/jobs")
    route("claude-bedrock", "auto", (bedrock, "anthropic.claude-x", 1))
    route("claude-bedrock-native", "native", (bedrock, "anthropic.claude-x", 1))
    route("claude-bare", "auto", (bedrock_bare, "anthropic.claude-x", 1))
    route("claude-bare-native", "native", (bedrock_bare, "anthropic.claude-x", 1))
    registry.rebuild()


def chosen(api: str, *models: str) -> tuple[str, str] | None:
    found = native.choose(api, list(models))
    return None if found is None else (found.provider.name, found.model)


def test_which_batches_go_native(routes) -> None:
    assert chosen("openai", "gpt", "gpt") == ("openai", "gpt-4o-mini")
    assert chosen("openai", "local") is None  # vLLM has no /batches
    assert chosen("openai", "local-batch") == ("vllm-batch", "llama")  # said it has
    assert chosen("openai", "mixed") == ("openai", "gpt-4o-2")  # the heaviest able one
    assert chosen("openai", "gpt", "gpt-here") is None  # a route keeps it here
    assert chosen("openai", "gpt", "local") is None
    assert chosen("openai", "azure") is None  # Azure opts in (Global Batch only)
    assert chosen("anthropic", "claude") == ("claude", "claude-x")
    assert chosen("anthropic", "claude-off") is None
    assert chosen("openai", "claude") is None  # another format: run here
    # two routes, one deployment each but not the same one: one native batch cannot
    assert chosen("openai", "gpt", "mixed") is None


def test_native_mode_refuses_what_cannot_go_up(routes) -> None:
    with pytest.raises(InvalidRequest, match="local-native.*no deployment whose upstream"):
        native.choose("openai", ["local-native"])
    with pytest.raises(InvalidRequest, match="gpt-\\*.*patterns"):
        native.choose("openai", ["gpt-5"])
    # two routes on the same upstream model are two deployments (their prices may differ)
    assert chosen("openai", "gpt-too", "gpt") is None


def test_the_batch_price(routes) -> None:
    snapshot = registry.current()
    openai = snapshot.providers["openai"]
    assert upstreams.price_factor(openai, "openai") == Decimal("0.5")
    assert upstreams.price_factor(snapshot.providers["claude"], "anthropic") == Decimal("0.5")
    own = Provider.objects.get(name="vllm-batch")
    own.settings = {"native_batches": "on", "batch_discount": "0.4"}
    own.save()
    registry.rebuild()
    assert upstreams.price_factor(registry.current().providers["vllm-batch"], "openai") == (
        Decimal("0.6")
    )


def test_chat_batches_go_to_bedrock_batch_inference_translated(routes) -> None:
    three = ["claude-bedrock"] * 3
    chat = "/v1/chat/completions"
    assert native.choose("openai", three, chat).model == "anthropic.claude-x"
    assert native.choose("anthropic", three, "/v1/messages").model == "anthropic.claude-x"
    assert native.choose("openai", three, "/v1/responses").model == "anthropic.claude-x"
    # embeddings are not Converse requests; fewer lines than the job minimum run here
    assert native.choose("openai", three, "/v1/embeddings") is None
    assert chosen("openai", "claude-bedrock", "claude-bedrock") is None
    # no role: no batch API
    assert chosen("openai", *(["claude-bare"] * 3)) is None


def test_bedrock_native_mode_names_what_is_missing(routes) -> None:
    with pytest.raises(InvalidRequest, match="no batch_role_arn setting"):
        native.choose("openai", ["claude-bare-native"] * 5)
    with pytest.raises(InvalidRequest, match="at least 3 lines \\(batch_min_records\\)"):
        native.choose("openai", ["claude-bedrock-native"] * 2)
    assert native.choose("openai", ["claude-bedrock-native"] * 3, "/v1/chat/completions")


def test_bedrock_batch_price(routes) -> None:
    bedrock = registry.current().providers["bedrock"]
    assert upstreams.native_api(bedrock) == "bedrock"
    assert upstreams.price_factor(bedrock, "bedrock") == Decimal("0.5")
    assert upstreams.min_lines(bedrock) == 3
    bare = registry.current().providers["bedrock-bare"]
    assert upstreams.native_api(bare) == "" and upstreams.min_lines(bare) == 1


def test_bedrock_batches_with_tools_or_structured_output_run_here(routes) -> None:
    ask = {"model": "claude-bedrock", "messages": [{"role": "user", "content": "x"}]}
    tools = {**ask, "tools": [{"type": "function", "function": {"name": "f"}}]}
    schema = {**ask, "response_format": {"type": "json_schema", "json_schema": {"name": "s"}}}
    models = ["claude-bedrock"] * 3
    assert native.choose("openai", models, "/v1/chat/completions", [ask] * 3) is not None
    assert native.choose("openai", models, "/v1/chat/completions", [ask, ask, tools]) is None
    assert native.choose("openai", models, "/v1/chat/completions", [ask, schema, ask]) is None
    plain = {**ask, "response_format": {"type": "text"}}
    assert native.choose("openai", models, "/v1/chat/completions", [plain] * 3) is not None
    with pytest.raises(InvalidRequest, match="does not support tool calling"):
        native.choose("openai", ["claude-bedrock-native"] * 3, "/v1/chat/completions", [tools] * 3)


def test_a_guarded_batch_runs_in_the_gateway(routes) -> None:
    """Guardrails check each line, which an upstream's batch API would not: a batch they
    apply to (by default, by the key, by a route or asked for by a line) stays here."""
    from dataclasses import replace

    from gateway.base.entries import MASTER
    from gateway.models import Guardrail

    Guardrail.objects.create(
        name="words",
        kind="litellm_content_filter",
        modes=["pre_call"],
        params={"blocked_words": [{"keyword": "x", "action": "BLOCK"}]},
    )
    registry.rebuild()
    assert chosen("openai", "gpt") == ("openai", "gpt-4o-mini")  # defined, not attached
    assert native.choose("openai", ["gpt"], "", [{"guardrails": ["words"]}]) is None
    assert (
        native.choose("openai", ["gpt"], "", None, replace(MASTER, guardrails=("words",))) is None
    )
    with pytest.raises(InvalidRequest, match="guardrails check its lines"):
        native.choose("openai", ["local-native"], "", [{"guardrails": ["words"]}])
    Guardrail.objects.filter(name="words").update(default_on=True)
    registry.rebuild()
    assert chosen("openai", "gpt") is None
