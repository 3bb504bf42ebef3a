"""Self-contained MCP sessions (``gateway.features.mcp.sessions``): the token opens only unchanged,
unexpired, under this server's SECRET_KEY and with the key that opened it; an end is
shared through the database and seen by another process within ``CHECK_SECONDS``. Then
``/mcp`` in process (raw ASGI through httpx2): a session opened is reused, refused to
another key or when forged (404), ended by DELETE, and its notification stream carries
list_changed and ends with the session."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time

import httpx2
import pytest

from gateway.access import registry
from gateway.base.entries import MASTER, Snapshot
from gateway.base.secrets import crypto
from gateway.features.mcp import endpoint, pool, retention, sessions, streams
from gateway.models.mcp import McpSessionEnd

RAW = "sy-session-key-one"
OTHER = "sy-session-key-two"
MASTER_RAW = "sy-master-sessions-test"
VERSION = "2025-06-18"


def open_one(raw: str = RAW, **kw) -> sessions.Session:  # type: ignore[no-untyped-def]
    return sessions.issue(7, raw, kw.get("version", VERSION), kw.get("caps", {"roots": {}}))


def flip(token: str, at: int) -> str:
    swapped = "A" if token[at] != "A" else "B"
    return token[:at] + swapped + token[at + 1 :]


def test_a_token_carries_the_session():
    made = open_one(caps={"roots": {"listChanged": True}, "sampling": {}})
    read = sessions.read(made.token, RAW)
    assert read == made
    assert read.key_id == 7 and read.protocol_version == VERSION
    assert read.capabilities == {"roots": {"listChanged": True}, "sampling": {}}
    assert abs(read.created - time.time()) < 5
    assert RAW not in made.token and sessions.fingerprint(RAW) not in made.token
    assert all(0x21 <= ord(c) <= 0x7E for c in made.token), "a valid Mcp-Session-Id"
    assert open_one().id != made.id


def test_a_changed_token_opens_nothing():
    token = open_one().token
    for at in (0, 10, len(token) // 2, len(token) - 5):
        assert sessions.read(flip(token, at), RAW) is None
    assert sessions.read(token[:-4], RAW) is None
    assert sessions.read("made-up", RAW) is None
    assert sessions.read("", RAW) is None
    assert sessions.read("é" * 10, RAW) is None


def test_another_keys_session_is_unknown():
    assert sessions.read(open_one().token, OTHER) is None


def test_an_expired_session_is_unknown(monkeypatch):
    monkeypatch.setenv("SWITCHYARD_MCP_SESSION_SECONDS", "60")
    payload = {
        "f": 1,
        "s": "ab" * 12,
        "k": 7,
        "h": sessions.fingerprint(RAW),
        "v": VERSION,
        "c": {},
    }
    sealer = crypto.sealer(sessions.PURPOSE)
    old = sealer.encrypt_at_time(json.dumps(payload).encode(), int(time.time()) - 61).decode()
    fresh = sealer.encrypt_at_time(json.dumps(payload).encode(), int(time.time()) - 30).decode()
    assert sessions.read(old, RAW) is None
    assert sessions.read(fresh, RAW) is not None


def test_only_this_servers_secret_key_opens_it(settings):
    token = open_one().token
    settings.SECRET_KEY = "another-server-altogether-" + "x" * 30
    assert sessions.read(token, RAW) is None


def test_a_rotated_secret_key_still_opens_it(settings):
    old = settings.SECRET_KEY
    token = open_one().token
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-new-key-" + "y" * 40, [old]
    assert sessions.read(token, RAW) is not None


def test_other_tokens_of_the_gateway_are_no_sessions():
    payload = {
        "f": 1,
        "s": "cd" * 12,
        "k": 7,
        "h": sessions.fingerprint(RAW),
        "v": VERSION,
        "c": {},
    }
    other = crypto.sealer("something-else").encrypt(json.dumps(payload).encode()).decode()
    assert sessions.read(other, RAW) is None
    assert sessions.read(crypto.encrypt(json.dumps(payload)).removeprefix("fernet:"), RAW) is None


def test_the_version_is_the_negotiated_one_and_capabilities_are_bounded():
    assert open_one(version="1999-01-01").protocol_version == sessions.negotiate(None)
    huge = {"experimental": {"x": "y" * 5000}, "roots": {"listChanged": True}}
    assert open_one(caps=huge).capabilities == {"experimental": {}, "roots": {}}
    assert open_one(caps="nonsense").capabilities == {}


def test_sessions_setting(monkeypatch):
    for value, on in (("auto", True), ("on", True), ("off", False), ("0", False), ("", True)):
        monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", value)
        assert sessions.enabled() is on


# --- ending, through the shared database -------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_an_end_is_seen_by_every_process(fresh_memory, monkeypatch):
    one, two = open_one(), open_one()
    assert not await sessions.ended(one)
    await sessions.end(one)
    assert await sessions.ended(one)
    sessions.forget()  # another process: nothing in memory, the database says
    assert await sessions.ended_among([one, two]) == {one.id}

    # a process that looked a moment ago trusts that look for CHECK_SECONDS
    await asyncio.to_thread(
        lambda: McpSessionEnd.objects.create(session=two.id, expires_at=_later())
    )
    assert not await sessions.ended(two)
    monkeypatch.setattr(sessions, "CHECK_SECONDS", 0.0)
    assert await sessions.ended(two)


class _Store:
    """The counter service's MCP book behind ``ask``, as ``limits.shared_backend`` is."""

    def __init__(self) -> None:
        from gateway.features.mcp.mailbox_book import McpMailbox

        self.book = McpMailbox()
        self.asked = 0

    async def ask(self, op: str, *args):  # type: ignore[no-untyped-def]
        self.asked += 1
        if op == "mcp_end":
            return self.book.end(*args)
        assert op == "mcp_ended"
        return self.book.ended_among(*args)


