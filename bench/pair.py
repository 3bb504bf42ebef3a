"""Two Switchyard trees (or one tree with two settings) served side by side and loaded
at the same time: the CPU a request of each, measured in one machine state.

    .venv/bin/python bench/pair.py A_DIR B_DIR [--mode plain|stream|agent] [--dialect openai]
        [--concurrency 8] [--seconds 8] [--rounds 3] [--workers 1] [--env-b NAME=VALUE]
        [--profile bare|governed] [--profile-b bare|governed] [--upstream anthropic]

``bench/run.py`` measures one server at a time, and on a shared VM the same tree's CPU a
request moves by 20-60 % between two runs minutes apart: a change worth 5-10 % does not
show. Here both servers run at once against the same mock (each with its own data dir,
``manage.py serve --workers N`` on a ``git archive`` of each tree), each driven by its own
wrk for the same seconds, so whatever slows the machine slows both. Each round prints the
CPU a request of each server's processes (supervisor and workers, user and system), and
the end the ratio B/A over all rounds. Two copies of one tree measured so gave ratios of
0.99 and 0.97, and two runs of one pair of trees differed by up to 5 %: a difference of a
few percent needs a second run, with A and B swapped.

``--threads`` also prints, each round, where each server's CPU a request went: the
workers' event-loop threads (user and system time apart), their other threads (the
journal's writer, the counter client), and the supervisor (the counter service), read from
``/proc/PID/task/*/stat``: a difference between two trees is then placed before it is
profiled.

``--env-b`` sets a setting for B only (``--env`` for both), to price a setting on one
tree: ``bench/pair.py T T2 --env-b SWITCHYARD_LOG_BODIES=0`` with T2 a copy of T. The two
arguments must be different directories.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import types
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import agent_body  # noqa: E402  (bench/agent_body.py: a coding agent's request)
import run  # noqa: E402  (bench/run.py: the same mock, route, bodies and process helpers)

PROFILES = ("bare", "governed")
NATIVE = run.ROUTE + "-anthropic"  # the route whose upstream is the mock as Anthropic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="tree A (a git archive of a commit, or a checkout)")
    parser.add_argument("b", help="tree B")
    parser.add_argument("--mode", choices=["plain", "stream", "agent"], default="plain")
    parser.add_argument(
        "--dialect",
        choices=["openai", "anthropic", "anthropic-native"],
        default="openai",
        help="the client's; its upstream is OpenAI's, but anthropic-native's Anthropic's "
        "(the mock as both: Anthropic in, Anthropic out, passed through)",
    )
    parser.add_argument(
        "--upstream",
        choices=["openai", "anthropic"],
        default="openai",
        help="the mock as which upstream (anthropic: an OpenAI client's stream translated "
        "from Anthropic events, an Anthropic client's passed through)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="connections per server")
    parser.add_argument("--seconds", type=int, default=8, help="seconds a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="workers per server")
    parser.add_argument("--python", default=run.PYTHON, help="the interpreter both run on")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for both")
    parser.add_argument("--env-b", action="append", default=[], help="NAME=VALUE for B only")
    parser.add_argument("--profile", choices=PROFILES, default="bare", help="both servers' key")
    parser.add_argument("--profile-b", choices=PROFILES, help="B's key, when not --profile's")
    parser.add_argument(
        "--threads", action="store_true", help="each round, the CPU a request by thread kind"
    )
    args = parser.parse_args()
    a, b = Path(args.a).resolve(), Path(args.b).resolve()
    if a == b:
        parser.error("A and B must be different directories (copy the tree for a setting)")
    with tempfile.TemporaryDirectory(prefix="sy-pair-") as folder:
        compare(args, a, b, Path(folder))


def compare(args: argparse.Namespace, a: Path, b: Path, workdir: Path) -> None:
    log = open(workdir / "servers.log", "w")  # noqa: SIM115
    mock_port = run.free_port()
    mock = run.start_mock(mock_port, log)
    config = workdir / "config.yaml"
    config.write_text(_config(mock_port))
    servers: list[tuple[str, int, Any]] = []
    keys: dict[str, str] = {}
    try:
        for index, tree in enumerate((a, b)):
            port = run.free_port()
            options = types.SimpleNamespace(
                env=args.env + (args.env_b if index else []),
                source=str(tree),
                python=args.python,
                workers=args.workers,
                server="auto",
            )
            data = workdir / f"data-{index}"
            process = run.start_switchyard(options, port, config, data, log)
            servers.append(("AB"[index], port, process))
            profile = (args.profile_b or args.profile) if index else args.profile
            base = f"http://127.0.0.1:{port}"
            keys["AB"[index]] = (
                run.govern(base, (run.ROUTE, NATIVE)) if profile == "governed" else run.ADMIN_KEY
            )
        stream = args.mode == "stream"
        agent = args.dialect if args.mode == "agent" else ""
        if agent == "anthropic-native":
            body = workdir / "body-agent-anthropic-native.json"
            body.write_bytes(agent_body.anthropic_body(stream=stream, model=NATIVE))
        else:
            body = run.body_file(workdir, stream, agent=agent)
        if args.upstream == "anthropic":
            native = {**json.loads(body.read_bytes()), "model": NATIVE}
            body = body.with_name(body.stem + "-native.json")
            body.write_bytes(json.dumps(native).encode())
        path, extra = _path_and_headers(args.dialect)
        load = run.run_stream if stream else run.run_wrk
        headers = {name: [f"Authorization: Bearer {keys[name]}", *extra] for name in keys}
        for name, port, _ in servers:  # warm up: imports, connections, the first snapshot
            load(f"http://127.0.0.1:{port}{path}", body, headers[name], args.concurrency, 2)
        spent = {name: 0.0 for name, _, _ in servers}
        p50s: dict[str, list[float]] = {name: [] for name, _, _ in servers}
        served = {name: 0.0 for name, _, _ in servers}
        for number in range(1, args.rounds + 1):
            before = {name: run.cpu_seconds(process.pid) for name, _, process in servers}
            parts = {name: thread_seconds(process.pid) for name, _, process in servers}
            results: dict[str, dict[str, Any]] = {}
            threads = [
                threading.Thread(
                    target=_drive,
                    args=(results, name, load, f"http://127.0.0.1:{port}{path}", body),
                    kwargs={
                        "headers": headers[name],
                        "concurrency": args.concurrency,
                        "seconds": args.seconds,
                    },
                )
                for name, port, _ in servers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            cells = []
            for name, _, process in servers:
                requests = results[name]["rps"] * args.seconds
                cpu = run.cpu_seconds(process.pid) - before[name]
                spent[name] += cpu
                served[name] += requests
                p50s[name].append(results[name]["p50_ms"])
                cells.append(
                    f"{name} {cpu / requests * 1000:.3f} ms/req "
                    f"{results[name]['rps']:.0f} rps p50 {results[name]['p50_ms']:.2f} ms"
                )
            print(f"round {number}: " + " | ".join(cells), flush=True)
            for name, _, process in servers if args.threads else ():
                requests = results[name]["rps"] * args.seconds
                after = thread_seconds(process.pid)
                shares = (
                    f"{kind} {(after.get(kind, 0.0) - seconds) / requests * 1e6:.1f}"
                    for kind, seconds in parts[name].items()
                )
                print(f"  {name} µs a request: " + ", ".join(shares), flush=True)
        cost_a, cost_b = (spent[n] / served[n] * 1000 for n in "AB")
        p50_a, p50_b = (statistics.median(p50s[n]) for n in "AB")
        print(f"A {a}: {cost_a:.3f} ms CPU a request, p50 {p50_a:.2f} ms (median of rounds)")
        print(f"B {b}: {cost_b:.3f} ms CPU a request, p50 {p50_b:.2f} ms (median of rounds)")
        print(f"B/A {cost_b / cost_a:.3f}")
    finally:
        for _, _, process in servers:
            process.terminate()
        for _, _, process in servers:
            process.wait()
        mock.terminate()
        mock.wait()


def thread_seconds(root: int) -> dict[str, float]:
    """CPU seconds of a server's threads so far, by kind: the workers' event loops (a
    worker's main thread) in user and system time, the workers' other threads, and the
    supervisor's (``root``) threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = dict.fromkeys(("loop user", "loop system", "worker threads", "supervisor"), 0.0)
    for pid in run.tree(root):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, IndexError):
                    stat = Path(f"/proc/{pid}/task/{task}/stat").read_text()
                    fields = stat.rsplit(")", 1)[1].split()
                    user, system = int(fields[11]) / ticks, int(fields[12]) / ticks
                    if pid == root:
                        out["supervisor"] += user + system
                    elif int(task) == pid:
                        out["loop user"] += user
                        out["loop system"] += system
                    else:
                        out["worker threads"] += user + system
    return out


