"""Shadow traffic (gateway/core/shadow): a share of a route's requests copied to other
routes after the primary is answered. The client gets the primary's answer only; each
mirror is journaled with ``shadow_of`` naming the primary, under no key (never against
the client key's limits or budget); streams are read to their end; 4xx requests,
stored Responses conversations and requests over the in-flight bound are not mirrored,
nor any while the process's event loop is saturated (its loop lag over the setting),
each skip counted by reason."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from decimal import Decimal

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import background, http, loop_lag
from gateway.base.entries import KeyEntry
from gateway.core import service, shadow
from gateway.telemetry import metrics
from tests.gateway.entries import route, snapshot

KEY = KeyEntry(
    id=7,
    name="team-key",
    prefix="sk-team",
    routes=frozenset({"primary"}),  # the key may not call the shadow route itself
    rpm_limit=None,
    tpm_limit=None,
    budget_usd=None,
    budget_period="total",
    expires_at=None,
    revoked=False,
)


def answer(model: str, text: str) -> dict:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    records: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    primary = dataclasses.replace(
        route("primary", "big-model", max_attempts=1),
        shadow_routes=("cheap",),
        shadow_percent=100.0,
    )
    cheap = route("cheap", "small-model", max_attempts=1)
    cheap = dataclasses.replace(
        cheap,
        deployments=tuple(
            dataclasses.replace(d, input_price=Decimal(1), output_price=Decimal(2))
            for d in cheap.deployments
        ),
    )
    registry.install(snapshot(primary, cheap))
    seen: list[str] = []
    gate = asyncio.Event()
    gate.set()

    async def upstream(request: httpx.Request) -> httpx.Response:
        model = orjson.loads(request.content)["model"]
        seen.append(model)
        if model == "small-model":
            await gate.wait()
        if orjson.loads(request.content).get("stream"):
            text = answer(model, f"answer of {model}")["choices"][0]["message"]["content"]
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}],
            }
            body = f"data: {orjson.dumps(chunk).decode()}\n\ndata: [DONE]\n\n"
            return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=answer(model, f"answer of {model}"))

    http.use_transport(httpx.MockTransport(upstream))
    monkeypatch.setattr(loop_lag, "INTERVAL", 0.01)
    loop_lag.stop()
    yield {"records": records, "seen": seen, "gate": gate}
    http.use_transport(None)
    loop_lag.stop()


def skips(reason: str) -> int:
    return metrics.REGISTRY.shadow_skipped[
        (("route", "primary"), ("shadow_route", "cheap"), ("reason", reason))
    ]


async def ask(body: dict, key: KeyEntry = KEY, dialect: str = "openai"):
    raw = orjson.dumps(
        {"model": "primary", "messages": [{"role": "user", "content": "hi"}], **body}
    )
    reply = await service.handle("chat", dialect, raw, {}, service.Caller(key=key))
    if isinstance(reply, service.StreamReply):
        body_bytes = b"".join([chunk async for chunk in reply.chunks])
        return reply.status, body_bytes
    return reply.status, reply.body


async def test_the_client_gets_the_primary_and_the_mirror_is_journaled_and_linked(gateway):
    status, body = await ask({})
    assert status == 200 and b"answer of big-model" in body and b"small-model" not in body
    await background.done()
    primary, mirror = gateway["records"]
    assert gateway["seen"] == ["big-model", "small-model"]
    assert primary.key_id == 7 and primary.route == "primary" and primary.shadow_of == ""
    assert mirror.shadow_of == primary.request_id and mirror.request_id != primary.request_id
    assert (
        mirror.route == "cheap" and mirror.status == 200 and mirror.upstream_model == "small-model"
    )
    assert mirror.key_id is None and mirror.key_name == "shadow"  # never the client key's
    assert mirror.cost_usd > 0 and primary.cost_usd == 0  # its cost, separately


async def test_streams_are_mirrored_and_read_to_their_end(gateway):
    status, body = await ask({"stream": True})
    assert status == 200 and b"answer of big-model" in body
    await background.done()
    mirror = gateway["records"][1]
    assert mirror.stream and mirror.status == 200 and mirror.finish_reason


async def test_the_primary_does_not_wait_for_its_mirror(gateway):
    gateway["gate"].clear()  # the shadow upstream hangs
    status, _ = await asyncio.wait_for(ask({}), timeout=5)
    assert status == 200 and len(gateway["records"]) == 1
    gateway["gate"].set()
    await background.done()
    assert len(gateway["records"]) == 2


async def test_the_mirror_never_counts_against_the_client_keys_limits(gateway):
    limited = dataclasses.replace(KEY, rpm_limit=1)
    assert (await ask({}, key=limited))[0] == 200
    await background.done()
    assert gateway["records"][1].status == 200  # the mirror ran past the key's rpm of 1


async def test_a_clients_mistake_is_not_mirrored(gateway):
    status, _ = await ask({"temperature": "hot"})
    assert status == 400
    await background.done()
    assert len(gateway["records"]) == 1 and gateway["seen"] == []


async def test_the_share_is_sampled(gateway, monkeypatch):
    entry = registry.current().routes["primary"]
    assert shadow.sampled(dataclasses.replace(entry, shadow_percent=30), lambda: 0.29)
    assert not shadow.sampled(dataclasses.replace(entry, shadow_percent=30), lambda: 0.30)
    assert not shadow.sampled(dataclasses.replace(entry, shadow_routes=()), lambda: 0.0)


async def test_mirrors_over_the_bound_are_skipped(gateway, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_SHADOW_MAX_IN_FLIGHT", "1")
    gateway["gate"].clear()
    before = skips("in_flight")
    await ask({})
    await ask({})  # its mirror would be the second in flight
    gateway["gate"].set()
    await background.done()
    mirrors = [r for r in gateway["records"] if r.shadow_of]
    assert len(mirrors) == 1 and shadow.in_flight() == 0
    assert skips("in_flight") == before + 1


def hog(seconds: float) -> None:
    """A callback holding the loop (a CPU-bound stretch of other requests)."""
    time.sleep(seconds)


async def test_a_saturated_loop_skips_the_mirror_and_counts_it(gateway):
    loop_lag.watch()  # as the route's earlier mirrors did
    for _ in range(5):  # the loop is held 30 ms at a time: every tick comes late
        hog(0.03)
        await asyncio.sleep(0)
    assert loop_lag.lag() > shadow.busy_lag()
    before = skips("busy")
    status, body = await ask({})
    assert status == 200 and b"answer of big-model" in body  # the client is served
    await background.done()
    assert gateway["seen"] == ["big-model"] and len(gateway["records"]) == 1
    assert skips("busy") == before + 1 and shadow.in_flight() == 0
    assert 'reason="busy"' in metrics.render(lambda: {})


async def test_an_idle_loop_with_many_requests_waiting_upstream_still_mirrors(gateway, monkeypatch):
    # well above an idle loop's lag on a loaded test machine; what is tested is that
    # the requests in flight (waiting on the network) do not count as busy
    monkeypatch.setenv("SWITCHYARD_SHADOW_BUSY_LAG_MS", "20")
    gateway["gate"].clear()  # earlier mirrors wait on their upstream, as long LLM calls do
    await ask({})
    await ask({})
    await asyncio.sleep(0.05)  # a few ticks of an idle loop
    assert loop_lag.running() and loop_lag.lag() < shadow.busy_lag()
    assert shadow.in_flight() == 2
    before = skips("busy")
    await ask({})
    gateway["gate"].set()
    await background.done()
    assert len([r for r in gateway["records"] if r.shadow_of]) == 3
    assert skips("busy") == before


async def test_the_busy_check_can_be_turned_off(gateway, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_SHADOW_BUSY_LAG_MS", "0")
    loop_lag.note(1.0)
    await ask({})
    await background.done()
    assert gateway["seen"] == ["big-model", "small-model"]


def test_mirrored_bodies():
    primary = shadow.Primary("r1", "chat", "responses", b'{"model":"a","input":"x"}', {}, None, 200)
    raw, fields = shadow.mirrored_body(primary, "b")
    assert orjson.loads(raw) == {"model": "b", "input": "x", "store": False} and fields is None
    gemini = shadow.Primary("r2", "chat", "gemini", b'{"contents":[]}', {}, {"model": "a"}, 200)
    assert shadow.mirrored_body(gemini, "b") == (b'{"contents":[]}', {"model": "b"})
    chained = shadow.Primary(
        "r3", "chat", "responses", b'{"model":"a","previous_response_id":"resp_1"}', {}, None, 200
    )
    assert not shadow.worth_mirroring(chained)
    assert not shadow.worth_mirroring(dataclasses.replace(primary, endpoint="count_tokens"))
    assert shadow.worth_mirroring(dataclasses.replace(primary, status=502))
