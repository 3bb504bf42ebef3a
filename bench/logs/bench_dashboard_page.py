"""Time the dashboard PAGE (the view through Django's test client, as a browser gets
it) from a cold process, at one million RequestLog rows on SQLite and PostgreSQL.

    .venv/bin/python bench/logs/bench_dashboard_page.py               # both databases
    .venv/bin/python bench/logs/bench_dashboard_page.py --db postgres # one of them
    .venv/bin/python bench/logs/bench_dashboard_page.py --fresh       # seed again

Uses ``bench_logs``' scratch databases (seeding one first if there is none with that
many rows).

``bench_dashboard.py`` times ``console.stats`` alone; this one times everything the
view does (stats, the "has traffic" check, charts, template), each window in a fresh
process (nothing cached, no hour summarised yet), then the median of later views.
Every window should render under 300 ms cold. ``7d-unfolded`` is the one exception
measured on purpose: the first week view after the stored hour summaries were lost,
which folds every hour's rollup rows again (a rollup rebuild no longer loses them:
``rebuild_rollups`` folds the week itself, see ``console.stats.refold_week``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_logs  # noqa: E402

sys.path.insert(0, str(bench_logs.ROOT))  # this checkout's code, not an installed copy

BUDGET_MS = 300.0


def time_window(window: str) -> None:
    import django

    label = window
    started = time.perf_counter()
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)  # a database seeded by an older checkout
    from gateway.base import lifecycle

    # as every server process does at start-up, before serving (lifecycle.ensure_started):
    # without the freeze a full collection of Django's objects (65-80 ms) lands in the
    # first request; a server process has it done before it serves
    lifecycle.warm_up()
    lifecycle.freeze_startup_objects()

    if window.endswith("-unfolded"):  # the first week view with no stored summaries
        from console.models import StoredHourSummary

        StoredHourSummary.objects.all().delete()
        window = window.removesuffix("-unfolded")
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    setup = (time.perf_counter() - started) * 1000
    samples = []
    for _ in range(6):
        started = time.perf_counter()
        response = client.get(f"/?window={window}")
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    later = statistics.median(samples[1:])
    verdict = "yes" if samples[0] < BUDGET_MS else "NO"
    print(
        f"| {label} | {samples[0]:.0f} | {later:.0f} | {setup:.0f} | <= {BUDGET_MS:.0f} "
        f"| {verdict} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="seed again even if a seed is there")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        time_window(args.inner)
        return
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        env = bench_logs.ensure_seeded(db, args.rows, args.fresh)
        run = [sys.executable, __file__, "--rows", str(args.rows), "--inner"]
        print(
            f"\n### {db}: the dashboard page, first view of a fresh process\n\n"
            "| window | first view, cold process, ms | later views, median ms "
            "| process start + login, ms | target ms | cold within target |"
        )
        print("| --- | ---: | ---: | ---: | ---: | :---: |", flush=True)
        for window in ("1h", "24h", "7d", "7d-unfolded", "7d"):
            subprocess.run([*run, window], env=env, cwd=bench_logs.ROOT, check=True)


if __name__ == "__main__":
    main()
