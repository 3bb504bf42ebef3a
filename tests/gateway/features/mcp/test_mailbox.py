"""Answers of MCP clients handed between processes (``mailbox``): the counter
service's book holds a take until a put (or its time is up), through a real service on
a Unix socket and through Redis; and ``backchannel.route_answer`` puts an answer no
transport of this process waits for where the waiting process takes it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from gateway.base.counters import SOCKET_ENV
from gateway.features.mcp import backchannel, mailbox, sessions
from gateway.features.mcp.mailbox_book import McpMailbox
from gateway.limits import limits
from gateway.server.counter_service import CounterService
from tests.gateway.conftest import REDIS_URL


def test_the_book_holds_a_take_until_a_put() -> None:
    book = McpMailbox()
    now = time.time()
    assert book.take("s:1", now, 5) is None  # held: the service asks again later
    assert book.put("s:1", '{"id": "sy-1"}', 60) == ["ok"]
    assert book.take("s:1", now, 5) == ["ok", '{"id": "sy-1"}']
    assert book.take("s:1", now - 10, 5) == ["ok", None]  # its time is up
    assert not book.boxes


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    running = CounterService(socket_path)
    running.start()
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    limits.reset()
    mailbox._watchers.clear()
    yield running
    limits.reset()
    mailbox._watchers.clear()
    running.stop()


@pytest.fixture
async def redis_box(settings, own_redis, redis_prefix, monkeypatch):
    client = await own_redis(REDIS_URL)
    settings.REDIS_URL = REDIS_URL
    monkeypatch.setattr(mailbox, "REDIS_PREFIX", f"{redis_prefix}:limits:mcp:box")
    limits.reset()
    mailbox._redis.clear()
    yield client
    limits.reset()
    mailbox._redis.clear()


async def _round_trip() -> None:
    assert mailbox.shared()
    taking = asyncio.ensure_future(mailbox.take("sess:sy-abc"))
    await asyncio.sleep(0.2)
    assert not taking.done()  # waits for the answer
    started = time.monotonic()
    assert await mailbox.put("sess:sy-abc", {"jsonrpc": "2.0", "id": "sy-abc", "result": {}})
    assert await asyncio.wait_for(taking, 5) == {"jsonrpc": "2.0", "id": "sy-abc", "result": {}}
    assert time.monotonic() - started < 1.0


async def test_through_the_counter_service(service) -> None:
    await _round_trip()


async def test_through_redis(redis_box) -> None:
    await _round_trip()


async def test_an_answer_no_transport_here_waits_for_is_put(service) -> None:
    session = sessions.Session("sid", None, "f", "2025-06-18", {"sampling": {}}, time.time(), "t")
    body = json.dumps({"jsonrpc": "2.0", "id": "sy-feed", "result": {"ok": 1}}).encode()
    assert backchannel.answer_ids(body) == ["sy-feed"]
    assert backchannel.answer_ids(b'{"jsonrpc":"2.0","id":3,"result":{}}') is None  # not ours
    assert backchannel.answer_ids(b'{"jsonrpc":"2.0","id":"sy-1","method":"x"}') is None
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await backchannel.route_answer(session, ["sy-feed"], body, {}, None, send)
    assert sent[0]["status"] == 202
    taken = await mailbox.take("sid:sy-feed")  # what the waiting process takes
    assert taken == {"jsonrpc": "2.0", "id": "sy-feed", "result": {"ok": 1}}
