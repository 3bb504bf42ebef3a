"""The response cache in Redis is shared: two Switchyard instances on one PostgreSQL
database and one Redis, and an answer fetched through one is a hit on the other, with
a single request at the mock upstream. Needs the local PostgreSQL and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.live import Gateway, running_gateway

from .mock_upstream import MockUpstream

pytestmark = pytest.mark.services

SETUP = """
from gateway.models import Deployment, Provider, Route
p = Provider(name="mock", kind="openai", base_url="{url}/v1")
p.set_secret("sk-mock-0123456789abcdef")
p.save()
r = Route.objects.create(name="shared", max_attempts=1, cache_ttl=300)
Deployment.objects.create(route=r, provider=p, model="up-gpt")
"""


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory,
    database_url: str,
    redis_url: str,
) -> Iterator[tuple[Gateway, Gateway, MockUpstream, str]]:
    mock = MockUpstream().start()
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    try:
        with (
            running_gateway(
                tmp_path_factory.mktemp("a"),
                env=env,
                seed=False,
                setup=[["shell", "-c", SETUP.format(url=mock.url)]],
            ) as a,
            running_gateway(tmp_path_factory.mktemp("b"), env=env, seed=False) as b,
        ):
            yield a, b, mock, redis_url
    finally:
        mock.stop()


def ask(gateway: Gateway, text: str, stream: bool = False) -> httpx.Response:
    body = {"model": "shared", "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway.master_key}"},
        json=body,
        timeout=10,
    )


def test_an_answer_cached_by_one_instance_is_a_hit_on_the_other(pair):
    a, b, mock, url = pair
    first = ask(a, "shared question")
    assert first.status_code == 200, a.log()
    assert first.headers["x-switchyard-cache"] == "miss" and len(mock.chat_requests()) == 1
    second = ask(b, "shared question")
    assert second.status_code == 200, b.log()
    assert second.headers["x-switchyard-cache"] == "hit" and len(mock.chat_requests()) == 1
    assert second.json()["choices"][0]["message"]["content"] == "Hello from the mock upstream."
    streamed = ask(b, "shared question", stream=True)
    assert streamed.headers["x-switchyard-cache"] == "hit" and len(mock.chat_requests()) == 1
    chunks = [json.loads(line[6:]) for line in streamed.text.split("\n") if line[6:7] == "{"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from the mock upstream." and streamed.text.endswith("data: [DONE]\n\n")

    import redis

    keys = redis.Redis.from_url(url).keys("switchyard:cache:shared:*")
    assert len(keys) == 1
    assert 0 < redis.Redis.from_url(url).ttl(keys[0]) <= 300


def test_identical_requests_on_both_instances_at_once_make_one_upstream_call(pair):
    """Single flight across instances: 30 identical requests, spread over both at once,
    one upstream call (the mock takes half a second); the rest are hits."""
    import asyncio

    from .mock_upstream import Reply

    a, b, mock, _ = pair
    mock.reset()
    mock.default = lambda seen: Reply(text="Shared by all.", delay=0.5)

    async def burst() -> list[httpx.Response]:
        body = {"model": "shared", "messages": [{"role": "user", "content": "asked at once"}]}
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=30)) as c:
            return await asyncio.gather(
                *(
                    c.post(
                        gw.url + "/v1/chat/completions",
                        headers={"Authorization": f"Bearer {gw.master_key}"},
                        json=body,
                    )
                    for n in range(30)
                    for gw in [(a, b)[n % 2]]
                )
            )

    try:
        replies = asyncio.run(burst())
        calls = len(mock.chat_requests())
    finally:
        mock.reset()
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert calls == 1
    assert {r.json()["choices"][0]["message"]["content"] for r in replies} == {"Shared by all."}
    states = sorted(r.headers["x-switchyard-cache"] for r in replies)
    assert states == ["hit"] * 29 + ["miss"]
