"""The live tail's database polling: rows journaled by other processes (no channel-layer
notification reaches this one) still arrive, filtered like the table, never twice, and
the polling stops with the socket."""

from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from console import tail
from console.tail import GROUP, LogTailConsumer, SeenIds
from gateway.models import RequestLog
from tests.console.views.test_logs import make_logs

POLL = 0.05


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_seen_ids_claims_each_id_once_and_rises_over_consecutive_ids() -> None:
    seen = SeenIds(10)
    assert seen.claim([12, 11, 9, 10]) == [12, 11]
    assert seen.claim([11, 12, 13]) == [13]
    seen.settle()
    assert seen.floor == 13 and len(seen) == 0
    assert seen.claim([13, 14]) == [14]


def test_seen_ids_waits_for_a_hole_then_gives_it_up_after_the_grace() -> None:
    clock = Clock()
    seen = SeenIds(10, grace=5, clock=clock)
    seen.claim([11, 13, 14])  # 12: another process's batch not committed yet
    seen.settle()
    assert seen.floor == 11 and len(seen) == 2
    clock.now += 4
    seen.settle()
    assert seen.floor == 11
    assert seen.claim([12, 13, 14]) == [12]  # it committed after all: shown once
    seen.settle()
    assert seen.floor == 14 and len(seen) == 0

    seen.claim([16])  # 15 burnt by a rolled-back batch: never written
    clock.now += 5
    seen.settle()
    assert seen.floor == 16 and len(seen) == 0


def test_seen_ids_raise_floor_skips_everything_below() -> None:
    seen = SeenIds(0)
    seen.claim([3, 7])
    seen.raise_floor(5)
    assert seen.floor == 5 and seen.claim([4, 6, 7]) == [6]


async def add_rows(route: str, count: int, status: int) -> None:
    await RequestLog.objects.abulk_create(
        RequestLog(request_id=f"r-{route}-{i}", route=route, status=status) for i in range(count)
    )


def request_ids(html: str) -> set[str]:
    return set(re.findall(r'title="([^"]+)"', html))


async def connect(user, path: str = "/ws/logs/tail/") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(LogTailConsumer.as_asgi(poll_seconds=POLL), path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive_ids(communicator: WebsocketCommunicator, count: int) -> set[str]:
    found: set[str] = set()
    while len(found) < count:
        found |= request_ids(await communicator.receive_from(timeout=3))
    return found


@pytest.mark.django_db(transaction=True)
async def test_rows_written_elsewhere_arrive_by_polling_with_the_page_filters(staff) -> None:
    await sync_to_async(make_logs)(2, route="old")  # before the socket: never shown
    ws = await connect(staff, "/ws/logs/tail/?route=a&status=5xx")
    await add_rows("a", 3, status=502)
    await add_rows("b", 2, status=502)
    await add_rows("x", 2, status=200)
    assert await receive_ids(ws, 3) == {"r-a-0", "r-a-1", "r-a-2"}
    assert await ws.receive_nothing(timeout=5 * POLL)
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_row_announced_and_polled_is_pushed_once(staff) -> None:
    ws = await connect(staff)
    mine = await sync_to_async(make_logs)(1, route="mine")
    await get_channel_layer().group_send(GROUP, {"type": "log.created", "ids": [mine[0].pk]})
    await sync_to_async(make_logs)(1, route="other")  # another worker's row: polled
    assert await receive_ids(ws, 2) == {"r-mine-0", "r-other-0"}
    assert await ws.receive_nothing(timeout=5 * POLL)
    # A late notification for rows the poll already pushed brings nothing either.
    ids = await sync_to_async(list)(RequestLog.objects.values_list("pk", flat=True))
    await get_channel_layer().group_send(GROUP, {"type": "log.created", "ids": ids})
    assert await ws.receive_nothing(timeout=5 * POLL)
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_flood_shows_the_newest_rows(staff, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tail, "POLL_LIMIT", 5)
    ws = await connect(staff)
    rows = await sync_to_async(make_logs)(8, route="f")
    html = await ws.receive_from(timeout=3)
    newest = sorted(rows, key=lambda r: r.pk)[-5:]
    assert request_ids(html) == {r.request_id for r in newest}
    assert await ws.receive_nothing(timeout=5 * POLL)
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_polling_stops_when_the_socket_closes(staff, monkeypatch: pytest.MonkeyPatch) -> None:
    polls = 0
    real = tail.ids_above

    def counting(floor: int, limit: int) -> list[int]:
        nonlocal polls
        polls += 1
        return real(floor, limit)

    monkeypatch.setattr(tail, "ids_above", counting)
    ws = await connect(staff)
    await asyncio.sleep(4 * POLL)
    assert polls >= 2
    await ws.disconnect()
    stopped_at = polls
    await asyncio.sleep(4 * POLL)
    assert polls == stopped_at
    assert not [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.endswith("._poll")]
