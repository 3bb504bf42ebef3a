"""A request without a usable key is refused from its headers, before its body is read:
40 concurrent unauthenticated 31 MiB posts leave a worker's memory where it was, and the
connection stays usable (the server discards the body the client still sends)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

BODY_BYTES = 31 * 1024 * 1024
CONCURRENCY = 40
RSS_GROWTH_LIMIT_MB = 50
PATHS = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("unauth"), workers=2) as gw:
        yield gw


def worker_pids(server_pid: int) -> list[int]:
    """The uvicorn worker processes (``gateway.server.worker``, children of ``manage.py serve``)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    pids = []
    for pid in map(int, children):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"gateway.server.worker" in cmdline:
            pids.append(pid)
    return pids


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    """Samples the workers' RSS every 20 ms in a thread; keeps each one's peak."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = {pid: rss_mb(pid) for pid in pids}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_mb(pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def unauthenticated_post(port: int, path: str, key: str) -> tuple[int, bytes, int]:
    """Post a 31 MiB body while watching for the answer; stop sending once it came.
    Returns (status, body, bytes of the body sent before the answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"x-api-key: {key}\r\n" if key else ""
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {BODY_BYTES}\r\n{auth}\r\n"
        ).encode()
    )
    answer = asyncio.ensure_future(read_response(reader))
    chunk = b" " * (256 * 1024)
    sent = 0
    try:
        while sent < BODY_BYTES and not answer.done():
            part = chunk[: BODY_BYTES - sent]
            writer.write(part)
            await writer.drain()
            sent += len(part)
            # drain() returns at once while the server reads (or discards) as fast as we
            # write: without this, a connection could send all its chunks before its
            # reader ever ran, and the answer would look late when it was not
            await asyncio.sleep(0)
    except ConnectionError:
        pass
    status, _, body = await asyncio.wait_for(answer, 60)
    writer.close()
    return status, body, sent


async def test_unauthenticated_big_posts_are_refused_before_their_body(gateway: Gateway) -> None:
    port = int(gateway.url.rsplit(":", 1)[1])
    pids = worker_pids(gateway.process.pid)
    assert len(pids) == 2, pids
    async with httpx.AsyncClient(base_url=gateway.url) as client:  # warm both workers up
        for _ in range(8):
            await client.get("/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"})
    before = {pid: rss_mb(pid) for pid in pids}
    paths = list(PATHS)
    started = time.monotonic()
    with PeakRss(pids) as rss:
        results = await asyncio.gather(
            *(
                unauthenticated_post(port, paths[n % 2], "" if n % 4 < 2 else "sy-wrong-key")
                for n in range(CONCURRENCY)
            )
        )
    elapsed = time.monotonic() - started
    growth = {pid: rss.peak[pid] - before[pid] for pid in pids}
    print(f"RSS before {before}, growth {growth}, {elapsed:.1f}s")
    assert all(g < RSS_GROWTH_LIMIT_MB for g in growth.values()), growth
    for n, (status, body, sent) in enumerate(results):
        dialect = PATHS[paths[n % 2]]
        error = orjson.loads(body)
        assert status == 401, (status, body)
        if dialect == "anthropic":
            assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
        else:
            assert error["error"]["code"] == "invalid_api_key"
        assert sent < BODY_BYTES, "answered only after the whole body was sent"
    assert elapsed < 30


def test_the_connection_stays_usable_after_a_refused_body(gateway: Gateway) -> None:
    """The refused body is discarded by the server; the next request on the same
    connection is parsed from its own first byte."""
    body = orjson.dumps(
        {"model": "echo", "messages": [{"role": "user", "content": "x" * (2 * 1024 * 1024)}]}
    )
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for _ in range(2):
            refused = client.post(
                "/v1/chat/completions", content=body, headers={"x-api-key": "bad"}
            )
            assert refused.status_code == 401
            ok = client.post(
                "/v1/chat/completions",
                json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
                headers={"authorization": f"Bearer {MASTER_KEY}"},
            )
            assert ok.status_code == 200, ok.text
        assert client._transport._pool.connections.__len__() == 1  # one connection throughout
