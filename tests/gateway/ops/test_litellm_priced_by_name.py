"""A LiteLLM ``openai/gpt-4o`` behind an ``api_base`` that is not OpenAI's (a company
proxy, another gateway) is OpenAI's model at OpenAI's prices, as LiteLLM prices it: the
request log and so the key budgets count it, where it used to be $0 (issue #32)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from asgiref.sync import sync_to_async

from gateway import catalog, journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.catalog import store
from gateway.core import service
from gateway.models import Deployment, RequestLog
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.parse import LiteLLMConfig
from gateway.ops.litellm.parse import parse_config as _parse_config
from gateway.ops.litellm.plan import plan_import


def parse_config(text: str, *args: Any, **kwargs: Any) -> LiteLLMConfig:
    """What ``manage.py import_config`` reads: the operator's own file, trusted (issue
    #61); the console's upload is judged, see tests/gateway/ops/test_references.py."""
    config = _parse_config(text, *args, **kwargs)
    config.operator = True
    return config


CONFIG = """
model_list:
  - model_name: proxied
    litellm_params:
      model: openai/gpt-4o
      api_base: https://llm-proxy.internal.example/v1
      api_key: os.environ/PROXY_KEY
  - model_name: local
    litellm_params:
      model: hosted_vllm/my-finetune
      api_base: http://gpu-box:8000/v1
"""


@pytest.fixture
def imported(settings, tmp_path, monkeypatch, snapshot_reset):
    settings.DATA_DIR = tmp_path
    store.reset()
    monkeypatch.setenv("PROXY_KEY", "sk-proxy-0123456789abcdef")
    apply_plan(plan_import(parse_config(CONFIG)))
    registry.rebuild()

    def upstream(request: httpx.Request) -> httpx.Response:
        assert request.url.host in ("llm-proxy.internal.example", "gpu-box")
        body = orjson.loads(request.content)
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1_000, "completion_tokens": 200, "total_tokens": 1_200},
            },
        )  # fmt: skip

    http.use_transport(httpx.MockTransport(upstream))
    records: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    yield records
    http.use_transport(None)


async def chat(route: str) -> service.Reply:
    body = orjson.dumps({"model": route, "messages": [{"role": "user", "content": "hi"}]})
    return await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))


@pytest.mark.django_db(transaction=True)
async def test_openai_gpt_4o_behind_a_proxy_url_is_charged_openais_price(imported):
    records = imported
    gpt4o = catalog.load().get("openai", "gpt-4o")
    entry = registry.current().route("proxied").deployments[0]
    assert entry.catalog is not None and entry.catalog.key == "openai/gpt-4o"
    assert (entry.input_price, entry.output_price) == (gpt4o.input, gpt4o.output)
    reply = await chat("proxied")
    assert reply.status == 200, reply.body
    (record,) = records
    expected = (1_000 * gpt4o.input + 200 * gpt4o.output) / 1_000_000
    assert record.cost_usd == expected > 0
    # what budgets sum: the request log's cost
    ids = await sync_to_async(journal.write_batch)(records)
    row = await RequestLog.objects.aget(pk=ids[0])
    assert row.cost_usd == expected


@pytest.mark.django_db
def test_the_price_source_names_the_entry_a_custom_price_or_unpriced(imported):
    proxied = Deployment.objects.select_related("provider").get(route__name="proxied")
    local = Deployment.objects.select_related("provider").get(route__name="local")
    assert catalog.figures_for(proxied)["price_source"] == "catalog openai/gpt-4o"
    figures = catalog.figures_for(local)
    assert figures["price_source"] == "unpriced" and figures["unpriced"] is True
    local.input_price = Decimal("0.1")
    local.output_price = Decimal("0.2")
    figures = catalog.figures_for(local)
    assert figures["price_source"] == "custom price" and figures["unpriced"] is False
