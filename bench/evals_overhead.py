"""What the experiment machinery adds to the wall time of its calls (issue #30: < 5 %).

In one process, on a throwaway SQLite database: a 1,000-row dataset over three echo
routes (3,000 calls), run twice each way, alternating:

- direct: the same 3,000 calls through ``gateway.core.service`` (``run_column``, exactly what
  a cell makes), ``concurrency`` at a time, answers kept in memory only;
- experiment: ``runner.run_claimed`` on an experiment with the same concurrency (cells
  saved in batches, progress counters, scoring, the summary at the end).

Both ways are warmed up once before timing (neither pays first-use costs in a timed
run), the order alternates round by round (the database grows by each experiment's
cells and the machine's load drifts, so neither may always go first), and garbage is
collected before each timed run (one run's garbage is not collected in the other's).

The journal writer is replaced by a no-op in both (it is the same for both and runs on
its own thread). Usage: ``python bench/evals_overhead.py [--rows 1000] [--delay 0.01]
[--concurrency 8] [--rounds 2]``; ``--delay`` is the echo routes' seconds between
streamed words (0 = instant routes, the worst case for the overhead)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(data_dir: str) -> None:
    os.environ.update(
        SWITCHYARD_DATA_DIR=data_dir,
        SWITCHYARD_MASTER_KEY="sy-bench",
        DJANGO_SETTINGS_MODULE="gateway.server.settings",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    setup(tempfile.mkdtemp(prefix="evals-bench-"))

    from decimal import Decimal

    from channels.db import database_sync_to_async

    from console.evals import datasets, experiments, runner
    from console.evals.models import Experiment
    from console.evals.parsing import ParsedRow
    from console.playground.run import ColumnRun, run_column
    from gateway import journal
    from gateway.access import registry
    from gateway.base.entries import MASTER
    from gateway.models import Deployment, Provider, Route

    journal.record = lambda entry: None
    provider = Provider.objects.create(name="echo", kind="echo")
    names = ["echo-a", "echo-b", "echo-c"]
    for name in names:
        route = Route.objects.create(name=name, max_attempts=1)
        Deployment.objects.create(
            route=route, provider=provider, model=name, params={"delay": args.delay},
            input_price=Decimal("1"), output_price=Decimal("2"),
        )  # fmt: skip
    registry.rebuild()
    rows = [
        ParsedRow([{"role": "user", "content": f"question {i} about something"}], reference=f"Echo: question {i} about something")
        for i in range(args.rows)
    ]  # fmt: skip
    dataset = datasets.create("bench", rows)
    saved_rows = list(dataset.rows())

    cpus_d: list[float] = []
    cpus_e: list[float] = []

    async def direct() -> float:
        """The same calls, each body built as a cell builds it (a client would too)."""
        experiment = Experiment(pk=0, columns=[{"route": n, "params": {}} for n in names])
        queue = [(row, c, n) for row in saved_rows for c, n in enumerate(names)][::-1]
        answers = []
        as_experiment = dataclasses.replace(MASTER, name="experiment:0", prefix="eval")

        async def worker() -> None:
            while queue:
                row, c, route = queue.pop()
                body = runner.column_body(experiment, row, c)
                column = ColumnRun(0, route, "openai", body)
                await run_column(column, as_experiment, runner.USER_AGENT)
                answers.append(column.reader.fold.text)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        cpus_d.append(time.process_time() - cpu)
        assert len(answers) == len(saved_rows) * len(names)
        assert all(a.startswith("Echo:") for a in answers)
        return elapsed

    async def experiment_run() -> float:
        experiment = await database_sync_to_async(experiments.start)(
            dataset, names, ["exact"], concurrency=args.concurrency,
            created_by=runner.MASTER_STARTER,  # as the direct calls above: the master key
        )  # fmt: skip
        assert await database_sync_to_async(runner.claim_one)() == experiment.pk
        started, cpu = time.perf_counter(), time.process_time()
        await runner.run_claimed(experiment.pk)
        elapsed = time.perf_counter() - started
        cpus_e.append(time.process_time() - cpu)
        await database_sync_to_async(experiment.refresh_from_db)()
        assert experiment.status == "done" and experiment.cells_done == len(saved_rows) * len(names)
        return elapsed

    async def rounds() -> tuple[list[float], list[float]]:
        # warm-up of both ways (imports, codecs, the pooled client; the runner's queries,
        # the summary and its templates' first use), not counted
        await direct()
        await experiment_run()
        cpus_d.clear()
        cpus_e.clear()
        d: list[float] = []
        e: list[float] = []
        for round_no in range(args.rounds):
            # alternate which goes first: the database grows by an experiment's cells
            # every round and the machine's load drifts, neither may favour one way
            order = (direct, experiment_run) if round_no % 2 == 0 else (experiment_run, direct)
            for way in order:
                gc.collect()  # the previous run's garbage is not collected in this one
                (d if way is direct else e).append(await way())
        return d, e

    if os.environ.get("EVALS_BENCH_PROFILE"):
        import cProfile
        import pstats

        async def profiled() -> None:
            await direct()
            profile = cProfile.Profile()
            profile.enable()
            await experiment_run()
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_callees("run_cell")

        asyncio.run(profiled())
        return
    d, e = asyncio.run(rounds())
    best_d, best_e = min(d), min(e)
    print(
        f"rows={args.rows} routes=3 calls={args.rows * 3} delay={args.delay}s concurrency={args.concurrency}"
    )
    print(f"direct:     {', '.join(f'{x:.2f}' for x in d)} s (median {statistics.median(d):.2f})")
    print(f"experiment: {', '.join(f'{x:.2f}' for x in e)} s (median {statistics.median(e):.2f})")
    print(f"overhead (best against best): {100 * (best_e - best_d) / best_d:+.1f} %")
    med_d, med_e = statistics.median(d), statistics.median(e)
    print(f"overhead (median against median): {100 * (med_e - med_d) / med_d:+.1f} %")
    cpu_d, cpu_e = statistics.median(cpus_d), statistics.median(cpus_e)
    print(
        f"process CPU (all threads), median: direct {cpu_d:.2f} s, experiment {cpu_e:.2f} s"
        f" ({1000 * (cpu_e - cpu_d) / (args.rows * 3):+.2f} ms per call)"
    )


if __name__ == "__main__":
    main()
