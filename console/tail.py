"""The live log tail: a WebSocket that pushes each new request row as it is journaled.

Two sources feed it, deduplicated by row id (``SeenIds``):

- the journal sends ``{"type": "log.created", "ids": [...]}`` to the group
  ``switchyard.log-tail`` after every batch: instant, but with the in-memory channel
  layer (no ``REDIS_URL``) only rows journaled by *this* process arrive that way;
- every ``POLL_SECONDS`` the consumer asks the database for row ids above the highest
  one it has handled (a primary-key range scan, nearly always empty), which catches the
  rows written by the other worker processes or instances.

Each browser gets the rows that match its filters (the log page's query string, cleaned
by the same form and filtered by the same ``gateway.telemetry.logquery`` code as the table),
rendered with the table's ``log-row`` partial and wrapped for htmx's ws extension to
prepend out of band."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from gateway.access import authorization, roles
from gateway.base import db_work
from gateway.models import RequestLog
from gateway.telemetry import logquery

log = logging.getLogger(__name__)

GROUP = "switchyard.log-tail"
MAX_ROWS_PER_MESSAGE = 50
POLL_SECONDS = 1.0
# Ids one poll looks at; past that many new rows a second the tail skips the older ones
# (nobody reads a thousand rows a second, and the table pages show every row).
POLL_LIMIT = 1000
# How long a hole in the ids may stay open before the tail stops waiting for it: another
# process's batch still being committed (PostgreSQL hands ids out before commit), or ids
# that a rolled-back batch burnt and nobody will ever write.
GAP_GRACE_SECONDS = 10.0


class SeenIds:
    """The row ids a tail has handled: every id up to ``floor``, plus those above it in
    ``_above`` (id -> when it was handled). The floor rises over each run of consecutive
    handled ids, and over holes older than ``grace`` seconds."""

    def __init__(
        self,
        floor: int,
        grace: float = GAP_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.floor = floor
        self.grace = grace
        self.clock = clock
        self._above: dict[int, float] = {}

    def claim(self, ids: Iterable[int]) -> list[int]:
        """The ids not handled yet (in the given order), now marked as handled."""
        now = self.clock()
        fresh = []
        for row_id in ids:
            if row_id > self.floor and row_id not in self._above:
                self._above[row_id] = now
                fresh.append(row_id)
        return fresh

    def raise_floor(self, to: int) -> None:
        """Treat every id up to ``to`` as handled."""
        if to > self.floor:
            self.floor = to
            self._above = {i: t for i, t in self._above.items() if i > to}

    def settle(self) -> None:
        """Raise the floor past holes older than ``grace``, then over consecutive ids."""
        cutoff = self.clock() - self.grace
        self.raise_floor(max((i for i, t in self._above.items() if t <= cutoff), default=0))
        while self.floor + 1 in self._above:
            self.floor += 1
            del self._above[self.floor]

    def __len__(self) -> int:
        return len(self._above)


def _query(scope: dict[str, Any]) -> dict[str, str]:
    raw = parse_qs(scope.get("query_string", b"").decode(), keep_blank_values=False)
    return {k: v[-1] for k, v in raw.items()}


def render_rows(ids: list[int], filters: dict[str, Any], actor: roles.Actor | None = None) -> str:
    """The newest matching rows among ``ids`` (newest first) as an out-of-band prepend
    into ``#log-rows``; only those ``actor`` may see (gateway/access/roles.py)."""
    if not ids:
        return ""
    matching = logquery.filtered(filters, among=ids)
    if actor is not None:
        matching = roles.visible_logs(actor, matching)
    rows = list(matching[:MAX_ROWS_PER_MESSAGE])
    if not rows:
        return ""
    html = "".join(
        render_to_string("console/logs.html#log-row", {"log": row, "fresh": True}) for row in rows
    )
    return f'<tbody id="log-rows" hx-swap-oob="afterbegin">{html}</tbody>'


def newest_id() -> int:
    return RequestLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def ids_above(floor: int, limit: int) -> list[int]:
    """Up to ``limit`` row ids above ``floor``, newest first (a primary-key range)."""
    return list(
        RequestLog.objects.filter(pk__gt=floor).order_by("-pk").values_list("pk", flat=True)[:limit]
    )


class PollingConsumer(AsyncWebsocketConsumer):
    """A socket whose ``poller`` task watches the database (its outages logged once by
    ``outage``); however the consumer ends (close, disconnect, server shutdown), the
    polling ends with it."""

    poller: asyncio.Task[None] | None = None
    outage: db_work.Outage

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stop_polling()

    async def _stop_polling(self) -> None:
        poller, self.poller = self.poller, None
        if poller is not None and poller is not asyncio.current_task():
            poller.cancel()
            await asyncio.wait([poller])  # never raises what ended the poller
            if not poller.cancelled() and poller.exception() is not None:
                self.outage.log.debug("%s: polling ended: %s", self.outage.what, poller.exception())


class LogTailConsumer(PollingConsumer):
    def __init__(self, *args: Any, poll_seconds: float = POLL_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poll_seconds = poll_seconds
        self.outage = db_work.Outage("live tail", log)

    async def connect(self) -> None:
        user = self.scope.get("user")
        actor = await database_sync_to_async(roles.actor_for_user)(user)
        if not authorization.decide(actor, "socket.connect", "tail"):
            await self.close(code=4403)
            return
        self.actor = actor
        from console.views.logs import filters_from, query_params

        filters = filters_from(_query(self.scope))
        filters.pop("window", None)  # the tail only ever shows new rows
        self.filters = query_params(filters)
        self.seen = SeenIds(await database_sync_to_async(newest_id)())
        self.pushing = asyncio.Lock()  # one batch at a time, in the order they were found
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        self.poller = asyncio.create_task(self._poll())

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)
        await self._stop_polling()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The browser only listens."""

    async def log_created(self, event: dict[str, Any]) -> None:
        ids = [int(i) for i in event.get("ids", []) if str(i).isdigit()]
        async with self.pushing:
            html = await self._render(self.seen.claim(ids))
            if html:
                await self.send(text_data=html)

    async def _poll(self) -> None:
        """Until the socket closes: fetch the ids written since the last look (by any
        process) and push the rows no notification has brought yet."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            async with self.pushing:
                html = await self._render(await self._new_ids())
                if html:
                    await self.send(text_data=html)  # fails once the socket is gone: stop

    async def _new_ids(self) -> list[int]:
        try:
            found = await database_sync_to_async(ids_above)(self.seen.floor, POLL_LIMIT)
        except Exception as exc:  # the database may be briefly away: keep tailing
            self.outage.failed(exc)  # once per outage, not every second
            return []
        self.outage.recovered()
        if len(found) == POLL_LIMIT:  # flooded: skip to the newest rows
            self.seen.raise_floor(found[-1] - 1)
        fresh = self.seen.claim(found)
        self.seen.settle()
        return fresh

    async def _render(self, ids: list[int]) -> str:
        if not ids:
            return ""
        try:
            html: str = await database_sync_to_async(render_rows)(ids, self.filters, self.actor)
            return html
        except Exception:
            log.warning("live tail: rendering new rows failed", exc_info=True)
            return ""
