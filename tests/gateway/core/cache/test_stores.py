"""The in-memory store stays within its entry and byte bounds, least recently used
first out, and forgets expired entries; the Redis store shares entries between
clients and treats an unreachable Redis as a miss."""

from __future__ import annotations

import pytest

from gateway.core.cache import stores


async def test_memory_evicts_the_least_recently_used_beyond_the_entry_bound():
    store = stores.MemoryStore(max_entries=2, max_bytes=1000)
    await store.set("a", b"1", 60)
    await store.set("b", b"2", 60)
    assert await store.get("a") == b"1"  # a is now the most recent
    await store.set("c", b"3", 60)
    assert await store.get("b") is None
    assert await store.get("a") == b"1" and await store.get("c") == b"3"
    assert len(store) == 2


async def test_memory_stays_within_its_byte_bound():
    store = stores.MemoryStore(max_entries=100, max_bytes=10)
    await store.set("a", b"12345", 60)
    await store.set("b", b"12345", 60)
    await store.set("c", b"123", 60)
    assert await store.get("a") is None and store.bytes == 8
    await store.set("huge", b"x" * 11, 60)  # larger than the whole cache: not kept
    assert await store.get("huge") is None and store.bytes == 8
    await store.set("b", b"1", 60)  # replacing an entry counts its new size only
    assert store.bytes == 4


async def test_memory_holds_about_the_bytes_it_counts():
    """A short encoded answer (orjson's output, in a 4 KiB block) is kept at its own
    size: the byte bound counts what the cache really holds."""
    import tracemalloc

    from gateway.base.types import ChatResponse, Text, Usage
    from gateway.core.cache import codec

    store = stores.MemoryStore(max_entries=10_000, max_bytes=10**9)
    answer = ChatResponse(id="r", model="m", parts=[Text("hello")], usage=Usage(1, 1))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            await store.set(f"k{i}", codec.encode(answer), 60)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 3 * store.bytes + 500_000, f"{held} bytes held for {store.bytes} counted"
    assert codec.decode(await store.get("k7") or b"") == answer


async def test_memory_entries_expire(monkeypatch: pytest.MonkeyPatch):
    now = [1000.0]
    monkeypatch.setattr(stores.time, "monotonic", lambda: now[0])
    store = stores.MemoryStore(max_entries=10, max_bytes=100)
    await store.set("a", b"1", 5)
    now[0] += 4.9
    assert await store.get("a") == b"1"
    now[0] += 0.2
    assert await store.get("a") is None and store.bytes == 0 and len(store) == 0


@pytest.mark.services
async def test_redis_entries_are_shared_and_expire(own_redis, redis_prefix):
    url = "redis://127.0.0.1:6379/13"
    client = await own_redis(url)
    name = f"{redis_prefix}:cache:t:1"  # deleted by own_redis
    one, two = stores.RedisStore(url), stores.RedisStore(url)
    await one.set(name, b"answer", 30)
    assert await two.get(name) == b"answer"
    assert 0 < await client.ttl(name) <= 30


async def test_an_unreachable_redis_is_a_miss_not_a_failure(caplog):
    store = stores.RedisStore("redis://127.0.0.1:1/0")
    await store.set("k", b"v", 30)
    assert await store.get("k") is None
    assert "Redis unavailable" in caplog.text