def _drive(
    results: dict[str, dict[str, Any]],
    name: str,
    load: Any,
    url: str,
    body: Path,
    *,
    headers: list[str],
    concurrency: int,
    seconds: int,
) -> None:
    """One server's load for a round (a thread of its own: both run at once)."""
    results[name] = load(url, body, headers, concurrency, seconds)


def _config(mock_port: int) -> str:
    """bench/run.py's LiteLLM config, with the mock as an Anthropic upstream too
    (``NATIVE``: what ``--dialect anthropic-native`` sends to)."""
    native = (
        f"  - model_name: {NATIVE}\n"
        "    litellm_params:\n"
        "      model: anthropic/bench-model\n"
        f"      api_base: http://127.0.0.1:{mock_port}\n"
        "      api_key: sk-ant-mock-upstream-key-0000\n"
        "      input_cost_per_token: 0.0000025\n"
        "      output_cost_per_token: 0.00001\n"
    )
    return run.litellm_yaml(mock_port).replace(
        "general_settings:\n", native + "general_settings:\n"
    )


def _path_and_headers(dialect: str) -> tuple[str, list[str]]:
    """The dialect's path and its headers besides the key's."""
    if dialect == "openai":
        return "/v1/chat/completions", []
    return "/v1/messages", ["anthropic-version: 2023-06-01"]


if __name__ == "__main__":
    main()
