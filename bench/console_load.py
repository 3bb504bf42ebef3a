"""Does the console slow /v1? /v1 p99, quiet and while the console is hammered, with the
console in the API's process (``serve --role all``) and apart from it (``serve --role
api`` + ``serve --role console`` on the same database).

    python bench/console_load.py [--rows 200000] [--duration 10] [--concurrency 4]
                                 [--hammer 4] [--layouts all split] [--pin]

Set-up, once: a fresh data folder (SQLite), the route ``bench`` on the mock upstream
(bench/mock_upstream.py, imported from a LiteLLM YAML), a console admin, and a journal of
``--rows`` request logs over the last week (one row made by the ORM, cloned in one
``INSERT ... SELECT`` over a recursive CTE: 200k rows in a few seconds), rollups
rebuilt from it (``manage.py rebuild_rollups``), as a week of traffic leaves them.

Per layout, two phases of ``--duration`` seconds each:

- quiet: ``--concurrency`` clients post ``/v1/chat/completions`` back to back to the
  API process (the one process, for ``all``) and time every request;
- loaded: the same, while ``--hammer`` console clients (another OS process: their work
  is not the /v1 client's) signed in as the admin loop over the dashboard's three
  windows (1h from the logs, 24h and 7d from the rollups) and log searches (a text
  search scans up to SEARCH_SCAN_ROWS rows) on the console process.

The /v1 traffic keeps writing logs, so the dashboard's cache (valid until a new log)
never spares it the work. Prints p50/p99 of /v1 per phase and layout as the client
times it and the p99 the API process journaled (``latency_ms``: its own view, without
the client's scheduling), the loaded/quiet p99 ratio (the issue asks for at most 2x with the console apart) and the console
requests served per second (how hard it was hammered).

On a shared 2-core machine the two server processes also share the CPU with the
clients: the split layout isolates the API's event loop and database connection from
the console's, not its cores; on Kubernetes the pods have their own (``--pin`` gives
the API's process a CPU of its own, the rest share the others). No timed unit test
rests on this: it is measured and reported (bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
MASTER_KEY = "sy-bench-console-load-master-0123456789"
ADMIN, PASSWORD = "admin", "bench-password-123"
BODY = {
    "model": "bench",
    "max_tokens": 32,
    "messages": [{"role": "user", "content": "Say hello in twenty tokens."}],
}
SEARCHES = ["tok7", "bench", "hello", "route-3", "timeout", "status"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up in {timeout}s")


def environment(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_MASTER_KEY": MASTER_KEY,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "PYTHONPATH": str(ROOT),
        # the gateway as shipped: not the test environment's example plugin
        "SWITCHYARD_PLUGINS": "none",
    }
    for name in ("DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL", "SWITCHYARD_ROLE"):
        env.pop(name, None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- set-up ----------------------------------------------------------------------------


def fill_journal(database: Path, rows: int) -> float:
    """Clone the one log row ``rows`` times, spread over the last week; seconds taken."""
    started = time.perf_counter()
    db = sqlite3.connect(database)
    columns = [row[1] for row in db.execute("PRAGMA table_info(gateway_requestlog)")]
    (template,) = db.execute("SELECT max(id) FROM gateway_requestlog").fetchone()
    spread = 7 * 86400 / rows
    varied = {
        "request_id": "'req-bench-' || n",
        "created_at": f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (n * {spread}) || ' seconds')",
        "route": "'route-' || (n % 7)",
        "status": "CASE WHEN n % 23 = 0 THEN 502 WHEN n % 31 = 0 THEN 429 ELSE 200 END",
        "latency_ms": "20 + (n % 400)",
        "ttft_ms": "5 + (n % 97)",
        "input_tokens": "10 + (n % 300)",
        "output_tokens": "20 + (n % 150)",
        "key_name": "'key-' || (n % 13)",
        "error_message": "CASE WHEN n % 23 = 0 THEN 'upstream timeout after retries' ELSE '' END",
        "user_agent": "'bench-agent/' || (n % 5)",
    }
    names = [c for c in columns if c != "id"]
    values = [varied.get(c, c) for c in names]
    db.execute(
        f"""
        INSERT INTO gateway_requestlog ({", ".join(names)})
        WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
        SELECT {", ".join(values)} FROM seq, gateway_requestlog WHERE gateway_requestlog.id = ?
        """,
        (rows, template),
    )
    db.execute("DELETE FROM gateway_requestlog WHERE id = ?", (template,))
    db.commit()
    db.close()
    return time.perf_counter() - started


def set_up(workdir: Path, mock_port: int, rows: int) -> dict[str, str]:
    data = workdir / "data"
    data.mkdir()
    env = environment(data)
    manage(env, "migrate", "--noinput", "-v0")
    config = workdir / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: bench\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: http://127.0.0.1:{mock_port}/v1\n"
        "      api_key: sk-mock-upstream-key-0000\n"
    )
    manage(env, "import_config", str(config))
    manage(env, "createsuperuser", "--noinput", "--username", ADMIN, "--email", "a@example.com")
    manage(
        env,
        "shell",
        "-c",
        "from gateway.models import RequestLog; "
        "RequestLog.objects.create(request_id='template', dialect='openai', "
        "endpoint='chat', provider='openai', upstream_model='bench-model')",
    )
    took = fill_journal(data / "switchyard.sqlite3", rows)
    print(f"journal: {rows} rows in {took:.1f}s", flush=True)
    started = time.perf_counter()
    manage(env, "rebuild_rollups")
    print(f"rollups rebuilt in {time.perf_counter() - started:.1f}s", flush=True)
    return env


# --pin: the CPUs of the API's process, and of everything else (console, clients, mock)
API_CPUS: set[int] | None = None
OTHER_CPUS: set[int] | None = None


def serve(env: dict[str, str], role: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    cpus = API_CPUS if role in ("api", "all") else OTHER_CPUS
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "manage.py"), "serve", "--role", role, "--port", str(port)]
        + ["--workers", "1", "--no-migrate"],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=None if cpus is None else (lambda: os.sched_setaffinity(0, cpus)),
    )
    wait_for(f"http://127.0.0.1:{port}/health/readiness")
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- load ------------------------------------------------------------------------------


async def v1_load(url: str, concurrency: int, duration: float) -> list[float]:
    """Latencies (ms) of back-to-back /v1 posts by ``concurrency`` clients."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    body = json.dumps(BODY).encode()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        end = time.perf_counter() + duration

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                started = time.perf_counter()
                reply = await client.post(
                    "/v1/chat/completions",
                    content=body,
                    headers={**headers, "content-type": "application/json"},
                )
                if reply.status_code != 200:
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    if errors:
        print(f"  /v1: {errors} errors", flush=True)
    return latencies


