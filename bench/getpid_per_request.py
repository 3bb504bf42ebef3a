"""``getpid`` system calls a request under ``manage.py serve``: Python 3.11 makes one at
each lookup of the running event loop (``asyncio.get_running_loop``, ``current_task``,
``ensure_future`` and ``create_task`` without a loop, a loop-bound lock's wait), 0.75
µs each on this VM.

    .venv/bin/python bench/getpid_per_request.py [--source TREE] [--requests 400]
        [--profile bare|governed] [--mode plain|stream]

``serve --workers 1`` of the tree against bench/mock_upstream.py, warmed up with wrk,
then ``strace -f -c -e trace=getpid`` on every process of the server while one client
sends ``--requests`` requests one after another on one connection: the count is
deterministic (nothing else asks the loop for itself at rest but the timers' rounds,
measured the same way with no request and given beside it)."""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to serve")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--profile", choices=["bare", "governed"], default="bare")
    parser.add_argument("--mode", choices=["plain", "stream"], default="plain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-getpid-") as folder:
        print(measure(args, Path(folder)))


def measure(args: argparse.Namespace, workdir: Path) -> str:
    mock_port = run.free_port()
    config = workdir / "config.yaml"
    config.write_text(run.litellm_yaml(mock_port))
    log = open(workdir / "servers.log", "w")  # noqa: SIM115
    mock = run.start_mock(mock_port, log)
    port = run.free_port()  # the mock listens on its port by now
    options = types.SimpleNamespace(
        env=[], source=args.source, python=run.PYTHON, workers=1, server="auto"
    )
    server = run.start_switchyard(options, port, config, workdir / "data", log)
    try:
        base = f"http://127.0.0.1:{port}"
        key = run.govern(base, (run.ROUTE,)) if args.profile == "governed" else run.ADMIN_KEY
        stream = args.mode == "stream"
        body = run.body_file(workdir, stream)
        headers = [f"Authorization: Bearer {key}"]
        load = run.run_stream if stream else run.run_wrk
        load(f"{base}/v1/chat/completions", body, headers, 2, 3)  # warm up
        pids = run.tree(server.pid)
        rest, _ = _count(pids, lambda: time.sleep(2.0))
        served, took = _count(pids, lambda: _send(port, key, body.read_bytes(), args.requests))
        net = served - rest / 2.0 * took  # less the rate at rest over the traced run
        return (
            f"getpid a request ({args.profile}, {args.mode}, {args.requests} requests, "
            f"{len(pids)} processes): {net / args.requests:.2f} "
            f"({served} in {took:.2f} s; {rest} in 2 s at rest)"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        mock.terminate()
        mock.wait()
        log.close()


def _count(pids: list[int], during: object) -> tuple[int, float]:
    """getpid calls of ``pids`` while ``during()`` runs, and its seconds."""
    command = ["strace", "-f", "-c", "-e", "trace=getpid"]
    for pid in pids:
        command += ["-p", str(pid)]
    tracer = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # attached
    start = time.monotonic()
    during()  # type: ignore[operator]
    took = time.monotonic() - start
    tracer.send_signal(signal.SIGINT)
    _, report = tracer.communicate(timeout=30)
    found = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?getpid$", report, re.M)
    return (int(found.group(1)) if found else 0), took


def _send(port: int, key: str, body: bytes, requests: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for _ in range(requests):
        connection.request("POST", "/v1/chat/completions", body, headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"{answer.status}: {json.dumps(answer.reason)}")
    connection.close()


if __name__ == "__main__":
    main()