@pytest.mark.django_db(transaction=True)
async def test_an_end_holds_on_every_process_from_the_next_request(fresh_memory, monkeypatch):
    """The shared store's tombstone is asked on every request: a process that saw the
    session live a moment ago refuses it right after another process ended it (before,
    it trusted its look for CHECK_SECONDS and served it)."""
    from gateway.limits import limits

    store = _Store()
    monkeypatch.setattr(limits, "shared_backend", lambda: store)
    one, two = open_one(), open_one()
    assert await sessions.ended_among([one, two]) == set()  # this process: both live
    asked = store.asked

    # another process ends ``one``: its tombstone, and the row, but not this memory
    saved = dict(sessions._ended)
    await sessions.end(one)
    sessions._ended.clear()
    sessions._ended.update(saved)
    assert sessions._not_ended  # the database's "live" is still trusted here
    assert await sessions.ended_among([one, two]) == {one.id}
    assert store.asked == asked + 2  # one round trip for the end, one for the check
    assert not await sessions.ended(two)

    # the store away: the database still decides (within CHECK_SECONDS)
    async def away(*args):  # type: ignore[no-untyped-def]
        raise ConnectionError("store down")

    monkeypatch.setattr(store, "ask", away)
    sessions.forget()
    assert await sessions.ended_among([one, two]) == {one.id}


def _later():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
async def test_ends_are_pruned_once_expired(fresh_memory):
    from datetime import UTC, datetime, timedelta

    def seed() -> None:
        past = datetime.now(UTC) - timedelta(seconds=1)
        McpSessionEnd.objects.create(session="a" * 24, expires_at=past)
        McpSessionEnd.objects.create(session="b" * 24, expires_at=_later())

    await asyncio.to_thread(seed)
    assert await asyncio.to_thread(retention.prune_ended_sessions, 10) == 1
    left = await asyncio.to_thread(
        lambda: list(McpSessionEnd.objects.values_list("session", flat=True))
    )
    assert left == ["b" * 24]


