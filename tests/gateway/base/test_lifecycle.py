"""Start-up freezes what is alive for the garbage collector (no long full collections
under load). Graceful shutdown: once it begins, new API requests are refused with a 503 in the
caller's dialect; requests already in flight finish before the journal drains, so the
drain is the last write. And the loop a periodic background task runs in (``every_round``)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from typing import Any

import orjson
import pytest
from django.test import override_settings

from gateway import journal
from gateway.base import db_work, lifecycle
from gateway.core import service
from gateway.core.service import Reply
from gateway.edge import endpoints


def request(path: str) -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + MASTER_KEY.encode()),
        ],
    }


# A valid key: a request without one is refused before its body is read.
MASTER_KEY = "sy-unit-test-master-key"


@pytest.fixture(autouse=True)
def _master_key(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY


def receiver():
    messages = [{"type": "http.request", "body": b'{"model": "m"}', "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client never leaves
        return {"type": "http.disconnect"}

    return receive


class Sink:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def __call__(self, message: dict) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return self.messages[0]["status"]

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def body(self) -> dict:
        return orjson.loads(self.messages[1]["body"])


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> endpoints.GatewayApp:
    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(lifecycle, "_closing", False)
    return endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic")],
)
async def test_requests_after_shutdown_began_get_a_503_in_their_dialect(app, path, shape):
    lifecycle.begin_shutdown()
    sink = Sink()
    await app(request(path), receiver(), sink)
    assert sink.status == 503
    assert sink.headers[b"connection"] == b"close"
    assert sink.headers[b"retry-after"] == b"1"
    assert len(sink.headers[b"x-request-id"]) == 32
    if shape == "openai":
        assert "shutting down" in sink.body["error"]["message"]
    else:
        assert sink.body["type"] == "error"
        assert sink.body["error"]["type"] == "overloaded_error"


async def test_in_flight_requests_finish_and_record_before_the_journal_drains(
    app, monkeypatch: pytest.MonkeyPatch
):
    events: list[str] = []
    release = asyncio.Event()
    entered = asyncio.Event()

    async def handle(endpoint, dialect, raw, headers, caller):
        entered.set()
        await release.wait()
        events.append("recorded")
        return Reply(200, b"{}", [(b"content-type", b"application/json")])

    async def drain(within: float = 0) -> None:
        events.append("drained")

    monkeypatch.setattr(service, "handle", handle)
    monkeypatch.setattr(journal, "drain", drain)
    first = Sink()
    in_flight = asyncio.ensure_future(app(request("/v1/chat/completions"), receiver(), first))
    await entered.wait()

    stopping = asyncio.ensure_future(lifecycle.shutdown())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "shutdown waits for the request in flight"
    late = Sink()
    await app(request("/v1/chat/completions"), receiver(), late)
    assert late.status == 503, "a request arriving during shutdown is refused"

    release.set()
    await asyncio.wait_for(asyncio.gather(in_flight, stopping), 5)
    assert first.status == 200
    assert events == ["recorded", "drained"]
    assert lifecycle.closing() is False, "a later event loop in this process starts afresh"


async def test_requests_still_running_after_the_grace_period_end_in_their_dialect(
    app, monkeypatch: pytest.MonkeyPatch
):
    """A stream gets its in-stream error event (and [DONE] for OpenAI chat); a request
    still waiting for its upstream gets a 503 with Retry-After; both return normally."""
    from gateway.core.service import StreamReply

    async def slow_chunks():
        yield b'data: {"first": true}\n\n'
        await asyncio.sleep(60)
        yield b"never"

    async def handle(endpoint, dialect, raw, headers, caller):
        if b'"stream"' in raw:
            return StreamReply(200, [(b"content-type", b"text/event-stream")], slow_chunks())
        await asyncio.sleep(60)
        return Reply(200, b"{}", [])

    def streaming(path: str) -> tuple[dict, object]:
        messages = [{"type": "http.request", "body": b'{"stream": true}', "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await asyncio.Event().wait()
            return {"type": "http.disconnect"}

        return request(path), receive

    monkeypatch.setattr(service, "handle", handle)
    sinks = {name: Sink() for name in ("openai", "anthropic", "waiting")}
    calls = [
        app(*streaming("/v1/chat/completions"), sinks["openai"]),
        app(*streaming("/v1/messages"), sinks["anthropic"]),
        app(request("/v1/messages"), receiver(), sinks["waiting"]),
    ]
    running = asyncio.ensure_future(asyncio.gather(*calls))
    await asyncio.sleep(0.2)  # every request reached its slow part
    assert len(sinks["anthropic"].messages) == 2 and sinks["waiting"].messages == []
    await asyncio.wait_for(lifecycle.drain(grace=0.1), 5)
    await asyncio.wait_for(running, 1)  # nothing raised: each ended on its own terms
    openai_body = b"".join(m.get("body", b"") for m in sinks["openai"].messages[1:])
    assert openai_body.endswith(b"data: [DONE]\n\n")
    last = openai_body.split(b"\n\n")[-3]
    assert "shutting down" in orjson.loads(last.removeprefix(b"data: "))["error"]["message"]
    anthropic_body = b"".join(m.get("body", b"") for m in sinks["anthropic"].messages[1:])
    assert anthropic_body.split(b"\n\n")[-2].startswith(b"event: error\n")
    assert b'"overloaded_error"' in anthropic_body.split(b"\n\n")[-2]
    assert sinks["openai"].messages[-1] == {"type": "http.response.body", "body": b""}
    waiting = sinks["waiting"]
    assert waiting.status == 503 and waiting.headers[b"retry-after"] == b"1"
    assert waiting.body["error"]["type"] == "overloaded_error"
    assert lifecycle._requests == set() and lifecycle._cut == set()
    lifecycle._closing = False


def test_startup_objects_are_frozen_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "_frozen", False)
    gc.unfreeze()
    try:
        lifecycle.freeze_startup_objects()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # Django, the gateway modules, the test session
        # the frozen count itself can drop between the calls (a frozen object freed by
        # another thread), so the second call is judged by what it asks of the collector
        calls: list[str] = []
        monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
        monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or 0)
        lifecycle.freeze_startup_objects()
        assert calls == [], "the second call does nothing"
    finally:
        gc.unfreeze()


async def test_started_says_whether_this_loop_ran_the_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the start-up trim waits for (``gateway.server.memory_trim``)."""
    monkeypatch.setattr(lifecycle, "_started_loop", None)
    assert not lifecycle.started()
    monkeypatch.setattr(lifecycle, "_started_loop", asyncio.get_running_loop())
    assert lifecycle.started()


