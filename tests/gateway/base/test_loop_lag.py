"""The event-loop lag probe (gateway/base/loop_lag): how late a timer fires, smoothed;
small on an idle loop, large on one held by CPU-bound callbacks; running only while
watched, and zero when not running."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.base import loop_lag


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(loop_lag, "INTERVAL", 0.01)
    loop_lag.stop()
    yield
    loop_lag.stop()


def test_ticks_are_smoothed_and_never_negative():
    assert loop_lag.lag() == 0.0
    assert loop_lag.note(0.008) == pytest.approx(0.004)
    assert loop_lag.note(0.008) == pytest.approx(0.006)
    assert loop_lag.note(-0.001) == pytest.approx(0.003)  # an early tick counts as on time
    for _ in range(20):
        loop_lag.note(0.0)
    assert loop_lag.lag() < 1e-6  # one late stretch is forgotten within a second


async def test_an_idle_loop_has_little_lag():
    loop_lag.watch()
    await asyncio.sleep(0.1)
    assert loop_lag.running()
    assert loop_lag.lag() < 0.01  # epoll's whole-millisecond timeouts and the machine's noise


async def test_a_held_loop_shows_its_lag_and_a_stopped_probe_says_nothing():
    loop_lag.watch()
    for _ in range(5):  # callbacks holding the loop 30 ms each, one after the other
        time.sleep(0.03)  # noqa: ASYNC251 - holding the loop is the point
        await asyncio.sleep(0)
    assert loop_lag.lag() > 0.015
    loop_lag.stop()
    assert loop_lag.lag() == 0.0 and not loop_lag.running()


async def test_the_probe_runs_only_while_watched(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(loop_lag, "IDLE_STOP", 0.05)
    assert not loop_lag.running()  # nothing asked: no timer at all
    loop_lag.watch()
    task = loop_lag._task
    loop_lag.watch()
    assert loop_lag._task is task and loop_lag.running()  # one probe, kept going
    await asyncio.wait_for(asyncio.shield(task), 1)  # type: ignore[arg-type]
    assert not loop_lag.running() and loop_lag.lag() == 0.0  # stopped by itself
    loop_lag.watch()
    assert loop_lag.running()  # and started again when asked


def test_a_probe_left_on_a_closed_loop_is_replaced_and_its_lag_forgotten():
    async def saturated() -> None:
        loop_lag.watch()
        loop_lag.note(0.05)

    old = asyncio.new_event_loop()
    old.run_until_complete(saturated())
    old.close()  # its probe never ran to its end (a test's loop, a restarted server)
    stale = loop_lag._task
    assert stale is not None and not stale.done() and loop_lag.lag() > 0.02

    async def fresh_loop() -> tuple[float, bool]:
        loop_lag.watch()
        return loop_lag.lag(), loop_lag._task is not stale

    assert asyncio.run(fresh_loop()) == (0.0, True)
    stale._log_destroy_pending = False  # type: ignore[attr-defined]  # its loop is gone
