"""Seed one million RequestLog rows and time the log list as its users get it: the
console's ``/logs/`` page and the management API's ``GET /api/logs/``, each case in a
freshly started process (its first request, after the start-up warm-up every server
process does), then the median of later requests.

    .venv/bin/python bench/logs/bench_logs.py              # SQLite and PostgreSQL
    .venv/bin/python bench/logs/bench_logs.py --db sqlite  # one of them
    .venv/bin/python bench/logs/bench_logs.py --rows 200000 --explain
    .venv/bin/python bench/logs/bench_logs.py --fresh      # seed again

SQLite goes to a scratch file under /tmp; PostgreSQL to a scratch database
``switchyard_bench`` on 127.0.0.1:5432 (user postgres, trust auth). A seed (the logs,
some bodies, the hourly rollups, a staff user) is made once per database and row count
and reused by the next run and by ``bench_dashboard.py`` and ``bench_dashboard_page.py``
(``--fresh`` drops it and seeds again). Prints a markdown table; every page should answer within 100 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at run time after django.setup()
    from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
SQLITE_DIR = Path(tempfile.gettempdir()) / "switchyard-bench-logs"
PG_URL = "postgres://postgres@127.0.0.1:5432/switchyard_bench"
BUDGET_MS = 100.0
ROUTES = [f"route-{i}" for i in range(20)]
ROUTE_WEIGHTS = [30, 15, 10, 8, 6, 5, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
STATUSES = [200, 429, 500, 502, 404, 400, 499]
STATUS_WEIGHTS = [900, 30, 20, 20, 10, 10, 10]
DAYS = 30
BODY_ROWS = 50_000
CHUNK = 50_000


def prepare_database(db: str) -> dict[str, str]:
    """Environment for a fresh scratch database of kind ``db``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.server.settings"}
    env.pop("REDIS_URL", None)
    if db == "sqlite":
        SQLITE_DIR.mkdir(exist_ok=True)
        for path in SQLITE_DIR.glob("switchyard.sqlite3*"):
            path.unlink()
        env["SWITCHYARD_DATA_DIR"] = str(SQLITE_DIR)
        env.pop("DATABASE_URL", None)
    else:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as pg:
            pg.execute("DROP DATABASE IF EXISTS switchyard_bench")
            pg.execute("CREATE DATABASE switchyard_bench")
        env["DATABASE_URL"] = PG_URL
        env["SWITCHYARD_DATA_DIR"] = str(Path(tempfile.gettempdir()) / "switchyard-bench-pg")
    return env


def generate(rows: int, now: datetime) -> Iterator[tuple[object, ...]]:
    """Rows as tuples in COLUMNS order, oldest first (as a journal would write them)."""
    rng = random.Random(42)
    span = DAYS * 86400
    start = now - timedelta(seconds=span)
    routes = rng.choices(ROUTES, ROUTE_WEIGHTS, k=rows)
    statuses = rng.choices(STATUSES, STATUS_WEIGHTS, k=rows)
    for n in range(rows):
        status = statuses[n]
        created = start + timedelta(seconds=span * n / rows)
        ok = status == 200
        tokens_in, tokens_out = (rng.randint(10, 4000), rng.randint(1, 800)) if ok else (0, 0)
        yield (
            uuid.UUID(int=rng.getrandbits(128)).hex,
            created,
            n % 50 + 1,
            f"key-{n % 50 + 1}",
            "sy-abc12",
            "anthropic" if n % 5 < 2 else "openai",
            "chat",
            routes[n],
            n % 40 + 1,
            "provider-a",
            "model-x",
            n % 3 != 0,
            status,
            "stop" if ok else "",
            "" if ok else "upstream_error",
            "" if ok else "upstream said no",
            "[]",
            rng.uniform(50, 5000),
            rng.uniform(20, 800) if ok else None,
            rng.uniform(40, 4900),
            rng.uniform(0.2, 5),
            tokens_in,
            tokens_out,
            0,
            0,
            (tokens_in * 3 + tokens_out * 15) / 1e6,
            "bench/1.0",
            False,
            status == 499,
            n % 50 == 0,  # one request in fifty answered from the response cache
        )


COLUMNS = (
    "request_id", "created_at", "key_id", "key_name", "key_prefix", "dialect", "endpoint",
    "route", "deployment_id", "provider", "upstream_model", "stream", "status",
    "finish_reason", "error_kind", "error_message", "attempts", "latency_ms", "ttft_ms",
    "upstream_ms", "overhead_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "user_agent", "from_playground", "client_disconnected",
    "cache_hit",
)  # fmt: skip


