"""What budgets and shared cooldowns add per request: the shared store's round trips.

    .venv/bin/python bench/round_trips.py [--redis redis://127.0.0.1:6379/10] [-n 2000]

Times, one at a time on one event loop (what a request waits for), each call a request
of a key makes to the store its workers share: the counter service of ``serve`` (a
Unix socket to the supervisor) and Redis (across instances). ``admit`` for a key with
an rpm limit only (what limits cost before budgets held anything), ``admit`` with a
budget hold, the ``settle`` that gives the hold back (off the reply's path), the
``charge`` of a realtime response's cost while its session runs (once per
``response.done``: the spend added and the budget checked), and the
shared cooldowns' calls (a failure report, a success after failures, a probe claim,
the view each worker refreshes every SWITCHYARD_COOLDOWN_REFRESH_SECONDS). Keys
without limits and healthy deployments make none of these. Redis: a database of its
own, emptied before and after (default 10; never use a database others use).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported at run time after django.setup()
    from gateway.base.entries import KeyEntry
    from gateway.limits.counters import SharedCounters
    from gateway.limits.redis_counters import RedisCounters
    from gateway.limits.spend import Part

    Counters = SharedCounters | RedisCounters

ROOT = Path(__file__).resolve().parent.parent


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
    os.environ.setdefault("SWITCHYARD_DATA_DIR", tempfile.mkdtemp(prefix="sy-rt-"))
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def key(n: int, *, rpm_limit: int | None = None, budget_usd: Decimal | None = None) -> KeyEntry:
    from gateway.base.entries import KeyEntry

    return KeyEntry(
        id=n,
        name="k",
        prefix="sy-bench",
        routes=None,
        rpm_limit=rpm_limit,
        tpm_limit=None,
        budget_usd=budget_usd,
        budget_period="month",
        expires_at=None,
        revoked=False,
    )


async def timed(
    label: str, count: int, call: Callable[[], Awaitable[object]]
) -> tuple[str, float, float]:
    for _ in range(min(50, count)):  # connections opened, scripts loaded
        await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(len(samples) * 0.99) - 1] * 1e6
    print(f"  {label:58} p50 {p50:7.0f} us  p99 {p99:7.0f} us", flush=True)
    return label, p50, p99


async def measure(store: str, backend: Counters, count: int) -> list[tuple[str, float, float]]:
    from gateway.limits import limits
    from gateway.routing import health, shared_cooldowns

    rows: list[tuple[str, float, float]] = []
    at = time.time()
    rpm_key = key(900001, rpm_limit=10**9)
    budget_key = key(900002, budget_usd=Decimal(10**6))
    rows.append(
        await timed(f"{store}: admit, rpm only", count, lambda: backend.admit(rpm_key, 10, at))
    )
    held: list[object] = []  # the stores' opaque hold handles

    async def admit_hold() -> None:
        held.append(await backend.admit(budget_key, 10, at, 1000))

    rows.append(await timed(f"{store}: admit with a budget hold", count, admit_hold))
    pending = iter(held)

    async def settle() -> None:
        await backend.settle(budget_key, next(pending), 0, Decimal("0.00001"), at)

    rows.append(await timed(f"{store}: settle (cost added, hold given back)", count, settle))
    running = limits.Reservation(
        budget_key, "rt", 0, backend, await backend.admit(budget_key, 0, at, 1000)
    )

    async def charge() -> None:
        assert await running.charge(Decimal("0.00001")) is None

    rows.append(
        await timed(f"{store}: charge (a realtime response's cost, checked)", count, charge)
    )
    policy = health.Policy.current()
    # a deployment id no test uses; its failures never reach the threshold (alone)
    rows.append(
        await timed(
            f"{store}: cooldowns, a failure reported (in the background)",
            count,
            lambda: shared_cooldowns._failed(backend, 990001, policy, False, True),
        )
    )
    rows.append(
        await timed(
            f"{store}: cooldowns, a success after failures",
            count,
            lambda: shared_cooldowns._succeeded(backend, 990001),
        )
    )
    rows.append(
        await timed(
            f"{store}: cooldowns, a half-open probe claimed",
            count,
            lambda: shared_cooldowns._probe(backend, 990002, 0.001),
        )
    )
    rows.append(
        await timed(
            f"{store}: cooldowns, the view (each worker, every 0.5 s)",
            count,
            lambda: shared_cooldowns._view(backend, policy.cooldown_window),
        )
    )
    del limits
    return rows


async def main_async(args: argparse.Namespace) -> None:
    from django.conf import settings

    from gateway.limits import counters, redis_counters, spend
    from gateway.server.counter_service import CounterService

    async def no_spend(key_id: int, start: datetime | None, part: Part | None = None) -> Decimal:
        return Decimal(0)

    spend.load_spend = no_spend
    rows: list[tuple[str, float, float]] = []
    folder = tempfile.mkdtemp(prefix="sy-", dir="/tmp")
    service = CounterService(os.path.join(folder, "limits.sock"))
    service.start()
    try:
        rows += await measure("counter service", counters.SharedCounters(service.path), args.n)
    finally:
        service.stop()
    if args.redis:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(args.redis)
        await client.flushdb()
        settings.REDIS_URL = args.redis
        try:
            rows += await measure("Redis", redis_counters.RedisCounters(args.redis), args.n)
        finally:
            await client.flushdb()
            await client.aclose()
    print("\n| call | p50 us | p99 us |\n|---|---:|---:|")
    for label, p50, p99 in rows:
        print(f"| {label} | {p50:.0f} | {p99:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    setup()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
