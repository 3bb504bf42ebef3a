"""Time the dashboard PAGE (the view through Django's test client, as a browser gets
it) from a cold process, at one million RequestLog rows in a scratch SQLite file.

    .venv/bin/python bench/logs/bench_dashboard_page.py            # seed, then time
    .venv/bin/python bench/logs/bench_dashboard_page.py --reuse    # time the last seed

``bench_dashboard.py`` times ``console.stats`` alone; this one times everything the
view does (stats, the "has traffic" check, charts, template), each window in a fresh
process (nothing cached, no hour summarised yet), then the median of later views.
Every window should render under 300 ms cold. ``7d-unfolded`` is the one exception
measured on purpose: the first week view after the stored hour summaries were lost
(a rollup rebuild), which folds every hour's rollup rows again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_logs  # noqa: E402

sys.path.insert(0, str(bench_logs.ROOT))  # this checkout's code, not an installed copy

BUDGET_MS = 300.0
DATA_DIR = Path(tempfile.gettempdir()) / "switchyard-bench-dashboard-page"


def environment() -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings"}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    env["SWITCHYARD_DATA_DIR"] = str(DATA_DIR)
    return env


def seed(rows: int) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from gateway import rollups

    call_command("migrate", verbosity=0)
    took = bench_logs.seed(rows)
    rollups.rebuild()
    User.objects.create_superuser("bench", "", "bench-password")
    print(f"seeded {rows:,} rows (and their rollups) in {took:.0f} s into {DATA_DIR}")


def time_window(window: str) -> None:
    import django

    label = window
    started = time.perf_counter()
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)  # a database seeded by an older checkout
    from gateway import runtime

    runtime.warm_up()  # as every server process does at start-up, before serving

    if window.endswith("-unfolded"):  # the very first week view after a rollup rebuild
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
    print(f"| {label} | {samples[0]:.0f} | {later:.0f} | {setup:.0f} | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="time the last seeded database")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner == "seed":
        seed(args.rows)
        return
    if args.inner:
        time_window(args.inner)
        return
    env = environment()
    run = [sys.executable, __file__, "--rows", str(args.rows), "--inner"]
    if not args.reuse or not (DATA_DIR / "switchyard.sqlite3").exists():
        DATA_DIR.mkdir(exist_ok=True)
        for path in DATA_DIR.glob("switchyard.sqlite3*"):
            path.unlink()
        subprocess.run([*run, "seed"], env=env, cwd=bench_logs.ROOT, check=True)
    print(
        "\n| window | first view, cold process, ms | later views, median ms "
        "| process start + login, ms | cold under 300 ms |"
    )
    print("| --- | ---: | ---: | ---: | :---: |")
    for window in ("1h", "24h", "7d", "7d-unfolded", "7d"):
        subprocess.run([*run, window], env=env, cwd=bench_logs.ROOT, check=True)


if __name__ == "__main__":
    main()
