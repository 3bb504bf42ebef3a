"""What admitting a governed key costs a request, in process: the budget hold, admission
and settle as the pipeline runs them, the loop thread's CPU.

    .venv/bin/python bench/admission.py [--requests 2000] [--rounds 20] [--source TREE]

Set up as bench/calls_per_request.py sets up (``in_process``, ``started``: the counter
service in a thread of this process, each admission taken from this worker's leases of
the key's limits and topped up from the service), one request's limits work is
``budget_estimate.hold_for`` + ``limits.admit`` + the reservation's settle (a loop
callback, run before the next request), for:

- ``governed``: bench/run.py's governed key (a team, both with a budget and rpm/tpm);
- ``budgeted``: a key with a budget and nothing else;
- ``end user``: a key with a budget per end user, each request naming one of 50 users;
- ``master``: the master key (what admission costs when nothing is limited).

Printed: microseconds of the loop thread's CPU a request (``time.thread_time``, so the
counter service's thread is not counted), least of ``--rounds`` rounds of
``--requests``, then the median; and Python calls a request (cProfile, one round). The
least of many rounds is the figure to compare on a loaded machine; the calls are
deterministic up to the leases' top-ups (one a second per rpm/tpm line)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import calls_per_request  # noqa: E402  (the same set-up: mock, counter service, keys)
import run  # noqa: E402

USERS = [f"user-{n}" for n in range(50)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests a round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--source", default=str(BENCH.parent), help="Switchyard tree to load")
    parser.add_argument("--dump", metavar="DIR", help="write each key's profile to DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-admission-") as folder:
        print(
            calls_per_request.in_process(
                Path(folder), args.source, lambda port, socket: _measure(args, port, socket)
            )
        )


def _more_keys() -> dict[str, str]:
    from gateway.access import keys, registry

    budgeted = keys.create_key(name="bench-budgeted", budget_usd="100000")
    per_user = keys.create_key(
        name="bench-end-users", budget_usd="100000", max_budget_per_user="1000"
    )
    registry.rebuild()
    return {"budgeted": budgeted.raw, "end user": per_user.raw}


async def _measure(args: argparse.Namespace, mock_port: int, socket: Path) -> str:
    from asgiref.sync import sync_to_async

    _, raw = await calls_per_request.started(mock_port, socket)  # (Django set up)
    from gateway.access import registry

    raw.update(await sync_to_async(_more_keys)())
    snapshot = registry.current()
    route = snapshot.route(run.ROUTE)
    assert route is not None
    lines = [
        f"Admission (hold_for + admit + settle) a request, loop thread CPU, "
        f"{args.rounds} rounds of {args.requests}:",
        "",
        "| key | least µs | median µs | Python calls |",
        "|---|---:|---:|---:|",
    ]
    for name, profile in (
        ("governed", "governed"),
        ("budgeted", "budgeted"),
        ("end user", "end user"),
        ("master", "bare"),
    ):
        key = snapshot.key(raw[profile])
        assert key is not None, name
        users = USERS if name == "end user" else [""]
        await _round(key, route, 200, users)  # warm up: leases, plans, spends loaded
        times = []
        for _ in range(args.rounds):
            times.append(await _round(key, route, args.requests, users))
        recorder = cProfile.Profile()
        await _round(key, route, args.requests, users, recorder)
        if args.dump:
            recorder.dump_stats(str(Path(args.dump) / f"{name.replace(' ', '-')}.prof"))
        stats = pstats.Stats(recorder).stats  # type: ignore[attr-defined]  # typeshed: pstats.Stats has no .stats
        calls = sum(nc for (_cc, nc, _tt, _ct, _callers) in stats.values()) / args.requests
        least, median = min(times), statistics.median(times)
        lines.append(f"| {name} | {least:.1f} | {median:.1f} | {calls:.0f} |")
    return "\n".join(lines)


async def _round(
    key: Any, route: Any, requests: int, users: list[str], recorder: Any = None
) -> float:
    """Microseconds of this thread's CPU a request over ``requests`` requests."""
    from gateway.limits import budget_estimate, limits

    cost = Decimal("0.000345")
    spent = 0.0
    for index in range(requests):
        user = users[index % len(users)]
        started = time.thread_time()
        if recorder is not None:
            recorder.enable()
        hold = budget_estimate.hold_for(key, route, 12, 64, text_output=True, reachable=None)
        reservation = await limits.admit(
            key, route.name, 12, hold, end_user=user, route_teams=route.teams
        )
        settling = reservation.settlement(40, cost)
        if settling is not None:
            await settling
        await asyncio.sleep(0)  # the settle's loop callback runs (as after a reply's bytes)
        if recorder is not None:
            recorder.disable()
        spent += time.thread_time() - started
    return spent / requests * 1e6


if __name__ == "__main__":
    main()
