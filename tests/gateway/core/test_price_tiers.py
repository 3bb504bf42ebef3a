"""A request is priced from the bundled catalog at the tier it pays: the standard prices,
its service tier's (``service_tier``: flex, priority), long context's when its prompt is
over the model's threshold, both at once where the model prices the pair
(``DeploymentEntry.cost``, the catalog's ``tiers``). Each model family the catalog of
2026-07-24 lacked (GPT-6/6.1, Claude Opus/Sonnet 5.5, Gemini 3.8, Grok 4.7) is priced
through the whole service at the figure LiteLLM 1.110.2's map gives; each tier has its
standard-tier control."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, ProviderEntry, RouteEntry
from gateway.catalog import store
from gateway.core import service
from gateway.journal.record import Record
from tests.gateway.entries import snapshot

BUNDLED = store.read_file(store.BUNDLED)  # the catalog as shipped, without an override
_ids = count(5100)
MILLION = Decimal(1_000_000)
HOSTS = {
    "openai": "https://api.openai.com/v1",
    "openai_responses": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "xai": "https://api.x.ai/v1",
}


class _Row:
    """A Deployment row that sets nothing itself: every figure is the catalog's."""

    def __init__(self, model: str) -> None:
        self.id, self.model, self.weight, self.params = next(_ids), model, 1.0, {}
        self.rpm = self.tpm = None

    def __getattr__(self, name: str) -> Any:
        return None


def catalog_route(name: str, kind: str, model: str) -> RouteEntry:
    wire = "openai" if kind == "xai" else kind
    provider = ProviderEntry(next(_ids), name, wire, HOSTS[kind], "sk-test", {}, "", None)
    deployment = registry._deployment_entry(name, _Row(model), provider, BUNDLED)
    assert deployment.catalog is not None, f"{model} is not in the bundled catalog"
    return RouteEntry(
        id=next(_ids), name=name, enabled=True, strategy="weighted",
        deployments=(deployment,), fallbacks=(), context_window_fallbacks=(),
        drop_params=True, default_params={}, max_attempts=1, created=0,
    )  # fmt: skip


ROUTES = {
    "gpt-6-sol": ("openai", "gpt-6-sol"),
    "gpt-6.1-terra": ("openai", "gpt-6.1-terra"),
    "gpt-6-sol-responses": ("openai_responses", "gpt-6-sol"),
    "opus-5-5": ("anthropic", "claude-opus-5-5"),
    "sonnet-5-5": ("anthropic", "claude-sonnet-5-5"),
    "gemini-3-8": ("gemini", "gemini-3.8-flash"),
    "grok-4-7": ("xai", "grok-4.7"),
    "gpt-5-5": ("openai", "gpt-5.5"),
}


def _answer(request: httpx.Request, prompt: int, cached: int, output: int) -> dict[str, Any]:
    host, path = request.url.host, request.url.path
    if host == "api.anthropic.com":
        return {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": prompt, "output_tokens": output},
        }  # fmt: skip
    if host == "generativelanguage.googleapis.com":
        return {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": output,
                              "totalTokenCount": prompt + output},
        }  # fmt: skip
    if path.endswith("/responses"):
        return {
            "id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
            "model": "m", "output": [{"type": "message", "id": "m", "role": "assistant",
                                      "status": "completed", "content": [
                                          {"type": "output_text", "text": "Hi",
                                           "annotations": []}]}],
            "usage": {"input_tokens": prompt, "output_tokens": output,
                      "total_tokens": prompt + output,
                      "input_tokens_details": {"cached_tokens": cached}},
        }  # fmt: skip
    return {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": output,
                  "total_tokens": prompt + output,
                  "prompt_tokens_details": {"cached_tokens": cached}},
    }  # fmt: skip