def test_the_pruning_round_asks_for_ended_sessions():
    from gateway.base import hooks

    assert retention.prune_ended_sessions in list(hooks.pruners)


# --- /mcp in process -------------------------------------------------------------------------
def http(app, key: str = RAW) -> httpx2.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"},
        timeout=20,
    )


def answer(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and '"id"' in line:
                return json.loads(line[5:])
        raise AssertionError(response.text)
    return response.json()


async def initialize(client: httpx2.AsyncClient, version: str = VERSION) -> str:
    init = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {"roots": {}},
                   "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    opened = await client.post("/mcp", json=init)
    assert answer(opened)["result"]["protocolVersion"] == version
    return opened.headers["mcp-session-id"]


def listing(session: str, version: str | None = VERSION) -> dict:  # type: ignore[no-untyped-def]
    headers = {"mcp-session-id": session}
    if version:
        headers["mcp-protocol-version"] = version
    return {"json": {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, "headers": headers}


@pytest.mark.django_db(transaction=True)
async def test_a_session_is_served_checked_and_ended(app):
    async with http(app) as client, http(app, OTHER) as other:
        session = await initialize(client)
        assert sessions.read(session, RAW) is not None
        served = await client.post("/mcp", **listing(session))
        assert answer(served)["result"]["tools"] == []
        assert served.headers["mcp-session-id"] == session

        # another key, a forged id, a changed id: as if it did not exist
        assert (await other.post("/mcp", **listing(session))).status_code == 404
        assert (await client.post("/mcp", **listing("forged"))).status_code == 404
        assert (await client.post("/mcp", **listing(flip(session, 20)))).status_code == 404
        # a request that is no initialize is served without a session; GET needs one
        assert (await client.post("/mcp", **listing("x") | {"headers": {}})).status_code == 200
        assert (await client.get("/mcp")).status_code == 400

        assert (await other.delete("/mcp", headers={"mcp-session-id": session})).status_code == 404
        assert (await client.delete("/mcp", headers={"mcp-session-id": session})).status_code == 200
        assert (await client.post("/mcp", **listing(session))).status_code == 404
        sessions.forget()  # another worker, which never saw the DELETE
        assert (await client.post("/mcp", **listing(session))).status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_an_old_client_is_served_at_its_sessions_version(app):
    """A 2025-03-26 client sends no MCP-Protocol-Version: the session says it."""
    async with http(app) as client:
        session = await initialize(client, "2025-03-26")
        assert sessions.read(session, RAW).protocol_version == "2025-03-26"
        assert answer(await client.post("/mcp", **listing(session, None)))["result"]["tools"] == []


async def test_sessions_off_issue_none(app, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", "off")
    async with http(app) as client:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": VERSION, "capabilities": {},
                           "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
        opened = await client.post("/mcp", json=init)
        assert opened.status_code == 200 and "mcp-session-id" not in opened.headers


class Stream:
    """A GET's ASGI side, every message seen as sent."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.body = asyncio.Event()
        self.disconnect = asyncio.Event()

    async def send(self, message: dict) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body":
            self.body.set()

    async def receive(self) -> dict:
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    def text(self) -> str:
        return b"".join(m.get("body", b"") for m in self.messages[1:]).decode()


def get_scope(session: str, key: str = RAW) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/mcp", "raw_path": b"/mcp", "query_string": b"",
        "root_path": "", "server": ("gateway", 80), "client": ("127.0.0.1", 5000),
        "headers": [
            (b"host", b"gateway"), (b"authorization", f"Bearer {key}".encode()),
            (b"accept", b"text/event-stream"), (b"mcp-session-id", session.encode()),
        ],
    }  # fmt: skip


async def until(predicate) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(5):
        while not predicate():  # noqa: ASYNC110 - polling what the app sent
            await asyncio.sleep(0.02)


@pytest.mark.django_db(transaction=True)
async def test_the_notification_stream_relays_and_ends_with_the_session(app):
    async with http(app) as client:
        session = await initialize(client)
    stream = Stream()
    serving = asyncio.create_task(endpoint.app(get_scope(session), stream.receive, stream.send))
    try:
        await until(lambda: stream.body.is_set())
        start = stream.messages[0]
        assert start["status"] == 200
        assert dict(start["headers"])[b"mcp-session-id"] == session.encode()
        streams.relay("files", "tools")  # what the pool hears from a server
        await until(lambda: "tools/list_changed" in stream.text())
        assert (
            'data: {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}'
            in stream.text()
        )

        # ended by another worker: the stream ends within a watch
        await asyncio.to_thread(
            lambda: McpSessionEnd.objects.create(
                session=sessions.read(session, RAW).id, expires_at=_later()
            )
        )
        await asyncio.wait_for(serving, streams.WATCH_SECONDS + sessions.CHECK_SECONDS + 3)
        last = stream.messages[-1]
        assert last["type"] == "http.response.body" and not last.get("more_body")
    finally:
        stream.disconnect.set()
        serving.cancel()


@pytest.mark.django_db(transaction=True)
async def test_a_key_hears_only_the_servers_it_may_see(app):
    narrow = {
        hashlib.sha256(RAW.encode()).hexdigest(): dataclasses.replace(
            MASTER, id=1, name="k1", prefix="sy-sessi", mcp_allowed=frozenset(["files"])
        )
    }
    registry.install(Snapshot(version=2, keys=narrow))
    async with http(app) as client:
        session = await initialize(client)
    stream = Stream()
    serving = asyncio.create_task(endpoint.app(get_scope(session), stream.receive, stream.send))
    try:
        await until(lambda: stream.body.is_set())
        streams.relay("secret", "tools")
        streams.relay("files", "prompts")
        await until(lambda: "list_changed" in stream.text())
        assert "prompts/list_changed" in stream.text() and "tools" not in stream.text()
        stream.disconnect.set()  # the client leaves: the stream ends
        await asyncio.wait_for(serving, 5)
    finally:
        serving.cancel()


@pytest.mark.django_db(transaction=True)
async def test_a_server_added_or_removed_reaches_the_streams(app):
    from .test_pool import entry

    async with http(app) as client:
        session = await initialize(client)
    stream = Stream()
    serving = asyncio.create_task(endpoint.app(get_scope(session), stream.receive, stream.send))
    try:
        await until(lambda: stream.body.is_set())
        before = registry.current()
        registry.install(dataclasses.replace(before, version=3, mcp_servers={"new": entry("new")}))
        await until(lambda: "resources/list_changed" in stream.text())
        assert "tools/list_changed" in stream.text() and "prompts/list_changed" in stream.text()
        stream.disconnect.set()
        await asyncio.wait_for(serving, 5)
    finally:
        serving.cancel()


async def test_the_pool_tells_what_a_server_says_changed(monkeypatch):
    import mcp_types as types

    from .test_pool import entry

    heard: list[tuple[str, str]] = []
    monkeypatch.setattr(pool, "_list_watchers", [lambda server, what: heard.append((server, what))])
    conn = pool._Connection(entry("files"))
    try:
        conn.tools = []
        await conn._notice(types.ToolListChangedNotification())
        assert conn.tools is None, "the cached tool list is dropped"
        await conn._notice(types.PromptListChangedNotification())
        await conn._notice(types.ResourceListChangedNotification())
        await conn._notice(
            types.LoggingMessageNotification(
                params=types.LoggingMessageNotificationParams(level="info", data="x")
            )
        )
        assert heard == [("files", "tools"), ("files", "prompts"), ("files", "resources")]
    finally:
        await conn.close()
