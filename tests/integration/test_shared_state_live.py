"""Several processes as one (issue #40), through real servers and a mock upstream:

- ``serve --workers 2``: a route's retry budget is one allowance for the server (the
  counter service), not one per worker, and a deployment answering 500 (or cutting
  every stream) is skipped by both workers after 3 failed requests in all;
- two instances of ``serve --workers 2`` sharing one Redis (and one PostgreSQL): the
  same, for the four workers of both.

Before: 32 requests to a lone failing deployment made 72-77 upstream calls across 4
workers (each worker its own allowance of 10 a minute); a deployment answering 500 was
tried 5 times before every worker skipped it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

from .mock_upstream import MockUpstream, Reply, Seen

SECRET = "sk-shared-state-upstream-0123456789"
LONG = "An answer the cutting upstream never finishes. " * 4
REQUESTS = 32
# one budget: every request once, plus the allowance (10 a minute) and 20 % of the
# requests; a test straddling a minute may get a retry or two more as the old one slides
ONE_BUDGET = REQUESTS + 10 + int(0.2 * REQUESTS) + 2  # 50; one per worker: 58 with two


def setup_code(mock_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

p = Provider(name="mock-openai", kind="openai", base_url="{mock_url}/v1")
p.set_secret("{SECRET}")
p.save()

def route(name, *models, **fields):
    r = Route.objects.create(name=name, **fields)
    for model in models:
        Deployment.objects.create(route=r, provider=p, model=model)

route("down", "up-down")
route("half-broken", "up-500", "up-good")
route("cutting", "up-cut", "up-good")
"""


def behaviour(seen: Seen) -> Reply:
    model = (seen.body or {}).get("model")
    if model in ("up-down", "up-500"):
        return Reply.failure(500, {"error": {"message": "upstream broke", "type": "server_error"}})
    if model == "up-cut":
        return Reply(text=LONG, cut_after=3)  # a few events, then the connection drops
    return Reply(text=LONG)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    server = MockUpstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh(mock: MockUpstream) -> Iterator[None]:
    mock.reset()
    mock.default = behaviour
    yield
    mock.reset()


def by_model(mock: MockUpstream) -> Counter[str]:
    return Counter(s.body["model"] for s in mock.chat_requests())


def post(gateway: Gateway, model: str) -> httpx.Response:
    # a new connection each: the kernel spreads them over the workers
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {MASTER_KEY}", "connection": "close"},
        timeout=10,
    )


def check_cooldown(gateways: list[Gateway], mock: MockUpstream) -> None:
    for n in range(24):
        reply = post(gateways[n % len(gateways)], "half-broken")
        assert reply.status_code == 200, reply.text
        time.sleep(0.01)
    served = by_model(mock)
    assert served["up-500"] <= 3, served  # before: 5 (each worker learned late)
    assert served["up-500"] >= 1 and served["up-good"] == 24, served


def check_cut_streams(gateways: list[Gateway], mock: MockUpstream) -> None:
    for n in range(24):
        body = {"model": "cutting", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream(
            "POST",
            gateways[n % len(gateways)].url + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {MASTER_KEY}", "connection": "close"},
            timeout=10,
        ) as reply:
            assert reply.status_code == 200
            reply.read()
        time.sleep(0.01)
    served = by_model(mock)
    assert served["up-cut"] <= 3, served  # before: up to 7 cut streams
    assert served["up-cut"] + served["up-good"] == 24, served


def check_budget(gateways: list[Gateway], mock: MockUpstream) -> None:
    for n in range(REQUESTS):
        reply = post(gateways[n % len(gateways)], "down")
        assert reply.status_code == 502, reply.text
    calls = by_model(mock)["up-down"]
    assert REQUESTS < calls <= ONE_BUDGET, calls


def test_two_workers_share_one_retry_budget_and_one_cooldown(tmp_path_factory, mock) -> None:
    with running_gateway(
        tmp_path_factory.mktemp("shared-workers"),
        env={"SWITCHYARD_RETRY_BASE_SECONDS": "0.01"},
        setup=[["shell", "-c", setup_code(mock.url)]],
        seed=False,
        workers=2,
    ) as gw:
        check_cooldown([gw], mock)
        mock.reset()
        mock.default = behaviour
        check_cut_streams([gw], mock)
        mock.reset()
        mock.default = behaviour
        check_budget([gw], mock)
        assert "Traceback" not in gw.log()


@pytest.mark.services
def test_two_instances_share_them_through_redis(
    tmp_path_factory,
    mock,
    redis_url,  # a Redis database of this run's own
    database_url,  # a migrated PostgreSQL database of this module's own
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SWITCHYARD_RETRY_BASE_SECONDS": "0.01",
    }
    with (
        running_gateway(
            tmp_path_factory.mktemp("shared-a"),
            env=env,
            setup=[["shell", "-c", setup_code(mock.url)]],
            seed=False,
            workers=2,
        ) as a,
        running_gateway(tmp_path_factory.mktemp("shared-b"), env=env, seed=False, workers=2) as b,
    ):
        check_cooldown([a, b], mock)
        mock.reset()
        mock.default = behaviour
        check_cut_streams([a, b], mock)
        mock.reset()
        mock.default = behaviour
        check_budget([a, b], mock)
        assert "Traceback" not in a.log() + b.log()
