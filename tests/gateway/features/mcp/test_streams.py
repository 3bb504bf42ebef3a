"""A session's notification stream (``streams``) in process: list changes reach the
streams whose key may see the server (and, on ``/mcp/<server>``, that server only); a
bound session's notices reach its own streams; a registry change tells what changed, a
changed grant tells its listeners every list changed and they hear with the new grant;
the stream served as server-sent events with keep-alive comments, ending with its
session or when its client leaves."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest

from gateway.base.entries import MASTER, McpServerEntry, Snapshot
from gateway.features.mcp import sessions, streams


def key(key_id: int, *allowed: str):  # type: ignore[no-untyped-def]
    return dataclasses.replace(
        MASTER, id=key_id, name=f"k{key_id}", prefix=f"sy-k{key_id}", mcp_allowed=frozenset(allowed)
    )


def session(sid: str) -> sessions.Session:
    return sessions.Session(sid, 1, "f", "2025-06-18", {}, time.time(), f"token-{sid}")


def drained(listener: streams.Listener) -> list:
    out = []
    while not listener.queue.empty():
        out.append(listener.queue.get_nowait())
    return out


def server(name: str, **fields) -> McpServerEntry:  # type: ignore[no-untyped-def]
    base = McpServerEntry(
        id=1, name=name, transport="streamable_http", url="http://127.0.0.1:9/mcp", headers=(),
        bearer="", command="", args=(), env=(), enabled=True, connect_timeout=5.0, call_timeout=5.0,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


@pytest.fixture
def listeners(monkeypatch: pytest.MonkeyPatch) -> set:
    """This process's listeners, empty, without the watcher task (no session ends here)."""
    fresh: set = set()

    async def no_watch() -> None:
        return None

    monkeypatch.setattr(streams, "_listeners", fresh)
    monkeypatch.setattr(streams, "_servers", None)
    monkeypatch.setattr(streams, "_loop", streams._loop)
    monkeypatch.setattr(streams, "_watcher", None)
    monkeypatch.setattr(streams, "_watch", no_watch)
    return fresh


def test_a_change_reaches_the_streams_that_may_see_the_server(listeners) -> None:
    wide = streams.Listener(session("a"), key(1, "files", "mail"), None)
    narrow = streams.Listener(session("b"), key(2, "mail"), None)
    pinned = streams.Listener(None, key(3, "*"), "mail")  # /mcp/mail
    listeners.update({wide, narrow, pinned})
    streams.relay("files", "tools")
    assert drained(wide) == [{"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}]
    assert drained(narrow) == [] and drained(pinned) == []
    streams.relay("mail", "prompts")
    assert len(drained(wide)) == len(drained(narrow)) == len(drained(pinned)) == 1


def test_a_sessions_notices_and_end_reach_its_own_streams(listeners) -> None:
    mine, other = (
        streams.Listener(session("a"), key(1), None),
        streams.Listener(session("b"), key(1), None),
    )
    modern = streams.Listener(None, key(1), None)
    listeners.update({mine, other, modern})
    assert streams.listening() == {"a", "b"}
    notice = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "x"}}
    streams.tell("a", notice)
    streams.end("a")
    assert drained(mine) == [notice, None]
    assert drained(other) == [] and drained(modern) == []


def test_a_registry_change_tells_what_changed(listeners) -> None:
    listener = streams.Listener(None, key(1, "*"), None)
    listeners.add(listener)
    files, mail = server("files"), server("mail")
    streams._registry_changed(Snapshot(version=1, mcp_servers={"files": files, "mail": mail}))
    assert drained(listener) == []  # the first look: nothing to compare with
    changed = {
        "files": dataclasses.replace(files, enabled=False),
        "mail": mail,
        "new": server("new"),
    }
    streams._registry_changed(Snapshot(version=2, mcp_servers=changed))
    methods = [n["method"] for n in drained(listener)]
    assert (
        methods == [f"notifications/{what}/list_changed" for what in streams.LISTS] * 2
    )  # files, new
    streams._registry_changed(Snapshot(version=3, mcp_servers=changed))
    assert drained(listener) == []


def test_a_changed_grant_tells_every_list_and_hears_with_the_new_one(listeners) -> None:
    listener = streams.Listener(None, key(1, "files"), None)
    listeners.add(listener)
    streams._registry_changed(Snapshot(version=1, keys={"h": key(1, "files")}))
    assert drained(listener) == []
    streams._registry_changed(Snapshot(version=2, keys={"h": key(1, "mail")}))
    assert len(drained(listener)) == len(streams.LISTS)
    assert listener.hears("mail") and not listener.hears("files")


def test_without_a_loop_the_registry_is_only_remembered(listeners, monkeypatch) -> None:
    monkeypatch.setattr(streams, "_loop", None)
    streams.on_registry_change(Snapshot(version=1, mcp_servers={"files": server("files")}))
    assert streams._servers == {"files": server("files")}


class Client:
    """The ASGI side of one GET: what was sent, and a disconnect when ``leave`` is set."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.leave = asyncio.Event()

    async def receive(self) -> dict:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def until(condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not in time")


async def test_the_stream_carries_notices_and_ends_with_its_session(listeners, monkeypatch) -> None:
    monkeypatch.setattr(streams, "KEEPALIVE_SECONDS", 0.05)
    client = Client()
    serving = asyncio.ensure_future(
        streams.serve(session("a"), key(1, "files"), None, {}, client.receive, client.send)
    )
    await until(lambda: streams.listening() == {"a"})
    start = client.sent[0]
    assert start["status"] == 200 and (b"mcp-session-id", b"token-a") in start["headers"]
    await until(lambda: b": -\n\n" in client.body())  # a keep-alive comment
    streams.relay("files", "tools")
    await until(lambda: b"list_changed" in client.body())
    event = client.body().split(b"event: message\ndata: ")[1].split(b"\n\n")[0]
    assert json.loads(event) == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    streams.end("a")
    await asyncio.wait_for(serving, 2)
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert not listeners


async def test_the_stream_ends_when_its_client_leaves(listeners) -> None:
    client = Client()
    serving = asyncio.ensure_future(
        streams.serve(session("a"), key(1), None, {}, client.receive, client.send)
    )
    await until(lambda: bool(listeners))
    client.leave.set()
    await asyncio.wait_for(serving, 2)
    assert not listeners
