"""The console's work limit (``gateway.edge.console_work``): in a ``--role all`` process
at most ``SWITCHYARD_CONSOLE_WORK_LIMIT`` Django requests run at once, async and sync
alike (static files take none); on a loop a turn comes back after a pause in
proportion to what it took while inference runs beside it (at once otherwise), the answer not waiting for it; a streamed answer gives its
turn back once its view returned; the other roles and a limit of 0 leave the
middleware out; the installed stack has it outermost."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory, override_settings

from gateway.base import lifecycle
from gateway.edge import console_work


class Tally:
    """How many views run at once, and the most at any moment."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


@override_settings(SWITCHYARD_ROLE="all", SWITCHYARD_CONSOLE_WORK_LIMIT=2)
async def test_async_requests_beyond_the_limit_wait_for_a_turn() -> None:
    tally = Tally()
    release = asyncio.Event()

    async def view(request):
        tally.enter()
        await release.wait()
        tally.leave()
        return HttpResponse("ok")

    middleware = console_work.console_work_limit(view)
    pending = [asyncio.ensure_future(middleware(RequestFactory().get("/logs/"))) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert tally.now == 2  # two in their views, three waiting
    release.set()
    answers = await asyncio.gather(*pending)
    assert [a.status_code for a in answers] == [200] * 5
    assert tally.most == 2


@override_settings(SWITCHYARD_ROLE="all", SWITCHYARD_CONSOLE_WORK_LIMIT=1)
def test_sync_requests_take_turns_across_threads() -> None:
    tally = Tally()

    def view(request):
        tally.enter()
        time.sleep(0.02)
        tally.leave()
        return HttpResponse("ok")

    middleware = console_work.console_work_limit(view)
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(middleware(RequestFactory().get("/")).status_code)
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 4
    assert tally.most == 1


@override_settings(SWITCHYARD_ROLE="all", SWITCHYARD_CONSOLE_WORK_LIMIT=1)
async def test_a_streamed_answer_gives_its_turn_back_when_its_view_returns() -> None:
    async def rows():
        yield b"a,b\n"

    async def export(request):
        return StreamingHttpResponse(rows())

    middleware = console_work.console_work_limit(export)
    streaming = await middleware(RequestFactory().get("/logs/export.csv"))
    # its body not read yet: the next request still gets the one turn
    other = await asyncio.wait_for(middleware(RequestFactory().get("/")), timeout=1)
    assert streaming.streaming and other.streaming
    assert [chunk async for chunk in streaming.streaming_content] == [b"a,b\n"]


@override_settings(SWITCHYARD_ROLE="all", SWITCHYARD_CONSOLE_WORK_LIMIT=1)
async def test_static_files_take_no_turn() -> None:
    release = asyncio.Event()

    async def view(request):
        if request.path == "/logs/":
            await release.wait()
        return HttpResponse("ok")

    middleware = console_work.console_work_limit(view)
    page = asyncio.ensure_future(middleware(RequestFactory().get("/logs/")))
    await asyncio.sleep(0)  # the one turn taken
    style = await asyncio.wait_for(middleware(RequestFactory().get("/static/console.css")), 1)
    assert style.status_code == 200
    release.set()
    assert (await page).status_code == 200


def test_a_turn_is_paused_in_proportion_to_what_it_took() -> None:
    turns = console_work._Turns(2)
    assert turns.pause_after(0.1) == pytest.approx(0.1 * (1 / console_work.SHARE - 1))
    assert turns.pause_after(30.0) == console_work.MAX_PAUSE  # a provider's slow test


async def two_turns(*, inference: bool) -> float:
    """Two requests through a limit of one, each view taking 0.1 s, the second sent
    while the first runs: the gap between the first's end and the second's start
    (with ``inference``, a /v1 request is in flight throughout). Checks on the way that
    the first is answered before its turn comes back."""
    loop = asyncio.get_running_loop()
    moments: list[tuple[float, float]] = []

    async def view(request):
        started = loop.time()
        await asyncio.sleep(0.1)
        moments.append((started, loop.time()))
        return HttpResponse("ok")

    middleware = console_work.console_work_limit(view)
    first = asyncio.ensure_future(middleware(RequestFactory().get("/")))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(middleware(RequestFactory().get("/")))
    if inference:
        with lifecycle.in_flight():
            answer = await first
            assert answer.status_code == 200 and not second.done()  # before the pause
    else:
        await first
    await second
    (_, first_end), (second_start, _) = moments
    return second_start - first_end


@override_settings(SWITCHYARD_ROLE="all", SWITCHYARD_CONSOLE_WORK_LIMIT=1)
async def test_the_next_request_waits_for_the_turns_pause_not_the_answer(monkeypatch) -> None:
    monkeypatch.setattr(console_work, "MAX_PAUSE", 0.2)
    assert await two_turns(inference=True) >= 0.19  # 0.1 s * 3, at most MAX_PAUSE


@override_settings(SWITCHYARD_ROLE="all", SWITCHYARD_CONSOLE_WORK_LIMIT=1)
async def test_with_no_inference_beside_it_a_turn_comes_back_at_once(monkeypatch) -> None:
    """A console used while no client calls the gateway is never paused: the second
    page starts as the first ends."""
    monkeypatch.setattr(console_work, "MAX_PAUSE", 0.2)
    assert await two_turns(inference=False) < 0.05


async def test_inference_started_during_a_turn_counts_as_beside_it() -> None:
    before = lifecycle.activity()[0]
    assert not console_work.inference_beside(before)
    with lifecycle.in_flight():
        assert console_work.inference_beside(before)
    assert console_work.inference_beside(before)  # started (and ended) since the turn began


@pytest.mark.parametrize(("role", "limit"), [("console", 2), ("api", 2), ("worker", 2), ("all", 0)])
def test_other_roles_and_a_limit_of_zero_leave_it_out(role, limit) -> None:
    with (
        override_settings(SWITCHYARD_ROLE=role, SWITCHYARD_CONSOLE_WORK_LIMIT=limit),
        pytest.raises(MiddlewareNotUsed),
    ):
        console_work.console_work_limit(lambda request: HttpResponse("ok"))


def test_the_installed_stack_has_it_outermost() -> None:
    assert settings.MIDDLEWARE[0] == "gateway.edge.console_work.console_work_limit"
    assert settings.SWITCHYARD_CONSOLE_WORK_LIMIT == 2  # the default
