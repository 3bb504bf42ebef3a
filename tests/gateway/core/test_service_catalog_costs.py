"""A LiteLLM config imported without prices is charged at the catalog's prices, and the
catalog's context windows send too-long prompts to the fallback before any upstream
call (through the service, a mock upstream and the journal's own writer)."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import orjson
import pytest

from gateway import catalog, journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.catalog import store
from gateway.core import service
from gateway.models import RequestLog
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import

CONFIG = """
model_list:
  - model_name: gpt4o
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
  - model_name: small
    litellm_params: {model: openai/gpt-4, api_key: os.environ/OPENAI_API_KEY}
  - model_name: big
    litellm_params: {model: openai/gpt-4.1, api_key: os.environ/OPENAI_API_KEY}
  - model_name: pricey
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
    model_info: {input_cost_per_token: 0.00001, output_cost_per_token: 0.00002}
  - model_name: mixed
    litellm_params: {model: openai/gpt-4, api_key: os.environ/OPENAI_API_KEY}
  - model_name: mixed
    litellm_params: {model: openai/gpt-4.1, api_key: os.environ/OPENAI_API_KEY}
router_settings:
  context_window_fallbacks: [{small: [big]}]
"""


def usage(prompt: int, completion: int, cached: int = 0) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


@pytest.fixture
def imported(settings, tmp_path, monkeypatch, snapshot_reset):
    """The config imported, the upstream mocked; yields (models asked for, records)."""
    settings.DATA_DIR = tmp_path  # no user override: the bundled catalog
    store.reset()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    apply_plan(plan_import(parse_config(CONFIG)))
    registry.rebuild()
    asked: list[str] = []
    answers: dict[str, dict] = {}

    def upstream(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        asked.append(body["model"])
        if body.get("stream"):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1}
            events = [
                {**chunk, "choices": [{"index": 0, "delta": {"content": "ok"}}]},
                {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {**chunk, "choices": [], "usage": answers.get(body["model"], usage(10, 2))},
            ]
            sse = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=sse + b"data: [DONE]\n\n",
            )
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": answers.get(body["model"], usage(10, 2)),
            },
        )

    http.use_transport(httpx.MockTransport(upstream))
    records: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    yield asked, answers, records
    http.use_transport(None)


async def chat(model: str, text: str = "hi") -> service.Reply:
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
    return await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))


def written(records: list[journal.Record]) -> list[RequestLog]:
    ids = journal.write_batch(records)
    return list(RequestLog.objects.filter(pk__in=ids).order_by("id"))


@pytest.mark.django_db(transaction=True)
async def test_an_imported_route_without_prices_is_charged_the_catalog_price(imported):
    asked, answers, records = imported
    gpt4o = catalog.load().get("openai", "gpt-4o")
    answers["gpt-4o"] = usage(prompt=1_200, completion=300, cached=200)
    reply = await chat("gpt4o")
    assert reply.status == 200, reply.body
    assert asked == ["gpt-4o"]
    from asgiref.sync import sync_to_async

    (row,) = await sync_to_async(written)(records)
    assert (row.input_tokens, row.cache_read_tokens, row.output_tokens) == (1_000, 200, 300)
    # cache reads priced apart (1.25 against 2.5 per 1M input)
    expected = (1_000 * gpt4o.input + 200 * gpt4o.cache_read + 300 * gpt4o.output) / 1_000_000
    assert gpt4o.cache_read < gpt4o.input
    assert row.cost_usd == expected == Decimal("0.005750")
    # what the cache saved: 200 reads at 2.5 - 1.25 per 1M, journaled with the request
    assert row.cache_saved_usd == 200 * (gpt4o.input - gpt4o.cache_read) / 1_000_000
    assert row.cache_saved_usd == Decimal("0.00025")


@pytest.mark.django_db(transaction=True)
async def test_prices_given_in_the_config_override_the_catalog(imported):
    asked, answers, records = imported
    answers["gpt-4o"] = usage(prompt=1_000, completion=100)
    reply = await chat("pricey")
    assert reply.status == 200
    (record,) = records
    # $10 and $20 per 1M from model_info; cache reads (none here) would take the catalog's
    assert record.cost_usd == (1_000 * Decimal(10) + 100 * Decimal(20)) / 1_000_000
    entry = registry.current().route("pricey").deployments[0]
    assert entry.sources["input_price"] == "set on deployment"
    assert entry.sources["cache_read_price"].startswith("catalog ")


@pytest.mark.django_db(transaction=True)
async def test_an_over_window_prompt_goes_to_the_fallback_without_calling_the_small_model(
    imported,
):
    asked, answers, records = imported
    assert registry.current().route("small").deployments[0].context_window == 8_192
    long_prompt = "lorem ipsum dolor sit amet " * 2_000  # ~13,500 tokens by estimate
    reply = await chat("small", long_prompt)
    assert reply.status == 200, reply.body
    assert asked == ["gpt-4.1"]  # the small model was never asked
    assert (b"x-switchyard-route", b"big") in reply.headers
    (record,) = records
    assert record.route == "big"
    first, second = record.attempts
    assert first.route == "small" and first.status == 400 and "prompt is too long" in first.error
    assert second.route == "big" and second.status == 200


@pytest.mark.django_db(transaction=True)
async def test_an_over_window_prompt_without_a_fallback_is_a_clear_400(imported):
    asked, _, records = imported
    huge = "lorem ipsum dolor sit amet " * 30_000  # 150,000 tokens: over gpt-4o's 128k
    reply = await chat("gpt4o", huge)
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "context_length_exceeded"
    # the tokenizer's count (not chars/4: 202,500) and the window, Anthropic's words
    counted = re.match(r"prompt is too long: (\d+) tokens > 128000 maximum", error["message"])
    assert counted and 150_000 <= int(counted[1]) < 150_100
    assert asked == []


@pytest.mark.django_db(transaction=True)
async def test_a_prompt_the_estimate_puts_over_the_window_but_the_tokenizer_under_is_sent(
    imported,
):
    asked, _, _ = imported
    # chars/4 says 135,000 tokens (over gpt-4o's 128k); the tokenizer counts 100,000
    reply = await chat("gpt4o", "lorem ipsum dolor sit amet " * 20_000)
    assert reply.status == 200, reply.body
    assert asked == ["gpt-4o"]


@pytest.mark.django_db(transaction=True)
async def test_max_tokens_is_clamped_to_the_catalog_max_output(imported):
    asked, _, _ = imported
    seen: list[dict] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage(5, 1),
            },
        )

    http.use_transport(httpx.MockTransport(upstream))
    body = orjson.dumps(
        {"model": "gpt4o", "max_tokens": 100_000, "messages": [{"role": "user", "content": "x"}]}
    )
    reply = await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))
    assert reply.status == 200
    assert seen[0]["max_tokens"] == 16_384


@pytest.mark.django_db(transaction=True)
async def test_a_streamed_over_window_prompt_goes_to_the_fallback_and_is_priced(imported):
    asked, answers, records = imported
    answers["gpt-4.1"] = usage(prompt=14_000, completion=20, cached=4_000)
    body = orjson.dumps(
        {
            "model": "small",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "lorem ipsum dolor sit amet " * 2_000}],
        }
    )
    reply = await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))
    assert reply.status == 200
    streamed = b"".join([chunk async for chunk in reply.chunks])
    assert b'"content":"ok"' in streamed
    assert asked == ["gpt-4.1"]
    (record,) = records
    gpt41 = catalog.load().get("openai", "gpt-4.1")
    assert record.route == "big"
    assert (
        record.cost_usd
        == (10_000 * gpt41.input + 4_000 * gpt41.cache_read + 20 * gpt41.output) / 1_000_000
    )


@pytest.mark.django_db(transaction=True)
async def test_a_mixed_route_sends_long_prompts_to_its_deployments_that_hold_them(imported):
    asked, _, records = imported
    long_prompt = "lorem ipsum dolor sit amet " * 2_000  # over gpt-4's 8k, under gpt-4.1's
    for _ in range(6):
        reply = await chat("mixed", long_prompt)
        assert reply.status == 200, reply.body
    assert asked == ["gpt-4.1"] * 6
    assert all(len(record.attempts) == 1 for record in records)
    for _ in range(20):  # short prompts still go to both
        await chat("mixed")
    assert set(asked[6:]) == {"gpt-4", "gpt-4.1"}
