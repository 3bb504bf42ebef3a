"""Which batches go to the upstream's own batch API (``native.choose``) and at what
price (``batch_apis.price_factor``), from routes and providers in the database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.batches import native
from gateway.errors import InvalidRequest
from gateway.models import Deployment, Provider, Route
from gateway.policy import registry
from gateway.providers import batch_apis


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
    assert batch_apis.price_factor(openai, "openai") == Decimal("0.5")
    assert batch_apis.price_factor(snapshot.providers["claude"], "anthropic") == Decimal("0.5")
    own = Provider.objects.get(name="vllm-batch")
    own.settings = {"native_batches": "on", "batch_discount": "0.4"}
    own.save()
    registry.rebuild()
    assert batch_apis.price_factor(registry.current().providers["vllm-batch"], "openai") == (
        Decimal("0.6")
    )
