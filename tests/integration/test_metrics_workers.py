"""``serve --workers 2``: /metrics counts every worker's requests, whichever worker
answers the scrape, and never goes down from one scrape to the next (Prometheus would
read that as a counter reset)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import httpx

from tests.live import MASTER_KEY, running_gateway

OK = 'switchyard_requests_total{route="echo",status="200",dialect="openai"}'
AT_LEAST = 40  # requests sent, and more until both workers have served some
AT_MOST = 1000  # new connections: the kernel hands each to whichever worker wakes first


def requests_total(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"connection": "close"}, timeout=10).text
    for line in text.splitlines():
        if line.startswith(OK):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def served_by_worker(folder: Path) -> dict[str, float]:
    """Requests each worker (by pid) counted, from the files they publish for /metrics
    (twice a second, and at each scrape they answer): a worker's file is there once it
    has started."""
    served: dict[str, float] = {}
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            published = json.loads(path.read_text())
            served[path.stem] = sum(value for _, value in published["registry"]["requests"])
    return served


def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "workers", workers=2) as gw:
        folder = gw.data_dir / "metrics"
        # the gateway is up once one worker serves; the other may still be starting (on
        # the loaded CI machine, long enough for every request below to go to the first)
        deadline = time.monotonic() + 90
        while len(served_by_worker(folder)) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.1)
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {MASTER_KEY}", "connection": "close"}
        during, sent = [], 0
        served = served_by_worker(folder)
        # a new connection each, until both workers have served some (counted in their
        # files, which the scrapes every fourth request bring up to date): else the sum
        # across workers would go untested
        while sent < AT_LEAST or len(served) < 2 or min(served.values()) == 0:
            assert sent < AT_MOST, f"one worker took every connection: {served}"
            reply = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers)
            assert reply.status_code == 200
            sent += 1
            if sent % 4 == 0:
                during.append(requests_total(gw.url))
                served = served_by_worker(folder)
        assert during == sorted(during), f"a counter went down between scrapes: {during}"
        deadline = time.monotonic() + 10
        while requests_total(gw.url) != sent and time.monotonic() < deadline:
            time.sleep(0.2)
        seen = [requests_total(gw.url) for _ in range(12)]
        assert seen == [sent] * 12, (sent, seen)
        pids = {p.stem for p in folder.glob("*.json")}
        assert len(pids) == 2, "each worker publishes its counts"
