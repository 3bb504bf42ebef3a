"""Both protocol eras on both sides of ``/mcp``, with the official SDK only: a
2026-07-28 client (``mode="auto"``, which negotiates the new revision against the
gateway) and a 2025-11-25 client (``mode="legacy"``: the initialize handshake and a
session) on the same ``/mcp`` at once, against two upstream servers written with the
SDK, one serving 2026-07-28 (and the handshake) and one of the handshake era only.

Held here: the pool reaches each upstream in its own era (the new headers and
``_meta`` reach the modern one, the handshake the old one); ``server/discover``
aggregates what the servers the key may reach offer; a 2026-07-28 request's
``_meta`` names its client in the journal; ``x-mcp-header`` arguments travel as
``Mcp-Param-*`` headers from the client to the gateway (checked against the body:
-32020 on a mismatch) and from the gateway to the server; a server's ``ttlMs``
shortens the gateway's."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.jsonrpc import HEADER_MISMATCH

from gateway.access import registry
from gateway.base.entries import MASTER, KeyEntry, McpServerEntry, Snapshot
from gateway.features.mcp import endpoint, pool
from tests.live import free_port
from tests.mcp_test_server import HANDSHAKE_ERA, TOOLS_TTL_MS, running_mcp_server

MODERN = "2026-07-28"
WIDE = "sy-eras-wide-key"  # every server
NARROW = "sy-eras-narrow-key"  # one tool of the handshake-era server

Seen = list[tuple[str, dict[str, str]]]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[str, Seen, str, Seen]]:
    new_seen: Seen = []
    old_seen: Seen = []
    with ExitStack() as stack:
        new = stack.enter_context(running_mcp_server(seen=new_seen, full=True))
        old = stack.enter_context(running_mcp_server(era=HANDSHAKE_ERA, seen=old_seen))
        yield new, new_seen, old, old_seen


def _server(name: str, url: str) -> McpServerEntry:
    return McpServerEntry(
        id=len(name), name=name, transport="streamable_http", url=url, headers=(),
        bearer="", command="", args=(), env=(), enabled=True, connect_timeout=10,
        call_timeout=10,
    )  # fmt: skip


def _key(n: int, raw: str, *allowed: str) -> tuple[str, KeyEntry]:
    entry = dataclasses.replace(
        MASTER, id=n, name=f"k{n}", prefix=raw[:8], mcp_allowed=frozenset(allowed)
    )
    return hashlib.sha256(raw.encode()).hexdigest(), entry


@pytest.fixture
async def gateway(upstreams, monkeypatch, settings, snapshot_reset):  # type: ignore[no-untyped-def]
    new, new_seen, old, old_seen = upstreams
    settings.SWITCHYARD_MASTER_KEY = "sy-eras-master-key"
    monkeypatch.setenv("SWITCHYARD_MCP_SESSIONS", "auto")
    registry.install(
        Snapshot(
            version=1,
            keys=dict([_key(1, WIDE, "*"), _key(2, NARROW, "old__add")]),
            mcp_servers={"new": _server("new", new), "old": _server("old", old)},
        )
    )
    new_seen.clear()
    old_seen.clear()
    yield endpoint.app, new_seen, old_seen
    await endpoint.aclose()
    await pool.aclose()


def _http(app: Any, key: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def _client(app: Any, key: str, mode: str) -> Client:
    return Client(
        streamable_http_client("http://gateway/mcp", http_client=_http(app, key)), mode=mode
    )


@pytest.mark.django_db(transaction=True)
async def test_both_eras_of_clients_at_once_against_both_eras_of_servers(gateway):  # type: ignore[no-untyped-def]
    app, new_seen, old_seen = gateway

    async def use(mode: str) -> tuple[str, set[str], str, str]:
        async with _client(app, WIDE, mode) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            via_new = await client.call_tool("new__add", {"a": 2, "b": 3})
            via_old = await client.call_tool("old__add", {"a": 20, "b": 22})
            return (
                client.protocol_version,
                names,
                via_new.content[0].text,  # type: ignore[union-attr]
                via_old.content[0].text,  # type: ignore[union-attr]
            )

    modern, legacy = await asyncio.gather(use("auto"), use("legacy"))
    assert modern[0] == MODERN and legacy[0] == HANDSHAKE_ERA
    for _, names, five, forty_two in (modern, legacy):
        assert {"new__add", "new__forecast", "old__add", "old__nap"} <= names
        assert "old__forecast" not in names
        assert (five, forty_two) == ("5", "42")

    # the pool speaks to each server in its era
    assert pool.era("new") == MODERN and pool.era("old") == HANDSHAKE_ERA
    calls_new = [h for m, h in new_seen if m == "tools/call"]
    assert calls_new and all(h.get("mcp-method") == "tools/call" for h in calls_new)
    assert all(h.get("mcp-name") == "add" for h in calls_new)
    assert all(h.get("mcp-protocol-version") == MODERN for h in calls_new)
    assert not any(m == "initialize" for m, _ in new_seen)
    methods_old = [m for m, _ in old_seen]
    assert "initialize" in methods_old and "tools/call" in methods_old
    calls_old = [h for m, h in old_seen if m == "tools/call"]
    assert all("mcp-session-id" in h and "mcp-method" not in h for h in calls_old)


@pytest.mark.django_db(transaction=True)
async def test_server_discover_aggregates_what_the_key_may_reach(gateway):  # type: ignore[no-untyped-def]
    app, _, _ = gateway
    async with _client(app, WIDE, "auto") as wide, _client(app, NARROW, "auto") as narrow:
        assert wide.protocol_version == narrow.protocol_version == MODERN
        everything = wide.server_capabilities
        only_old = narrow.server_capabilities
        names = {tool.name for tool in (await narrow.list_tools()).tools}
    # every server offers prompts and resources (and the SDK declares them); a key with
    # one tool's grant reaches neither
    assert everything.tools is not None and everything.prompts is not None
    assert everything.resources is not None
    assert only_old.tools is not None
    assert only_old.prompts is None and only_old.resources is None
    assert everything.logging is None  # removed in 2026-07-28
    assert names == {"old__add"}

    # the 2025-11-25 handshake still declares what the gateway serves
    async with _client(app, NARROW, "legacy") as legacy:
        assert legacy.server_capabilities.tools is not None


@pytest.mark.django_db(transaction=True)
async def test_promoted_arguments_travel_as_headers_both_ways(gateway):  # type: ignore[no-untyped-def]
    app, new_seen, _ = gateway
    async with _client(app, WIDE, "auto") as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        schema = listed["new__forecast"].input_schema
        assert schema["properties"]["region"]["x-mcp-header"] == "Region"
        result = await client.call_tool("new__forecast", {"region": "alps", "days": 2})
    assert result.content[0].text == "sunny in alps for 2 day(s)"  # type: ignore[union-attr]
    upstream = [h for m, h in new_seen if m == "tools/call" and h.get("mcp-name") == "forecast"]
    assert upstream and upstream[-1]["mcp-param-region"] == "alps"

    # a header that says another region than the body: refused before any call
    before = len(new_seen)
    body = {
        "jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {
            "name": "new__forecast", "arguments": {"region": "alps"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
            },
        },
    }  # fmt: skip
    headers = {
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "new__forecast",
        "mcp-param-region": "sahara",
        "accept": "application/json, text/event-stream",
    }
    async with _http(app, WIDE) as raw:
        refused = await raw.post("/mcp", json=body, headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == HEADER_MISMATCH
    assert not [m for m, _ in new_seen[before:] if m == "tools/call"]


@pytest.mark.django_db(transaction=True)
async def test_the_client_a_modern_request_names_is_journaled(gateway, monkeypatch):  # type: ignore[no-untyped-def]
    from gateway import journal

    rows: list[Any] = []
    monkeypatch.setattr(journal, "record", rows.append)
    app, _, _ = gateway
    from mcp_types import Implementation

    http = _http(app, WIDE)
    info = Implementation(name="era-probe", version="9.1")
    async with Client(
        streamable_http_client("http://gateway/mcp", http_client=http), client_info=info
    ) as client:
        await client.call_tool("new__add", {"a": 1, "b": 1})
    assert rows and rows[-1].user_agent.startswith("era-probe/9.1")


@pytest.mark.django_db(transaction=True)
async def test_a_servers_ttl_shortens_the_gateways(gateway):  # type: ignore[no-untyped-def]
    """The modern server says its tool list is fresh for 4 s: the gateway's list says so
    (never longer than its own reuse), and the pool reuses the server's list no longer."""
    app, new_seen, _ = gateway
    async with _client(app, WIDE, "auto") as client:
        listed = await client.list_tools()
        assert listed.ttl_ms == TOOLS_TTL_MS < pool.TOOLS_TTL * 1000
        assert listed.cache_scope == "private"
        asked = sum(1 for m, _ in new_seen if m == "tools/list")
        await client.list_tools(cache_mode="bypass")  # reused by the pool
        assert sum(1 for m, _ in new_seen if m == "tools/list") == asked
        pool._connections["new"].tools_at -= TOOLS_TTL_MS / 1000  # 4 s later
        await client.list_tools(cache_mode="bypass")
        assert sum(1 for m, _ in new_seen if m == "tools/list") == asked + 1

    async with _client(app, NARROW, "auto") as narrow:  # the old server says nothing
        assert (await narrow.list_tools()).ttl_ms == int(pool.TOOLS_TTL * 1000)


