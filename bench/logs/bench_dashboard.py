"""Seed one million RequestLog rows, build the hourly rollups from them and time the
console dashboard for each window: from rollups (what the console runs) and from raw
rows (how it worked before rollups).

    .venv/bin/python bench/logs/bench_dashboard.py              # SQLite
    .venv/bin/python bench/logs/bench_dashboard.py --db postgres --rows 200000

Reuses ``bench_logs``' scratch databases and seeder. Prints a markdown table; every
window should stay under 300 ms.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_logs  # noqa: E402

BUDGET_MS = 300.0


def run_one(db: str, rows: int) -> None:
    import django

    sys.path.insert(0, str(bench_logs.ROOT))
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from console import stats
    from gateway import rollups
    from gateway.models import UsageRollup

    call_command("migrate", verbosity=0)
    seeded = bench_logs.seed(rows)
    started = time.perf_counter()
    read, written = rollups.rebuild()
    rebuilt = time.perf_counter() - started
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    now = timezone.now()
    print(
        f"\n### {connection.vendor} — {rows:,} rows seeded in {seeded:.0f} s; "
        f"rollups rebuilt from {read:,} logs into {written:,} rows in {rebuilt:.1f} s "
        f"({UsageRollup.objects.count():,} total)\n"
    )
    print(
        "| window | first view after start, ms | later views, median ms "
        "| all from raw rows (before), ms | under 300 ms |"
    )
    print("| --- | ---: | ---: | ---: | :---: |")
    for key, window in stats.WINDOWS.items():
        stats._summaries.clear()  # a fresh process: no hour summarised yet
        started = time.perf_counter()
        stats.dashboard(key, now=now)
        cold = (time.perf_counter() - started) * 1000
        served = bench_logs.timed(lambda k=key: stats.dashboard(k, now=now), runs=5)
        raw = bench_logs.timed(lambda w=window: stats.raw_dashboard(w, now), runs=1)
        source = "rollups" if window.from_rollups else "raw rows"
        print(
            f"| {window.label} ({source}) | {cold:.1f} | {served:.1f} | {raw:.1f} | "
            f"{'yes' if served < BUDGET_MS else 'NO'} |"
        )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run_one(args.db, args.rows)
        return
    env = bench_logs.prepare_database(args.db)
    command = [sys.executable, __file__, "--inner", "--db", args.db, "--rows", str(args.rows)]
    subprocess.run(command, env=env, cwd=bench_logs.ROOT, check=True)


if __name__ == "__main__":
    main()
