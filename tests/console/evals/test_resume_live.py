"""A restarted server finishes an unfinished experiment: start one on a running
``manage.py serve --workers 2`` (two runners racing for it), kill the whole server with
SIGKILL half-way (no clean shutdown, the lease is left behind), start it again on the
same database: it takes the experiment over when the lease runs out and finishes it with
each (row, route) answered exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live import MASTER_KEY, ROOT, free_port, gateway_env, manage, wait_until_up

ROWS = 40
LEASE = "2"


def serve(env: dict[str, str], data_dir: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(data_dir / f"server-{port}.log", "w")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(port), "--no-migrate",
         "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, process, data_dir / f"server-{port}.log")
    return process, url


def stop(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)  # the server's own group: its supervisor and workers
        process.wait(timeout=20)


def count(env: dict[str, str], code: str) -> int:
    """The last line ``manage.py shell -c`` printed (it may say more before)."""
    return int(manage(env, "shell", "-c", code).stdout.strip().splitlines()[-1])


def poll(client: httpx.Client, url: str, pk: int) -> dict:
    return client.get(f"{url}/api/experiments/{pk}").json()


@pytest.mark.timeout(180)
def test_killed_server_resumes_the_experiment_exactly_once(tmp_path: Path) -> None:
    env = gateway_env(tmp_path, {"SWITCHYARD_EVALS_LEASE_SECONDS": LEASE})
    manage(env, "migrate", "--no-input", "--skip-checks", "-v", "0")
    manage(env, "seed_demo")
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    process, url = serve(env, tmp_path, workers=2)
    try:
        with httpx.Client(headers=headers, timeout=10) as client:
            rows = [
                {"prompt": f"question number {i}", "reference": f"Echo: question number {i}"}
                for i in range(ROWS)
            ]
            dataset = client.post(f"{url}/api/datasets/", json={"name": "restart", "rows": rows})
            assert dataset.status_code == 201, dataset.text
            started = client.post(
                f"{url}/api/experiments/",
                json={"dataset": dataset.json()["id"], "columns": ["echo-slow", "echo"], "scorers": ["exact"],
                      "concurrency": 2},
            )  # fmt: skip
            assert started.status_code == 201, started.text
            pk = started.json()["id"]
            deadline = time.monotonic() + 60
            while (state := poll(client, url, pk))["done"] < 20:
                assert time.monotonic() < deadline, state
                time.sleep(0.1)
            stop(process, signal.SIGKILL)
        before = count(
            env,
            f"from console.evals.models import Cell; print(Cell.objects.filter(experiment_id={pk}).count())",
        )
        assert 20 <= before < 2 * ROWS
        process, url = serve(env, tmp_path, workers=1)
        with httpx.Client(headers=headers, timeout=10) as client:
            deadline = time.monotonic() + 90
            while (state := poll(client, url, pk))["status"] != "done":
                assert time.monotonic() < deadline, state
                time.sleep(0.2)
            assert state["done"] == 2 * ROWS and state["errors"] == 0 and state["percent"] == 100
            results = client.get(f"{url}/api/experiments/{pk}/results").json()
        pairs = [(r["row"], r["column"]) for r in results["results"]]
        assert len(pairs) == len(set(pairs)) == 2 * ROWS
        assert all(r["output"] == f"Echo: question number {r['row']}" for r in results["results"])
        assert results["summary"]["routes"][0]["mean_score"] == 1.0
        time.sleep(1.5)  # the journal writer's batch
        logged = count(
            env,
            f"from gateway.models import RequestLog; print(RequestLog.objects.filter(key_name='experiment:{pk}').count())",
        )
        # Every call is journaled under the experiment's key. Calls in flight at the kill,
        # and answers not yet saved (a batch is written every 0.25 s), are made again after
        # the restart; journal records the killed server had not written yet are lost.
        assert 2 * ROWS - 20 <= logged <= 2 * ROWS + 20, logged
    finally:
        stop(process, signal.SIGTERM)