def console_session(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the sign-in page"
    signed = client.post(
        "/login/",
        data={"username": ADMIN, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": url + "/login/"},
    )
    assert signed.status_code in (302, 303), f"sign-in failed: {signed.status_code}"
    return client


def hammer(url: str, clients: int, duration: float, done: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """``clients`` threads looping over the dashboard and log searches; puts the count
    of pages served and of those not answered 200."""
    import threading

    counts = [0] * clients
    failed = [0] * clients
    end = time.monotonic() + duration

    def loop(index: int) -> None:
        client = console_session(url)
        pages = [("/", {"window": w}) for w in ("1h", "24h", "7d")]
        pages += [("/logs/", {"q": q, "window": "7d"}) for q in SEARCHES]
        pages += [("/logs/", {"status": "error", "window": "7d"})]
        step = index
        while time.monotonic() < end:
            path, params = pages[step % len(pages)]
            step += 1
            if client.get(path, params=params).status_code != 200:
                failed[index] += 1
            counts[index] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.put((sum(counts), sum(failed)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def server_latencies(database: Path, since: str, until: str) -> list[float]:
    """The /v1 latencies the API process itself journaled between two moments (its own
    view: no client scheduling in it, which on a small machine shares the CPUs)."""
    time.sleep(2.0)  # the journal writes a moment after the answer
    db = sqlite3.connect(database)
    rows = db.execute(
        "SELECT latency_ms FROM gateway_requestlog WHERE route = 'bench' "
        "AND created_at >= ? AND created_at < ?",
        (since, until),
    ).fetchall()
    db.close()
    return [row[0] for row in rows]


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def phase(
    api_url: str, console_url: str | None, args: argparse.Namespace, database: Path
) -> dict[str, float]:
    served = 0
    worker = None
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    if console_url is not None:
        worker = multiprocessing.Process(
            target=hammer, args=(console_url, args.hammer, args.duration + 1, queue)
        )
        worker.start()
        time.sleep(1.0)  # signed in and hammering before /v1 is timed
    since = utc_now()
    latencies = asyncio.run(v1_load(api_url, args.concurrency, args.duration))
    until = utc_now()
    if worker is not None:
        worker.join()
        served, failed = queue.get()
        if failed:
            print(f"  console: {failed} of {served} pages not answered 200", flush=True)
    journaled = server_latencies(database, since, until) or [0.0]
    return {
        "requests": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "server_p99_ms": percentile(journaled, 0.99),
        "console_rps": served / (args.duration + 1),
    }


def measure_layout(layout: str, env: dict[str, str], workdir: Path, args) -> dict[str, dict]:
    log = workdir / f"{layout}.log"
    processes = []
    try:
        if layout == "all":
            port = free_port()
            processes.append(serve(env, "all", port, log))
            api_url = console_url = f"http://127.0.0.1:{port}"
        else:
            api_port, console_port = free_port(), free_port()
            processes.append(serve(env, "api", api_port, log))
            processes.append(serve(env, "console", console_port, log))
            api_url = f"http://127.0.0.1:{api_port}"
            console_url = f"http://127.0.0.1:{console_port}"
        asyncio.run(v1_load(api_url, args.concurrency, 2.0))  # warm-up
        database = Path(env["SWITCHYARD_DATA_DIR"]) / "switchyard.sqlite3"
        quiet = phase(api_url, None, args, database)
        loaded = phase(api_url, console_url, args, database)
        return {"quiet": quiet, "loaded": loaded}
    finally:
        for process in reversed(processes):
            stop(process)


def report(results: dict[str, dict[str, dict]], args) -> str:
    lines = [
        f"console_load: {args.rows} journal rows, /v1 at concurrency {args.concurrency}, "
        f"{args.hammer} console clients, {args.duration:.0f} s per phase"
        + (", API process pinned to its own CPU" if args.pin else ""),
        "",
        "| layout | /v1 quiet p50 / p99 (ms) | /v1 loaded p50 / p99 (ms) | p99 loaded/quiet "
        "| server-side p99 quiet / loaded (ms) | /v1 req quiet / loaded | console req/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for layout, cells in results.items():
        quiet, loaded = cells["quiet"], cells["loaded"]
        name = "all (one process)" if layout == "all" else "split (api + console)"
        lines.append(
            f"| {name} | {quiet['p50_ms']:.1f} / {quiet['p99_ms']:.1f} "
            f"| {loaded['p50_ms']:.1f} / {loaded['p99_ms']:.1f} "
            f"| {loaded['p99_ms'] / quiet['p99_ms']:.2f}x "
            f"| {quiet['server_p99_ms']:.1f} / {loaded['server_p99_ms']:.1f} "
            f"| {quiet['requests']} / {loaded['requests']} | {loaded['console_rps']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--hammer", type=int, default=4)
    parser.add_argument("--layouts", nargs="+", default=["all", "split"], choices=["all", "split"])
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the API's process (the one process, for all) and the mock upstream on the "
        "first CPU, everything else on the others: the API pod's own core, as on Kubernetes",
    )
    args = parser.parse_args()
    if args.pin:
        global API_CPUS, OTHER_CPUS
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("--pin needs two CPUs")
        API_CPUS, OTHER_CPUS = {cpus[0]}, set(cpus[1:])
        os.sched_setaffinity(0, OTHER_CPUS)  # this process, its clients and the mock
    with tempfile.TemporaryDirectory(prefix="switchyard-console-load-") as temp:
        workdir = Path(temp)
        mock_port = free_port()
        mock = subprocess.Popen(
            [PYTHON, str(BENCH / "mock_upstream.py"), "--port", str(mock_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # with --pin, beside the API (it costs next to nothing): an upstream slowed
            # by the console's CPU would be counted against the API's latency
            preexec_fn=None if API_CPUS is None else (lambda: os.sched_setaffinity(0, API_CPUS)),
        )
        try:
            env = set_up(workdir, mock_port, args.rows)
            results = {}
            for layout in args.layouts:
                print(f"layout {layout} ...", flush=True)
                results[layout] = measure_layout(layout, env, workdir, args)
            print(report(results, args))
        finally:
            stop(mock)


if __name__ == "__main__":
    main()