@contextlib.asynccontextmanager
async def _served(app: Any) -> AsyncIterator[str]:
    """``app`` on 127.0.0.1 in this event loop (a listen stream needs real streaming,
    which the in-process ASGI transport does not do)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)


def _remote(url: str, key: str, mode: str = "auto", **callbacks: Any) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), mode=mode, **callbacks)


async def _next(subscription: Any, seconds: float) -> Any:
    """The subscription's next event, or None when none comes within ``seconds``."""
    try:
        return await asyncio.wait_for(subscription.__anext__(), seconds)
    except TimeoutError:
        return None


@pytest.mark.django_db(transaction=True)
async def test_listen_relays_upstream_and_registry_changes_by_grant(gateway, monkeypatch):  # type: ignore[no-untyped-def]
    """``subscriptions/listen`` on ``/mcp``: a change the 2026-07-28 server announces on
    the pool's own listen stream reaches the keys that may see that server (not the
    others); an admin's edit of a server reaches every key that sees it; an edited
    grant reaches its key; the drain closes the stream gracefully (the client listens
    again elsewhere). The GET stream of a 2025-11-25 session hears the same
    (``test_sessions``)."""
    from mcp.client.subscriptions import ToolsListChanged

    app, _, _ = gateway
    async with (
        _served(app) as url,
        _remote(url, WIDE) as wide,
        _remote(url, NARROW) as narrow,
        wide.listen(tools_list_changed=True, prompts_list_changed=True) as heard_wide,
        narrow.listen(tools_list_changed=True) as heard_narrow,
    ):
        assert heard_wide.honored.tools_list_changed and heard_wide.honored.prompts_list_changed
        assert heard_wide.honored.resource_subscriptions is None  # not relayed
        # the server grows a tool (the pool's listen stream to it may take a moment to open)
        event = None
        for n in range(20):
            await wide.call_tool("new__grow", {"name": f"grown{n}"})
            event = await _next(heard_wide, 1.0)
            if event is not None:
                break
        assert isinstance(event, ToolsListChanged)
        names = {tool.name for tool in (await wide.list_tools(cache_mode="bypass")).tools}
        assert f"new__grown{n}" in names  # the pool dropped its cached list
        assert await _next(heard_narrow, 0.5) is None  # it may not see "new"

        # an admin edits the old server: both keys see it
        before = registry.current()
        edited = dataclasses.replace(before.mcp_servers["old"], call_timeout=11)
        registry.install(
            dataclasses.replace(
                before, version=2, mcp_servers={**before.mcp_servers, "old": edited}
            )
        )
        assert isinstance(await _next(heard_narrow, 5), ToolsListChanged)
        assert isinstance(await _next(heard_wide, 5), ToolsListChanged)

        # the narrow key's grant is edited: its tools changed
        now = registry.current()
        keys = dict(now.keys)
        digest, _ = _key(2, NARROW)
        keys[digest] = dataclasses.replace(keys[digest], mcp_allowed=frozenset({"old"}))
        registry.install(dataclasses.replace(now, version=3, keys=keys))
        assert isinstance(await _next(heard_narrow, 5), ToolsListChanged)
        names = {tool.name for tool in (await narrow.list_tools(cache_mode="bypass")).tools}
        assert "old__nap" in names

        # the process drains: the stream ends as the server meant it to (no SubscriptionLost)
        from gateway.base import lifecycle

        with monkeypatch.context() as patched:
            patched.setattr(lifecycle, "draining", lambda: True)
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(heard_narrow.__anext__(), 5)


