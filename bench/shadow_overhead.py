"""What shadow traffic costs the primary request: shadow 0 % against 100 % to another route.

    .venv/bin/python bench/shadow_overhead.py [--rounds 3] [--duration 5] [--concurrency 1 16]
                                             [--requests 300] [--part server|calls|both]

Two measurements, both on the mock upstream (bench/mock_upstream.py) with the route
``bench`` and its shadow ``bench-shadow`` (the same mock model), as bench/run.py sets
them up:

- **server** (wall clock and CPU): ``manage.py serve --workers 2`` as in production (body
  logging on, a fresh data dir). The route's ``shadow_percent`` is switched between 0
  and 100 through ``PATCH /api/routes/{id}`` and the two settings alternate, round after
  round, each cell ``--duration`` seconds of wrk at each concurrency on the plain OpenAI
  path: the primary's p50/p99 as the client sees them, and the server's CPU per primary
  request (user + system of the whole process tree; with shadowing it includes the
  mirror's own call, which the client never waits for). The mirrored requests are
  counted from the request log after each cell (``shadow_of`` set): mirrors beyond
  ``SWITCHYARD_SHADOW_MAX_IN_FLIGHT`` a worker, or while its event loop is saturated
  (``SWITCHYARD_SHADOW_BUSY_LAG_MS``; ``--env SWITCHYARD_SHADOW_BUSY_LAG_MS=0`` turns
  that off), are skipped by design.
- **calls** (deterministic): in this process, the ASGI application the server runs
  (``gateway.server.asgi.application``) answers ``--requests`` requests one at a time;
  ``cProfile`` is on from the moment the request reaches the application until the
  last byte of its answer is sent, i.e. the primary's path as the client waits on it.
  The mirror runs after that (the next request starts only once it has finished), so
  its own calls are counted apart: "mirror, off the path" (requests back to back under
  the profiler keep the loop busy: most mirrors are skipped unless
  ``SWITCHYARD_SHADOW_BUSY_LAG_MS=0`` is in the environment). The journal writer is a no-op
  here (the same for both settings; it runs on its own thread in the server).

Wall clock on a shared machine is noisy (see bench/README.md); the call counts are not.
Prints a Markdown table (and writes it to bench/results/shadow_overhead.md)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.base.asgi import Message

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the same mock, server set-up and wrk driver)

SHADOW = "bench-shadow"
ADMIN_KEY = "sy-bench-admin-master-key-0123456789"  # run.start_switchyard's master key


def config_yaml(mock_port: int) -> str:
    """bench/run.py's route plus its shadow on the same mock model."""
    extra = (
        f"  - model_name: {SHADOW}\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: http://127.0.0.1:{mock_port}/v1\n"
        "      api_key: sk-mock-upstream-key-0000\n"
    )
    base = run.litellm_yaml(mock_port)
    head, tail = base.split("general_settings:\n", 1)
    return head + extra + "general_settings:\n" + tail


# --- server: wall clock and CPU, alternating ---------------------------------------------


def api(base: str, method: str, path: str, body: dict[str, object] | None = None) -> Any:
    """The management API's answer: its JSON, whatever its shape."""
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def set_shadow(base: str, route_id: int, percent: float) -> None:
    api(
        base,
        "PATCH",
        f"/api/routes/{route_id}",
        {"shadow_routes": [SHADOW], "shadow_percent": percent},
    )
    time.sleep(2.5)  # every worker picks the registry change up within a second or so


