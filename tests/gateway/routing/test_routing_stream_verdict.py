"""A stream's verdict for its deployment's health waits for the stream's end: an upstream
that breaks every stream after its first bytes is cooled like one that refuses them,
and a client that leaves is no verdict on the upstream (issue #25)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.base.errors import GatewayError, InvalidRequest, UpstreamConnectionError, UpstreamError
from gateway.core import service
from gateway.routing import routing
from tests.gateway.conftest import FakeTime
from tests.gateway.entries import route, snapshot
from tests.gateway.routing.test_routing import Upstream


@pytest.fixture
def fake(fake_time: FakeTime, settings) -> FakeTime:
    """The shared fake clock (``fake_time``); 3 failed requests within 60 s cool a
    deployment for 30 s."""
    settings.SWITCHYARD_COOLDOWN_FAILURES = 3
    routing.rng.seed(3)
    return fake_time


async def stream(r, upstream) -> routing.StreamOutcome:
    """Open a stream on ``r`` (routing's part of it) and return its pending verdict."""
    outcome = routing.StreamOutcome()
    await routing.run(snapshot(r), r, upstream, [], outcome=outcome)
    return outcome


def cut() -> UpstreamError:
    return UpstreamConnectionError("peer closed connection without sending complete body")


async def test_streams_cut_after_their_first_bytes_cool_their_deployment(fake):
    r = route("r", "cutter", "sound", weights=[1000.0, 0.001])
    upstream = Upstream()
    cutter = r.deployments[0]
    for _ in range(3):
        outcome = await stream(r, upstream)
        assert outcome.deployment is cutter
        fake.now += 1
        outcome.ended(cut())  # the stream broke mid-way
    assert routing.health.cooling(cutter.id, fake.now)
    outcome = await stream(r, upstream)
    assert outcome.deployment.model == "sound"  # its sibling takes the traffic
    assert upstream.calls == ["cutter"] * 3 + ["sound"]


async def test_the_first_event_alone_does_not_close_the_breaker(fake):
    # Before: each stream's opening counted as a success and forgot the failures of
    # the streams before it, so a deployment cutting every stream was never cooled.
    r = route("r", "cutter", "sound", weights=[1000.0, 0.001])
    cutter = r.deployments[0]
    upstream = Upstream()
    first = await stream(r, upstream)
    first.ended(cut())
    second = await stream(r, upstream)  # opened: the failure above still counts
    assert len(routing.health.failures[cutter.id]) == 1
    second.ended(None)  # ended well: now the breaker closes
    assert cutter.id not in routing.health.failures


@pytest.mark.parametrize(
    "error",
    [
        GatewayError("client disconnected"),  # the client left
        InvalidRequest("the renderer refused"),  # the gateway's own refusal
        UpstreamError("content filtered", status=400),  # not the deployment's health
    ],
)
async def test_an_ending_that_is_not_the_upstreams_fault_is_no_failure(fake, error):
    r = route("r", "only", "other")
    upstream = Upstream()
    for _ in range(5):
        outcome = await stream(r, upstream)
        outcome.ended(error)
    assert routing.health.failures == {}
    assert not any(routing.health.cooling(d.id, fake.now) for d in r.deployments)


async def test_a_probe_stream_reopens_its_deployment_only_when_it_ends_well(fake):
    r = route("r", "flaky", "sound", weights=[1000.0, 0.001])
    flaky = r.deployments[0]
    upstream = Upstream()
    for _ in range(3):
        (await stream(r, upstream)).ended(cut())
    fake.now += 31  # the cooldown is over: the next request probes it
    probe = await stream(r, upstream)
    assert probe.deployment is flaky and probe.probe
    other = await stream(r, upstream)  # meanwhile: its probe is still in flight
    assert other.deployment.model == "sound"
    other.ended(None)
    probe.ended(cut())  # the probe's stream broke: cooled again at once
    assert routing.health.cooling(flaky.id, fake.now)
    fake.now += 31
    probe = await stream(r, upstream)
    assert probe.deployment is flaky
    probe.ended(None)
    assert not routing.health.cooling(flaky.id, fake.now)
    assert flaky.id not in routing.health.probing


async def test_a_probe_stream_the_client_left_frees_the_probe(fake):
    r = route("r", "flaky", "sound", weights=[1000.0, 0.001])
    flaky = r.deployments[0]
    upstream = Upstream()
    for _ in range(3):
        (await stream(r, upstream)).ended(cut())
    fake.now += 31
    probe = await stream(r, upstream)
    assert probe.probe
    probe.ended(GatewayError("client disconnected"))
    assert flaky.id not in routing.health.probing
    again = await stream(r, upstream)  # the next request probes it
    assert again.deployment is flaky and again.probe


async def test_a_verdict_counts_once(fake):
    r = route("r", "a", "b", weights=[1000.0, 0.001])
    outcome = await stream(r, Upstream())
    outcome.ended(cut())
    outcome.ended(cut())
    outcome.ended(None)
    assert len(routing.health.failures[r.deployments[0].id]) == 1


# --- through service.handle, with a mock transport ---------------------------------------------


def _chunk(model: str, content: str) -> bytes:
    data = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model}
    data["choices"] = [{"index": 0, "delta": {"content": content}}]
    return b"data: " + orjson.dumps(data) + b"\n\n"


