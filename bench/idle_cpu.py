"""What a server costs by the second: the CPU of a bare and a governed server (one tree,
both served at once, ``serve --workers N``) at rest and at a few low request rates, per
process (the supervisor, its counter service, each worker), from /proc/<pid>/stat.

    .venv/bin/python bench/idle_cpu.py [TREE] [--workers 2] [--seconds 10] [--rates 0 1 10]
        [--dialect anthropic]

A cost paid per request shows as the same CPU a request at every rate; a cost paid per
second (a timer, a background report) as CPU at rest and as a CPU a request that rises
as the rate falls. Each rate's cell is one request at a time, spaced evenly, to both
servers at once (so the machine's load is the same for both).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import pair  # noqa: E402  (bench/pair.py: the config with the Anthropic route)
import run  # noqa: E402  (bench/run.py: the mock, the route, the governed profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tree", nargs="?", default=str(BENCH.parent))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds a cell")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 1.0, 10.0])
    parser.add_argument("--dialect", choices=["openai", "anthropic"], default="anthropic")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-idle-") as folder:
        measure(args, Path(folder))


def _ticks(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _roles(root: int) -> dict[str, int]:
    """The server's processes by role: the supervisor, its helpers, the workers."""
    roles = {}
    for index, pid in enumerate(sorted(run.tree(root))):
        roles[f"{run.process_role(pid, root)}-{index}"] = pid
    return roles


def _load(url: str, body: bytes, headers: dict[str, str], rate: float, seconds: float) -> int:
    """One request at a time, ``rate`` a second, for ``seconds``; the requests sent."""
    if rate <= 0:
        time.sleep(seconds)
        return 0
    sent = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        request = urllib.request.Request(url, data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
        sent += 1
        time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    return sent


def _headers(key: str, extra: list[str]) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for line in extra:
        name, value = line.split(": ", 1)
        headers[name] = value
    return headers


def _drive(sent: dict[str, int], profile: str, *load: Any) -> None:
    """One server's cell (a thread of its own: both are loaded at once)."""
    sent[profile] = _load(*load)


def measure(args: argparse.Namespace, workdir: Path) -> None:
    log = open(workdir / "servers.log", "w")  # noqa: SIM115
    mock_port = run.free_port()
    mock = run.start_mock(mock_port, log)
    config = workdir / "config.yaml"
    config.write_text(pair._config(mock_port))
    servers: dict[str, tuple[int, subprocess.Popen[bytes], str]] = {}
    try:
        for profile in ("bare", "governed"):
            port = run.free_port()
            options = types.SimpleNamespace(
                env=[], source=args.tree, python=run.PYTHON, workers=args.workers, server="auto"
            )
            process = run.start_switchyard(options, port, config, workdir / profile, log)
            base = f"http://127.0.0.1:{port}"
            key = run.govern(base, (run.ROUTE,)) if profile == "governed" else run.ADMIN_KEY
            servers[profile] = (port, process, key)
        body = run.body_file(workdir, False).read_bytes()
        path, extra = pair._path_and_headers(args.dialect)
        targets = {
            profile: (f"http://127.0.0.1:{port}{path}", _headers(key, extra))
            for profile, (port, _, key) in servers.items()
        }
        for url, headers in targets.values():  # warm up every worker
            _load(url, body, headers, 50, 2)
        time.sleep(1.0)
        for rate in args.rates:
            before = {
                profile: {role: _ticks(pid) for role, pid in _roles(process.pid).items()}
                for profile, (_, process, _) in servers.items()
            }
            sent: dict[str, int] = {}
            threads = [
                threading.Thread(
                    target=_drive, args=(sent, profile, url, body, headers, rate, args.seconds)
                )
                for profile, (url, headers) in targets.items()
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            load = os.getloadavg()[0]
            print(f"rate {rate:g}/s, {elapsed:.1f} s, load average {load:.1f}")
            for profile, (_, process, _) in servers.items():
                spent = {
                    role: (_ticks(pid) - before[profile].get(role, 0.0)) / elapsed * 1000
                    for role, pid in _roles(process.pid).items()
                }
                total = sum(spent.values())
                cells = " ".join(f"{role} {ms:.1f}" for role, ms in spent.items())
                each = (
                    f", {total * elapsed / sent[profile]:.2f} ms a request" if sent[profile] else ""
                )
                print(f"  {profile:8} {total:6.1f} ms CPU a second ({cells}){each}")
    finally:
        for _, process, _ in servers.values():
            process.terminate()
        for _, process, _ in servers.values():
            process.wait()
        mock.terminate()
        mock.wait()


if __name__ == "__main__":
    main()