def mirrored(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(
            connection.execute(
                "SELECT COUNT(*) FROM gateway_requestlog WHERE shadow_of IS NOT NULL"
            ).fetchone()[0]
        )


def measure_server(args: argparse.Namespace, workdir: Path) -> list[run.Row]:
    log = open(workdir / "servers.log", "w")  # noqa: SIM115  (lives for the whole run)
    mock_port, port = run.free_port(), run.free_port()
    config = workdir / "litellm.yaml"
    config.write_text(config_yaml(mock_port))
    mock = run.start_mock(mock_port, log)
    server = None
    cells: list[run.Row] = []
    try:
        server = run.start_switchyard(args, port, config, workdir / "data", log)
        base = f"http://127.0.0.1:{port}"
        db = workdir / "data" / "switchyard.sqlite3"
        routes: list[dict[str, Any]] = api(base, "GET", "/api/routes/")
        route_id = next(r["id"] for r in routes if r["name"] == run.ROUTE)
        body = run.body_file(workdir, stream=False)
        url = base + "/v1/chat/completions"
        auth = [f"Authorization: Bearer {run.MASTER_KEY}"]
        run.run_wrk(url, body, auth, 4, 2)  # warm-up
        for round_no in range(args.rounds):
            order = (0, 100) if round_no % 2 == 0 else (100, 0)
            for percent in order:
                set_shadow(base, route_id, percent)
                for concurrency in args.concurrency:
                    before_cpu = run.cpu_seconds(server.pid)
                    before_mirrors = mirrored(db)
                    result = run.run_wrk(url, body, auth, concurrency, args.duration)
                    time.sleep(0.5)  # the mirrors still in flight, then the CPU they cost
                    cpu = run.cpu_seconds(server.pid) - before_cpu
                    time.sleep(1.5)  # the journal's batch
                    requests = result["rps"] * args.duration
                    cell = {
                        "round": round_no,
                        "percent": percent,
                        "concurrency": concurrency,
                        **result,
                        "requests": round(requests),
                        "cpu_ms_per_req": 1000 * cpu / requests if requests else None,
                        "mirrored": mirrored(db) - before_mirrors,
                    }
                    cells.append(cell)
                    print(json.dumps(cell), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        mock.terminate()
        mock.wait()
        log.close()
    return cells


# --- calls: cProfile on the primary's path, in process -------------------------------------


def measure_calls(args: argparse.Namespace, workdir: Path) -> dict[int, dict[str, float]]:
    log = open(workdir / "mock.log", "w")  # noqa: SIM115
    mock_port = run.free_port()
    mock = run.start_mock(mock_port, log)
    os.environ.update(
        SWITCHYARD_DATA_DIR=str(workdir / "calls-data"),
        SWITCHYARD_MASTER_KEY=ADMIN_KEY,
        SWITCHYARD_LOG_BODIES="1",
        DJANGO_SETTINGS_MODULE="gateway.server.settings",
        DEBUG="0",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--no-input", verbosity=0)
        from gateway import journal
        from gateway.access import registry
        from gateway.core import shadow
        from gateway.models import Deployment, Provider, Route
        from gateway.server.asgi import application

        journal.record = lambda entry: None
        provider = Provider(
            name="mock", kind=Provider.Kind.OPENAI, base_url=f"http://127.0.0.1:{mock_port}/v1"
        )
        provider.set_secret("sk-mock-upstream-key-0000")
        provider.save()
        primary = Route.objects.create(name=run.ROUTE, shadow_routes=[SHADOW], shadow_percent=0)
        for route in (primary, Route.objects.create(name=SHADOW)):
            Deployment.objects.create(route=route, provider=provider, model="bench-model")
        body = json.dumps({"model": run.ROUTE, "max_tokens": 64, "messages": run.MESSAGES}).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", f"Bearer {ADMIN_KEY}".encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 4000),
        }

        async def one(path_profile: cProfile.Profile, mirror_profile: cProfile.Profile) -> None:
            sent = asyncio.Event()
            status: list[int] = []

            given = False

            async def receive() -> Message:
                nonlocal given
                if not given:
                    given = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await sent.wait()  # as a server does: nothing more until the answer is out
                return {"type": "http.disconnect"}

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                elif message["type"] == "http.response.body" and not message.get("more_body"):
                    path_profile.disable()  # the client has its whole answer
                    sent.set()

            path_profile.enable()
            await application(dict(scope), receive, send)
            path_profile.disable()
            assert status == [200], status
            mirror_profile.enable()
            while shadow.in_flight():  # noqa: ASYNC110 - the mirror, off the path: counted apart
                await asyncio.sleep(0.001)  # (this wait adds ~10 calls a loop)
            mirror_profile.disable()

        def calls(profile: cProfile.Profile) -> int:
            stats = pstats.Stats(profile)
            return sum(nc for (_cc, nc, _tt, _ct, _callers) in stats.stats.values())  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats

        def set_percent(percent: float) -> None:
            Route.objects.filter(pk=primary.pk).update(shadow_percent=percent)
            registry.rebuild()

        async def measure() -> dict[int, dict[str, float]]:
            results: dict[int, dict[str, list[float]]] = {0: {}, 100: {}}
            for percent in (0, 100):  # warm both paths up
                await asyncio.to_thread(set_percent, percent)
                for _ in range(20):
                    await one(cProfile.Profile(), cProfile.Profile())
            for round_no in range(args.rounds):
                for percent in (0, 100) if round_no % 2 == 0 else (100, 0):
                    await asyncio.to_thread(set_percent, percent)
                    path, mirror = cProfile.Profile(), cProfile.Profile()
                    started = time.perf_counter()
                    for _ in range(args.requests):
                        await one(path, mirror)
                    elapsed = time.perf_counter() - started
                    cell = results[percent]
                    cell.setdefault("path", []).append(calls(path) / args.requests)
                    cell.setdefault("mirror", []).append(calls(mirror) / args.requests)
                    cell.setdefault("us", []).append(1e6 * elapsed / args.requests)
            return {
                p: {name: statistics.median(values) for name, values in cell.items()}
                for p, cell in results.items()
            }

        from django.db import connections

        # the ORM is used above from this thread only; the registry rebuild reads too
        connections.close_all()
        return asyncio.run(measure())
    finally:
        mock.terminate()
        mock.wait()
        log.close()


# --- report --------------------------------------------------------------------------------


def report(
    cells: list[run.Row], calls: dict[int, dict[str, float]] | None, args: argparse.Namespace
) -> str:
    load = os.getloadavg()
    lines = [
        f"Shadow 0 % vs 100 % (route `{run.ROUTE}` mirrored to `{SHADOW}`, both on the mock "
        f"upstream), {os.cpu_count()} cores, load average {load[0]:.1f} at the end.",
        "",
    ]
    if cells:
        lines += [
            f"Server (`serve --workers {args.workers}`, plain OpenAI path, {args.rounds} "
            f"alternating rounds of {args.duration:g} s a cell; medians over the rounds):",
            "",
            "| concurrency | shadow | RPS | p50 ms | p99 ms | server CPU ms / primary request | mirrored / primary |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for concurrency in args.concurrency:
            for percent in (0, 100):
                mine = [
                    c for c in cells if c["concurrency"] == concurrency and c["percent"] == percent
                ]
                med = {
                    k: statistics.median(c[k] for c in mine)
                    for k in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req")
                }
                ratio = sum(c["mirrored"] for c in mine) / max(1, sum(c["requests"] for c in mine))
                lines.append(
                    f"| {concurrency} | {percent} % | {med['rps']:,.0f} | {med['p50_ms']:.2f} | "
                    f"{med['p99_ms']:.2f} | {med['cpu_ms_per_req']:.3f} | {ratio:.2f} |"
                )
        lines.append("")
    if calls:
        lines += [
            f"Python calls per request (cProfile, {args.requests} requests one at a time, "
            f"median of {args.rounds} alternating rounds):",
            "",
            "| shadow | on the primary's path | the mirror, off the path |",
            "|---:|---:|---:|",
        ]
        for percent in (0, 100):
            c = calls[percent]
            lines.append(f"| {percent} % | {c['path']:,.0f} | {c['mirror']:,.0f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--part", choices=["server", "calls", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", default="auto")
    parser.add_argument("--source", default=str(ROOT))
    parser.add_argument("--python", default=run.PYTHON, help="the interpreter Switchyard runs on")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--output", default=str(run.RESULTS / "shadow_overhead.md"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-shadow-"))
    cells = measure_server(args, workdir) if args.part in ("server", "both") else []
    calls = None
    if args.part in ("calls", "both"):
        # its own process: Django is set up in it, away from this one's state
        child = subprocess.run(
            [sys.executable, __file__, "--calls-child", json.dumps(vars(args))],
            capture_output=True,
            text=True,
            check=True,
        )
        calls = {int(k): v for k, v in json.loads(child.stdout.strip().splitlines()[-1]).items()}
    text = report(cells, calls, args)
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--calls-child":
        options = argparse.Namespace(**json.loads(sys.argv[2]))
        result = measure_calls(options, Path(tempfile.mkdtemp(prefix="switchyard-shadow-calls-")))
        print(json.dumps(result))
    else:
        main()
