"""The catalog in a real server: a LiteLLM config imported without prices is journaled
at the catalog's prices, and ``manage.py update_catalog`` run beside the serving workers
changes what the next requests cost, without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

from .mock_upstream import MockUpstream, Reply

COST_OF_LAST = (
    "from gateway.models import RequestLog; "
    "row = RequestLog.objects.filter(route='gpt4o').order_by('-id').first(); "
    "print(row.request_id if row else '', row.cost_usd if row else '')"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, MockUpstream]]:
    mock = MockUpstream().start()
    folder = tmp_path_factory.mktemp("catalog-live")
    config = folder / "config.yaml"
    # a LiteLLM-proxy style upstream: its host is unknown, "openai/gpt-4o" names the model
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt4o\n"
        "    litellm_params:\n"
        "      model: openai/openai/gpt-4o\n"
        f"      api_base: {mock.url}/v1\n"
        "      api_key: sk-mock-0123456789abcdef\n"
    )
    env = {"SWITCHYARD_JOURNAL_FLUSH_SECONDS": "0.2", "SWITCHYARD_REGISTRY_POLL_SECONDS": "0.5"}
    setup = [["import_config", str(config)]]
    try:
        with running_gateway(folder / "data", env=env, setup=setup, seed=False, workers=2) as gw:
            yield gw, mock
    finally:
        mock.stop()


def ask(gw: Gateway, mock: MockUpstream) -> str:
    mock.queue(Reply(text="ok", input_tokens=800, cached_tokens=200, output_tokens=100))
    response = httpx.post(
        gw.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "gpt4o", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"]


def journaled_cost(gw: Gateway, request_id: str) -> Decimal:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        last_line = (gw.shell(COST_OF_LAST).strip().splitlines() or [""])[-1]
        found, _, cost = last_line.partition(" ")
        if found == request_id:
            return Decimal(cost)
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} was not journaled:\n{gw.log()}")


def test_imported_route_is_charged_the_catalog_price_then_the_refreshed_one(served, tmp_path):
    gw, mock = served
    request_id = ask(gw, mock)
    assert mock.last.body["model"] == "openai/gpt-4o"
    # bundled gpt-4o: $2.5 input, $1.25 cached input, $10 output per 1M tokens
    expected = (800 * Decimal("2.5") + 200 * Decimal("1.25") + 100 * Decimal(10)) / 10**6
    assert journaled_cost(gw, request_id) == expected

    prices = tmp_path / "model_prices_and_context_window.json"
    prices.write_text(
        json.dumps(
            {
                "gpt-4o": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": 2e-06,
                    "output_cost_per_token": 8e-06,
                    "cache_read_input_token_cost": 1e-06,
                    "max_input_tokens": 128000,
                    "max_output_tokens": 16384,
                    "supports_function_calling": True,
                    "supports_vision": True,
                }
            }
        )
    )
    out = gw.manage("update_catalog", str(prices), "--date", "2026-11-22").stdout
    assert "openai/gpt-4o: input $2.5 -> $2, output $10 -> $8, cache_read $1.25 -> $1" in out
    refreshed = (800 * Decimal(2) + 200 * Decimal(1) + 100 * Decimal(8)) / 10**6
    deadline = time.monotonic() + 40
    costs: list[Decimal] = []
    while time.monotonic() < deadline:  # three in a row, whichever worker answers
        costs.append(journaled_cost(gw, ask(gw, mock)))
        if costs[-3:] == [refreshed] * 3:
            break
    assert costs[-3:] == [refreshed] * 3, costs
