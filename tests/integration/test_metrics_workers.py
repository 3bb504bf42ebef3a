"""``serve --workers 2``: /metrics counts every worker's requests, whichever worker
answers the scrape, and never goes down from one scrape to the next (Prometheus would
read that as a counter reset)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.live import MASTER_KEY, running_gateway

OK = 'switchyard_requests_total{route="echo",status="200",dialect="openai"}'


def requests_total(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"connection": "close"}, timeout=10).text
    for line in text.splitlines():
        if line.startswith(OK):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "workers", workers=2) as gw:
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {MASTER_KEY}", "connection": "close"}
        during = []
        for n in range(40):  # a new connection each: the kernel spreads them over workers
            reply = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers)
            assert reply.status_code == 200
            if n % 4 == 3:
                during.append(requests_total(gw.url))
        assert during == sorted(during), f"a counter went down between scrapes: {during}"
        deadline = time.monotonic() + 10
        while requests_total(gw.url) != 40 and time.monotonic() < deadline:
            time.sleep(0.2)
        seen = [requests_total(gw.url) for _ in range(12)]
        assert seen == [40] * 12, seen
        folder = gw.data_dir / "metrics"
        pids = {p.stem for p in folder.glob("*.json")}
        assert len(pids) == 2, "each worker publishes its counts"
