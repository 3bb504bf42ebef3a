"""A burst of 200 requests on a key whose budget covers 10 serves at most 10, whether the
requests are spread over the workers of one ``serve --workers 2`` (the counter service)
or over two instances sharing PostgreSQL and Redis. Before budgets held what requests in
flight may cost, every request of the burst passed: the spend only grew as they ended.

The route is the echo provider with a delay (the burst is in flight at once) and prices
of its own, so each request's cost is known: echo's usage counts words."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest

from tests.live import Gateway, running_gateway

from .test_two_instances import create_key, known_to

PRICE = Decimal("10")  # USD per 1M tokens, input and output
TEXT = "word " * 100
OPENAI = {"model": "budgeted", "max_tokens": 110, "messages": [{"role": "user", "content": TEXT}]}


def add_route(gateway: Gateway) -> None:
    deployment = {
        "provider": "echo",
        "model": "e",
        "params": {"first_delay": 0.3},
        "input_price": str(PRICE),
        "output_price": str(PRICE),
    }
    reply = httpx.post(
        gateway.url + "/api/routes/",
        headers={"authorization": f"Bearer {gateway.master_key}"},
        json={"name": "budgeted", "deployments": [deployment]},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text


def cost_of_one(gateway: Gateway) -> Decimal:
    """The cost of one test request, once ``gateway``'s workers all know the route."""
    usages = []

    def served() -> bool:
        reply = httpx.post(
            gateway.url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {gateway.master_key}", "connection": "close"},
            json=OPENAI,
            timeout=30,
        )
        usages.append(reply.json().get("usage") if reply.status_code == 200 else None)
        return usages[-4:] == [usages[-1]] * 4 and usages[-1] is not None

    wait_for(served)
    usage = usages[-1]
    return (usage["prompt_tokens"] + usage["completion_tokens"]) * PRICE / 10**6


def wait_for(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not true in time"
        time.sleep(0.1)


async def burst(gateways: list[Gateway], key: str, count: int) -> list[httpx.Response]:
    """``count`` requests at once, alternating instances and the OpenAI and Anthropic
    dialects, each on a connection of its own (so the kernel spreads them over workers)."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(n: int) -> httpx.Response:
            url = gateways[n % len(gateways)].url
            if (n // len(gateways)) % 2:
                return await client.post(
                    url + "/v1/messages", json=OPENAI, headers={"x-api-key": key}
                )
            return await client.post(
                url + "/v1/chat/completions",
                json=OPENAI,
                headers={"authorization": f"Bearer {key}"},
            )

        return await asyncio.gather(*(one(n) for n in range(count)))


def warnings_of(gateways: list[Gateway]) -> list[str]:
    return [line for gw in gateways for line in gw.log().splitlines() if "limits:" in line]


def check_burst(gateways: list[Gateway], key: str, cost: Decimal) -> None:
    replies = asyncio.run(burst(gateways, key, 200))
    served = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code != 200]
    assert 1 <= len(served) <= 10, (len(served), warnings_of(gateways))
    for reply in refused:
        assert reply.status_code == 429, reply.text
        body = reply.json()
        if reply.request.url.path == "/v1/messages":
            assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        else:
            assert body["error"]["code"] == "budget_exceeded"
    # One at a time, the rest of the budget: exactly 10 in all, then refused.
    more = 0
    for _ in range(12):
        reply = httpx.post(
            gateways[more % len(gateways)].url + "/v1/chat/completions",
            json=OPENAI,
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
        if reply.status_code != 200:
            assert reply.status_code == 429 and reply.json()["error"]["code"] == "budget_exceeded"
            break
        more += 1
        time.sleep(0.2)  # the cost is added just after the answer
    # Never past the budget; the last request's hold (its max_tokens) is a little more
    # than its cost, so the budget's last tenth may be refused rather than overrun
    assert len(served) + more in (9, 10), (len(served), more)


def budget_for_ten(cost: Decimal) -> Decimal:
    budget = cost * 10
    assert budget == budget.quantize(Decimal("0.0001")), cost  # keys keep 4 decimals
    return budget


def test_a_burst_on_two_workers_spends_no_more_than_the_budget(tmp_path) -> None:
    with running_gateway(tmp_path / "gw", workers=2) as gw:
        add_route(gw)
        cost = cost_of_one(gw)
        made = create_key(gw, budget_usd=str(budget_for_ten(cost)), budget_period="total")
        wait_for(lambda: all(known_to(gw, made["key"]) for _ in range(6)))
        check_burst([gw], made["key"], cost)
        assert "Traceback" not in gw.log()


@pytest.mark.services
def test_a_burst_on_two_instances_spends_no_more_than_the_budget(
    tmp_path_factory,
    database_url,
    redis_url,
) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    with (
        running_gateway(tmp_path_factory.mktemp("a"), env=env, workers=2) as a,
        running_gateway(tmp_path_factory.mktemp("b"), env=env, seed=False) as b,
    ):
        add_route(a)
        cost = cost_of_one(a)
        made = create_key(a, budget_usd=str(budget_for_ten(cost)), budget_period="total")
        wait_for(
            lambda: known_to(b, made["key"]) and all(known_to(a, made["key"]) for _ in range(6))
        )
        cost_of_one(b)  # b has the route
        check_burst([a, b], made["key"], cost)
        assert "Traceback" not in a.log() + b.log()
