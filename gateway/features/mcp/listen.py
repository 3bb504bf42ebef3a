"""``subscriptions/listen`` on ``/mcp`` (2026-07-28): one POST whose response is a
stream of change notices, the modern era's replacement of the session's GET stream.

It is a ``streams.Listener`` without a session, so it hears what a GET stream hears, on
whichever worker of whichever instance it reaches: what the servers the key may see say
changed (the pool's connection of this process to each: ``pool.on_list_changed``, a
2026-07-28 server through the pool's own listen stream to it, an older one through its
notifications), and what the registry changes (a server added, edited, disabled or
removed; the key's grant edited), which every process sees within about a second of the
save. Opening one connects this process's pool to the servers the key may reach, so
their changes are heard here even when no call went to them from this worker; with
Redis, what any other process hears reaches it too (``changes``).

The acknowledgment names what is honoured: the three list changes; resource updates
are not relayed (``resourceSubscriptions`` is left out of the ack). Each notice carries
the listen request's id in ``_meta`` (``io.modelcontextprotocol/subscriptionId``). The
stream ends when the client leaves (the SDK cancels the handler) or at the drain, where
it is closed gracefully (its result is the last frame), so the client listens again on a
process that serves. No replay: a client that listens again lists again."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    ToolsListChanged,
    event_to_notification,
)
from mcp_types import INVALID_REQUEST

from gateway.base import lifecycle
from gateway.base.entries import KeyEntry
from gateway.features.mcp import changes, pool, streams

log = logging.getLogger(__name__)

DRAIN_POLL_SECONDS = 0.25  # how often an open stream looks for the drain
EVENTS: dict[str, ServerEvent] = {
    "notifications/tools/list_changed": ToolsListChanged(),
    "notifications/prompts/list_changed": PromptsListChanged(),
    "notifications/resources/list_changed": ResourcesListChanged(),
}


def honoured(asked: types.SubscriptionFilter) -> types.SubscriptionFilter:
    """What of ``asked`` this gateway delivers: the list changes, not resource updates."""
    return types.SubscriptionFilter(
        tools_list_changed=True if asked.tools_list_changed else None,
        prompts_list_changed=True if asked.prompts_list_changed else None,
        resources_list_changed=True if asked.resources_list_changed else None,
    )


def _wanted(filter_: types.SubscriptionFilter) -> set[str]:
    wanted = set()
    if filter_.tools_list_changed:
        wanted.add("notifications/tools/list_changed")
    if filter_.prompts_list_changed:
        wanted.add("notifications/prompts/list_changed")
    if filter_.resources_list_changed:
        wanted.add("notifications/resources/list_changed")
    return wanted


def _warm(key: KeyEntry, servers: list[str]) -> None:
    """Connect this process's pool to ``servers`` (in the background): a connection
    hears its server's changes."""

    async def connect() -> None:
        await asyncio.gather(
            *(pool.server_capabilities(name) for name in servers), return_exceptions=True
        )

    task = asyncio.get_running_loop().create_task(connect(), name="mcp-listen-warm")
    _warming.add(task)
    task.add_done_callback(_warming.discard)


_warming: set[asyncio.Task[None]] = set()


async def serve(
    ctx: ServerRequestContext[Any],
    params: types.SubscriptionsListenRequestParams,
    key: KeyEntry,
    only: str | None,
    servers: list[str],
) -> types.SubscriptionsListenResult:
    """Serve one listen stream for ``key`` (``servers``: those it may reach now)."""
    subscription = ctx.request_id
    if subscription is None:
        raise MCPError(INVALID_REQUEST, "subscriptions/listen requires a request id")
    ack = honoured(params.notifications)
    wanted = _wanted(ack)
    meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: subscription}
    listener = streams.Listener(None, key, only)
    streams.add(listener)  # before the ack: a change meanwhile is not lost
    changes.ensure_listening()  # what other processes hear (with Redis)
    try:
        await ctx.session.send_notification(
            types.SubscriptionsAcknowledgedNotification(
                params=types.SubscriptionsAcknowledgedNotificationParams(
                    notifications=ack, _meta=meta
                )
            ),
            related_request_id=subscription,
        )
        _warm(key, servers)
        while not lifecycle.draining():
            try:
                async with asyncio.timeout(DRAIN_POLL_SECONDS):
                    notice = await listener.queue.get()
            except TimeoutError:
                continue
            if notice is None:
                break
            method = notice.get("method", "")
            if method not in wanted:
                continue
            try:
                await ctx.session.send_notification(
                    event_to_notification(EVENTS[method], meta), related_request_id=subscription
                )
            except Exception as exc:  # noqa: BLE001 - the client left
                log.debug("MCP listen stream %s ended: %s", subscription, exc)
                break
    finally:
        streams.forget(listener)
    return types.SubscriptionsListenResult(_meta=meta)