def seed(rows: int) -> float:
    """Insert ``rows`` logs (and bodies for some) in big transactions; seconds taken."""
    from django.db import connection, transaction

    now = datetime.now(UTC)
    started = time.perf_counter()
    table = "gateway_requestlog"
    names = ", ".join(COLUMNS)
    batch: list[tuple[object, ...]] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(COLUMNS))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)
        batch.clear()

    indexes: list[str] = []
    if connection.vendor == "sqlite":  # build the indexes once, after the rows are in
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name=%s "
                "AND sql IS NOT NULL",
                [table],
            )
            for name, sql in cursor.fetchall():
                indexes.append(sql)
                cursor.execute(f'DROP INDEX "{name}"')
    for row in generate(rows, now):
        batch.append(row)
        if len(batch) >= CHUNK:
            flush()
    if batch:
        flush()
    with connection.cursor() as cursor:
        for sql in indexes:
            cursor.execute(sql)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gateway_requestbody (log_id, inbound_request, upstream_request, "
            "upstream_response, outbound_response, truncated) "
            f"SELECT id, %s, %s, %s, %s, %s FROM {table} ORDER BY id DESC LIMIT {BODY_ROWS}",
            [
                '{"model":"x","messages":[]}' * 40,
                "{}" * 200,
                "data: {}\n\n" * 100,
                "{}" * 300,
                False,
            ],
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE gateway_requestlog")
            cursor.execute("VACUUM ANALYZE gateway_requestbody")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


def timed(fn: Callable[[], object], runs: int = 15) -> float:
    fn()  # warm the cache: the console's second look is the usual one
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def marker(db: str) -> Path:
    """A file holding how many rows the scratch database of kind ``db`` was seeded with."""
    folder = SQLITE_DIR if db == "sqlite" else Path(tempfile.gettempdir()) / "switchyard-bench-pg"
    return folder / "seeded-rows"


def scratch_holds(db: str, rows: int) -> bool:
    """Whether the scratch database of kind ``db`` was seeded with ``rows`` logs."""
    try:
        seeded = int(marker(db).read_text())
    except (OSError, ValueError):
        return False
    if db == "sqlite":
        return seeded == rows and (SQLITE_DIR / "switchyard.sqlite3").exists()
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as pg:
        found = pg.execute("SELECT 1 FROM pg_database WHERE datname='switchyard_bench'")
        return seeded == rows and found.fetchone() is not None


def environment(db: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.server.settings"}
    env.pop("REDIS_URL", None)
    if db == "sqlite":
        env["SWITCHYARD_DATA_DIR"] = str(SQLITE_DIR)
        env.pop("DATABASE_URL", None)
    else:
        env["DATABASE_URL"] = PG_URL
        env["SWITCHYARD_DATA_DIR"] = str(Path(tempfile.gettempdir()) / "switchyard-bench-pg")
    return env


def seed_all(rows: int) -> None:
    """Inside a process pointed at an empty scratch database: the logs, their bodies,
    the rollups and a staff user."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from gateway.telemetry import rollups

    call_command("migrate", verbosity=0)
    took = seed(rows)
    started = time.perf_counter()
    read, written = rollups.rebuild()
    with connection.cursor() as cursor:  # what autovacuum would have done by now
        cursor.execute(
            "VACUUM ANALYZE gateway_usagerollup"
            if connection.vendor == "postgresql"
            else "ANALYZE gateway_usagerollup"
        )
    User.objects.create_superuser("bench", "", "bench-password")
    print(
        f"{connection.vendor}: seeded {rows:,} rows in {took:.0f} s, rollups rebuilt from "
        f"{read:,} logs into {written:,} rows in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def ensure_seeded(db: str, rows: int, fresh: bool = False) -> dict[str, str]:
    """Environment for a scratch database of kind ``db`` seeded with ``rows`` logs: the
    last one if it has that many (unless ``fresh``), else a new one."""
    if fresh or not scratch_holds(db, rows):
        marker(db).unlink(missing_ok=True)
        prepare_database(db)
        command = [sys.executable, __file__, "--inner", "seed", "--rows", str(rows)]
        subprocess.run(command, env=environment(db), cwd=ROOT, check=True)
        marker(db).parent.mkdir(exist_ok=True)
        marker(db).write_text(str(rows))
    # a database seeded by an older checkout gets this one's migrations (indexes)
    migrate = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
    subprocess.run(migrate, env=environment(db), cwd=ROOT, check=True)
    if db == "postgres":
        vacuum()
    return environment(db)


def vacuum() -> None:
    """What autovacuum does between runs (a scratch cluster may run without it): the
    tables a run rewrites (the dashboard page's ``7d-unfolded`` replaces the stored
    hour summaries, a rollup rebuild every row of its hours) lose their dead rows, and
    the rollups' index-only scans their heap visits."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as pg:
        for table in ("gateway_usagerollup", "console_storedhoursummary"):
            pg.execute(f"VACUUM ANALYZE {table}")


# What the log list is asked for: (surface, case, path). The filters are the console
# form's; the API's equivalents take the same values (``since`` for ``window``).
CASES: list[tuple[str, str, str]] = [
    ("console", "first page, no filter", "/logs/"),
    ("console", "route", "/logs/?route=route-3"),
    ("console", "status 5xx", "/logs/?status=5xx"),
    ("console", "route + status 5xx + last 7 days", "/logs/?route=route-3&status=5xx&window=7d"),
    ("console", "key + last 24 hours", "/logs/?key=7&window=24h"),
    ("console", "dialect + any error", "/logs/?dialect=anthropic&status=error"),
    ("console", "search: error text", "/logs/?q=said+no"),
    ("console", "search: a request id", "/logs/?q=@REQUEST_ID@"),
    ("console", "search: no match", "/logs/?q=nothing-matches-this"),
    ("console", "search: no match, last 24 hours", "/logs/?q=nothing-matches-this&window=24h"),
    ("console", "second page (cursor)", "@NEXT:/logs/?route=route-3"),
    ("api", "first page, no filter", "/api/logs/"),
    ("api", "route + status 5xx + since 7d", "/api/logs/?route=route-3&status=5xx&since=7d"),
    ("api", "key + since 24h", "/api/logs/?key=7&since=24h"),
    ("api", "search: a request id", "/api/logs/?q=@REQUEST_ID@"),
    ("api", "second page (cursor)", "@NEXT:/api/logs/?route=route-3"),
    ("api", "detail with bodies", "/api/logs/@REQUEST_ID@"),
]


def next_path(client: Client, path: str) -> str:
    """The URL of the page after ``path``'s first one, as the page links to it."""
    import re

    response = client.get(path, HTTP_AUTHORIZATION="Bearer bench-master")
    assert response.status_code == 200, response.status_code
    if path.startswith("/api/"):
        cursor = response.json()["next_cursor"]
        return f"{path}&cursor={cursor}"
    found = re.search(r'href="\?([^"]*cursor=[^"]*)"', response.content.decode())
    assert found, "no next-page link"
    return "/logs/?" + found.group(1).replace("&amp;", "&")


def time_case(index: int, explain: bool) -> None:
    """In a fresh process: the first request for CASES[index], then later ones."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ["SWITCHYARD_MASTER_KEY"] = "bench-master"
    started = time.perf_counter()
    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from gateway.base import lifecycle
    from gateway.models import RequestLog

    # as every server process does at start-up, before serving (lifecycle.ensure_started):
    # without the freeze a full collection of Django's objects (65-80 ms) lands in the
    # first request; a server process has it done before it serves
    lifecycle.warm_up()
    lifecycle.freeze_startup_objects()
    surface, label, path = CASES[index]
    client = Client(HTTP_AUTHORIZATION="Bearer bench-master")
    client.force_login(User.objects.get(username="bench"))
    if "@REQUEST_ID@" in path:
        target = RequestLog.objects.order_by("-id").values_list("request_id", flat=True)[10]
        path = path.replace("@REQUEST_ID@", target)
    if path.startswith("@NEXT:"):
        # found by another process (``find_next``), so that this one starts cold
        path = os.environ["BENCH_NEXT_PATH"]
    setup = (time.perf_counter() - started) * 1000
    samples = []
    with CaptureQueriesContext(connection) as queries:
        for _ in range(6):
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
    cold, later = samples[0], statistics.median(samples[1:])
    verdict = "yes" if cold <= BUDGET_MS else "NO"
    print(
        f"| {surface} | {label} | {cold:.0f} | {later:.0f} | {setup:.0f} | <= {BUDGET_MS:.0f} "
        f"| {verdict} |",
        flush=True,
    )
    if explain:
        first = queries.captured_queries[: len(queries.captured_queries) // 6 or None]
        slowest = max(first, key=lambda q: float(q["time"]))
        with connection.cursor() as cursor:
            prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
            cursor.execute(prefix + slowest["sql"])
            plan = "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())
        print(f"\n    -- {slowest['time']} s: {slowest['sql'][:300]}\n{plan}\n", flush=True)


def find_next(index: int) -> None:
    """Print the URL of the second page of CASES[index] (in its own process, so that
    the timed process starts cold)."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ["SWITCHYARD_MASTER_KEY"] = "bench-master"
    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="bench"))
    print(next_path(client, CASES[index][2].removeprefix("@NEXT:")))


