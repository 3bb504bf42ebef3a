"""Instructions per request: a load-insensitive cost measure for A/B comparisons.

    .venv/bin/python bench/instructions.py [--source DIR] [--requests 300] [--concurrency 1 16]

Wall-clock and CPU-time figures move 10-30% from run to run on a shared machine (other
processes steal cores and evict caches). The number of instructions the server executes
for a fixed number of requests does not: this runs ``manage.py serve`` (every process of
it: supervisor, workers) under valgrind's callgrind with instrumentation off, warms each
path up, then counts the instructions of exactly ``--requests`` requests per cell
(``callgrind_control -i on`` / ``-i off`` / ``--dump``) and divides. The same mock
upstream, route, data dir setup and request bodies as bench/run.py.

Counts are user-space instructions only (the kernel's share of a socket write is not in
them) and valgrind serialises a process's threads, so take them as "the Python work a
request costs", the part a code change moves. Valgrind runs the server about 50 times
slower, so what runs per second (the registry watcher, the cooldown view, heap trims)
weighs 50 times more against each request, and a cell's wall time still depends on the
machine's load: the instructions a second at rest are counted first (``--idle``) and
each cell is also given net of them. Compare trees run in one machine state: at a load
average of 13-19 two runs of one tree differed by up to 40% in a c=1 cell (before the
rest rate was taken out), by 0.2-9% at c=16.
Writes bench/results/instructions.md (and .json). Needs valgrind (``apt-get install
valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NotRequired, TypedDict, TypeVar
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the same setup as the benchmark)
from streamload import read_response  # noqa: E402

KINDS = [(path, stream) for path in run.PATHS for stream in (False, True)]
T = TypeVar("T")


class Cell(TypedDict):
    """A row of the report: the server at rest (path "idle": ``per_second``) or a
    path's cell (the rest)."""

    path: str
    mode: str
    concurrency: int
    requests: int
    instructions: int
    wall_s: float
    per_second: NotRequired[float]
    failed: NotRequired[int]
    per_request: NotRequired[float]
    per_request_net: NotRequired[float]  # net of the instructions a second at rest
    dumps: NotRequired[int]


async def load(url: str, body: bytes, headers: list[str], total: int, concurrency: int) -> int:
    """Send exactly ``total`` requests over ``concurrency`` keep-alive connections;
    the number that did not answer 200 with the marker."""
    parts = urlsplit(url)
    head = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    left = [total]
    failed = [0]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while left[0] > 0:
                left[0] -= 1
                writer.write(request)
                status, ttft, keep = await read_response(reader, b"Hello", time.perf_counter())
                if status != 200 or ttft is None:
                    failed[0] += 1
                if not keep:
                    writer.close()
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return failed[0]


