"""``/v1/realtime`` through a real ``serve --workers 2`` against a mock Realtime
upstream (``mock_realtime``): the official SDK's realtime client and a browser-style
subprotocol handshake are relayed (model names rewritten both ways, the gateway's own
upstream key sent, the caller's never), a bad key, a route the key may not use, an
unknown model, an exceeded rpm limit or budget get OpenAI's ``error`` event and a
close (a foreign origin is refused before accepting), an unreachable upstream gets an error event and 1011, and each session
is one journal row with its usage and cost. Transcription sessions (the SDK's
``realtime.connect`` with ``intent=transcription``) and translation sessions
(``realtime.translations.connect``) go the same way, priced by their tokens or seconds."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live import Gateway, free_port, running_gateway

from .mock_realtime import USAGE, MockRealtime

# USAGE at catalog gpt-realtime's prices per 1M: text 4 (cached 0.40) / 16 out, audio 32
# (cached 0.40) / 64 out
RESPONSE_COST = (
    68 * 4 + 32 * Decimal("0.4") + 968 * 32 + 32 * Decimal("0.4") + 50 * 16 + 200 * 64
) / Decimal(10**6)

SECRET = "sk-upstream-realtime-secret-42"
KEY = "sk-rt-live-key-0123456789abcdef"
NARROW = "sk-rt-narrow-key-0123456789abcd"
ONE_RPM = "sk-rt-one-rpm-key-0123456789abc"
SPENT = "sk-rt-no-budget-key-0123456789a"
BUDGETED = "sk-rt-budgeted-key-0123456789ab"
TEAMED = "sk-rt-team-budget-key-012345678"
TINY = "sk-rt-tiny-budget-key-0123456789"
TRANSLATE_ONLY = "sk-rt-translate-only-0123456789"


def setup_code(mock_url: str, dead_url: str) -> str:
    return f"""
from gateway.models import ApiKey, Deployment, Provider, Route

def provider(name, kind, base_url, secret, **fields):
    p = Provider(name=name, kind=kind, base_url=base_url, **fields)
    p.set_secret(secret)
    p.save()
    return p

oa = provider("rt-openai", "openai", "{mock_url}/v1", "{SECRET}")
az = provider("rt-azure", "azure", "{mock_url}", "{SECRET}")
azp = provider("rt-azure-p", "azure", "{mock_url}", "{SECRET}", api_version="2025-04-01-preview")
dead = provider("rt-dead", "openai", "{dead_url}/v1", "{SECRET}")
an = provider("rt-anthropic", "anthropic", "{dead_url}", "x")

def route(name, *deployments, attempts=1):
    r = Route.objects.create(name=name, max_attempts=attempts)
    for p, model, weight in deployments:
        Deployment.objects.create(route=r, provider=p, model=model, weight=weight)
    return r

rt = route("rt", (oa, "gpt-realtime", 1))
route("rt-azure", (az, "my-rt-deployment", 1))
route("rt-azure-preview", (azp, "my-rt-deployment", 1))
route("rt-mini", (oa, "gpt-realtime-mini", 1))
route("rt-dead", (dead, "gpt-realtime", 1))
route("rt-failover", (dead, "gpt-realtime", 2), (oa, "gpt-realtime", 1), attempts=2)
route("rt-chat-only", (an, "claude-x", 1))
route("rt-transcribe", (oa, "gpt-4o-transcribe", 1))
route("rt-live", (oa, "gpt-live-transcribe", 1))
route("rt-translate", (oa, "gpt-realtime-translate", 1))
route("rt-translate-azure", (az, "gpt-realtime-translate", 1))
route("rt-heard", (oa, "gpt-realtime", 1))
route("rt-az-transcribe", (az, "my-transcribe-deployment", 1))

def key(raw, name, **fields):
    return ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=ApiKey.hash_key(raw), **fields)