def _answering(seen: list[Any], action: str = "accept") -> Any:
    """An elicitation callback that says ``action`` (sure: yes) and keeps what it saw."""
    import mcp_types as types

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        seen.append(params)
        content = {"sure": True} if action == "accept" and params.mode != "url" else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return answer


@pytest.mark.django_db(transaction=True)
async def test_a_servers_input_rounds_reach_clients_of_both_eras(gateway):  # type: ignore[no-untyped-def]
    """The 2026-07-28 server asks the person before it acts (``input_required``): a
    2026-07-28 client answers the round and retries (its state sealed to its key, so
    another key cannot continue it); for a 2025-11-25 client the gateway drives the
    rounds over the back channel (``elicitation/create``), or says what was missing."""
    import mcp_types as types
    from mcp.shared.exceptions import MCPError

    app, new_seen, _ = gateway
    asked: list[Any] = []
    http = _http(app, WIDE)
    modern = Client(
        streamable_http_client("http://gateway/mcp", http_client=http),
        elicitation_callback=_answering(asked),
    )
    async with modern:
        done = await modern.call_tool("new__confirm", {"action": "deploy"})
        assert done.content[0].text == "deploy: accept {'sure': True}"  # type: ignore[union-attr]
        assert asked and asked[0].message == "Really deploy?"
        # by hand: the round's state is the gateway's, bound to the key
        first = await modern.session.call_tool(
            "new__confirm", {"action": "ship"}, allow_input_required=True
        )
        assert isinstance(first, types.InputRequiredResult)
        assert first.request_state and "asked:ship" not in first.request_state
        assert set(first.input_requests or {}) == {"ok"}
    answer = {"ok": types.ElicitResult(action="accept", content={"sure": False})}
    async with _client(app, NARROW, "auto") as other:
        with pytest.raises(MCPError, match="requestState"):
            await other.session.call_tool(
                "new__confirm", {"action": "ship"}, input_responses=answer,
                request_state=first.request_state,
            )  # fmt: skip
    async with _client(app, WIDE, "auto") as same:
        again = await same.session.call_tool(
            "new__confirm", {"action": "ship"}, input_responses=answer,
            request_state=first.request_state,
        )  # fmt: skip
        assert again.content[0].text == "ship: accept {'sure': False}"  # type: ignore[union-attr]
        with pytest.raises(MCPError, match="requestState"):  # not another tool's
            await same.session.call_tool(
                "new__add", {"a": 1, "b": 2}, input_responses=answer,
                request_state=first.request_state,
            )  # fmt: skip
    # the server's own state went back to it untouched
    states = [h for m, h in new_seen if m == "tools/call" and h.get("mcp-name") == "confirm"]
    assert len(states) >= 4

    # a 2025-11-25 client: the gateway asks it over the back channel and retries (a
    # real socket: the request rides the POST's response stream)
    old_asked: list[Any] = []
    async with (
        _served(app) as url,
        _remote(url, WIDE, "legacy", elicitation_callback=_answering(old_asked)) as legacy,
    ):
        done = await legacy.call_tool("new__confirm", {"action": "merge"})
    assert done.content[0].text == "merge: accept {'sure': True}"  # type: ignore[union-attr]
    assert old_asked and old_asked[0].message == "Really merge?"
    async with _client(app, WIDE, "legacy") as mute:  # no elicitation capability
        refused = await mute.call_tool("new__confirm", {"action": "merge"})
    assert refused.is_error and "elicitation" in refused.content[0].text  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
