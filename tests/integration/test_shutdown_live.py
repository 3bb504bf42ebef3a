"""SIGTERM against a real server, ``serve --workers 1`` and ``--workers 2`` (uvicorn
workers under the supervisor): the server stops accepting first (a new connection is
refused, which a load balancer retries on another instance, never answered 503), and
drains: requests on its kept-alive connections are served with ``Connection: close``
and the connection ends with a FIN (no reset), an idle one gets a FIN, a short stream
in flight finishes whole, and a stream still open when the grace period ends gets its
dialect's in-stream error event (and ``[DONE]`` for OpenAI), is journaled as ended by
the shutdown; a request completed after the deadline gets a 503 with ``Connection:
close`` in its dialect, journaled; and the log has no traceback.

"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import threading
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


def kept_alive(port: int) -> socket.socket:
    """A connection that served one request and stays open (keep-alive)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /health/liveliness HTTP/1.1\r\nhost: x\r\n\r\n")
    answer = b""
    while b'"alive"' not in answer:
        answer += sock.recv(4096)
    sock.settimeout(GRACE + 15)
    return sock


def read_to_end(sock: socket.socket) -> bytes:
    """Everything until the server's FIN (a reset raises ConnectionResetError)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


CHAT = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    b"authorization: Bearer " + MASTER_KEY.encode() + b"\r\ncontent-length: %d\r\n\r\n%s"
)
PLAIN = orjson.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]})


def read_answer(sock: socket.socket, pending: bytes) -> tuple[bytes, bytes]:
    """One answer with a Content-Length (its head and body), and the bytes after it."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed before an answer: {pending!r}")
        pending += chunk
    head, rest = pending.split(b"\r\n\r\n", 1)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed in a body")
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def back_to_back(port: int, stop: threading.Event, out: dict) -> None:
    """API requests on one kept-alive connection without pause until an answer says
    ``Connection: close``; then the connection must end with a FIN."""
    out["statuses"], out["times"] = [], []
    with socket.create_connection(("127.0.0.1", port), timeout=GRACE + 15) as sock:
        pending = b""
        while not stop.is_set():
            sock.sendall(CHAT % (len(PLAIN), PLAIN))
            answer, pending = read_answer(sock, pending)
            out["statuses"].append(int(answer[9:12]))
            out["times"].append(time.monotonic())
            if b"\r\nconnection: close\r\n" in answer.lower():
                out["closed"] = answer
                out["after"] = pending + read_to_end(sock)
                return