def control(pids: list[int], *args: str) -> None:
    for pid in pids:
        subprocess.run(
            ["callgrind_control", *args, str(pid)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def instructions(files: list[Path]) -> int:
    total = 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):  # (a dump's "summary:" line reads 0)
                total += int(line.split()[1])
                break
    return total


def count_window(outdir: Path, pids: list[int], work: Callable[[], T]) -> tuple[int, float, int, T]:
    """(instructions, seconds, dumps) of every server process while ``work()`` runs, and
    what it returned."""
    before = set(outdir.glob("cg.*"))
    control(pids, "--instr=on")
    started = time.monotonic()
    result = work()
    wall = time.monotonic() - started
    control(pids, "--instr=off")
    control(pids, "--dump")
    time.sleep(0.5)
    dumps = sorted(set(outdir.glob("cg.*")) - before)
    return instructions(dumps), wall, len(dumps), result


def measure(
    args: argparse.Namespace, base: str, outdir: Path, pids: list[int], workdir: Path
) -> list[Cell]:
    rows: list[Cell] = []
    # what the server does with no request (timers, watchers): per second
    idle, idle_wall, _, _ = count_window(outdir, pids, lambda: time.sleep(args.idle))
    rows.append(
        {
            "path": "idle",
            "mode": "",
            "concurrency": 0,
            "requests": 0,
            "instructions": idle,
            "per_second": idle / idle_wall,
            "wall_s": idle_wall,
        }
    )
    print(f"  idle: {idle / idle_wall / 1e6:.3f} M instructions/s", flush=True)
    auth = [f"Authorization: Bearer {run.MASTER_KEY}"]
    for path_name, stream in KINDS:
        if args.only_mode and args.only_mode != ("stream" if stream else "plain"):
            continue
        gw_path, _, extra = run.PATHS[path_name]
        url = base + gw_path
        body = run.body_file(workdir, stream).read_bytes()
        headers = auth + extra
        asyncio.run(load(url, body, headers, args.warmup, 4))
        for concurrency in args.concurrency:
            count, wall, dumps, failed = count_window(
                outdir,
                pids,
                functools.partial(
                    asyncio.run, load(url, body, headers, args.requests, concurrency)
                ),
            )
            background = idle / idle_wall * wall  # timers and watchers, not the requests
            row: Cell = {
                "path": path_name,
                "mode": "stream" if stream else "plain",
                "concurrency": concurrency,
                "requests": args.requests,
                "failed": failed,
                "instructions": count,
                "per_request": count / args.requests,
                "per_request_net": (count - background) / args.requests,
                "wall_s": wall,
                "dumps": dumps,
            }
            rows.append(row)
            print(
                f"  {path_name:18} {row['mode']:6} c={concurrency:<3} "
                f"{row['per_request'] / 1e6:8.3f} M instructions/request "
                f"({row['per_request_net'] / 1e6:.3f} M net of the rest rate) "
                f"({dumps} processes, {failed} failed, {wall:.0f} s)",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(run.ROOT), help="Switchyard tree to run")
    parser.add_argument("--python", default=run.PYTHON, help="the interpreter Switchyard runs on")
    parser.add_argument("--requests", type=int, default=300, help="counted requests per cell")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted requests per path")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", default="auto")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds counted at rest")
    parser.add_argument("--only-mode", choices=["plain", "stream"])
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for Switchyard")
    parser.add_argument("--output", default=str(run.RESULTS / "instructions.md"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is missing: apt-get install -y valgrind")
    args.env = ["PYTHONHASHSEED=0", *args.env]
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-instr-"))
    outdir = workdir / "callgrind"
    outdir.mkdir()
    log = open(workdir / "servers.log", "w")  # noqa: SIM115  (lives for the whole run)
    mock_port, gateway_port = run.free_port(), run.free_port()
    config = workdir / "litellm.yaml"
    config.write_text(run.litellm_yaml(mock_port))
    mock = run.start_mock(mock_port, log)
    wrap = [
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        "--instr-atstart=no",
        "--fair-sched=yes",  # threads take turns: the journal writer's share is steady
        "--cache-sim=no",
        "--branch-sim=no",
        "--dump-line=no",
        f"--callgrind-out-file={outdir}/cg.%p",
    ]
    process = None
    rows: list[Cell] = []
    try:
        started = time.monotonic()
        process = run.start_switchyard(
            args, gateway_port, config, workdir / "data", log, wrap=wrap, ready_timeout=600
        )
        print(f"server up under valgrind in {time.monotonic() - started:.0f} s", flush=True)
        pids = run.tree(process.pid)
        rows = measure(args, f"http://127.0.0.1:{gateway_port}", outdir, pids, workdir)
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                for pid in run.tree(process.pid):
                    os.kill(pid, signal.SIGKILL)
                process.wait()
        mock.terminate()
        mock.wait()
        log.close()
    source = Path(args.source).resolve()
    commit = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    lines = [
        "# Switchyard: instructions per request",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · tree {source} ({commit or '?'}) · "
        f"`serve --workers {args.workers}` under callgrind · {args.requests} counted "
        f"requests per cell after {args.warmup} per path uncounted"
        + (f" · env {' '.join(args.env)}" if args.env else ""),
        "",
        "| path | mode | conc | M instructions / request | net of the rate at rest | failed |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['path']} | {r['mode']} | {r['concurrency']} | {r['per_request'] / 1e6:.3f} "
        f"| {r['per_request_net'] / 1e6:.3f} | {r['failed']} |"
        for r in rows
        if r["requests"]
    ]
    idle = next((r for r in rows if r["path"] == "idle"), None)
    if idle:
        lines += ["", f"At rest: {idle['per_second'] / 1e6:.3f} M instructions a second."]
    text = "\n".join(lines) + "\n"
    output = Path(args.output)
    output.parent.mkdir(exist_ok=True)
    output.write_text(text)
    output.with_suffix(".json").write_text(json.dumps({"rows": rows, "commit": commit}, indent=1))
    print(text)
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