async def test_connect_your_account_is_a_round_for_a_modern_client(gateway, monkeypatch):  # type: ignore[no-untyped-def]
    """A per-user OAuth server the person has not connected: a 2026-07-28 client gets
    a URL elicitation round naming the console's connections page; once connected, its
    retry calls the tool; a person who declines gets a tool error."""
    from gateway.features.mcp.errors import AuthorizationRequired

    app, _, _ = gateway
    connected = {"yes": False}
    real = pool.call_tool_in_rounds

    async def needs_account(server: str, tool: str, *args: Any, **kwargs: Any) -> Any:
        if not connected["yes"]:
            raise AuthorizationRequired(server, "not connected")
        return await real(server, tool, *args, **kwargs)

    monkeypatch.setattr(pool, "call_tool_in_rounds", needs_account)
    seen: list[Any] = []
    answer = _answering(seen)

    async def connect_then_accept(context: Any, params: Any) -> Any:
        connected["yes"] = True  # the person connected on the page meanwhile
        return await answer(context, params)

    http = _http(app, WIDE)
    async with Client(
        streamable_http_client("http://gateway/mcp", http_client=http),
        elicitation_callback=connect_then_accept,
    ) as client:
        done = await client.call_tool("new__add", {"a": 2, "b": 2})
    assert done.content[0].text == "4"  # type: ignore[union-attr]
    assert seen[0].mode == "url" and seen[0].url == "http://gateway/mcp-connections/"
    assert "connect your account" in seen[0].message

    connected["yes"] = False
    async with Client(
        streamable_http_client("http://gateway/mcp", http_client=_http(app, WIDE)),
        elicitation_callback=_answering([], "decline"),
    ) as client:
        declined = await client.call_tool("new__add", {"a": 2, "b": 2})
    assert declined.is_error and "not connected" in declined.content[0].text  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
