"""``subscriptions/listen`` (``listen``) in process: the acknowledgment names only the
list changes (resource updates are not relayed), the pool is warmed for the servers the
key may reach, the list changes asked for reach the client with the subscription's id
(those not asked for do not), and the stream ends at the drain or when it is told to,
leaving no listener behind."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY

from gateway.base import lifecycle
from gateway.base.entries import MASTER
from gateway.features.mcp import changes, listen, pool, streams

KEY = dataclasses.replace(
    MASTER, id=3, name="agent", prefix="sy-agent", mcp_allowed=frozenset({"files"})
)


def test_only_the_list_changes_are_honoured() -> None:
    asked = types.SubscriptionFilter(tools_list_changed=True, resource_subscriptions=["file:///x"])
    assert listen.honoured(asked) == types.SubscriptionFilter(tools_list_changed=True)
    everything = types.SubscriptionFilter(
        tools_list_changed=True, prompts_list_changed=True, resources_list_changed=True
    )
    assert listen.honoured(everything) == everything


class Session:
    """The client's side of the SDK session: the notifications it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    async def send_notification(self, notification, related_request_id=None) -> None:  # type: ignore[no-untyped-def]
        self.sent.append((notification, related_request_id))


@pytest.fixture
def warmed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    async def server_capabilities(name: str) -> None:
        asked.append(name)

    monkeypatch.setattr(pool, "server_capabilities", server_capabilities)
    monkeypatch.setattr(changes, "ensure_listening", lambda: None)
    monkeypatch.setattr(listen, "DRAIN_POLL_SECONDS", 0.02)
    return asked


async def until(condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not in time")


async def test_the_changes_asked_for_reach_the_client_with_the_subscription(warmed) -> None:
    session = Session()
    ctx = SimpleNamespace(request_id=7, session=session)
    params = types.SubscriptionsListenRequestParams(
        notifications=types.SubscriptionFilter(
            tools_list_changed=True, resource_subscriptions=["x"]
        )
    )
    serving = asyncio.ensure_future(listen.serve(ctx, params, KEY, None, ["files"]))  # type: ignore[arg-type]
    await until(lambda: session.sent and warmed)
    ack, related = session.sent[0]
    assert isinstance(ack, types.SubscriptionsAcknowledgedNotification) and related == 7
    assert ack.params.notifications == types.SubscriptionFilter(tools_list_changed=True)
    assert warmed == ["files"]
    streams.relay("files", "prompts")  # not asked for
    streams.relay("secret", "tools")  # a server the key may not see
    streams.relay("files", "tools")
    await until(lambda: len(session.sent) == 2)
    notice, related = session.sent[1]
    assert notice.method == "notifications/tools/list_changed" and related == 7
    assert notice.params.meta[SUBSCRIPTION_ID_META_KEY] == 7  # type: ignore[union-attr]
    (listener,) = [item for item in streams._listeners if item.key is KEY]
    listener.queue.put_nowait(None)  # told to end
    result = await asyncio.wait_for(serving, 2)
    assert result.meta == {SUBSCRIPTION_ID_META_KEY: 7}
    assert listener not in streams._listeners
    assert len(session.sent) == 2


async def test_the_stream_ends_at_the_drain(warmed, monkeypatch: pytest.MonkeyPatch) -> None:
    draining = [False]
    monkeypatch.setattr(lifecycle, "draining", lambda: draining[0])
    ctx = SimpleNamespace(request_id="r1", session=Session())
    params = types.SubscriptionsListenRequestParams(notifications=types.SubscriptionFilter())
    serving = asyncio.ensure_future(listen.serve(ctx, params, KEY, "files", []))  # type: ignore[arg-type]
    await until(lambda: ctx.session.sent)
    draining[0] = True
    result = await asyncio.wait_for(serving, 2)
    assert result.meta == {SUBSCRIPTION_ID_META_KEY: "r1"}
    assert not [item for item in streams._listeners if item.key is KEY]


async def test_a_listen_without_a_request_id_is_refused(warmed) -> None:
    ctx = SimpleNamespace(request_id=None, session=Session())
    params = types.SubscriptionsListenRequestParams(notifications=types.SubscriptionFilter())
    with pytest.raises(MCPError, match="requires a request id"):
        await listen.serve(ctx, params, KEY, None, [])  # type: ignore[arg-type]
    assert ctx.session.sent == []