key("{KEY}", "rt-key")
key("{NARROW}", "rt-narrow").routes.set([Route.objects.get(name="rt-azure")])
key("{ONE_RPM}", "rt-one-rpm", rpm_limit=1)
key("{SPENT}", "rt-spent", budget_usd=0)
key("{BUDGETED}", "rt-budgeted", budget_usd="0.05")
from gateway.models import Team
team = Team.objects.create(name="rt-team", budget_usd="0.05")
key("{TEAMED}", "rt-teamed", team=team)
key("{TINY}", "rt-tiny", budget_usd="0.05")
key("{TRANSLATE_ONLY}", "rt-translate-only").routes.set([Route.objects.get(name="rt-translate")])
"""


@pytest.fixture(scope="module")
def mock() -> Iterator[MockRealtime]:
    server = MockRealtime(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock: MockRealtime) -> Iterator[Gateway]:
    dead = f"http://127.0.0.1:{free_port()}"
    with running_gateway(
        tmp_path_factory.mktemp("realtime"),
        setup=[["shell", "-c", setup_code(mock.url, dead)]],
        seed=False,
        workers=2,
    ) as gateway:
        yield gateway


def ws_url(gw: Gateway, query: str) -> str:
    return gw.url.replace("http://", "ws://") + "/v1/realtime?" + query


def journal_rows(
    gw: Gateway, count: int, route: str, status: int | None = None, key: str | None = None
) -> list[dict]:
    """The realtime rows of ``route`` (of ``status``, of the key named ``key``) once
    ``count`` are written (the journal writer is asynchronous)."""
    columns = ("status", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd",
               "finish_reason", "error_message", "key_name", "upstream_model")  # fmt: skip
    query = (
        f"SELECT {', '.join(columns)} FROM gateway_requestlog "
        "WHERE endpoint = 'realtime' AND route = ? ORDER BY id"
    )
    rows: list[dict] = []
    for _ in range(300):  # (30 s: a session's row is written after its sockets close)
        with closing(sqlite3.connect(gw.data_dir / "switchyard.sqlite3")) as db:
            rows = [dict(zip(columns, row, strict=True)) for row in db.execute(query, (route,))]
        rows = [row for row in rows if status is None or row["status"] == status]
        rows = [row for row in rows if key is None or row["key_name"] == key]
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{len(rows)} realtime rows for {route}, wanted {count}")


async def test_the_sdk_realtime_client_talks_through_the_gateway(
    gw: Gateway, mock: MockRealtime
) -> None:
    client = AsyncOpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)
    async with client.realtime.connect(model="rt") as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        assert created.session.model == "rt"  # the route's name, not the upstream's
        await conn.session.update(
            session={"type": "realtime", "model": "rt", "output_modalities": ["text"]}
        )
        updated = await conn.recv()
        assert updated.type == "session.updated" and updated.session.model == "rt"
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello"}],
            }
        )
        assert (await conn.recv()).type == "conversation.item.created"
        await conn.response.create()
        text, done = "", None
        async for event in conn:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.done":
                done = event
                break
        assert text == "Hello there"
        assert done is not None and done.response.usage.output_tokens == 250
    # the upstream got the deployment's model and the gateway's key, never the caller's
    handshake = mock.handshakes[-1]
    assert handshake.path == "/v1/realtime" and handshake.query["model"] == "gpt-realtime"
    assert handshake.headers["authorization"] == f"Bearer {SECRET}"
    assert KEY not in json.dumps(handshake.headers)
    update = next(e for e in mock.events if e["type"] == "session.update")
    assert update["session"]["model"] == "gpt-realtime"
    [row] = journal_rows(gw, 1, "rt")
    assert row["status"] == 200 and row["key_name"] == "rt-key"
    assert row["upstream_model"] == "gpt-realtime"
    assert row["finish_reason"] == "client closed 1000"
    assert row["input_tokens"] == USAGE["input_tokens"] - 64 and row["cache_read_tokens"] == 64
    assert row["output_tokens"] == USAGE["output_tokens"]
    assert abs(Decimal(str(row["cost_usd"])) - RESPONSE_COST) < Decimal("1e-9"), row["cost_usd"]
    assert KEY not in gw.log() and SECRET not in gw.log()


async def test_the_sdks_beta_realtime_client_is_passed_on_as_beta(
    gw: Gateway, mock: MockRealtime
) -> None:
    """``client.beta.realtime.connect`` (the beta interface, ``OpenAI-Beta:
    realtime=v1``) works unchanged; the upstream is asked for the beta interface too."""
    client = AsyncOpenAI(  # the beta client says wss:// unless told (a plain-http gateway)
        base_url=gw.url + "/v1",
        websocket_base_url=gw.url.replace("http://", "ws://") + "/v1",
        api_key=KEY,
        max_retries=0,
    )
    async with client.beta.realtime.connect(model="rt") as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.model == "rt"
    handshake = mock.handshakes[-1]
    assert handshake.headers.get("openai-beta") == "realtime=v1"
    assert KEY not in json.dumps(handshake.headers)


async def test_a_browser_authenticates_with_the_subprotocol(
    gw: Gateway, mock: MockRealtime
) -> None:
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
    async with connect(
        ws_url(gw, "model=rt-azure"),
        subprotocols=protocols,
        origin=gw.url,  # type: ignore[arg-type]
    ) as ws:
        assert ws.subprotocol == "realtime"  # never the key's
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created" and created["session"]["model"] == "rt-azure"
        await ws.send(json.dumps({"type": "response.create"}))
        kinds = []
        while not kinds or kinds[-1] != "response.done":
            kinds.append(json.loads(await ws.recv())["type"])
        assert kinds[0] == "response.created" and "response.output_text.delta" in kinds
        await ws.send(json.dumps({"type": "no.such.event"}))
        error = json.loads(await ws.recv())
        assert error["type"] == "error" and error["error"]["code"] == "invalid_value"
    handshake = mock.handshakes[-1]  # Azure: its path, the deployment, api-key
    assert handshake.path == "/openai/v1/realtime"
    assert handshake.query["model"] == "my-rt-deployment"
    assert handshake.headers["api-key"] == SECRET and "authorization" not in handshake.headers


async def test_an_azure_preview_version_uses_the_preview_endpoint(
    gw: Gateway, mock: MockRealtime
) -> None:
    """An Azure provider whose api version is a preview connects to the preview
    endpoint (``/openai/realtime?api-version=...&deployment=...``), which the mock
    refuses for any other version or a ``model`` parameter."""
    auth = {"api-key": KEY}
    async with connect(ws_url(gw, "model=rt-azure-preview"), additional_headers=auth) as ws:
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "rt-azure-preview"
        [*_, done] = await respond(ws)
        assert done["response"]["usage"]["output_tokens"] == USAGE["output_tokens"]
    handshake = mock.handshakes[-1]
    assert handshake.path == "/openai/realtime"
    assert handshake.query == {
        "api-version": "2025-04-01-preview",
        "deployment": "my-rt-deployment",
    }
    assert handshake.headers["api-key"] == SECRET and "authorization" not in handshake.headers
    [row] = journal_rows(gw, 1, "rt-azure-preview")
    assert row["status"] == 200 and row["upstream_model"] == "my-rt-deployment"


async def refused(gw: Gateway, query: str, **kwargs) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """(close code, the ``error`` event's error) of a session refused as OpenAI does:
    accepted, one ``error`` event, closed."""
    async with connect(ws_url(gw, query), **kwargs) as ws:
        event = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert event["type"] == "error" and event["event_id"].startswith("event_"), event
    assert set(event["error"]) >= {"type", "code", "message", "param"}
    assert ws.close_code is not None
    return ws.close_code, event["error"]


async def test_refusals_are_an_error_event_then_a_close(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    code, error = await refused(gw, "model=rt", additional_headers={"Authorization": "Bearer no"})
    assert code == 1008 and error["code"] == "invalid_api_key"
    assert error["message"] == "invalid API key"
    code, error = await refused(gw, "model=rt", subprotocols=["realtime"])  # type: ignore[list-item]
    assert code == 1008 and error["code"] == "invalid_api_key"
    wrong: Any = ["realtime", "openai-insecure-api-key.sk-wrong"]
    code, error = await refused(gw, "model=rt", subprotocols=wrong)
    assert code == 1008 and error["code"] == "invalid_api_key"
    code, error = await refused(gw, "model=nope", additional_headers=auth)
    assert code == 1008 and error["code"] == "model_not_found"
    code, error = await refused(gw, "", additional_headers=auth)
    assert code == 1008 and error["param"] == "model"
    code, error = await refused(gw, "model=rt", additional_headers={"api-key": NARROW})
    assert code == 1008 and "may not use model 'rt'" in error["message"]
    assert error["type"] == "permission_error"
    code, error = await refused(gw, "model=rt-chat-only", additional_headers=auth)
    assert code == 1008 and "realtime" in error["message"]
    code, error = await refused(gw, "model=rt", additional_headers={"api-key": SPENT})
    assert code == 1008 and "budget" in error["message"]
    one = {"Authorization": f"Bearer {ONE_RPM}"}
    async with connect(ws_url(gw, "model=rt"), additional_headers=one) as ws:
        await ws.recv()
    code, error = await refused(gw, "model=rt", additional_headers=one)
    assert code == 1013 and error["type"] == "rate_limit_error"  # may be retried
    # a browser from a foreign origin gets no socket at all
    with pytest.raises(InvalidStatus) as caught:
        evil: Any = "https://evil.example"
        async with connect(ws_url(gw, "model=rt"), additional_headers=auth, origin=evil):
            pass
    assert caught.value.response.status_code == 403
    # the SDK sees the refusal as the error event OpenAI's server would send
    client = AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="sk-not-a-key")
    async with client.realtime.connect(model="rt") as conn:
        event = await conn.recv()
        assert event.type == "error" and event.error.code == "invalid_api_key"
    rows = journal_rows(gw, 1, "", status=401)  # refused before any route: one row each
    assert rows and SECRET not in json.dumps(rows)
    assert journal_rows(gw, 1, "rt", status=403, key="rt-narrow")


async def test_an_unreachable_upstream_gets_an_error_event_and_1011(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    async with connect(ws_url(gw, "model=rt-dead"), additional_headers=auth) as ws:
        event = json.loads(await ws.recv())
        assert event["type"] == "error" and SECRET not in json.dumps(event)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1011
    [row] = journal_rows(gw, 1, "rt-dead")
    assert row["status"] == 502 and row["error_message"]
    # a route with a reachable deployment besides the dead one fails over at connect
    async with connect(ws_url(gw, "model=rt-failover"), additional_headers=auth) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


async def test_an_upstream_failure_closes_the_client_and_is_journaled(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    async with connect(ws_url(gw, "model=rt-failover"), additional_headers=auth) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "mock.close"}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1011
    [failed] = journal_rows(gw, 1, "rt-failover", status=502)
    assert failed["finish_reason"] == "upstream closed 1011"
    assert "mock upstream failure" in failed["error_message"]


def workers_rss_mb(gw: Gateway) -> float:
    """The resident memory of the server's worker processes, in MB."""
    pid = gw.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for child in children:
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def test_a_client_that_stops_reading_stops_the_upstream(
    gw: Gateway, mock: MockRealtime
) -> None:
    """Nothing in between buffers a whole session: with the client not reading, the
    upstream's sends stall once the sockets' kernel buffers (up to tens of MB on
    loopback) and the bounded read-ahead are full, far from the 256 MB it was asked to
    send, and the workers' memory does not grow by what is in flight."""
    auth = {"Authorization": f"Bearer {KEY}"}
    sock = socket.create_connection(("127.0.0.1", int(gw.url.rsplit(":", 1)[1])))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # a slow phone
    url = ws_url(gw, "model=rt")
    async with connect(
        url, sock=sock, additional_headers=auth, max_queue=1, max_size=2**20, compression=None
    ) as ws:
        await ws.recv()
        before = workers_rss_mb(gw)
        mock.flood_sent = 0
        await ws.send(json.dumps({"type": "mock.flood", "count": 1024, "size": 256 * 1024}))
        previous = -1
        for _ in range(60):  # until the upstream stalls
            await asyncio.sleep(0.25)
            if mock.flood_sent == previous and previous > 0:
                break
            previous = mock.flood_sent
        assert 0 < mock.flood_sent < 512, mock.flood_sent  # under half of it went out
        grown = workers_rss_mb(gw) - before
        assert grown < 48, f"the workers grew by {grown:.0f} MB"
        stalled = mock.flood_sent
        read = 0
        while mock.flood_sent == stalled and read < 600:  # reading again lets it go on
            await asyncio.wait_for(ws.recv(), 10)
            read += 1
        assert mock.flood_sent > stalled, read


async def respond(ws) -> list[dict]:  # type: ignore[no-untyped-def]
    """Ask for a response; the events up to its ``response.done``."""
    await ws.send(json.dumps({"type": "response.create"}))
    events: list[dict] = []
    while not events or events[-1]["type"] != "response.done":
        events.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return events


@pytest.mark.parametrize(("raw", "name", "who"), [(BUDGETED, "rt-budgeted", "this API key's"),
                                                  (TEAMED, "rt-teamed", "team rt-team's")])  # fmt: skip
async def test_a_session_is_cut_when_its_budget_is_spent(
    gw: Gateway, raw: str, name: str, who: str
) -> None:
    """Each response's cost counts when it is done: a budget of $0.05 takes one
    response ($0.0458) and ends the session after the second, with an ``error`` event
    and a clean close; the spend is counted once, not again when the session ends."""
    auth = {"Authorization": f"Bearer {raw}"}
    async with connect(ws_url(gw, "model=rt"), additional_headers=auth) as ws:
        await ws.recv()  # session.created
        await respond(ws)  # $0.0458 of $0.05: the session goes on
        await respond(ws)  # $0.0915: spent
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["type"] == "error", error
        assert error["error"]["code"] == "budget_exceeded"
        assert error["error"]["type"] == "rate_limit_error"
        assert f"{who} budget of $0.05" in error["error"]["message"]
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1008 and ws.close_reason == "budget exhausted"
    [row] = journal_rows(gw, 1, "rt", status=429, key=name)
    assert row["finish_reason"] == "budget exhausted"
    assert "budget" in row["error_message"] and "exhausted" in row["error_message"]
    assert abs(Decimal(str(row["cost_usd"])) - 2 * RESPONSE_COST) < Decimal("1e-9")
    # the next session is refused, and the spend it names is the two responses, once
    code, error = await refused(gw, "model=rt", additional_headers=auth)
    assert code == 1008 and error["code"] == "budget_exceeded"  # no retry: it stays spent
    assert f"(${(2 * RESPONSE_COST).quantize(Decimal('0.0001'))} spent)" in error["message"]


async def test_cached_audio_is_priced_at_the_models_cached_audio_price(gw: Gateway) -> None:
    """gpt-realtime-mini caches text at $0.06 and audio at $0.30 per 1M (the catalog's
    ``audio_cache_read``): the journal prices USAGE's 32 cached audio tokens at 0.30."""
    auth = {"Authorization": f"Bearer {KEY}"}
    async with connect(ws_url(gw, "model=rt-mini"), additional_headers=auth) as ws:
        await ws.recv()
        await respond(ws)
    [row] = journal_rows(gw, 1, "rt-mini")
    expected = (
        68 * Decimal("0.6") + 32 * Decimal("0.06") + 968 * 10 + 32 * Decimal("0.3")
        + 50 * Decimal("2.4") + 200 * 20
    ) / Decimal(10**6)  # fmt: skip
    assert abs(Decimal(str(row["cost_usd"])) - expected) < Decimal("1e-9"), row["cost_usd"]


# --- transcription and translation sessions ---------------------------------------------

ONE_SECOND = base64.b64encode(bytes(48_000)).decode()  # 24 kHz PCM16 mono: one second


def sdk(gw: Gateway, key: str = KEY) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def logged_requests(gw: Gateway, route: str) -> list[dict]:
    query = (
        "SELECT b.inbound_request FROM gateway_requestlog l "
        "JOIN gateway_requestbody b ON b.log_id = l.id "
        "WHERE l.endpoint = 'realtime' AND l.route = ? ORDER BY l.id"
    )
    with closing(sqlite3.connect(gw.data_dir / "switchyard.sqlite3")) as db:
        rows = [row[0] for row in db.execute(query, (route,))]
    return [json.loads(bytes(row) if isinstance(row, bytes) else row) for row in rows if row]


async def test_the_sdk_transcribes_through_the_gateway(gw: Gateway, mock: MockRealtime) -> None:
    """``client.realtime.connect`` with ``intent=transcription``: the upstream's socket
    has no model, the route named as the transcription model reaches it as the
    deployment's, and the typed events (the SDK parses each) come back."""
    async with sdk(gw).realtime.connect(
        model="rt-transcribe", extra_query={"intent": "transcription"}
    ) as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.type == "transcription"
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {"input": {"transcription": {"model": "rt-transcribe"}}},
            }
        )
        updated = await conn.recv()
        assert updated.type == "session.updated"
        assert updated.session.audio.input.transcription.model == "rt-transcribe"
        await conn.input_audio_buffer.append(audio=ONE_SECOND)
        await conn.input_audio_buffer.commit()
        done = None
        async for event in conn:
            if event.type == "conversation.item.input_audio_transcription.completed":
                done = event
                break
        assert done is not None and done.transcript == "Hello, how are you?"
        assert done.usage.type == "tokens" and done.usage.input_tokens == 38
    handshake = mock.handshakes[-1]
    assert handshake.path == "/v1/realtime" and handshake.query == {"intent": "transcription"}
    assert KEY not in json.dumps(handshake.headers)
    update = next(e for e in reversed(mock.events) if e["type"] == "session.update")
    assert update["session"]["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
    [row] = journal_rows(gw, 1, "rt-transcribe")
    assert row["status"] == 200 and row["upstream_model"] == "gpt-4o-transcribe"
    assert (row["input_tokens"], row["output_tokens"]) == (38, 10)
    # at the catalog's gpt-4o-transcribe prices (catalog.media: $6 in, $10 out per 1M)
    assert abs(Decimal(str(row["cost_usd"])) - Decimal(38 * 6 + 10 * 10) / 10**6) < Decimal("1e-9")
    assert logged_requests(gw, "rt-transcribe") == [
        {"session": "transcription", "transcriptions": 1}
    ]


async def test_the_sdk_conversations_input_transcription_is_counted(
    gw: Gateway, mock: MockRealtime
) -> None:
    """A conversation with input transcription (#64): a route named as its model gets
    the deployment's model upstream; the transcription's usage is journaled on the
    session's row at that model's prices although no response ever came."""
    async with sdk(gw).realtime.connect(model="rt-heard") as conn:
        await conn.recv()
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"transcription": {"model": "rt-transcribe"}}},
            }
        )
        updated = await conn.recv()
        assert updated.type == "session.updated", updated
        assert updated.session.audio.input.transcription.model == "rt-transcribe"
        await conn.input_audio_buffer.append(audio=ONE_SECOND)
        await conn.input_audio_buffer.commit()
        async for event in conn:
            if event.type == "conversation.item.input_audio_transcription.completed":
                break
    update = next(e for e in reversed(mock.events) if e["type"] == "session.update")
    assert update["session"]["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
    [row] = journal_rows(gw, 1, "rt-heard")
    assert row["status"] == 200 and (row["input_tokens"], row["output_tokens"]) == (38, 10)
    assert abs(Decimal(str(row["cost_usd"])) - Decimal(38 * 6 + 10 * 10) / 10**6) < Decimal("1e-9")
    [logged] = logged_requests(gw, "rt-heard")
    assert logged["input_transcription"]["model"] == "rt-transcribe"


async def test_the_sdk_transcribes_on_azure_with_the_deployment_in_the_session(
    gw: Gateway, mock: MockRealtime
) -> None:
    """Azure refuses a transcription socket naming a deployment: the URL has the intent
    only, the deployment's name goes in the session (Azure's Realtime reference)."""
    async with sdk(gw).realtime.connect(
        model="rt-az-transcribe", extra_query={"intent": "transcription"}
    ) as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {"input": {"transcription": {"model": "rt-az-transcribe"}}},
            }
        )
        assert (await conn.recv()).type == "session.updated"
        await conn.input_audio_buffer.append(audio=ONE_SECOND)
        await conn.input_audio_buffer.commit()
        async for event in conn:
            if event.type == "conversation.item.input_audio_transcription.completed":
                break
    handshake = mock.handshakes[-1]
    assert (handshake.path, handshake.query) == ("/openai/v1/realtime", {"intent": "transcription"})
    update = next(e for e in reversed(mock.events) if e["type"] == "session.update")
    assert update["session"]["audio"]["input"]["transcription"]["model"] == (
        "my-transcribe-deployment"
    )
    [row] = journal_rows(gw, 1, "rt-az-transcribe")
    assert row["status"] == 200 and (row["input_tokens"], row["output_tokens"]) == (38, 10)


