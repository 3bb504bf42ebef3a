"""Usage rollups on PostgreSQL (``DATABASE_URL``): the journal's writer adds each batch
to its group's row with one UPDATE that sums counters and merges the latency and TTFT
histograms in the database (``jsonb_each_text``). Two processes write batches of the
same groups at once, so rows are created concurrently (the insert that loses the race
is redone as an update) and updated under each other's row locks; every count must
still add up, bucket by bucket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]

# the records of one writer: two routes in the current hour, latencies spread over
# buckets so that the two writers' histograms overlap in some and not in others
WRITER = """
import sys, time
from decimal import Decimal
import django
django.setup()
from gateway import journal
from gateway.journal import Record

seed, batches = int(sys.argv[1]), int(sys.argv[2])
now = time.time()
for b in range(batches):
    journal.write_batch([
        Record(
            request_id=f"w{seed}-{b}-{i}",
            created_at=now,
            route=("fast", "slow")[i % 2],
            dialect="openai",
            endpoint="chat",
            status=200,
            latency_ms=float(1 + (seed * 7 + b + i) % 400),
            ttft_ms=float(1 + i) if i % 3 else None,
            input_tokens=10,
            output_tokens=i,
            cost_usd=Decimal("0.00000125"),
        )
        for i in range(25)
    ])
"""

CHECK = """
import json
import django
django.setup()
from gateway.models import RequestLog, UsageRollup
from gateway.telemetry import rollups

rows = {}
for row in UsageRollup.objects.all():
    rows[row.route] = {
        "requests": row.requests,
        "output_tokens": row.output_tokens,
        "cost": str(row.cost_usd),
        "latency": row.latency_hist,
        "ttft": row.ttft_hist,
        "ttft_count": row.ttft_count,
    }
expected = {}
for route in ("fast", "slow"):
    logs = RequestLog.objects.filter(route=route)
    latency, ttft = {}, {}
    for ms, first in logs.values_list("latency_ms", "ttft_ms"):
        rollups._bump(latency, ms)
        if first is not None:
            rollups._bump(ttft, first)
    expected[route] = {"requests": logs.count(), "latency": latency, "ttft": ttft}
print(json.dumps({"rows": rows, "expected": expected}))
"""


def run(code: str, url: str, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "DEBUG": "0",
    }
    env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-4000:]
    return out


def test_two_writers_add_up_in_the_same_rollup_rows(database_url: str) -> None:
    writers = [run(WRITER, database_url, str(seed), "20") for seed in (1, 2)]
    for writer in writers:
        finished(writer)
    report = json.loads(finished(run(CHECK, database_url)))
    rows, expected = report["rows"], report["expected"]
    assert set(rows) == {"fast", "slow"}
    for route, per_batch in (("fast", 13), ("slow", 12)):
        row, want = rows[route], expected[route]
        assert row["requests"] == want["requests"] == 2 * 20 * per_batch
        assert row["latency"] == want["latency"]  # every bucket, both writers' counts
        assert row["ttft"] == want["ttft"]
        assert row["ttft_count"] == sum(want["ttft"].values())
    assert rows["fast"]["output_tokens"] == 2 * 20 * sum(range(0, 25, 2))
    # 520 requests at $0.00000125, summed exactly as numeric by PostgreSQL
    assert rows["fast"]["cost"] == "0.00065000"
