"""List changes one process hears, told to every process's streams through Redis
(``changes``): what another process announces reaches this process's
``subscriptions/listen`` streams (the official SDK's client, the gateway served on
127.0.0.1), filtered by each key's grants; what this process hears is announced; its
own announcements and an echo of a change it delivered a moment ago are not delivered
twice; a garbled announcement is ignored."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from typing import Any

import orjson
import pytest

from gateway.access import registry
from gateway.base import lifecycle
from gateway.base.entries import MASTER, KeyEntry, McpServerEntry, Snapshot
from gateway.features.mcp import changes, endpoint, pool, streams

from .test_endpoint_eras import _next, _remote, _served

WIDE = "sy-changes-wide-key"
NARROW = "sy-changes-narrow-key"  # another server only


def _key(n: int, raw: str, *allowed: str) -> tuple[str, KeyEntry]:
    entry = dataclasses.replace(
        MASTER, id=n, name=f"k{n}", prefix=raw[:8], mcp_allowed=frozenset(allowed)
    )
    return hashlib.sha256(raw.encode()).hexdigest(), entry


def _server(name: str) -> McpServerEntry:
    return McpServerEntry(
        id=len(name), name=name, transport="streamable_http", url="http://127.0.0.1:9/mcp",
        headers=(), bearer="", command="", args=(), env=(), enabled=True, connect_timeout=1,
        call_timeout=1,
    )  # fmt: skip


@pytest.fixture
async def world(settings, snapshot_reset):  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_MASTER_KEY = "sy-changes-master-key"
    registry.install(
        Snapshot(
            version=1,
            keys=dict([_key(1, WIDE, "docs"), _key(2, NARROW, "wiki")]),
            mcp_servers={"docs": _server("docs"), "wiki": _server("wiki")},
        )
    )
    changes.reset()
    yield
    changes.reset()
    await endpoint.aclose()
    await pool.aclose()


async def test_an_announcement_reaches_the_streams_that_may_see_it(world) -> None:  # type: ignore[no-untyped-def]
    wide = streams.Listener(None, registry.current().keys[_key(1, WIDE)[0]], None)
    narrow = streams.Listener(None, registry.current().keys[_key(2, NARROW)[0]], None)
    for listener in (wide, narrow):
        streams.add(listener)
    try:
        changes.arrived(orjson.dumps({"o": "elsewhere", "s": "docs", "w": "tools"}))
        assert wide.queue.get_nowait()["method"] == "notifications/tools/list_changed"
        assert narrow.queue.empty()  # it may not see "docs"
        # this process's own announcement, garbage, an unknown list: nothing
        changes.arrived(orjson.dumps({"o": changes.ORIGIN, "s": "docs", "w": "tools"}))
        changes.arrived(b"{not json")
        changes.arrived(orjson.dumps({"o": "elsewhere", "s": "docs"}))
        changes.arrived(orjson.dumps({"o": "elsewhere", "s": "docs", "w": "secrets"}))
        assert wide.queue.empty()
        # heard here: delivered at once; another process's copy a moment later is not
        changes.heard("docs", "prompts")
        assert wide.queue.get_nowait()["method"] == "notifications/prompts/list_changed"
        changes.arrived(orjson.dumps({"o": "elsewhere", "s": "docs", "w": "prompts"}))
        assert wide.queue.empty()
    finally:
        streams.forget(wide)
        streams.forget(narrow)


@pytest.mark.django_db(transaction=True)
async def test_with_redis_a_change_heard_elsewhere_reaches_a_listen_stream(  # type: ignore[no-untyped-def]
    world, settings, monkeypatch
) -> None:
    from mcp.client.subscriptions import ToolsListChanged

    from tests.gateway.conftest import REDIS_URL
    from tests.own_redis import redis_up

    if not redis_up():
        pytest.skip("Redis is not running")
    settings.REDIS_URL = REDIS_URL
    monkeypatch.setattr(changes, "CHANNEL", f"switchyard-test:mcp-changes:{uuid.uuid4().hex}")
    changes.reset()
    outside = changes.client().pubsub()  # what this process announces
    await outside.subscribe(changes.CHANNEL)
    try:
        async with (
            _served(endpoint.app) as url,
            _remote(url, WIDE) as wide,
            _remote(url, NARROW) as narrow,
            wide.listen(tools_list_changed=True) as heard_wide,
            narrow.listen(tools_list_changed=True) as heard_narrow,
        ):
            event = None
            for _ in range(50):  # the subscription is up once an announcement reaches it
                await changes.publish("docs", "tools", origin="another-instance")
                event = await _next(heard_wide, 0.2)
                if event is not None:
                    break
            assert isinstance(event, ToolsListChanged)
            assert await _next(heard_narrow, 0.3) is None  # not its server

            # heard here: announced for the others, with this process's origin
            changes.heard("wiki", "tools")
            assert isinstance(await _next(heard_narrow, 5), ToolsListChanged)
            seen: dict[str, Any] = {}
            for _ in range(50):
                message = await outside.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    seen = orjson.loads(message["data"])
                    if seen.get("s") == "wiki":
                        break
            assert seen == {"o": changes.ORIGIN, "s": "wiki", "w": "tools"}
    finally:
        await outside.aclose()
        for task in list(lifecycle._tasks):
            if task.get_name() == "mcp-list-changes":
                task.cancel()
                lifecycle._tasks.remove(task)
        await asyncio.sleep(0)
