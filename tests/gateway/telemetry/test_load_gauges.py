"""The load gauges on /metrics an autoscaler follows: streams and requests in flight
(counted by the edge while an answer streams), the event loop's lag (its probe kept
running by scrapes, in every worker through the shared folder), summed or maxed across
the workers that are still publishing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.base import lifecycle, loop_lag
from gateway.core import service
from gateway.core.call import StreamReply
from gateway.edge import endpoints
from gateway.telemetry import metrics

MASTER_KEY = "sy-unit-test-master-key"
GAUGE = re.compile(r"^(switchyard_\w+_in_flight|switchyard_event_loop_lag_seconds) (\S+)$", re.M)


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SWITCHYARD_METRICS_DIR", raising=False)
    monkeypatch.setattr(loop_lag, "INTERVAL", 0.01)
    loop_lag.stop()
    metrics.REGISTRY.reset()
    yield
    loop_lag.stop()
    metrics.REGISTRY.reset()


def gauges(text: str | None = None) -> dict[str, float]:
    text = metrics.render(lambda: {}) if text is None else text
    return {name: float(value) for name, value in GAUGE.findall(text)}


def test_the_gauges_are_typed_and_zero_when_idle() -> None:
    text = metrics.render(lambda: {})
    for name in (
        "switchyard_streams_in_flight",
        "switchyard_requests_in_flight",
        "switchyard_event_loop_lag_seconds",
    ):
        assert f"# TYPE {name} gauge" in text and f"# HELP {name} " in text
    assert gauges(text) == {
        "switchyard_streams_in_flight": 0,
        "switchyard_requests_in_flight": 0,
        "switchyard_event_loop_lag_seconds": 0,
    }


async def test_a_streaming_answer_counts_while_it_streams(
    monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY
    settings.SWITCHYARD_STREAM_KEEPALIVE_SECONDS = 0
    release = asyncio.Event()
    first_sent = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        await release.wait()
        yield b"data: two\n\n"

    async def handle(endpoint, dialect, raw, headers, caller):  # type: ignore[no-untyped-def]
        return StreamReply(200, [(b"content-type", b"text/event-stream")], chunks())

    monkeypatch.setattr(service, "handle", handle)
    messages = [{"type": "http.request", "body": b'{"model": "m"}', "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays
        return {}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
        if message.get("body") == b"data: one\n\n":
            first_sent.set()

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", b"Bearer " + MASTER_KEY.encode())],
    }
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    before = gauges()
    call = asyncio.ensure_future(
        app.post_endpoint(scope, receive, send, ("chat", "openai"))  # type: ignore[arg-type]
    )
    await asyncio.wait_for(first_sent.wait(), 2)
    during = gauges()
    assert during["switchyard_streams_in_flight"] == before["switchyard_streams_in_flight"] + 1
    assert during["switchyard_requests_in_flight"] == before["switchyard_requests_in_flight"] + 1
    release.set()
    await asyncio.wait_for(call, 2)
    assert gauges() == before
    assert sent[-1] == {"type": "http.response.body", "body": b""}


async def test_a_scrape_keeps_the_lag_probe_running_past_its_idle_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (the keep is long against the steps below, so a loaded machine that stretches a
    # sleep cannot end it early: a 0.4 s keep once ran out before the loop was held)
    monkeypatch.setattr(loop_lag, "IDLE_STOP", 0.05)
    monkeypatch.setattr(metrics, "SCRAPE_KEEP_SECONDS", 2.0)
    assert not loop_lag.running()  # nothing scraped: no probe
    metrics.scraped()
    scraped = time.monotonic()
    await asyncio.sleep(0.2)  # four times IDLE_STOP
    assert loop_lag.running()
    for _ in range(4):  # the loop held 30 ms at a time
        time.sleep(0.03)  # noqa: ASYNC251 - holding the loop is the point
        await asyncio.sleep(0)
    assert loop_lag.running()  # still inside the keep
    assert gauges()["switchyard_event_loop_lag_seconds"] > 0.01
    while loop_lag.running():  # no scrape for longer than it asked: it stops
        assert time.monotonic() - scraped < 10
        await asyncio.sleep(0.05)
    assert time.monotonic() - scraped >= 2.0  # not before the keep ended


def other_worker(folder: Path, pid: int, live: dict[str, float], age: float) -> None:
    data = {"registry": {}, "journal": {}, "live": live, "at": time.time() - age}
    (folder / f"{pid}.json").write_text(json.dumps(data))


def test_workers_sum_streams_and_take_the_worst_lag_but_not_from_gone_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_METRICS_DIR", str(tmp_path))
    live = {"requests_in_flight": 5, "streams_in_flight": 3, "loop_lag": 0.004}
    other_worker(tmp_path, 999991, live, age=0.5)
    worse = {"requests_in_flight": 2, "streams_in_flight": 1, "loop_lag": 0.03}
    other_worker(tmp_path, 999992, worse, age=1.0)
    gone = {"requests_in_flight": 40, "streams_in_flight": 40, "loop_lag": 9.0}
    other_worker(tmp_path, 999993, gone, age=metrics.LIVE_SECONDS + 1)  # killed long ago
    own = metrics.live()
    got = gauges(metrics.render())
    assert got["switchyard_streams_in_flight"] == 4 + own["streams_in_flight"]
    assert got["switchyard_requests_in_flight"] == 7 + own["requests_in_flight"]
    assert got["switchyard_event_loop_lag_seconds"] == pytest.approx(0.03)
    assert (tmp_path / metrics.SCRAPE_MARK).exists()  # tells the other workers


async def test_a_worker_not_scraped_itself_runs_the_probe_once_another_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop_lag, "IDLE_STOP", 0.05)
    monkeypatch.setattr(metrics, "SCRAPE_KEEP_SECONDS", 0.3)
    publishing = asyncio.ensure_future(metrics.publish_forever(tmp_path, every=0.02))
    try:
        await asyncio.sleep(0.1)
        assert not loop_lag.running()  # nobody scraped yet
        published = json.loads((tmp_path / f"{os.getpid()}.json").read_text())
        assert published["live"]["loop_lag"] == 0 and published["at"] > time.time() - 5
        (tmp_path / metrics.SCRAPE_MARK).touch()  # another worker answered a scrape
        await asyncio.sleep(0.1)
        assert loop_lag.running()
        await asyncio.sleep(0.15)
        assert loop_lag.running()  # past IDLE_STOP: the scrape's keep holds it
        await asyncio.sleep(0.4)  # no scrape since for longer than SCRAPE_KEEP_SECONDS
        assert not loop_lag.running()
    finally:
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)


def test_lifecycle_counts_streams_apart_from_requests() -> None:
    base_streams = lifecycle.streams()
    lifecycle.stream_opened()
    lifecycle.stream_opened()
    lifecycle.stream_closed()
    assert lifecycle.streams() == base_streams + 1
    assert metrics.live()["streams_in_flight"] == base_streams + 1
    lifecycle.stream_closed()
    assert lifecycle.streams() == base_streams
