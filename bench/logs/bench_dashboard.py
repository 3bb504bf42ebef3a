"""Time the console dashboard's numbers (``console.stats``) for each window at one
million RequestLog rows: from rollups (what the console runs) and from raw rows (how it
worked before rollups).

    .venv/bin/python bench/logs/bench_dashboard.py              # SQLite and PostgreSQL
    .venv/bin/python bench/logs/bench_dashboard.py --db postgres --rows 200000

Uses ``bench_logs``' scratch databases (seeding one first if there is none with that
many rows; ``--fresh`` seeds again). Prints a markdown table; every window should stay
under 300 ms. ``bench_dashboard_page.py`` times the whole page from a cold process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_logs  # noqa: E402

BUDGET_MS = 300.0


def run_one(db: str, rows: int) -> None:
    import django

    sys.path.insert(0, str(bench_logs.ROOT))
    django.setup()
    from django.db import connection
    from django.utils import timezone

    from console import stats
    from gateway.models import UsageRollup

    now = timezone.now()
    print(
        f"\n### {connection.vendor} — {rows:,} rows, "
        f"{UsageRollup.objects.count():,} rollup rows; console.stats alone\n"
    )
    print(
        "| window | first view after start, ms | later views, median ms "
        "| all from raw rows (before), ms | target ms | within target |"
    )
    print("| --- | ---: | ---: | ---: | ---: | :---: |")
    for key, window in stats.WINDOWS.items():
        stats._summaries.clear()  # a fresh process: no hour summarised yet
        started = time.perf_counter()
        stats.dashboard(key, now=now)
        cold = (time.perf_counter() - started) * 1000
        served = bench_logs.timed(partial(stats.dashboard, key, now=now), runs=5)
        raw = bench_logs.timed(partial(stats.raw_dashboard, window, now), runs=1)
        source = "rollups" if window.from_rollups else "raw rows"
        print(
            f"| {window.label} ({source}) | {cold:.1f} | {served:.1f} | {raw:.1f} | "
            f"<= {BUDGET_MS:.0f} | {'yes' if max(cold, served) <= BUDGET_MS else 'NO'} |"
        )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="seed again even if a seed is there")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run_one(args.db, args.rows)
        return
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        env = bench_logs.ensure_seeded(db, args.rows, args.fresh)
        command = [sys.executable, __file__, "--inner", "--db", db, "--rows", str(args.rows)]
        subprocess.run(command, env=env, cwd=bench_logs.ROOT, check=True)


if __name__ == "__main__":
    main()
