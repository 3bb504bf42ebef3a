"""Does the console slow /v1? /v1 p99, quiet and while the console is hammered, with the
console in the API's process (``serve --role all``) and apart from it (``serve --role
api`` + ``serve --role console`` on the same database).

    python bench/console_load.py [--rows 200000] [--duration 10] [--concurrency 4]
                                 [--hammer 4] [--layouts all split] [--pin]
                                 [--postgres]

Set-up, once: a fresh data folder (SQLite), the route ``bench`` on the mock upstream
(bench/mock_upstream.py, imported from a LiteLLM YAML), a console admin, and a journal of
``--rows`` request logs over the last week (one row made by the ORM, cloned in one
``INSERT ... SELECT`` over a recursive CTE: 200k rows in a few seconds), rollups
rebuilt from it (``manage.py rebuild_rollups``), as a week of traffic leaves them.
With ``--postgres`` the database is a PostgreSQL cluster of the bench's own instead
(``initdb`` + ``pg_ctl`` on a free port, as tests/own_postgres.py starts one for the
tests; removed afterwards): both servers on one ``DATABASE_URL``, as the production
layout runs them.

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
import contextlib
import datetime
import json
import multiprocessing
import multiprocessing.queues
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def environment(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
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
    if database_url:
        env["DATABASE_URL"] = database_url
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


class Journal:
    """The bench's database, reached without Django: the SQLite file of the data folder,
    or the PostgreSQL ``url``."""

    def __init__(self, data_dir: Path, url: str | None) -> None:
        self.path, self.url = data_dir / "switchyard.sqlite3", url

    def connect(self) -> Any:  # a DB-API connection: sqlite3's or psycopg's
        if self.url is None:
            return sqlite3.connect(self.path)
        import psycopg

        return psycopg.connect(self.url)

    def fill(self, rows: int) -> float:
        """Clone the one log row ``rows`` times, spread over the last week; seconds taken."""
        started = time.perf_counter()
        spread = 7 * 86400 / rows
        pg = self.url is not None
        with contextlib.closing(self.connect()) as db:
            cursor = db.cursor()
            if pg:
                cursor.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'gateway_requestlog' ORDER BY ordinal_position"
                )
                columns = [row[0] for row in cursor.fetchall()]
            else:
                columns = [
                    row[1] for row in cursor.execute("PRAGMA table_info(gateway_requestlog)")
                ]
            cursor.execute("SELECT max(id) FROM gateway_requestlog")
            (template,) = cursor.fetchone()
            created = (
                f"now() - make_interval(secs => n * {spread})"
                if pg
                else f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (n * {spread}) || ' seconds')"
            )
            varied = {
                "request_id": "'req-bench-' || n",
                "created_at": created,
                "route": "'route-' || (n % 7)",
                "status": "CASE WHEN n % 23 = 0 THEN 502 WHEN n % 31 = 0 THEN 429 ELSE 200 END",
                "latency_ms": "20 + (n % 400)",
                "ttft_ms": "5 + (n % 97)",
                "input_tokens": "10 + (n % 300)",
                "output_tokens": "20 + (n % 150)",
                "key_name": "'key-' || (n % 13)",
                "error_message": "CASE WHEN n % 23 = 0 THEN 'upstream timeout after retries' "
                "ELSE '' END",
                "user_agent": "'bench-agent/' || (n % 5)",
            }
            names = [c for c in columns if c != "id"]
            values = [varied.get(c, c) for c in names]
            if pg:  # psycopg's placeholders are %s: the modulo is %%
                values = [v.replace("%", "%%") for v in values]
            sequence = (
                "generate_series(1, %s) AS seq(n)"
                if pg
                else "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
                "WHERE n < ?) SELECT n FROM s) AS seq"
            )
            mark = "%s" if pg else "?"
            names_sql, values_sql = ", ".join(names), ", ".join(values)
            cursor.execute(
                f"INSERT INTO gateway_requestlog ({names_sql}) "
                f"SELECT {values_sql} FROM {sequence}, gateway_requestlog "
                f"WHERE gateway_requestlog.id = {mark}",
                (rows, template),
            )
            cursor.execute(f"DELETE FROM gateway_requestlog WHERE id = {mark}", (template,))
            db.commit()
            if pg:
                db.autocommit = True
                db.execute("VACUUM ANALYZE gateway_requestlog")
        return time.perf_counter() - started

    def latencies(self, since: datetime.datetime, until: datetime.datetime) -> list[float]:
        """The /v1 latencies the API process itself journaled between two moments (its
        own view: no client scheduling in it, which on a small machine shares the CPUs)."""
        time.sleep(2.0)  # the journal writes a moment after the answer
        bounds: tuple[object, ...] = (since, until)
        mark = "%s"
        if self.url is None:  # Django keeps SQLite's datetimes as naive UTC text
            bounds = tuple(t.strftime("%Y-%m-%d %H:%M:%S") for t in (since, until))
            mark = "?"
        with contextlib.closing(self.connect()) as db:
            cursor = db.cursor()
            cursor.execute(
                "SELECT latency_ms FROM gateway_requestlog WHERE route = 'bench' "
                f"AND created_at >= {mark} AND created_at < {mark}",
                bounds,
            )
            return [row[0] for row in cursor.fetchall()]


def set_up(
    workdir: Path, mock_port: int, rows: int, database_url: str | None
) -> tuple[dict[str, str], Journal]:
    data = workdir / "data"
    data.mkdir()
    env = environment(data, database_url)
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
    journal = Journal(data, database_url)
    took = journal.fill(rows)
    print(f"journal: {rows} rows in {took:.1f}s", flush=True)
    started = time.perf_counter()
    manage(env, "rebuild_rollups")
    print(f"rollups rebuilt in {time.perf_counter() - started:.1f}s", flush=True)
    return env, journal


# --pin: the CPUs of the API's process, and of everything else (console, clients, mock)
API_CPUS: set[int] | None = None
OTHER_CPUS: set[int] | None = None
# --pin as root: the API's process and the mock run at this nice value, ahead of the
# machine's other work (another session's tests would otherwise take the API's "own"
# CPU, as no pod's neighbour does). The /v1 client, the console, its hammer and the
# database share the other CPU at 0: the client's figures carry its share of that CPU,
# the API's journaled ones do not.
AHEAD = -10


def placed(cpus: set[int] | None, nice: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` putting the child on ``cpus`` at ``nice`` (None: as it is)."""
    if cpus is None:
        return None

    def place() -> None:
        os.sched_setaffinity(0, cpus)
        if os.geteuid() == 0:
            os.setpriority(os.PRIO_PROCESS, 0, nice)

    return place