def run_cases(db: str, env: dict[str, str], explain: bool) -> None:
    print(f"\n### {db}: the log list, first request of a fresh process\n", flush=True)
    print(
        "| surface | case | cold ms | later median ms | process start + login ms | target ms "
        "| cold within target |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | :---: |", flush=True)
    for index, (_, _, path) in enumerate(CASES):
        case_env = dict(env)
        if path.startswith("@NEXT:"):
            command = [sys.executable, __file__, "--inner", f"next:{index}"]
            found = subprocess.run(
                command, env=env, cwd=ROOT, check=True, capture_output=True, text=True
            )
            case_env["BENCH_NEXT_PATH"] = found.stdout.strip().splitlines()[-1]
        command = [sys.executable, __file__, "--inner", f"case:{index}"]
        subprocess.run(
            command + (["--explain"] if explain else []), env=case_env, cwd=ROOT, check=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="seed again even if a seed is there")
    parser.add_argument("--explain", action="store_true", help="print each case's slowest plan")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner == "seed":
        seed_all(args.rows)
        return
    if args.inner and args.inner.startswith("case:"):
        time_case(int(args.inner.split(":")[1]), args.explain)
        return
    if args.inner and args.inner.startswith("next:"):
        find_next(int(args.inner.split(":")[1]))
        return
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        run_cases(db, ensure_seeded(db, args.rows, args.fresh), args.explain)


if __name__ == "__main__":
    main()