def refused_soon(port: int, out: dict) -> None:
    """New API requests until a connection is refused: those answered before must be
    served (200), never a 503."""
    out["answered"] = []
    deadline = time.monotonic() + 5
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                response = client.post(
                    "/v1/chat/completions", content=PLAIN, headers={**AUTH, "connection": "close"}
                )
            except httpx.ConnectError as exc:
                out["refused"] = exc
                out["refused_at"] = time.monotonic()
                return
            out["answered"].append(response.status_code)


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
async def test_sigterm_stops_accepting_first_then_drains_without_errors_or_resets(
    tmp_path: Path, workers: int
) -> None:
    env = {"SWITCHYARD_SHUTDOWN_GRACE_SECONDS": str(GRACE)}
    with running_gateway(tmp_path, env=env, setup=[["shell", "-c", SETUP]], workers=workers) as gw:
        streams = {"openai": {}, "anthropic": {}}
        short: dict = {}
        port = int(gw.url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=gw.url, timeout=60) as client:
            tasks = [
                asyncio.ensure_future(open_stream(client, d, out)) for d, out in streams.items()
            ]
            deadline = time.monotonic() + 15
            while not all(out.get("text") for out in streams.values()):  # both under way
                assert time.monotonic() < deadline, streams
                assert not any(t.done() for t in tasks), [t.exception() for t in tasks]
                await asyncio.sleep(0.05)
            idle = kept_alive(port)
            # a request whose head is still arriving: completed only after the deadline
            late = socket.create_connection(("127.0.0.1", port), timeout=GRACE + 15)
            late_request = CHAT % (len(PLAIN), PLAIN)
            late.sendall(late_request[:40])
            stop, busy = threading.Event(), {}
            looping = threading.Thread(target=back_to_back, args=(port, stop, busy))
            looping.start()
            short_stream = asyncio.ensure_future(short_stream_of(client, short))
            while not short.get("text"):  # under way: it must finish whole
                assert not short_stream.done(), short_stream.exception()
                await asyncio.sleep(0.02)
            signalled = time.monotonic()
            gw.process.send_signal(signal.SIGTERM)
            fresh: dict = {}
            await asyncio.to_thread(refused_soon, port, fresh)
            await asyncio.to_thread(looping.join, GRACE + 15)
            stop.set()
            await asyncio.wait_for(short_stream, GRACE + 10)
            await asyncio.wait_for(asyncio.gather(*tasks), GRACE + 10)
            await asyncio.sleep(0.5)  # every worker's deadline passed (they began apart)
            late.sendall(late_request[40:])  # the grace period is over: refused
            refused = await asyncio.to_thread(read_to_end, late)
            late.close()
            ended = time.monotonic() - signalled
            assert await asyncio.to_thread(read_to_end, idle) == b""  # FIN, not a reset
            idle.close()
        gw.process.wait(timeout=20)
        log = gw.log()

    # a new connection during the drain is refused (nothing sent: a proxy retries it
    # elsewhere); requests that got in first were served, none refused with a 503
    assert isinstance(fresh.get("refused"), httpx.ConnectError), fresh
    assert isinstance(fresh["refused"].__cause__ or fresh["refused"], Exception)
    assert fresh["refused_at"] - signalled < 3, fresh
    assert set(fresh["answered"]) <= {200}, fresh["answered"]
    # the kept-alive connection: every request served, the one during the drain with
    # Connection: close, then a FIN (a reset would have raised in the thread)
    assert "closed" in busy, busy
    assert set(busy["statuses"]) == {200}, busy["statuses"]
    assert busy["times"][-1] > signalled and busy["after"] == b"", busy
    # the short stream in flight finished whole
    assert short["status"] == 200 and short["text"].rstrip().endswith("data: [DONE]"), short
    assert "error" not in short["text"], short["text"][-300:]
    assert GRACE - 0.5 <= ended <= GRACE + 5, ended  # held open for the long streams

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

    # after the deadline: a 503 in the dialect, Connection: close, journaled
    assert refused.startswith(b"HTTP/1.1 503") and b"connection: close" in refused, refused
    assert b"retry-after: 1" in refused and b"shutting down" in refused, refused
    refused_id = refused.split(b"x-request-id: ")[1].split(b"\r\n")[0].decode()

    rows = journal_rows(gw.data_dir)
    assert rows[short["request_id"]]["status"] == 200
    assert rows[refused_id]["status"] == 503, rows[refused_id]
    assert rows[refused_id]["error_kind"] == "overloaded_error", rows[refused_id]
    for out in streams.values():
        row = rows[out["request_id"]]
        assert row["status"] == 503 and row["error_kind"] == "overloaded_error", row
        assert not row["client_disconnected"] and row["ttft_ms"] is not None, row


async def short_stream_of(client: httpx.AsyncClient, out: dict) -> None:
    """A stream of about 1.5 s (echo-slow: 50 ms a word)."""
    body = {
        "model": "echo-slow",
        "stream": True,
        "messages": [{"role": "user", "content": " ".join(f"w{n}" for n in range(30))}],
    }
    async with client.stream("POST", PATHS["openai"], json=body, headers=AUTH) as response:
        out["status"] = response.status_code
        out["request_id"] = response.headers["x-request-id"]
        out["text"] = ""
        async for text in response.aiter_text():
            out["text"] += text
