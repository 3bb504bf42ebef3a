"""The journal against a real server: several hundred concurrent mixed requests leave
exactly one correct row each; SIGTERM under load loses no completed request; and no
key material reaches the database file."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

VIRTUAL_KEY = "sy-live-virtual-key-0123456789abcdefXYZ"
PROVIDER_SECRET = "sk-live-provider-secret-9876543210abc"
SETUP = f"""
from decimal import Decimal
from gateway.models import ApiKey, Deployment, Provider, Route
echo = Provider.objects.get(name="echo")
failing = Route.objects.create(name="echo-fail", max_attempts=1)
Deployment.objects.create(route=failing, provider=echo, model="echo-fail",
    params={{"fail_status": 500}}, input_price=Decimal("0.10"), output_price=Decimal("0.40"))
upstream = Provider(name="secret-upstream", kind="openai", base_url="http://127.0.0.1:9/v1")
upstream.set_secret({PROVIDER_SECRET!r})
upstream.save()
guarded = Route.objects.create(name="secret-route", max_attempts=1)
Deployment.objects.create(route=guarded, provider=upstream, model="gpt-x")
ApiKey.objects.create(name="live-key", prefix={VIRTUAL_KEY[:8]!r},
    key_hash=ApiKey.hash_key({VIRTUAL_KEY!r}))