async def test_prompts_and_resource_reads_have_rounds_too(gateway):  # type: ignore[no-untyped-def]
    """``prompts/get`` and ``resources/read`` of a 2026-07-28 server that asks first:
    a 2026-07-28 client answers the round (its state sealed to the key and to that
    prompt or resource: it continues neither a tool call nor another prompt); for a
    2025-11-25 client the gateway asks over the back channel, or names what was wanted."""
    import mcp_types as types
    from mcp.shared.exceptions import MCPError

    app, new_seen, _ = gateway
    asked: list[Any] = []
    modern = Client(
        streamable_http_client("http://gateway/mcp", http_client=_http(app, WIDE)),
        elicitation_callback=_answering(asked),
    )
    async with modern:
        prompt = await modern.get_prompt("new__vetted", {"topic": "tides"})
        read = await modern.read_resource("vault://maps")
        first = await modern.session.get_prompt(
            "new__vetted", {"topic": "reefs"}, allow_input_required=True
        )
        assert isinstance(first, types.InputRequiredResult)
        assert first.request_state and "prompt:reefs" not in first.request_state
        answer = {"ok": types.ElicitResult(action="decline")}
        again = await modern.session.get_prompt(
            "new__vetted", {"topic": "reefs"}, input_responses=answer,
            request_state=first.request_state,
        )  # fmt: skip
        for wrong in (
            lambda: modern.session.get_prompt(
                "new__brief",
                {"topic": "reefs"},
                input_responses=answer,
                request_state=first.request_state,
            ),  # fmt: skip
            lambda: modern.session.read_resource(
                "vault://maps", input_responses=answer, request_state=first.request_state
            ),
            lambda: modern.session.call_tool(
                "new__confirm",
                {"action": "x"},
                input_responses=answer,
                request_state=first.request_state,
            ),  # fmt: skip
        ):
            with pytest.raises(MCPError, match="requestState"):
                await wrong()
    text = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert text == "Vetted tides: accept (prompt:tides)"  # the server's state, untouched
    assert read.contents[0].text == "shelf maps: accept (vault:maps)"  # type: ignore[union-attr]
    assert [a.message for a in asked] == ["Brief on tides?", "Open maps?"]
    assert again.messages[0].content.text == "Vetted reefs: decline (prompt:reefs)"  # type: ignore[union-attr]
    async with _client(app, NARROW, "auto") as narrow:  # another key cannot continue it
        with pytest.raises(MCPError):
            await narrow.session.get_prompt(
                "new__vetted", {"topic": "reefs"}, input_responses=answer,
                request_state=first.request_state,
            )  # fmt: skip

    # a 2025-11-25 client: asked over the back channel, or told what was missing
    old_asked: list[Any] = []
    async with (
        _served(app) as url,
        _remote(url, WIDE, "legacy", elicitation_callback=_answering(old_asked)) as legacy,
    ):
        legacy_prompt = await legacy.get_prompt("new__vetted", {"topic": "sand"})
        legacy_read = await legacy.read_resource("vault://deeds")
    assert legacy_prompt.messages[0].content.text.startswith("Vetted sand: accept")  # type: ignore[union-attr]
    assert legacy_read.contents[0].text.startswith("shelf deeds: accept")  # type: ignore[union-attr]
    assert [a.message for a in old_asked] == ["Brief on sand?", "Open deeds?"]
    async with _client(app, WIDE, "legacy") as mute:
        with pytest.raises(MCPError, match="elicitation"):
            await mute.get_prompt("new__vetted", {"topic": "sand"})
        with pytest.raises(MCPError, match="elicitation"):
            await mute.read_resource("vault://deeds")
