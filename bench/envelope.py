"""The deployment envelope (issue #67): what a platform team compares first.

    .venv/bin/python bench/envelope.py [--runs 3] [--workers 2] [--idle-seconds 20]
                                       [--soak-minutes 0]

- **Cold start**: ``manage.py serve --workers N`` started on a migrated database with a
  route imported (as ``bench/run.py`` does), timed from the process's start to the first
  answered ``/v1/chat/completions`` (polled every 20 ms against the bench mock
  upstream); the median of ``--runs`` starts. With it, the CPU every process of the
  server had used by then (user and system, children they waited for included: a
  worker's helper processes), which a loaded machine moves far less than the seconds.
- **Idle memory**: the RSS of every process of the server (supervisor, workers, the
  counter service) ``--idle-seconds`` after that first answer, with no traffic; and
  their PSS, where a page shared by several processes counts once in the sum.
- **Soak** (``--soak-minutes``): a request a second for that long, the tree's RSS each
  minute: growth from the first minute's figure.
- **Install size**: the wheel built from this tree, and the installed size of it and
  every distribution it requires (their RECORD files, as installed in this venv); the
  container image's size where ``docker`` is available.

Writes bench/results/envelope.md (and .json) and prints the table. Measure on a quiet
machine: a cold start on a loaded one measures the load."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

import run  # bench/run.py (the script's folder is on the path)

PROJECT = "switchyard-gateway"
CHAT = {"model": run.ROUTE, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def answered(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(CHAT).encode(),
        headers={"Authorization": f"Bearer {run.MASTER_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            status: int = response.status  # typeshed: urlopen's answer is Any
    except Exception:
        return False
    return status == 200


def prepared(workdir: Path, mock_port: int) -> tuple[Path, dict[str, str]]:
    """A migrated data dir with the bench route imported, and the server's environment."""
    data_dir = workdir / "data"
    data_dir.mkdir()
    config = workdir / "litellm.yaml"
    config.write_text(run.litellm_yaml(mock_port))
    env = {
        **os.environ,
        "DEBUG": "0",
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_LOG_BODIES": "1",
        "SWITCHYARD_MASTER_KEY": run.ADMIN_KEY,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "SWITCHYARD_PLUGINS": "none",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    manage = [run.PYTHON, str(run.ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=run.ROOT)
    subprocess.run(
        [*manage, "import_config", str(config)],
        env=env, check=True, cwd=run.ROOT, capture_output=True,
    )  # fmt: skip
    return data_dir, env


def cold_start(
    env: dict[str, str], workers: int, log: Any
) -> tuple[float, subprocess.Popen[bytes], int]:
    """Seconds from ``serve``'s start to its first answered request, the server, its port."""
    port = run.free_port()
    command = [run.PYTHON, str(run.ROOT / "manage.py"), "serve", "--port", str(port),
               "--workers", str(workers), "--no-migrate"]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=run.ROOT, stdout=log, stderr=log)
    while not answered(port):
        if process.poll() is not None:
            raise SystemExit("the server exited before answering (see the log)")
        if time.perf_counter() - started > 120:
            raise SystemExit("no answer within 120 s")
        time.sleep(0.02)
    return time.perf_counter() - started, process, port


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid``'s tree, with those of the children each
    process waited for (``cutime``, ``cstime``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in run.server_processes(pid):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / ticks


def tree_rss(pid: int) -> dict[str, float]:
    return {f"{run.process_role(p, pid)} {p}": run.rss_mb(p) for p in run.server_processes(pid)}


def tree_pss(pid: int) -> float:
    return sum(run.pss_mb(p) for p in run.server_processes(pid))


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def install_size() -> dict[str, Any]:
    """The wheel of this tree and the installed size of it and what it requires."""
    seen: dict[str, int] = {}

    def walk(name: str) -> None:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            return
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return
        size = 0
        for file in dist.files or []:
            with contextlib.suppress(OSError):
                size += Path(str(file.locate())).stat().st_size
        seen[key] = size
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue  # optional extras (test, docs) are not installed by a user
            walk(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])

    walk(PROJECT)
    wheel_dir = Path(tempfile.mkdtemp(prefix="sy-wheel-"))
    try:
        subprocess.run(
            [run.PYTHON, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(run.ROOT)],
            check=True, capture_output=True,
        )  # fmt: skip
        wheel = sum(f.stat().st_size for f in wheel_dir.glob("*.whl"))
    finally:
        shutil.rmtree(wheel_dir, ignore_errors=True)
    largest = sorted(seen.items(), key=lambda item: item[1], reverse=True)[:8]
    out: dict[str, Any] = {
        "wheel_mb": wheel / 1e6,
        "installed_mb": sum(seen.values()) / 1e6,
        "distributions": len(seen),
        "largest": [(name, size / 1e6) for name, size in largest],
    }
    if shutil.which("docker"):
        found = subprocess.run(
            ["docker", "image", "inspect", "switchyard", "--format", "{{.Size}}"],
            capture_output=True, text=True,
        )  # fmt: skip
        if found.returncode == 0 and found.stdout.strip().isdigit():
            out["image_mb"] = int(found.stdout.strip()) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="sy-envelope-"))
    log = (workdir / "server.log").open("wb")
    mock_port = run.free_port()
    mock = run.start_mock(mock_port, log)
    results: dict[str, Any] = {"workers": args.workers, "cpus": os.cpu_count()}
    try:
        _, env = prepared(workdir, mock_port)
        starts, start_cpu = [], []
        idle: dict[str, float] = {}
        idle_pss = 0.0
        soak: list[float] = []
        for index in range(args.runs):
            seconds, server, port = cold_start(env, args.workers, log)
            starts.append(seconds)
            start_cpu.append(tree_cpu(server.pid))
            if index == args.runs - 1:
                time.sleep(args.idle_seconds)
                idle = tree_rss(server.pid)
                idle_pss = tree_pss(server.pid)
                deadline = time.time() + 60 * args.soak_minutes
                next_sample = time.time()
                while time.time() < deadline:
                    answered(port)
                    if time.time() >= next_sample:
                        soak.append(sum(tree_rss(server.pid).values()))
                        next_sample += 60
                    time.sleep(1)
            stop(server)
        results.update(
            cold_start_s=statistics.median(starts), cold_starts_s=starts,
            cold_start_cpu_s=statistics.median(start_cpu), cold_start_cpus_s=start_cpu,
            idle_rss_mb=sum(idle.values()), idle_pss_mb=idle_pss, idle_processes=idle,
            soak_rss_mb=soak, soak_growth_mb=(soak[-1] - soak[0]) if len(soak) > 1 else None,
            **install_size(),
        )  # fmt: skip
    finally:
        mock.terminate()
        log.close()
    report = render(results)
    run.RESULTS.mkdir(exist_ok=True)
    (run.RESULTS / "envelope.md").write_text(report)
    (run.RESULTS / "envelope.json").write_text(json.dumps(results, indent=2))
    print(report)
    shutil.rmtree(workdir, ignore_errors=True)