"""
PRICE_IN, PRICE_OUT = Decimal("0.10"), Decimal("0.40")  # seed_demo's echo prices per 1M


@dataclass
class Sent:
    request_id: str
    kind: str
    dialect: str
    route: str
    stream: bool
    key_name: str
    status: int = 0
    usage: tuple[int, int] | None = None
    complete: bool = False


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"SWITCHYARD_JOURNAL_FLUSH_SECONDS": "0.2"}
    setup = [["shell", "-c", SETUP]]
    with running_gateway(tmp_path_factory.mktemp("journal"), env=env, setup=setup) as gw:
        yield gw


def rows_by_request_id(data_dir: Path) -> dict[str, list[dict]]:
    db = sqlite3.connect(data_dir / "switchyard.sqlite3")
    db.row_factory = sqlite3.Row
    out: dict[str, list[dict]] = {}
    for row in db.execute("SELECT * FROM gateway_requestlog"):
        out.setdefault(row["request_id"], []).append(dict(row))
    db.close()
    return out


def headers_for(dialect: str, key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if dialect == "anthropic":
        out.update({"x-api-key": key, "anthropic-version": "2023-06-01"})
    else:
        out["authorization"] = f"Bearer {key}"
    return out


def body_for(dialect: str, model: str, text: str, stream: bool) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if dialect == "anthropic":
        body["max_tokens"] = 256
    elif stream:
        body["stream_options"] = {"include_usage": True}
    return body


def path_for(dialect: str) -> str:
    return "/v1/messages" if dialect == "anthropic" else "/v1/chat/completions"


def usage_of(dialect: str, data: dict) -> tuple[int, int]:
    usage = data["usage"]
    if dialect == "anthropic":
        return usage["input_tokens"], usage["output_tokens"]
    return usage["prompt_tokens"], usage["completion_tokens"]


async def send(client: httpx.AsyncClient, sent: Sent, key: str, text: str, cut: bool = False):
    headers = headers_for(sent.dialect, key)
    body = body_for(sent.dialect, sent.route or "no-such-model", text, sent.stream)
    url = path_for(sent.dialect)
    if not sent.stream:
        response = await client.post(url, headers=headers, json=body)
        sent.request_id = response.headers["x-request-id"]  # the gateway names each request
        sent.status = response.status_code
        if response.status_code == 200:
            sent.usage = usage_of(sent.dialect, response.json())
        sent.complete = True
        return
    async with client.stream("POST", url, headers=headers, json=body) as response:
        sent.request_id = response.headers["x-request-id"]
        sent.status = response.status_code
        chunks = 0
        transcript = b""
        async for chunk in response.aiter_bytes():
            transcript += chunk
            chunks += 1
            if cut and chunks >= 2:
                return  # leaving the block closes the connection mid-stream
        sent.complete = b"[DONE]" in transcript or b"message_stop" in transcript


def plan(total: int) -> list[tuple[Sent, str, str, bool]]:
    """(what to send, key, text, cut mid-stream) for a shuffled mix of ``total``."""
    kinds = [
        ("ok", "openai", "echo", False),
        ("ok", "openai", "echo", True),
        ("ok", "anthropic", "echo", False),
        ("ok", "anthropic", "echo-pair", True),
        ("ok", "openai", "echo-pair", False),
        ("upstream_error", "openai", "echo-fail", False),
        ("upstream_error", "anthropic", "echo-fail", True),
        ("unknown_model", "openai", "", False),
        ("unknown_model", "anthropic", "", False),
        ("bad_key", "openai", "echo", False),
        ("bad_key", "anthropic", "echo", True),
        ("cut", "openai", "echo-slow", True),
        ("cut", "anthropic", "echo-slow", True),
    ]
    out = []
    for n in range(total):
        kind, dialect, route, stream = kinds[n % len(kinds)]
        key, key_name = (VIRTUAL_KEY, "live-key") if n % 2 else (MASTER_KEY, "master")
        if kind == "bad_key":
            key, key_name = "sy-wrong-key-" + "x" * 20, ""
        words = 40 if kind == "cut" else 1 + n % 7
        text = " ".join(f"w{i}" for i in range(words))
        sent = Sent(f"live-{n:04d}", kind, dialect, route, stream, key_name)
        out.append((sent, key, text, kind == "cut"))
    random.Random(7).shuffle(out)
    return out


async def fire(url: str, work: list[tuple[Sent, str, str, bool]], concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(item):
            async with gate:
                await send(client, *item)

        await asyncio.gather(*(one(item) for item in work))


EXPECTED_STATUS = {"ok": 200, "unknown_model": 404, "bad_key": 401, "cut": 499}


async def test_every_request_leaves_exactly_one_correct_row(gateway: Gateway) -> None:
    work = plan(390)
    await fire(gateway.url, work, concurrency=64)
    await asyncio.sleep(1.0)  # cut streams: the server notices the disconnect, then flushes
    sent = [item[0] for item in work]

    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        auth = {"authorization": f"Bearer {MASTER_KEY}"}
        for _ in range(50):  # wait until the writer has flushed every row
            total = len(rows_by_request_id(gateway.data_dir))
            if total >= len(sent):
                break
            await asyncio.sleep(0.2)
        metrics_text = (await client.get("/metrics")).text
        listed = await client.get(
            "/api/logs/",
            params={"route": "echo-fail", "status": "5xx", "limit": 500},
            headers=auth,
        )
        detail = await client.get(f"/api/logs/{sent[0].request_id}", headers=auth)

    rows = rows_by_request_id(gateway.data_dir)
    assert sorted(rows) == sorted(s.request_id for s in sent), "one row per request, no others"
    assert all(len(found) == 1 for found in rows.values())
    for s in sent:
        row = rows[s.request_id][0]
        context = f"{s} -> {row}"
        if s.kind == "upstream_error":
            assert s.status >= 500 or (s.stream and s.status == 200), context
            assert row["status"] >= 500 and row["error_kind"], context
        else:
            assert row["status"] == EXPECTED_STATUS[s.kind], context
        if s.kind != "cut" and not (s.kind == "upstream_error" and s.stream):
            assert row["status"] == s.status, context
        assert row["dialect"] == s.dialect and row["endpoint"] == "chat", context
        assert bool(row["stream"]) == (s.stream and s.kind not in ("unknown_model", "bad_key")), (
            context
        )
        assert row["key_name"] == s.key_name, context
        assert bool(row["client_disconnected"]) == (s.kind == "cut"), context
        assert row["latency_ms"] > 0, context
        if s.kind == "ok":
            assert row["route"] == s.route and row["provider"] == "echo", context
            assert row["input_tokens"] > 0 and row["output_tokens"] > 0, context
            cost = (row["input_tokens"] * PRICE_IN + row["output_tokens"] * PRICE_OUT) / 10**6
            assert Decimal(str(row["cost_usd"])) == pytest.approx(cost), context
            assert row["finish_reason"] in ("stop", "end_turn"), context
            assert orjson.loads(row["attempts"])[-1]["status"] == 200, context
            if s.usage is not None:
                assert (row["input_tokens"], row["output_tokens"]) == s.usage, context
            if s.stream:
                assert s.complete, context
                assert row["ttft_ms"] is not None and 0 < row["ttft_ms"] <= row["latency_ms"], (
                    context
                )
            else:
                assert row["ttft_ms"] is None, context
            assert row["upstream_ms"] is not None and row["overhead_ms"] is not None, context
        if s.kind == "cut":
            assert row["route"] == "echo-slow" and row["ttft_ms"] is not None, context
            assert row["latency_ms"] < 1900, context  # cut early, not streamed to the end
        if s.kind in ("unknown_model", "bad_key"):
            assert row["input_tokens"] == 0 and Decimal(str(row["cost_usd"])) == 0, context

    # what the management API and the metrics say agrees with the table
    failing = [s for s in sent if s.kind == "upstream_error"]
    assert listed.status_code == 200
    assert sorted(i["request_id"] for i in listed.json()["items"]) == sorted(
        s.request_id for s in failing
    )
    assert detail.status_code == 200 and detail.json()["bodies"] is not None
    requests_total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics_text.splitlines()
        if line.startswith("switchyard_requests_total{")
    )
    assert requests_total == len(sent)
    assert "switchyard_journal_dropped_total 0" in metrics_text


async def test_no_key_material_reaches_the_database(gateway: Gateway) -> None:
    leak = f"remember {MASTER_KEY} and {VIRTUAL_KEY} and {PROVIDER_SECRET} please"
    work = []
    for n, (dialect, route, stream) in enumerate(
        [
            ("openai", "echo", False),
            ("openai", "echo", True),
            ("anthropic", "echo", False),
            ("anthropic", "echo", True),
            ("openai", "secret-route", False),
            ("anthropic", "secret-route", True),
        ]
    ):
        sent = Sent(f"leak-{n}", "ok", dialect, route, stream, "live-key")
        work.append((sent, VIRTUAL_KEY, leak, False))
    await fire(gateway.url, work, concurrency=6)
    for _ in range(50):
        rows = rows_by_request_id(gateway.data_dir)
        if all(s.request_id in rows for s, *_ in work):
            break
        await asyncio.sleep(0.2)
    assert all(s.request_id in rows for s, *_ in work)
    db = sqlite3.connect(gateway.data_dir / "switchyard.sqlite3")
    bodies = db.execute(
        "SELECT inbound_request, outbound_response FROM gateway_requestbody"
    ).fetchall()
    db.execute("PRAGMA wal_checkpoint(FULL)")
    db.close()
    assert any("remember [redacted]" in inbound for inbound, _ in bodies)  # bodies were kept
    files = list(gateway.data_dir.glob("switchyard.sqlite3*"))
    assert files
    for path in files:
        content = path.read_bytes()
        for secret in (MASTER_KEY, VIRTUAL_KEY, PROVIDER_SECRET):
            assert secret.encode() not in content, f"{secret} found in {path.name}"


async def test_sigterm_under_load_keeps_every_completed_request(tmp_path: Path) -> None:
    # A long flush interval: at SIGTERM most rows are still queued, so only drain()
    # can have written them.
    env = {"SWITCHYARD_JOURNAL_FLUSH_SECONDS": "30"}
    completed: list[str] = []
    attempted: list[str] = []
    with running_gateway(tmp_path / "sigterm", env=env) as gw:
        stop = asyncio.Event()

        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        client = httpx.AsyncClient(base_url=gw.url, timeout=30, limits=limits)

        async def worker(n: int) -> None:  # one shared client: creating one costs ~0.1 s
            i = 0
            while not stop.is_set():
                dialect = "anthropic" if (n + i) % 2 else "openai"
                stream = i % 3 != 0
                route = "echo-slow" if i % 4 == 1 else "echo"
                sent = Sent(f"sig-{n}-{i}", "ok", dialect, route, stream, "master")
                i += 1
                attempted.append(sent.request_id)  # replaced by the server's id once answered
                try:
                    await send(client, sent, MASTER_KEY, "one two three four")
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
                    continue
                if sent.status == 200 and sent.complete:
                    completed.append(sent.request_id)

        warm_up = [
            (Sent(f"warm-{d}", "ok", d, "echo", False, "master"), MASTER_KEY, "hi", False)
            for d in ("openai", "anthropic")
        ]
        await fire(gw.url, warm_up, concurrency=2)  # first requests load the tokenizer
        workers = [asyncio.create_task(worker(n)) for n in range(24)]
        # under load means at least 50 answered: on a busy machine that takes longer
        # than the usual 2.5 s, so wait for it (up to 30 s) rather than a fixed time
        deadline = asyncio.get_running_loop().time() + 30
        await asyncio.sleep(2.5)
        while len(completed) <= 50 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 - polls a count with a deadline
            await asyncio.sleep(0.1)
        before = len(completed)
        gw.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(gw.process.wait, 40)
        stop.set()
        await asyncio.gather(*workers)
        await client.aclose()
    assert before > 50, "the server was under load when SIGTERM arrived"
    rows = rows_by_request_id(gw.data_dir)
    missing = [rid for rid in completed if rid not in rows]
    assert not missing, f"{len(missing)} of {len(completed)} completed requests have no row"
    assert all(len(rows[rid]) == 1 for rid in completed)
    assert len(rows) <= len(attempted) + len(warm_up), "no row without a request"
    assert exit_code is not None
