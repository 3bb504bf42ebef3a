"""Upstream sessions bound to one client session (``relay``), in process with the
upstream client stood in for (``pool.bound_client``; the real one end to end is
``tests/integration/test_mcp_relay_live.py``'s): which calls need one, what the client
declared and may be asked, a server's sampling and elicitation put to the calling
client or answered by the server's route or refused, what a bound session hears outside
a call, one bound session reused by a client session's next call and closed when the
session ends, and upstream failures said as the pool says them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from types import SimpleNamespace

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from gateway.access import registry
from gateway.base.entries import MASTER, McpServerEntry
from gateway.features.mcp import changes, pool, relay, sampling, sessions, streams
from gateway.features.mcp.errors import ToolTimeout, UpstreamError
from tests.gateway.entries import snapshot

KEY = dataclasses.replace(MASTER, id=3, name="agent", prefix="sy-agent")


def server(name: str = "docs", **fields) -> McpServerEntry:  # type: ignore[no-untyped-def]
    base = McpServerEntry(
        id=1, name=name, transport="streamable_http", url="http://127.0.0.1:9/mcp", headers=(),
        bearer="", command="", args=(), env=(), enabled=True, connect_timeout=2.0, call_timeout=2.0,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def session(sid: str = "s1", **capabilities) -> sessions.Session:  # type: ignore[no-untyped-def]
    return sessions.Session(sid, 3, "f", "2025-06-18", capabilities, time.time(), f"t-{sid}")


class ClientSide:
    """The SDK session of the request's client: what it was sent and asked."""

    def __init__(self, can_send: bool = True, declared=None, answer=None) -> None:  # type: ignore[no-untyped-def]
        self.can_send_request = can_send
        self.client_capabilities = declared
        self.answer = answer
        self.notified: list = []
        self.asked: list = []

    async def send_notification(self, notification, related_request_id=None) -> None:  # type: ignore[no-untyped-def]
        if isinstance(self.answer, Exception):
            raise self.answer
        self.notified.append((notification, related_request_id))

    async def send_request(self, request, result_type, metadata=None):  # type: ignore[no-untyped-def]
        self.asked.append((request, result_type, metadata.related_request_id))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def downstream(sess: sessions.Session | None = None, **client) -> relay.Downstream:  # type: ignore[no-untyped-def]
    return relay.Downstream(SimpleNamespace(session=ClientSide(**client), request_id=42), sess)  # type: ignore[arg-type]


@pytest.fixture
def installed(snapshot_reset):  # type: ignore[no-untyped-def]
    registry.install(
        dataclasses.replace(
            snapshot(),
            mcp_servers={"docs": server(), "routed": server("routed", sampling_route="helper")},
        )
    )
    relay._levels.clear()
    yield
    relay._levels.clear()


def test_a_call_needs_a_bound_session_only_for_what_the_shared_one_cannot_carry(installed) -> None:
    assert relay.needs(None, "routed")  # the server's sampling is answered by a route
    assert not relay.needs(None, "docs")
    assert not relay.needs(session(), "docs")
    assert relay.needs(session(sampling={}), "docs")
    assert relay.needs(session(elicitation={}), "docs")
    relay._levels["s1"] = ("debug", time.time() + 60)
    assert relay.needs(session(), "docs")  # a log level was set


def test_what_the_client_declared_and_may_be_asked() -> None:
    assert downstream(session(sampling={})).declares("sampling")
    assert not downstream(session(sampling={})).declares("elicitation")
    modern = types.ClientCapabilities(elicitation=types.ElicitationCapability())
    assert downstream(None, declared=modern).declares("elicitation")
    assert not downstream(None, declared=modern).declares("sampling")
    assert not downstream(None).declares("sampling")
    assert downstream(session(sampling={})).can_ask("sampling")
    assert not downstream(session(sampling={}), can_send=False).can_ask(
        "sampling"
    )  # no back channel