def serve(env: dict[str, str], role: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    api = role in ("api", "all")
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "manage.py"), "serve", "--role", role, "--port", str(port)]
        + ["--workers", "1", "--no-migrate"],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=placed(API_CPUS, AHEAD) if api else placed(OTHER_CPUS, 0),
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


def hammer(
    url: str, clients: int, duration: float, done: multiprocessing.queues.Queue[tuple[int, int]]
) -> None:
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


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def phase(
    api_url: str, console_url: str | None, args: argparse.Namespace, journal: Journal
) -> dict[str, float]:
    served = 0
    worker = None
    queue: multiprocessing.queues.Queue[tuple[int, int]] = multiprocessing.Queue()
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
    journaled = journal.latencies(since, until) or [0.0]
    return {
        "requests": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "server_p99_ms": percentile(journaled, 0.99),
        "console_rps": served / (args.duration + 1),
    }


def measure_layout(
    layout: str, env: dict[str, str], journal: Journal, workdir: Path, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
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
        quiet = phase(api_url, None, args, journal)
        loaded = phase(api_url, console_url, args, journal)
        return {"quiet": quiet, "loaded": loaded}
    finally:
        for process in reversed(processes):
            stop(process)


def report(results: list[tuple[str, dict[str, dict[str, float]]]], args: argparse.Namespace) -> str:
    lines = [
        f"console_load: {args.rows} journal rows, /v1 at concurrency {args.concurrency}, "
        f"{args.hammer} console clients, {args.duration:.0f} s per phase"
        + (", API process pinned to its own CPU" if args.pin else "")
        + (", on PostgreSQL" if args.postgres else ", on SQLite"),
        "",
        "| layout | /v1 quiet p50 / p99 (ms) | /v1 loaded p50 / p99 (ms) | p99 loaded/quiet "
        "| server-side p99 quiet / loaded (ms) | /v1 req quiet / loaded | console req/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for layout, cells in results:
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
        "first CPU, everything else on the others: the API pod's own core, as on Kubernetes "
        "(as root the API and the mock also run ahead of other work)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="both servers on a PostgreSQL of the bench's own (initdb + pg_ctl on a free "
        "port, removed afterwards) instead of one SQLite file",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the layouts this many times in turn (one row each): on a shared "
        "machine one round's quiet p99 may be another session's burst",
    )
    args = parser.parse_args()
    if args.pin:
        global API_CPUS, OTHER_CPUS
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("--pin needs two CPUs")
        API_CPUS, OTHER_CPUS = {cpus[0]}, set(cpus[1:])
        os.sched_setaffinity(0, OTHER_CPUS)  # this process, its clients and the mock
    with contextlib.ExitStack() as stack:
        database_url = None
        if args.postgres:
            sys.path.insert(0, str(ROOT))
            from tests.own_postgres import own_postgres

            server = stack.enter_context(own_postgres())
            database_url = server.create_database("switchyard_console_load")
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sy-console-")))
        mock_port = free_port()
        mock = subprocess.Popen(
            [PYTHON, str(BENCH / "mock_upstream.py"), "--port", str(mock_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # with --pin, beside the API (it costs next to nothing): an upstream slowed
            # by the console's CPU would be counted against the API's latency
            preexec_fn=placed(API_CPUS, AHEAD),
        )
        try:
            env, journal = set_up(workdir, mock_port, args.rows, database_url)
            results = []
            for round_ in range(1, args.rounds + 1):  # layouts taken in turn, round by round
                for layout in args.layouts:
                    print(f"round {round_}, layout {layout} ...", flush=True)
                    results.append((layout, measure_layout(layout, env, journal, workdir, args)))
                    print(report(results[-1:], args).splitlines()[-1], flush=True)
            print(report(results, args))
        finally:
            stop(mock)


if __name__ == "__main__":
    main()