def test_started_is_false_outside_a_loop() -> None:
    assert not lifecycle.started()


def test_a_serving_process_leaves_requests_in_flight_to_the_young_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After start-up, objects held by requests in flight (a few thousand) start no
    collection: only growth past ``SERVING_GC_THRESHOLD`` does."""
    monkeypatch.setattr(lifecycle, "_frozen", False)
    threshold = gc.get_threshold()
    passes: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.unfreeze()
    try:
        lifecycle.freeze_startup_objects()
        assert gc.get_threshold()[0] == lifecycle.SERVING_GC_THRESHOLD
        gc.callbacks.append(count)
        in_flight = [[n] for n in range(lifecycle.SERVING_GC_THRESHOLD - 1_000)]
        assert passes == []
        in_flight += [[n] for n in range(2_000)]  # growth past it is still collected
        assert passes
        del in_flight
    finally:
        if count in gc.callbacks:
            gc.callbacks.remove(count)
        gc.set_threshold(*threshold)
        gc.unfreeze()


async def test_a_server_that_stopped_accepting_serves_until_its_drain_ends_then_refuses(
    app, monkeypatch: pytest.MonkeyPatch
):
    """uvicorn's drain (``refuse=False``): a request still reaching the process on an
    open connection is served; readiness says 503 from the start; the drain ends once
    nothing is in flight and the connections settled, and only then are requests
    refused (503)."""
    monkeypatch.setattr(lifecycle, "_draining", False)

    async def handle(endpoint, dialect, raw, headers, caller):
        return Reply(200, b"{}", [(b"content-type", b"application/json")])

    monkeypatch.setattr(service, "handle", handle)
    connections_open = [True]
    draining = asyncio.ensure_future(
        lifecycle.drain(grace=5, refuse=False, settled=lambda: not connections_open)
    )
    await asyncio.sleep(0.1)
    assert lifecycle.draining() and not lifecycle.closing()
    from django.test import RequestFactory

    from gateway.edge import health

    probe = await health.readiness(RequestFactory().get("/health/readiness"))
    assert probe.status_code == 503  # load balancers move on; requests still served
    served = Sink()
    await app(request("/v1/chat/completions"), receiver(), served)
    assert served.status == 200
    await asyncio.sleep(0.1)
    assert not draining.done(), "a connection is still open: its next request is served"
    connections_open.clear()
    await asyncio.wait_for(draining, 1)  # settled: well before the 5 s grace period
    assert lifecycle.closing()
    refused = Sink()
    await app(request("/v1/chat/completions"), receiver(), refused)
    assert refused.status == 503 and refused.headers[b"connection"] == b"close"
    lifecycle._closing = False


class Outage(db_work.Outage):
    """An outage that records what it was told (``attempt`` tells it)."""

    def __init__(self) -> None:
        super().__init__("test loop", logging.getLogger("gateway.test"))
        self.seen: list[str] = []

    def failed(self, exc: BaseException) -> None:
        self.seen.append(f"failed: {exc}")

    def recovered(self) -> None:
        self.seen.append("recovered")


async def test_a_failed_round_is_an_outage_and_the_loop_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps: list[Any] = [RuntimeError("database away"), "ok", "last"]
    waits: list[float] = []

    async def round_once() -> None:
        step = steps.pop(0)
        if isinstance(step, Exception):
            raise step
        if step == "last":  # the process begins to close: no round after this one
            monkeypatch.setattr(lifecycle, "_closing", True)

    def seconds() -> float:
        waits.append(0.0)
        return 0.0

    outage = Outage()
    await lifecycle.every_round(outage, round_once, seconds)
    assert outage.seen == ["failed: database away", "recovered", "recovered"]
    assert steps == [] and len(waits) == 3  # a wait after every round, the period read each time


async def test_a_block_in_flight_counts_as_a_request_until_it_ends_however_it_ends() -> None:
    started, before = lifecycle.activity()
    with lifecycle.in_flight():
        assert lifecycle.activity() == (started + 1, before + 1)
    assert lifecycle.activity() == (started + 1, before)
    with pytest.raises(RuntimeError), lifecycle.in_flight():
        raise RuntimeError("the request failed")
    assert lifecycle.activity() == (started + 2, before)


@pytest.mark.parametrize(
    ("role", "shortened"), [("all", True), ("api", True), ("console", False), ("worker", False)]
)
def test_a_process_serving_inference_takes_the_lock_back_from_threads_sooner(
    role: str, shortened: bool
) -> None:
    """Threads (the console's pages in ``--role all``, the journal's writer) give the
    interpreter lock back to the event loop after 1 ms instead of CPython's 5 ms; the
    console's and the worker's processes keep the default."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # CPython's default
    try:
        with override_settings(SWITCHYARD_ROLE=role):
            lifecycle.shorten_switch_interval()
        expected = lifecycle.SERVING_SWITCH_INTERVAL if shortened else 0.005
        assert sys.getswitchinterval() == pytest.approx(expected)
    finally:
        sys.setswitchinterval(before)