@pytest.fixture
def priced(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    """Send a request to one of ROUTES whose upstream reports ``usage`` (prompt tokens,
    cached of them, output); answer the journal record."""
    records: list[Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    registry.install(snapshot(*(catalog_route(n, *spec) for n, spec in ROUTES.items())))
    usage = {"prompt": 1000, "cached": 0, "output": 100}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=_answer(request, usage["prompt"], usage["cached"], usage["output"])
        )

    http.use_transport(httpx.MockTransport(handler))

    async def send(
        route: str, extra: dict[str, Any] | None = None, prompt: int = 1000, output: int = 100
    ) -> Record:
        usage.update(prompt=prompt, output=output)
        kind = ROUTES[route][0]
        hi = [{"role": "user", "content": "Hi"}]
        path = None
        if kind == "anthropic":
            dialect, body = "anthropic", {"model": route, "max_tokens": 64, "messages": hi}
        elif kind == "gemini":
            dialect = "gemini"
            body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
            path = {"model": route}
        elif kind == "openai_responses":
            dialect, body = "responses", {"model": route, "input": "Hi", "store": False}
        else:
            dialect, body = "openai", {"model": route, "messages": hi}
        body.update(extra or {})
        reply = await service.handle(
            "chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER), path
        )
        assert isinstance(reply, service.Reply)
        assert reply.status == 200, reply.body
        return records[-1]

    yield send
    http.use_transport(None)


def usd(input_tokens: int, input_price: str, output_tokens: int, output_price: str) -> Decimal:
    return (
        Decimal(input_tokens) * Decimal(input_price)
        + Decimal(output_tokens) * Decimal(output_price)
    ) / MILLION


# --- every new family is priced (it was $0: not in the catalog) -------------------------


@pytest.mark.parametrize(
    ("route", "input_price", "output_price"),
    [
        ("gpt-6-sol", "2", "10"),  # LiteLLM 1.110.2: gpt-6-sol $2 / $10 per 1M
        ("gpt-6.1-terra", "1", "5"),
        ("gpt-6-sol-responses", "2", "10"),
        ("opus-5-5", "4", "20"),  # claude-opus-5-5
        ("sonnet-5-5", "2", "10"),  # claude-sonnet-5-5
        ("gemini-3-8", "0.75", "3.75"),  # gemini/gemini-3.8-flash
        ("grok-4-7", "2", "6"),  # xai/grok-4.7
    ],
)
async def test_each_new_family_is_priced_at_its_catalog_figure(
    priced, route, input_price, output_price
) -> None:
    rec = await priced(route)
    assert (rec.input_tokens, rec.output_tokens) == (1000, 100)
    assert rec.cost_usd == usd(1000, input_price, 100, output_price) > 0


# --- the request's service tier ----------------------------------------------------------


async def test_flex_and_priority_pay_their_tier(priced) -> None:
    standard = await priced("gpt-6-sol")
    assert standard.cost_usd == usd(1000, "2", 100, "10")  # control: no tier named
    assert (await priced("gpt-6-sol", {"service_tier": "default"})).cost_usd == standard.cost_usd
    assert (await priced("gpt-6-sol", {"service_tier": "flex"})).cost_usd == usd(
        1000, "1", 100, "5"
    )
    assert (await priced("gpt-6-sol", {"service_tier": "priority"})).cost_usd == usd(
        1000, "4", 100, "20"
    )
    # the Responses API names it the same way
    priority = await priced("gpt-6-sol-responses", {"service_tier": "priority"})
    assert priority.cost_usd == usd(1000, "4", 100, "20")


async def test_gemini_service_tier_is_read_in_its_own_spelling(priced) -> None:
    assert (await priced("gemini-3-8")).cost_usd == usd(1000, "0.75", 100, "3.75")
    flex = await priced("gemini-3-8", {"serviceTier": "flex"})
    assert flex.cost_usd == usd(1000, "0.375", 100, "1.875")


# --- long context ---------------------------------------------------------------------


async def test_a_prompt_over_the_threshold_pays_the_long_context_tier(priced) -> None:
    # gpt-6-sol: $4 / $15 per 1M above 272k prompt tokens
    at = await priced("gpt-6-sol", prompt=272_000, output=1000)
    assert at.cost_usd == usd(272_000, "2", 1000, "10")  # control: at the threshold
    over = await priced("gpt-6-sol", prompt=300_000, output=1000)
    assert over.cost_usd == usd(300_000, "4", 1000, "15")
    # both at once: the pair's own price
    both = await priced("gpt-6-sol", {"service_tier": "priority"}, prompt=300_000, output=1000)
    assert both.cost_usd == usd(300_000, "8", 1000, "30")
    # grok-4.7: above 200k, $4 / $12
    grok = await priced("grok-4-7", prompt=250_000, output=1000)
    assert grok.cost_usd == usd(250_000, "4", 1000, "12")


async def test_a_tier_a_model_has_not_priced_is_the_nearest_one_it_has(priced) -> None:
    # gpt-5.5 prices priority and long context, not both at once: priority's price
    rec = await priced("gpt-5-5", {"service_tier": "priority"}, prompt=300_000, output=10)
    assert rec.cost_usd == usd(300_000, "12.5", 10, "75")
    # claude-opus-5-5 has no flex tier: the standard price
    assert (await priced("opus-5-5", {"service_tier": "flex"})).cost_usd == usd(
        1000, "4", 100, "20"
    )