class _Body(httpx.AsyncByteStream):
    """An SSE body: some events, then a cut connection (``cut``) or the proper end."""

    def __init__(self, model: str) -> None:
        self.model = model

    async def __aiter__(self):
        yield _chunk(self.model, "Hello") + _chunk(self.model, " there")
        if self.model == "cutter":
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")
        if self.model == "stalled":
            raise httpx.ReadTimeout("timed out waiting for the next bytes")
        if self.model == "garbled":
            yield b'data: {"choices": 7}\n\n'  # JSON, but no chunk a parser can read
        done = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": self.model}
        done["choices"] = [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        yield b"data: " + orjson.dumps(done) + b"\n\ndata: [DONE]\n\n"


@pytest.fixture
def transport(monkeypatch, snapshot_reset):
    from gateway import journal

    monkeypatch.setattr(journal, "record", lambda rec: None)
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        model = orjson.loads(request.content)["model"]
        seen.append(model)
        stream = _Body(model)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)

    http.use_transport(httpx.MockTransport(answer))
    yield seen
    http.use_transport(None)


async def _stream(dialect: str, read_all: bool = True) -> bytes:
    body = {"model": "r", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    if dialect == "anthropic":
        body["max_tokens"] = 64
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert isinstance(reply, service.StreamReply), reply
    out = b""
    async for chunk in reply.chunks:
        out += chunk
        if not read_all:
            break  # the client leaves after its first bytes
    await reply.chunks.aclose()
    return out


@pytest.mark.parametrize(
    ("dialect", "broken"),
    [
        ("openai", "cutter"),  # passed through
        ("anthropic", "cutter"),  # translated
        ("openai", "stalled"),
        ("anthropic", "stalled"),
        ("anthropic", "garbled"),
    ],
)
async def test_streams_broken_by_the_upstream_cool_it_through_the_service(
    fake, transport, dialect, broken
):
    r = route("r", broken, "sound", weights=[1000.0, 0.001])
    registry.install(snapshot(r))
    for _ in range(3):
        out = await _stream(dialect)
        assert b"Hello" in out and b"error" in out  # the client still gets the in-stream error
        fake.now += 1
    assert transport == [broken] * 3
    assert b"error" not in await _stream(dialect)
    assert transport[-1] == "sound"  # cooled: its sibling takes the traffic


async def test_a_client_that_leaves_mid_stream_is_no_failure(fake, transport):
    r = route("r", "sound", "other", weights=[1000.0, 0.001])
    registry.install(snapshot(r))
    for _ in range(5):
        await _stream("openai", read_all=False)
    assert routing.health.failures == {}
    assert transport == ["sound"] * 5
