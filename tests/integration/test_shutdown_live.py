"""SIGTERM against a real server, under daphne (one process) and uvicorn workers (the
recommended ``serve --workers 2``): while the server drains, a new API request gets a
503 with Retry-After in its dialect (not a connection reset); a stream still open when
the grace period ends gets its dialect's in-stream error event (and ``[DONE]`` for
OpenAI), is journaled as ended by the shutdown, and the log has no traceback."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.live import MASTER_KEY, running_gateway

GRACE = 3.0
SETUP = """
from gateway.models import Deployment, Provider, Route
echo = Provider.objects.get(name="echo")
long = Route.objects.create(name="echo-long", max_attempts=1)
Deployment.objects.create(route=long, provider=echo, model="echo-long", params={"delay": 0.25})
"""
LONG_TEXT = " ".join(f"word{n}" for n in range(400))  # 100 s at 4 words a second
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def chat_body(dialect: str, stream: bool) -> dict:
    body = {"model": "echo-long", "stream": stream}
    body["messages"] = [{"role": "user", "content": LONG_TEXT}]
    if dialect == "anthropic":
        body["max_tokens"] = 4096
    return body


PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


async def open_stream(client: httpx.AsyncClient, dialect: str, out: dict) -> None:
    """Stream until the server ends it; collect the raw text and the request id."""
    async with client.stream(
        "POST", PATHS[dialect], json=chat_body(dialect, True), headers=AUTH
    ) as response:
        out["status"] = response.status_code
        out["request_id"] = response.headers["x-request-id"]
        out["text"] = ""
        async for text in response.aiter_text():
            out["text"] += text


def events(text: str) -> list[tuple[str, str]]:
    """(event name, data) of each SSE event."""
    found = []
    for block in text.strip().split("\n\n"):
        name, data = "", ""
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
        if data:
            found.append((name, data))
    return found


def journal_rows(data_dir: Path) -> dict[str, dict]:
    con = sqlite3.connect(data_dir / "switchyard.sqlite3")
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("SELECT * FROM gateway_requestlog").fetchall()
    finally:
        con.close()
    return {row["request_id"]: dict(row) for row in rows}


@pytest.mark.parametrize("workers", [1, 2], ids=["daphne", "uvicorn-workers"])
async def test_sigterm_ends_streams_in_their_dialect_and_refuses_new_requests(
    tmp_path: Path, workers: int
) -> None:
    env = {"SWITCHYARD_SHUTDOWN_GRACE_SECONDS": str(GRACE)}
    with running_gateway(tmp_path, env=env, setup=[["shell", "-c", SETUP]], workers=workers) as gw:
        streams = {"openai": {}, "anthropic": {}}
        async with httpx.AsyncClient(base_url=gw.url, timeout=60) as client:
            tasks = [
                asyncio.ensure_future(open_stream(client, d, out)) for d, out in streams.items()
            ]
            deadline = time.monotonic() + 15
            while not all(out.get("text") for out in streams.values()):  # both under way
                assert time.monotonic() < deadline, streams
                assert not any(t.done() for t in tasks), [t.exception() for t in tasks]
                await asyncio.sleep(0.05)
            signalled = time.monotonic()
            gw.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)  # the workers have the signal and are draining
            assert all(not t.done() for t in tasks), "streams cut before the grace period"
            # a request during the drain: a fresh connection, answered, not reset
            async with httpx.AsyncClient(base_url=gw.url, timeout=10) as fresh:
                refused = {
                    dialect: await fresh.post(
                        PATHS[dialect], json=chat_body(dialect, False), headers=AUTH
                    )
                    for dialect in PATHS
                }
                ready = await fresh.get("/health/readiness")
            await asyncio.wait_for(asyncio.gather(*tasks), GRACE + 10)
            ended = time.monotonic() - signalled
        gw.process.wait(timeout=20)
        log = gw.log()

    for dialect, response in refused.items():
        assert response.status_code == 503, (dialect, response.text)
        assert response.headers["retry-after"] == "1"
        body = response.json()
        if dialect == "anthropic":
            assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"
        else:
            assert "shutting down" in body["error"]["message"]
    assert ready.status_code == 503
    assert GRACE - 0.5 <= ended <= GRACE + 5, ended  # held open for the grace period

    openai_events = events(streams["openai"]["text"])
    assert streams["openai"]["status"] == 200
    assert openai_events[-1] == ("", "[DONE]")
    error = orjson.loads(openai_events[-2][1])["error"]
    assert "shutting down" in error["message"]
    assert any("word" in data for _, data in openai_events[:-2])  # it was streaming

    anthropic_events = events(streams["anthropic"]["text"])
    name, data = anthropic_events[-1]
    assert name == "error"
    assert orjson.loads(data) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": error["message"]},
    }
    assert "Traceback" not in log, log

    rows = journal_rows(gw.data_dir)
    for out in streams.values():
        row = rows[out["request_id"]]
        assert row["status"] == 503 and row["error_kind"] == "overloaded_error", row
        assert not row["client_disconnected"] and row["ttft_ms"] is not None, row
