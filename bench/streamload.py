"""Streaming load generator: CONCURRENCY keep-alive connections each POST a streaming
body in a loop for DURATION seconds, read the chunked SSE answer to its end and record
the latency and the time to first token (the first time ``--marker`` appears in the
body). Raw asyncio sockets (uvloop when installed) so the client costs little.

Prints one JSON line: requests, rps, p50/p99 latency and TTFT (ms), errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.ttfts: list[float] = []
        self.errors = 0
        self.statuses: dict[int, int] = {}


async def read_response(
    reader: asyncio.StreamReader, marker: bytes, started: float
) -> tuple[int, float | None, bool]:
    """(status, ttft seconds or None, keep_alive) after reading the whole response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    ttft: float | None = None
    tail = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            if ttft is None and marker in tail + data:
                ttft = time.perf_counter() - started
            tail = data[-len(marker) :]
    else:
        length = int(headers.get("content-length", "0"))
        data = await reader.readexactly(length)
        if marker in data:
            ttft = time.perf_counter() - started
    return status, ttft, headers.get("connection") != "close"


async def worker(args: argparse.Namespace, request: bytes, deadline: float, stats: Stats) -> None:
    url = urlsplit(args.url)
    marker = args.marker.encode()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        try:
            if reader is None or writer is None:
                reader, writer = await asyncio.open_connection(url.hostname, url.port)
            started = time.perf_counter()
            writer.write(request)
            remaining = max(0.1, deadline - started + args.grace)
            status, ttft, keep = await asyncio.wait_for(
                read_response(reader, marker, started), remaining
            )
            elapsed = time.perf_counter() - started
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            if status != 200 or ttft is None:
                stats.errors += 1
            else:
                stats.latencies.append(elapsed)
                stats.ttfts.append(ttft)
            if not keep:
                writer.close()
                writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            stats.errors += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    body = args.body
    headers = [
        f"POST {url.path} HTTP/1.1",
        f"Host: {url.hostname}:{url.port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(body)}",
        *args.header,
    ]
    request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
    stats = Stats()
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(*(worker(args, request, deadline, stats) for _ in range(args.concurrency)))
    wall = time.perf_counter() - started
    ms = 1000.0
    return {
        "requests": len(stats.latencies),
        "rps": len(stats.latencies) / wall,
        "p50_ms": percentile(stats.latencies, 50) * ms,
        "p99_ms": percentile(stats.latencies, 99) * ms,
        "ttft_p50_ms": percentile(stats.ttfts, 50) * ms,
        "ttft_p99_ms": percentile(stats.ttfts, 99) * ms,
        "errors": stats.errors,
        "statuses": stats.statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds a request may run over")
    parser.add_argument("--marker", default="Hello")
    args = parser.parse_args()
    with open(args.body_file, "rb") as f:
        args.body = f.read()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