def render(r: dict[str, Any]) -> str:
    lines = [
        f"# Deployment envelope ({r['workers']} workers, {r['cpus']} CPUs, SQLite, no Redis)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| cold start to the first answer (median of {len(r['cold_starts_s'])}) | "
        f"{r['cold_start_s']:.2f} s ({', '.join(f'{s:.2f}' for s in r['cold_starts_s'])}) |",
        f"| CPU to the first answer, every process (median) | {r['cold_start_cpu_s']:.2f} s "
        f"({', '.join(f'{s:.2f}' for s in r['cold_start_cpus_s'])}) |",
        f"| idle RSS, every process | {r['idle_rss_mb']:.0f} MB |",
        f"| idle PSS, every process (shared pages counted once) | {r['idle_pss_mb']:.0f} MB |",
    ]
    for name, mb in r["idle_processes"].items():
        lines.append(f"| — {name} | {mb:.0f} MB |")
    if r.get("soak_growth_mb") is not None:
        lines.append(
            f"| RSS growth over a {len(r['soak_rss_mb'])}-minute soak | {r['soak_growth_mb']:+.1f} MB |"
        )
    lines += [
        f"| wheel | {r['wheel_mb']:.2f} MB |",
        f"| installed with its {r['distributions'] - 1} dependencies | {r['installed_mb']:.0f} MB |",
    ]
    if "image_mb" in r:
        lines.append(f"| container image | {r['image_mb']:.0f} MB |")
    lines.append("")
    lines.append("Largest installed: " + ", ".join(f"{n} {mb:.0f} MB" for n, mb in r["largest"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
