"""Single flight on a cached route: identical requests that arrive together make one
upstream call, the others are served its answer (journaled as hits); when the leader
has no answer to keep, the others are released at once and call on their own."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import orjson
import pytest

from gateway.core import cache
from gateway.core.cache import flights
from tests.gateway.core.cache.test_service_cache import ANSWER, ask, sse


class SlowUpstream:
    """Answers after ``delay`` seconds; counts calls; fails the first ``failures``."""

    def __init__(self, delay: float = 0.2, failures: int = 0) -> None:
        self.delay, self.failures, self.calls = delay, failures, 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        failing = self.calls <= self.failures
        await asyncio.sleep(self.delay)
        if failing:
            return httpx.Response(400, json={"error": {"message": "no such thing"}})
        if orjson.loads(request.content).get("stream"):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=sse(ANSWER)
            )
        return httpx.Response(200, json=ANSWER)


@pytest.fixture
def slow(gateway):
    from gateway.base import http

    _, recorded = gateway
    upstream = SlowUpstream()
    http.use_transport(httpx.MockTransport(upstream))
    yield upstream, recorded
    assert flights.under_way() == 0, "a flight outlived its requests"


def text_of(raw: bytes) -> str:
    if raw.startswith(b"data:"):
        events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line[6:7] == b"{"]
        return "".join(
            e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]
        ).strip()
    body = orjson.loads(raw)
    if "content" in body and isinstance(body["content"], list):  # Anthropic
        return body["content"][0]["text"]
    return body["choices"][0]["message"]["content"]


async def test_thirty_identical_requests_make_one_upstream_call(slow):
    upstream, recorded = slow
    replies = await asyncio.gather(*(ask() for _ in range(30)))
    assert upstream.calls == 1
    assert all(status == 200 for status, _, _ in replies)
    assert {text_of(raw) for _, _, raw in replies} == {"Paris is the capital."}
    states = sorted(headers[b"x-switchyard-cache"] for _, headers, _ in replies)
    assert states == [b"hit"] * 29 + [b"miss"]
    assert len(recorded) == 30 and sum(r.cache_hit for r in recorded) == 29
    assert all(r.status == 200 for r in recorded)


async def test_followers_get_the_answer_in_their_own_dialect_and_delivery(slow):
    upstream, _ = slow
    replies = await asyncio.gather(
        ask(),
        ask(stream=True),
        ask(dialect="anthropic", max_tokens=100),  # the cache key's max_tokens must match
        ask(dialect="anthropic", max_tokens=100, stream=True),
        ask(max_tokens=100),
    )
    # two keys (max_tokens is part of it): one call each, not five
    assert upstream.calls == 2
    assert all(status == 200 for status, _, _ in replies)
    assert {text_of(raw) for _, _, raw in replies if not raw.startswith(b"event:")} == {
        "Paris is the capital."
    }


async def test_a_failed_leader_releases_its_followers_who_call_on_their_own(slow):
    upstream, recorded = slow
    upstream.failures = 1
    # (followers that were not released would wait the full minute)
    replies = await asyncio.wait_for(asyncio.gather(*(ask() for _ in range(5))), 10)
    statuses = sorted(status for status, _, _ in replies)
    assert statuses == [200, 200, 200, 200, 400]
    # the leader's 400 is its own: the others called (at once, not one after another)
    assert upstream.calls == 5
    assert not any(r.cache_hit for r in recorded)


async def test_a_leader_whose_client_leaves_releases_its_followers(slow):
    upstream, recorded = slow
    leader = asyncio.create_task(ask())
    await asyncio.sleep(0.05)  # the leader is calling the upstream
    followers = [asyncio.create_task(ask()) for _ in range(3)]
    await asyncio.sleep(0.05)
    leader.cancel()
    replies = await asyncio.wait_for(asyncio.gather(*followers), 10)
    assert [status for status, _, _ in replies] == [200] * 3
    assert upstream.calls <= 4  # they did not wait for an answer that never comes
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_followers_wait_no_longer_than_the_bound(slow, settings):
    upstream, _ = slow
    upstream.delay = 0.5
    settings.SWITCHYARD_CACHE_FLIGHT_WAIT_SECONDS = 0.1
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.create_task(ask())
    await asyncio.sleep(0.02)
    second = await ask()
    assert second[0] == 200 and upstream.calls == 2  # gave up waiting, called itself
    assert loop.time() - started < 0.9  # did not wait for the leader, then call after
    await first


async def test_no_single_flight_when_the_wait_is_zero(slow, settings):
    upstream, _ = slow
    settings.SWITCHYARD_CACHE_FLIGHT_WAIT_SECONDS = 0
    await asyncio.gather(*(ask() for _ in range(3)))
    assert upstream.calls == 3


async def test_no_cache_requests_neither_lead_nor_follow(slow):
    upstream, _ = slow
    await asyncio.gather(*(ask(headers={"cache-control": "no-cache"}) for _ in range(3)))
    assert upstream.calls == 3


# --- the lock and the wait in Redis (several instances) ------------------------------------

REDIS_URL = "redis://127.0.0.1:6379/13"
SF = f"sy-test-{uuid.uuid4().hex[:12]}:sf"  # a key no other test run uses


@pytest.fixture
async def redis_store(own_redis):
    client = await own_redis(REDIS_URL)
    yield cache.RedisStore(REDIS_URL), client
    await client.delete(SF, f"{SF}:lead")


async def test_redis_elects_one_leader_and_others_get_its_answer(redis_store):
    store, client = redis_store
    assert await store.lead(SF, "a", 5)
    assert not await store.lead(SF, "b", 5)
    waiting = asyncio.create_task(store.await_answer(SF, 5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await store.set(SF, b"answer", 60)
    await store.release(SF, "a")
    assert await waiting == b"answer"
    assert not await client.exists(f"{SF}:lead")


async def test_redis_waiters_go_on_their_own_when_the_leader_lets_go(redis_store):
    store, client = redis_store
    assert await store.lead(SF, "a", 5)
    waiting = asyncio.create_task(store.await_answer(SF, 5))
    await store.release(SF, "someone else")  # not its lock: kept
    assert await client.exists(f"{SF}:lead")
    await store.release(SF, "a")
    assert await asyncio.wait_for(waiting, 1) is None


async def test_redis_lock_expires_and_waiters_are_bounded(redis_store):
    store, _ = redis_store
    assert await store.lead(SF, "a", 0.2)  # its instance died holding it
    assert await store.await_answer(SF, 0.1) is None  # bounded wait
    await asyncio.sleep(0.15)
    assert await store.lead(SF, "b", 5)  # expired: another may lead


async def test_unreachable_redis_lets_everyone_call():
    store = cache.RedisStore("redis://127.0.0.1:1/0")
    assert await store.lead("k", "a", 5)
    assert await store.await_answer("k", 5) is None
    await store.release("k", "a")


async def test_a_leader_cancelled_while_waiting_on_another_instance_lets_go(redis_store):
    """A process's leader that waits for another instance's answer and whose client
    leaves meanwhile must not leave this process's followers waiting on it."""
    store, _ = redis_store
    assert await store.lead(SF, "elsewhere", 5)  # another instance leads
    ticket = cache.Ticket(SF, 60)
    original, cache._store = cache._store, store
    try:
        waiting = asyncio.create_task(cache._single_flight(ticket))
        await asyncio.sleep(0.05)
        assert flights.joinable(SF) is not None
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert flights.joinable(SF) is None
    finally:
        cache._store = original