async def test_a_transcription_by_the_second_is_priced_per_second(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    async with connect(ws_url(gw, "model=rt-live&intent=transcription"),
                       additional_headers=auth) as ws:  # fmt: skip
        await ws.recv()
        update = {"type": "session.update", "session": {"type": "transcription",
                  "audio": {"input": {"transcription": {"model": "rt-live"}}}}}  # fmt: skip
        await ws.send(json.dumps(update))
        await ws.recv()
        for _ in range(2):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": ONE_SECOND}))
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        event: dict = {}
        while event.get("type") != "conversation.item.input_audio_transcription.completed":
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert event["usage"] == {"type": "duration", "seconds": 2.0}
    [row] = journal_rows(gw, 1, "rt-live")
    # developers.openai.com/api/docs/models/gpt-live-transcribe: $0.017 a minute
    assert abs(Decimal(str(row["cost_usd"])) - Decimal("0.017") / 60 * 2) < Decimal("1e-9")
    [logged] = logged_requests(gw, "rt-live")
    assert logged["audio_seconds"] == 2.0 and logged["audio_seconds_from"] == "upstream"


@pytest.mark.parametrize(("route", "path"), [
    ("rt-translate", "/v1/realtime/translations"),
    ("rt-translate-azure", "/openai/v1/realtime/translations"),
])  # fmt: skip
async def test_the_sdk_translates_through_the_gateway(
    gw: Gateway, mock: MockRealtime, route: str, path: str
) -> None:
    """``client.realtime.translations.connect``: relayed to the deployment's translation
    socket (Azure's under ``/openai/v1``), the typed events back, the seconds of audio
    measured and priced at $0.034 a minute (the model's page on developers.openai.com)."""
    async with sdk(gw).realtime.translations.connect(model=route, max_retries=0) as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.model == route
        await conn.send({"type": "session.update",
                         "session": {"audio": {"output": {"language": "fr"}}}})  # fmt: skip
        updated = await conn.recv()
        assert updated.type == "session.updated" and updated.session.audio.output.language == "fr"
        kinds = []
        for _ in range(3):
            await conn.send({"type": "session.input_audio_buffer.append", "audio": ONE_SECOND})
            for _ in range(3):
                kinds.append((await conn.recv()).type)
        assert kinds.count("session.output_audio.delta") == 3
        await conn.send({"type": "session.close"})
        assert (await conn.recv()).type == "session.closed"
    handshake = mock.handshakes[-1]
    assert handshake.path == path and handshake.query == {"model": "gpt-realtime-translate"}
    [row] = journal_rows(gw, 1, route)
    assert row["status"] == 200 and row["upstream_model"] == "gpt-realtime-translate"
    assert abs(Decimal(str(row["cost_usd"])) - Decimal("0.034") / 60 * 3) < Decimal("1e-9")
    [logged] = logged_requests(gw, route)
    assert logged == {"session": "translation", "transcriptions": 0, "audio_seconds": 3.0,
                      "audio_seconds_from": "measured", "priced_per_second": True}  # fmt: skip


async def test_a_translation_is_governed_like_any_session(gw: Gateway) -> None:
    """A key limited to another route is refused the socket; a budget of $0.05 is spent
    by the 89th second of audio ($0.0504 at $0.034 a minute): the session is cut there,
    audio appended in 10-second events."""
    translations = gw.url.replace("http://", "ws://") + "/v1/realtime/translations?model="
    narrow = {"Authorization": f"Bearer {NARROW}"}
    async with connect(translations + "rt-translate", additional_headers=narrow) as ws:
        refused = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert refused["error"]["type"] == "permission_error" and ws.close_code == 1008
    only = {"Authorization": f"Bearer {TRANSLATE_ONLY}"}
    async with connect(ws_url(gw, "model=rt-transcribe&intent=transcription"),
                       additional_headers=only) as ws:  # fmt: skip
        assert json.loads(await ws.recv())["error"]["type"] == "permission_error"
    tiny = {"Authorization": f"Bearer {TINY}"}
    async with connect(translations + "rt-translate", additional_headers=tiny) as ws:
        await ws.recv()  # session.created
        events: list[dict] = []
        ten = base64.b64encode(bytes(480_000)).decode()
        for _ in range(9):
            append = {"type": "session.input_audio_buffer.append", "audio": ten}
            await ws.send(json.dumps(append))
        with pytest.raises(ConnectionClosed):
            while True:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["error"]["code"] == "budget_exceeded", events
    assert ws.close_code == 1008 and ws.close_reason == "budget exhausted"
    [row] = journal_rows(gw, 1, "rt-translate", status=429, key="rt-tiny")
    assert row["finish_reason"] == "budget exhausted"
    assert Decimal(str(row["cost_usd"])) == Decimal("0.034") / 60 * 90  # every second counted
