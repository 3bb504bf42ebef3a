"""Cache affinity shared by every worker of a server (the supervisor's counter service)
and every instance (Redis when ``REDIS_URL`` is set): a session's turns reach the
deployment whose prompt cache holds its prefix whichever worker or instance takes them.

Each process keeps its own table (``prefix_affinity.AffinityTable``: no round trip for
a prefix it served or learned). Where the key limits' counters are shared
(``gateway.limits.limits.shared_backend``):

- an answered request with a prefix key on a route of several deployments is **told**
  to the store in the background (``share``: the request has its answer already), as
  (route, prefix, deployment, seconds the upstream keeps it warm);
- a request whose prefix this process does not know **asks** the store once before its
  first attempt (``recall``: one round trip, only for prompts long enough to cache on
  routes where there is a choice to make), and keeps the answer in its table.

The store keeps at most ``affinity_book.MAX_ENTRIES`` prefixes (least recently told dropped first);
an entry lives as long as the upstream keeps the prefix warm. When the store cannot be
reached, each process steers alone, as in one process (``limits`` warns once per outage).
The prefix key is a stable digest (``prefix_affinity.prefix_key``) so that processes
agree on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.base.background import in_background
from gateway.limits import limits, redis_counters, subjects
from gateway.routing import affinity_book  # noqa: F401 - the counter service's book

wall: Callable[[], float] = time.time  # seam for tests: epoch seconds


def _redis_key(route: str, prefix: int) -> str:
    return f"{subjects.REDIS_PREFIX}:affinity:{route}:{prefix:x}"


def share(route: str, prefix: int, deployment_id: int, seconds: float) -> None:
    """Tell the store, in the background, that ``deployment_id`` served ``prefix`` on
    ``route`` and keeps it warm for ``seconds`` (nothing when this process is alone)."""
    backend = limits.reachable_shared_backend()
    if backend is not None:
        in_background(_put(backend, route, prefix, deployment_id, seconds))


async def _put(backend: Any, route: str, prefix: int, deployment_id: int, seconds: float) -> None:
    try:
        if isinstance(backend, redis_counters.RedisCounters):
            await backend.client().set(
                _redis_key(route, prefix), deployment_id, px=max(1, int(seconds * 1000))
            )
        else:
            await backend.ask("affinity_put", route, prefix, deployment_id, seconds, wall())
    except Exception as exc:
        limits.note_failure(backend, exc)
    else:
        limits.note_success(backend)


async def recall(route: str, prefix: int) -> tuple[int, float] | None:
    """(deployment id, seconds still warm) the store knows for ``prefix`` on ``route``,
    or None (unknown, expired, no store, or the store unreachable)."""
    backend = limits.reachable_shared_backend()
    if backend is None:
        return None
    try:
        if isinstance(backend, redis_counters.RedisCounters):
            async with backend.client().pipeline(transaction=False) as pipe:
                pipe.get(_redis_key(route, prefix))
                pipe.pttl(_redis_key(route, prefix))
                raw, ttl = await pipe.execute()
            if raw is None or ttl is None or int(ttl) <= 0:
                return None
            return int(raw), int(ttl) / 1000
        reply = await backend.ask("affinity_get", route, prefix, wall())
    except Exception as exc:
        limits.note_failure(backend, exc)
        return None
    limits.note_success(backend)
    if reply[1] is None:
        return None
    return int(reply[1]), float(reply[2])