async def test_notices_go_to_the_calls_stream_and_a_gone_client_is_no_error() -> None:
    call = downstream(session())
    notice = types.LoggingMessageNotification(
        params=types.LoggingMessageNotificationParams(level="info", data="hi")
    )
    await call.notify(notice)
    assert call.ctx.session.notified == [(notice, 42)]
    gone = downstream(session(), answer=RuntimeError("closed"))
    await gone.notify(notice)  # nothing raised


async def test_an_asked_client_that_fails_answers_an_error() -> None:
    request = types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message="why?", requested_schema={"type": "object", "properties": {}}
        )
    )
    refused = downstream(session(elicitation={}), answer=MCPError(-32602, "bad form"))
    assert await relay._asked(refused, request, types.ElicitResult) == types.ErrorData(
        code=-32602, message="bad form"
    )
    broken = await relay._asked(
        downstream(session(), answer=RuntimeError("left")), request, types.ElicitResult
    )
    assert broken.code == -32603 and "the client did not answer: left" in broken.message
    answer = types.ElicitResult(action="accept", content={"x": 1})
    asking = downstream(session(elicitation={}), answer=answer)
    assert await relay._asked(asking, request, types.ElicitResult) == answer
    assert asking.ctx.session.asked[0][2] == 42  # related to the call's request


def bound(entry: McpServerEntry | None = None, sid: str | None = "s1", call=None) -> relay.Bound:  # type: ignore[no-untyped-def]
    made = relay.Bound(entry or server(), KEY, sid, {})
    made.call = call
    return made


SAMPLE = types.CreateMessageRequestParams(
    messages=[
        types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))
    ],
    max_tokens=5,
)


async def test_a_servers_sampling_goes_to_the_client_else_the_route_else_is_refused(
    monkeypatch,
) -> None:
    words = types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="yo"), model="m"
    )
    asking = downstream(session(sampling={}), answer=words)
    assert await bound(call=asking)._sampling(None, SAMPLE) == words  # type: ignore[arg-type]
    routed: list = []

    async def answer(key, route, params, *, server):  # type: ignore[no-untyped-def]
        routed.append((key, route, server))
        return words

    monkeypatch.setattr(sampling, "answer", answer)
    cannot = downstream(session())  # the client did not declare sampling
    assert (
        await bound(server(sampling_route="helper"), call=cannot)._sampling(None, SAMPLE) == words
    )  # type: ignore[arg-type]
    assert routed == [(KEY, "helper", "docs")]
    refused = await bound(call=cannot)._sampling(None, SAMPLE)  # type: ignore[arg-type]
    assert isinstance(refused, types.ErrorData) and "does not take sampling" in refused.message


async def test_an_elicitation_outside_a_call_is_refused() -> None:
    params = types.ElicitRequestFormParams(
        message="why?", requested_schema={"type": "object", "properties": {}}
    )
    refused = await bound()._elicitation(None, params)  # type: ignore[arg-type]
    assert isinstance(refused, types.ErrorData) and "cannot be asked now" in refused.message
    answer = types.ElicitResult(action="decline")
    asking = downstream(session(elicitation={}), answer=answer)
    assert await bound(call=asking)._elicitation(None, params) == answer  # type: ignore[arg-type]


async def test_what_a_bound_session_hears_outside_a_call(monkeypatch) -> None:
    heard: list = []
    told: list = []
    monkeypatch.setattr(changes, "heard", lambda server, what: heard.append((server, what)))
    monkeypatch.setattr(streams, "tell", lambda sid, notice: told.append((sid, notice)))
    listening = bound()
    await listening._notice(types.ToolListChangedNotification())
    await listening._notice(types.PromptListChangedNotification())
    assert heard == [("docs", "tools"), ("docs", "prompts")]
    updated = types.ResourceUpdatedNotification(
        params=types.ResourceUpdatedNotificationParams(uri="file:///a")
    )
    await listening._notice(updated)
    log = types.LoggingMessageNotification(
        params=types.LoggingMessageNotificationParams(level="info", data="x")
    )
    await listening._notice(log)
    assert told == [
        (
            "s1",
            {
                "jsonrpc": "2.0",
                "method": "notifications/resources/updated",
                "params": {"uri": "file:///a"},
            },
        ),
        (
            "s1",
            {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "data": "x"},
            },
        ),
    ]
    call = downstream(session())
    await bound(call=call)._notice(log)  # during a call: on the call's own stream
    assert call.ctx.session.notified == [(log, 42)] and len(told) == 2


