"""Seed one million RequestLog rows and time the console's log queries.

    .venv/bin/python bench/logs/bench_logs.py              # SQLite and PostgreSQL
    .venv/bin/python bench/logs/bench_logs.py --db sqlite  # one of them
    .venv/bin/python bench/logs/bench_logs.py --rows 200000 --explain

SQLite goes to a scratch file under /tmp; PostgreSQL to a scratch database
``switchyard_bench`` on 127.0.0.1:5432 (user postgres, trust auth), dropped and
recreated each run. The timed queries are the management API's own
(``gateway.api.logs.filtered``), so what is measured is what the console runs:
route + status + time range (first page and a deep cursor page), and the detail
lookup. Prints a markdown table; every query should stay under 200 ms.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_URL = "postgres://postgres@127.0.0.1:5432/switchyard_bench"
BUDGET_MS = 200.0
ROUTES = [f"route-{i}" for i in range(20)]
ROUTE_WEIGHTS = [30, 15, 10, 8, 6, 5, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
STATUSES = [200, 429, 500, 502, 404, 400, 499]
STATUS_WEIGHTS = [900, 30, 20, 20, 10, 10, 10]
DAYS = 30
BODY_ROWS = 50_000
CHUNK = 50_000


def prepare_database(db: str) -> dict[str, str]:
    """Environment for a fresh scratch database of kind ``db``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings"}
    env.pop("REDIS_URL", None)
    if db == "sqlite":
        data_dir = Path(tempfile.gettempdir()) / "switchyard-bench-logs"
        data_dir.mkdir(exist_ok=True)
        for path in data_dir.glob("switchyard.sqlite3*"):
            path.unlink()
        env["SWITCHYARD_DATA_DIR"] = str(data_dir)
        env.pop("DATABASE_URL", None)
    else:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as pg:
            pg.execute("DROP DATABASE IF EXISTS switchyard_bench")
            pg.execute("CREATE DATABASE switchyard_bench")
        env["DATABASE_URL"] = PG_URL
        env["SWITCHYARD_DATA_DIR"] = str(Path(tempfile.gettempdir()) / "switchyard-bench-pg")
    return env


def generate(rows: int, now: datetime):  # type: ignore[no-untyped-def]
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
        )


COLUMNS = (
    "request_id", "created_at", "key_id", "key_name", "key_prefix", "dialect", "endpoint",
    "route", "deployment_id", "provider", "upstream_model", "stream", "status",
    "finish_reason", "error_kind", "error_message", "attempts", "latency_ms", "ttft_ms",
    "upstream_ms", "overhead_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_usd", "user_agent", "from_playground", "client_disconnected",
)  # fmt: skip


def seed(rows: int) -> float:
    """Insert ``rows`` logs (and bodies for some) in big transactions; seconds taken."""
    from django.db import connection, transaction

    now = datetime.now(UTC)
    started = time.perf_counter()
    table = "gateway_requestlog"
    names = ", ".join(COLUMNS)
    batch: list[tuple] = []

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


def timed(fn, runs: int = 15) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm the cache: the console's second look is the usual one
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(explain: bool) -> list[tuple[str, float, int]]:
    from django.test import RequestFactory

    from gateway.api.logs import LIST_FIELDS, LogFilters, encode_cursor, filtered, get_log
    from gateway.models import RequestLog

    def page(**filters):  # type: ignore[no-untyped-def]
        return list(filtered(LogFilters(**filters)).only(*LIST_FIELDS)[:51])

    cases: list[tuple[str, dict]] = [
        (
            "route + status 5xx + last 7 days, first page",
            dict(route="route-3", status="5xx", since="7d"),
        ),
        (
            "route + status 200 + last 7 days, first page",
            dict(route="route-3", status="200", since="7d"),
        ),
        ("route + status 5xx, 30 days, first page", dict(route="route-0", status="5xx")),
        ("key + last 24 hours, first page", dict(key="7", since="24h")),
        ("no filter, first page", {}),
    ]
    out: list[tuple[str, float, int]] = []
    for label, filters in cases:
        found = page(**filters)
        out.append((label, timed(lambda f=filters: page(**f)), len(found)))
        if explain:
            print(
                f"\n-- {label}\n{filtered(LogFilters(**filters)).only(*LIST_FIELDS)[:51].explain()}"
            )
    for label, filters, depth in [
        (
            "route + status 5xx + last 7 days",
            dict(route="route-3", status="5xx", since="7d"),
            2000,
        ),
        (
            "route + status 200 + last 7 days",
            dict(route="route-3", status="200", since="7d"),
            20_000,
        ),
        (
            "route + status 5xx, 30 days",
            dict(route="route-0", status="5xx"),
            5000,
        ),
    ]:
        matching = filtered(LogFilters(**filters))
        depth = max(0, min(depth, matching.count() - 60))  # a full page follows
        deep = matching[depth]
        label = f"{label}, cursor page after row {depth:,}"
        with_cursor = {**filters, "cursor": encode_cursor(deep)}
        found = page(**with_cursor)
        out.append((label, timed(lambda f=with_cursor: page(**f)), len(found)))
        if explain:
            print(
                f"\n-- {label}\n{filtered(LogFilters(**with_cursor)).only(*LIST_FIELDS)[:51].explain()}"
            )
    target = RequestLog.objects.order_by("-id").values_list("request_id", flat=True)[10]
    request = RequestFactory().get("/")
    detail = get_log(request, target)
    assert detail.bodies is not None
    out.append(("detail by request_id (+ bodies)", timed(lambda: get_log(request, target)), 1))
    return out


def run_one(db: str, rows: int, explain: bool) -> None:
    """Inside a process whose environment points at the scratch database."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    seconds = seed(rows)
    results = measure(explain)
    version = connection.pg_version if db == "postgres" else ""
    print(f"\n### {connection.vendor} {version} — {rows:,} rows seeded in {seconds:.0f} s\n")
    print("| query | median ms | rows | under 200 ms |")
    print("| --- | ---: | ---: | :---: |")
    for label, ms, found in results:
        print(f"| {label} | {ms:.1f} | {found} | {'yes' if ms < BUDGET_MS else 'NO'} |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain", action="store_true", help="print each query plan")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run_one(args.db, args.rows, args.explain)
        return
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        env = prepare_database(db)
        command = [sys.executable, __file__, "--inner", "--db", db, "--rows", str(args.rows)]
        subprocess.run(
            command + (["--explain"] if args.explain else []), env=env, cwd=ROOT, check=True
        )


if __name__ == "__main__":
    main()
