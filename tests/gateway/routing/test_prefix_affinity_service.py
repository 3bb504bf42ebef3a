"""Cache-aware routing through the service: an agent's requests (same tools, system and
first turns) reach one of a route's two equal deployments every time, while other
conversations spread over both (mock upstreams told apart by host)."""

from __future__ import annotations

from collections import Counter

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.models import Deployment, Provider, Route
from gateway.routing import routing

LONG = "Follow the repository's conventions and explain each change. " * 80  # ~1,000 tokens


@pytest.fixture
def pair(db, snapshot_reset):
    """Route "pair": two deployments, equal weights, on two mock hosts; yields the hosts
    each request reached."""
    route = Route.objects.create(name="pair", max_attempts=1)
    for host in ("a", "b"):
        provider = Provider.objects.create(
            name=f"up-{host}", kind="openai", base_url=f"http://{host}.test/v1"
        )
        provider.set_secret("sk-test-0123456789")
        provider.save()
        Deployment.objects.create(route=route, provider=provider, model="gpt-4o")
    registry.rebuild()
    routing.reset()
    hosts: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host[0])
        return httpx.Response(
            200,
            json={
                "id": "c",
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
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
            },
        )

    http.use_transport(httpx.MockTransport(upstream))
    yield hosts
    http.use_transport(None)
    routing.reset()


async def ask(system: str, *turns: str) -> None:
    messages = [{"role": "system", "content": system}]
    for index, text in enumerate(turns):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": text})
    body = orjson.dumps({"model": "pair", "messages": messages})
    reply = await service.handle("chat", "openai", body, {}, service.Caller(key=MASTER))
    assert reply.status == 200, reply.body


@pytest.mark.django_db(transaction=True)
async def test_one_agents_turns_stick_and_other_agents_spread(pair):
    hosts = pair
    history = ["fix the bug"]
    for turn in range(12):  # a growing conversation: its prefix stays the same
        await ask(LONG + "You are a coding agent.", *history)
        history += ["done", f"now step {turn}"]
    assert len(set(hosts)) == 1, hosts
    hosts.clear()
    for agent in range(200):  # 200 other system prompts: drawn by weight, as before
        await ask(LONG + f"You are agent number {agent}.", "hello")
    spread = Counter(hosts)
    assert spread["a"] > 60 and spread["b"] > 60, spread


@pytest.mark.django_db(transaction=True)
async def test_short_prompts_no_upstream_caches_are_not_steered(pair):
    hosts = pair
    for _ in range(40):
        await ask("You are a coding agent.", "fix the bug")
    assert len(set(hosts)) == 2
    assert len(routing.affinity) == 0