class Upstream:
    """The upstream client a bound session holds (``pool.bound_client``'s stand-in)."""

    opened = 0

    def __init__(self, entry, **callbacks) -> None:  # type: ignore[no-untyped-def]
        Upstream.opened += 1
        self.callbacks = callbacks
        self.server_capabilities = SimpleNamespace(logging={})
        self.levels: list[str] = []
        self.fail: Exception | None = None

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        return self

    async def __aexit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        return None

    async def call_tool(self, tool, arguments, read_timeout_seconds=None, progress_callback=None):  # type: ignore[no-untyped-def]
        if tool == "boom":
            raise MCPError(-32000, "it broke")
        if tool == "slow":
            await asyncio.sleep(10)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"{tool}:{arguments}")]
        )

    async def set_logging_level(self, level: str) -> None:
        self.levels.append(level)


@pytest.fixture
async def upstream(installed, monkeypatch):  # type: ignore[no-untyped-def]
    Upstream.opened = 0
    monkeypatch.setattr(pool, "bound_client", Upstream)
    monkeypatch.setattr(relay, "SWEEP_SECONDS", 0.01)  # the sweeper ends with the test
    yield Upstream
    await relay.aclose()


async def test_a_client_sessions_calls_reuse_its_bound_session_until_it_ends(upstream) -> None:
    sess = session(sampling={})
    result = await relay.call_tool(downstream(sess), KEY, "docs", "add", {"a": 1}, None)
    assert result.content[0].text == "add:{'a': 1}"  # type: ignore[union-attr]
    await relay.call_tool(downstream(sess), KEY, "docs", "add", {}, None)
    assert upstream.opened == 1
    (held,) = relay._bound[("s1", "docs")]
    assert not held.busy and held.call is None
    assert "sampling_callback" in held.client.callbacks  # type: ignore[union-attr]
    await relay.set_level(sess, "debug")
    assert held.client.levels == ["debug"]  # type: ignore[union-attr]
    relay.ended("s1")
    assert ("s1", "docs") not in relay._bound and "s1" not in relay._levels
    await asyncio.wait_for(held.task, 2)  # type: ignore[arg-type]
    assert held.client is None


async def test_a_call_without_a_session_has_its_own_closed_after(upstream) -> None:
    await relay.call_tool(downstream(None), KEY, "routed", "add", {}, None)
    await relay.call_tool(downstream(None), KEY, "routed", "add", {}, None)
    assert upstream.opened == 2 and not relay._bound


async def test_upstream_failures_are_said_as_the_pool_says_them(upstream, monkeypatch) -> None:
    sess = session(elicitation={})
    with pytest.raises(UpstreamError, match="MCP server docs: it broke"):
        await relay.call_tool(downstream(sess), KEY, "docs", "boom", {}, None)
    monkeypatch.setitem(relay.registry.current().mcp_servers, "docs", server(call_timeout=0.05))
    with pytest.raises(ToolTimeout, match="tools/call slow timed out"):
        await relay.call_tool(downstream(sess), KEY, "docs", "slow", {}, None)
    relay.ended("s1")


async def test_an_idle_bound_session_is_swept(upstream, monkeypatch) -> None:
    monkeypatch.setattr(relay, "IDLE_SECONDS", 0.0)
    await relay.call_tool(downstream(session(sampling={})), KEY, "docs", "add", {}, None)
    (held,) = relay._bound[("s1", "docs")]
    for _ in range(200):
        if not relay._bound:
            break
        await asyncio.sleep(0.01)
    assert not relay._bound and held.stop.is_set()
