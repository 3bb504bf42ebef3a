"""An experiment's progress pushed over a WebSocket (``ws/evals/experiments/<id>/``),
for console users whose role may use the evaluations (``roles.SOCKETS["evals"]``); the
console's sockets are same-origin only (``gateway.edge.ws_origin``) and signed in by the
session (``AuthMiddlewareStack``).

The runner may run the experiment in another worker process (or instance) than the one
holding the browser's socket, so the consumer reads the experiment's counters itself:
every ``POLL_SECONDS`` one primary-key read, and a message only when rows done, errors,
spend or status changed. The runner also announces each saved batch to the group
``switchyard.evals.<id>`` on the channel layer: with the in-memory layer (no
``REDIS_URL``) only a runner in this process reaches the socket that way, at once; with
Redis every process's does. Either way the page gets the same message: the progress
card's HTML (the template's ``progress`` partial) and the counters, as JSON. When the
experiment has finished the consumer sends the last state and closes the socket; the
page then reloads to show the summary. The page falls back to its HTMX polling whenever
the socket is not open (``console/static/console/evals.js``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.template.loader import render_to_string

from console.evals.models import Experiment
from console.tail import PollingConsumer
from gateway.access import authorization, roles
from gateway.base import db_work

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
FORBIDDEN = 4403
NOT_FOUND = 4404


def group(pk: int) -> str:
    return f"switchyard.evals.{pk}"


async def announce(pk: int) -> None:
    """Tell the sockets watching experiment ``pk`` that it moved (never raises)."""
    layer = get_channel_layer()
    if layer is None:
        return
    with contextlib.suppress(Exception):
        await layer.group_send(group(pk), {"type": "evals.progress"})


def state_of(pk: int) -> dict[str, Any] | None:
    """The progress message of experiment ``pk`` (None: it does not exist)."""
    experiment = Experiment.objects.filter(pk=pk).first()
    if experiment is None:
        return None
    return {
        "type": "progress",
        "status": experiment.status,
        "done": experiment.cells_done,
        "total": experiment.total_cells,
        "errors": experiment.cells_failed,
        "spend": format(experiment.spend_usd, "f"),
        "percent": experiment.progress,
        "finished": experiment.finished,
        "html": render_to_string("evals/experiment.html#progress", {"experiment": experiment}),
    }


class ExperimentProgressConsumer(PollingConsumer, AsyncJsonWebsocketConsumer):
    def __init__(self, *args: Any, poll_seconds: float = POLL_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poll_seconds = poll_seconds
        self.outage = db_work.Outage("experiment progress", log)
        self.last: tuple[Any, ...] | None = None
        self.nudged = asyncio.Event()

    async def connect(self) -> None:
        actor = await database_sync_to_async(roles.actor_for_user)(self.scope.get("user"))
        if not authorization.decide(actor, "socket.connect", "evals"):
            await self.close(code=FORBIDDEN)
            return
        self.pk = int(self.scope["url_route"]["kwargs"]["pk"])
        state = await database_sync_to_async(state_of)(self.pk)
        if state is None:
            await self.close(code=NOT_FOUND)
            return
        await self.channel_layer.group_add(group(self.pk), self.channel_name)
        await self.accept()
        await self._push(state)
        if not state["finished"]:
            self.poller = asyncio.create_task(self._poll())

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "pk"):
            await self.channel_layer.group_discard(group(self.pk), self.channel_name)
        await self._stop_polling()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The browser only listens."""

    async def evals_progress(self, event: dict[str, Any]) -> None:
        self.nudged.set()  # the runner saved a batch: look now rather than at the next tick

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.nudged.wait(), self.poll_seconds)
            self.nudged.clear()
            try:
                state = await database_sync_to_async(state_of)(self.pk)
            except Exception as exc:  # the database may be briefly away: keep watching
                self.outage.failed(exc)
                continue
            self.outage.recovered()
            if state is None:
                await self.close(code=NOT_FOUND)
                return
            await self._push(state)
            if state["finished"]:
                await self.close()
                return

    async def _push(self, state: dict[str, Any]) -> None:
        key = (state["status"], state["done"], state["errors"], state["spend"], state["total"])
        if key != self.last:
            self.last = key
            await self.send_json(state)
