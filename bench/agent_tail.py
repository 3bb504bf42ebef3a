"""The agent cell's tail alone: bench/run.py's governed (or bare) agent cell, repeated.

    .venv/bin/python bench/agent_tail.py [--rounds 6] [--seconds 5] [--concurrency 64]
        [--profile governed|bare] [--dialect openai|anthropic] [--lead-in] [--source DIR]
        [--source-b DIR] [--profile-b governed|bare] [--env NAME=VALUE] [--keep]

Issue #67 asks that an agent's request (bench/agent_body.py, about 150 KB) keep its p99 at
c=64 within three times its p50. bench/run.py measures that cell once, after 40 other
cells, for 5 s; this script starts one server as run.py does (``serve --workers 2``, body
logging on, the governed key of ``run.govern``), warms it up the way run.py warms a cell,
then measures the cell ``--rounds`` times, printing for each round the load average before
it, RPS, p50 / p90 / p99 / p99.9 / max, p99 / p50, the server's CPU a request, how the
round's CPU split between the two workers, and the journal's queue (records, bytes)
right after the load. ``--lead-in`` runs run.py's c=1 and c=16 cells before each round,
as the full run does. The last lines give the median and the spread of p99 / p50 over the
rounds: one bad round among good ones is the machine, a ratio high in every round is
the gateway. ``--source-b`` serves a second tree beside the first (each its own data
dir) and measures the two in turn, round by round, one loaded at a time: before and after
in the same stretch of the machine's load; ``--profile-b`` gives B another profile (A's
tree again without ``--source-b``: governed against bare in one machine state).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import types
import urllib.request
from pathlib import Path
from typing import NamedTuple

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the same mock, route, bodies and process helpers)


def worker_seconds(root: int) -> list[float]:
    """CPU seconds so far of each worker process (the supervisor's children), in pid order."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in sorted(run.children(root)):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out.append((int(fields[11]) + int(fields[12])) / ticks)
    return out


def journal_queue(base: str) -> tuple[float, float]:
    """(records, MB) waiting in the journal's queues, from /metrics."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("switchyard_journal_queue_"):
            name, value = line.split()[:2]
            values[name] = values.get(name, 0.0) + float(value)
    depth = values.get("switchyard_journal_queue_depth", 0.0)
    return depth, values.get("switchyard_journal_queue_bytes", 0.0) / 1e6


class Server(NamedTuple):
    """One tree served: its name in the lines, process, base URL, load URL and headers."""

    name: str
    process: subprocess.Popen[bytes]
    base: str
    url: str
    headers: list[str]


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, list[float]]:
    """Start the mock and each tree's server, run the rounds (the trees in turn, one
    loaded at a time); each tree's p99 / p50 a round."""
    log = open(workdir / "servers.log", "w")  # noqa: SIM115  (lives for the whole run)
    mock_port = run.free_port()
    config = workdir / "litellm.yaml"
    config.write_text(run.litellm_yaml(mock_port))
    mock = run.start_mock(mock_port, log)
    body = run.body_file(workdir, False, agent=args.dialect)
    gw_path, _, extra = run.PATHS[f"{args.dialect}->openai"]
    source_b = args.source_b or (args.source if args.profile_b else None)
    trees = {"A": args.source, **({"B": source_b} if source_b else {})}
    servers: list[Server] = []
    ratios: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for name, source in trees.items():
            port = run.free_port()
            options = types.SimpleNamespace(
                env=args.env, source=source, python=run.PYTHON, workers=2, server="auto"
            )
            process = run.start_switchyard(options, port, config, workdir / f"data-{name}", log)
            base = f"http://127.0.0.1:{port}"
            profile = (args.profile_b or args.profile) if name == "B" else args.profile
            key = run.govern(base) if profile == "governed" else run.MASTER_KEY
            headers = [f"Authorization: Bearer {key}", *extra]
            servers.append(Server(name, process, base, base + gw_path, headers))
            run.run_wrk(base + gw_path, body, headers, 4, 1.0)  # run.py's warm-up of a cell
        for number in range(1, args.rounds + 1):
            for server in servers:
                if args.lead_in:
                    for concurrency in (1, 16):
                        run.run_wrk(server.url, body, server.headers, concurrency, args.seconds)
                ratios[server.name].append(one_round(args, number, server, body))
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait()
        mock.terminate()
        mock.wait()
        log.close()
    return ratios


def one_round(args: argparse.Namespace, number: int, server: Server, body: Path) -> float:
    """One measured cell and its line; its p99 / p50."""
    root, base, url, headers = server.process.pid, server.base, server.url, server.headers
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    before, workers_before = run.cpu_seconds(root), worker_seconds(root)
    result = run.run_wrk(url, body, headers, args.concurrency, args.seconds)
    cpu = run.cpu_seconds(root) - before
    split = [b - a for a, b in zip(workers_before, worker_seconds(root), strict=False)]
    records, megabytes = journal_queue(base)
    served = result["rps"] * args.seconds
    ratio = float(result["p99_ms"] / result["p50_ms"])
    parts = [
        f"{server.name} round {number}: load {load}",
        f"{result['rps']:.0f} rps",
        " ".join(
            f"{name} {result.get(key, 0):.1f}"
            for name, key in (
                ("p50", "p50_ms"),
                ("p90", "p90_ms"),
                ("p99", "p99_ms"),
                ("p99.9", "p999_ms"),
                ("max", "max_ms"),
            )
        )
        + " ms",
        f"p99/p50 {ratio:.2f}",
        f"cpu {cpu * 1000 / served:.2f} ms/req",
        f"workers {'/'.join(f'{s:.1f}' for s in split)} s",
        f"journal queue {records:.0f} records {megabytes:.1f} MB",
        f"errors {result['errors']}",
    ]
    print(" | ".join(parts), flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds a round (run.py: 5)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", choices=["governed", "bare"], default="governed")
    parser.add_argument("--dialect", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--lead-in", action="store_true", help="c=1 and c=16 before each round")
    parser.add_argument("--source", default=str(run.ROOT), help="the Switchyard tree to run")
    parser.add_argument(
        "--source-b", help="a second tree (B), served beside A and measured in turn with it"
    )
    parser.add_argument(
        "--profile-b",
        choices=["governed", "bare"],
        help="B's profile (B is A's tree again when --source-b is not given)",
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the log")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sy-agent-tail-"))
    print(f"workdir {workdir}; {os.cpu_count()} cores; {args.profile} {args.dialect} agent")
    try:
        ratios = measure(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    for name, each in ratios.items():
        print(
            f"{name}: p99/p50 over {len(each)} rounds: median {statistics.median(each):.2f}, "
            f"least {min(each):.2f}, most {max(each):.2f}; "
            f"{sum(r > 3 for r in each)} round(s) above 3"
        )
    if args.keep:
        print(f"kept {workdir}")


if __name__ == "__main__":
    main()
