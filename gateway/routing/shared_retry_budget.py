"""One retry budget per route for every process of a server and every instance.

Alone, each process grants its own allowance and its own share: four workers retried a
lone failing deployment 40 times more a minute than one would (32 requests made 72-77
upstream calls where one budget allows 48). Where the key limits' counters are shared
(``gateway.limits.limits.shared_backend``: the supervisor's counter service, or Redis
when ``REDIS_URL`` is set) the routes' budgets live there too, in one
``gateway.routing.retry_budget.RetryBudget`` (the service's book ``retries``) or in one
Redis hash per route (``SCRIPT``, the same arithmetic on Redis's clock):

- a request costs no round trip: ``requested`` adds one to this process's count of
  untold requests (one dict update); a background task hands the counts over once a
  ``FLUSH_SECONDS`` (one round trip a second per process, not per request), and a retry
  carries them with its question;
- only a retry asks the shared budget (one round trip: ``retry_ask``, or one script
  call), which counts the requests it carries, decides, and counts the retry it grants.

The shared budget sees other processes' requests up to ``FLUSH_SECONDS`` late, so it
errs on the side of fewer retries, never more. When the store cannot be reached (or a
handover fails: those requests are not counted there) the process decides with its own
book, as a process alone does (``gateway.limits.limits`` warns once per outage); its own
book counts every request and every retry granted, so it is current when needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.base import running_loop
from gateway.limits import limits, redis_counters, subjects
from gateway.routing.retry_budget import RetryBudget

wall: Callable[[], float] = time.time  # seam for tests: epoch seconds
FLUSH_SECONDS = 1.0
EXPIRE_SECONDS = 180  # a route's hash outlives its two minutes


def redis_key(route: str) -> str:
    return f"{subjects.REDIS_PREFIX}:retry:{route}"


# KEYS: the routes' hashes (KEYS[1] the asking route when ARGV[1] is '1'). ARGV: ask (0/1),
# share, floor, then each key's requests to count. Returns 1 (a retry granted and
# counted, or counts taken) or 0 (the budget is spent). Fields: m (the minute), q and r
# (its requests and retries), pq and pr (the previous minute's).
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local minute = math.floor(now / 60)
for i, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'm', 'q', 'r')
  local m = tonumber(h[1])
  if not m or m < minute then
    local pq, pr = 0, 0
    if m == minute - 1 then pq, pr = tonumber(h[2]) or 0, tonumber(h[3]) or 0 end
    redis.call('HSET', key, 'm', minute, 'q', 0, 'r', 0, 'pq', pq, 'pr', pr)
  end
  local n = tonumber(ARGV[3 + i]) or 0
  if n > 0 then redis.call('HINCRBY', key, 'q', n) end
  redis.call('EXPIRE', key, tonumber(ARGV[#ARGV]))
end
if ARGV[1] ~= '1' then return 1 end
local h = redis.call('HMGET', KEYS[1], 'q', 'r', 'pq', 'pr')
local left = 1 - (now % 60) / 60
local requests = tonumber(h[1]) + tonumber(h[3]) * left
local retries = tonumber(h[2]) + tonumber(h[4]) * left
if retries + 1 > tonumber(ARGV[3]) + tonumber(ARGV[2]) * requests then return 0 end
redis.call('HINCRBY', KEYS[1], 'r', 1)
return 1
"""


async def _call_script(
    backend: redis_counters.RedisCounters,
    route: str | None,
    share: float,
    floor: int,
    counts: list[list[Any]],
) -> bool:
    told = dict((str(r), int(n)) for r, n in counts)
    names = ([route] if route is not None else []) + [r for r in told if r != route]
    if not names:
        return True
    args: list[Any] = [1 if route is not None else 0, share, floor]
    args += [told.get(name, 0) for name in names]
    args.append(EXPIRE_SECONDS)
    answer = await backend.script(SCRIPT)(keys=[redis_key(name) for name in names], args=args)
    return bool(int(answer))


async def ask(backend: Any, route: str, share: float, floor: int, counts: list[list[Any]]) -> bool:
    """The shared budget's verdict on one more retry of ``route`` (granted: counted),
    after counting ``counts`` (``[[route, requests], ...]``)."""
    if isinstance(backend, redis_counters.RedisCounters):
        return await _call_script(backend, route, share, floor, counts)
    reply = await backend.ask("retry_ask", route, share, floor, wall(), counts)
    return bool(reply[1])


async def count(backend: Any, counts: list[list[Any]]) -> None:
    """Hand ``counts`` (``[[route, requests], ...]``) over to the shared budget."""
    if isinstance(backend, redis_counters.RedisCounters):
        await _call_script(backend, None, 0.0, 0, counts)
    else:
        await backend.ask("retry_count", wall(), counts)


class SharedRetryBudget:
    """Routing's retry budget: this process's own book, and the shared one when there
    is one. ``clock`` is the caller's (monotonic) clock, for this process's book."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.local = RetryBudget()
        self.pending: dict[str, int] = {}  # requests not yet told to the shared book
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shared = False
        self._flusher: asyncio.Task[None] | None = None

    def requested(self, route: str, now: float) -> None:
        """Count one request on ``route`` (each request once, whatever its retries)."""
        if running_loop.get() is not self._loop:
            self._bind()
        if self._shared:
            self.pending[route] = self.pending.get(route, 0) + 1
        else:
            self.local.requested(route, now)

    async def allows(self, route: str, share: float, floor: int) -> bool:
        """Whether ``route`` may make one more retry now; if so it is counted."""
        now = self.clock()
        if running_loop.get() is not self._loop:
            self._bind()
        if not self._shared:
            return self.local.allows(route, share, floor, now)
        counts = self._drain(now)
        backend = limits.shared_backend()
        if backend is None:
            return self.local.allows(route, share, floor, now)
        try:
            granted = await ask(backend, route, share, floor, counts)
        except Exception as exc:
            limits.note_failure(backend, exc)
            return self.local.allows(route, share, floor, now)
        limits.note_success(backend)
        if granted:
            self.local.retried(route, now)
        return granted

    def forget(self, route: str) -> None:
        self.local.forget(route)

    def stop(self) -> None:
        """Stop handing counts over (tests switching backends)."""
        if self._flusher is not None:
            self._flusher.cancel()
        self._flusher = None
        self._loop = None

    def _bind(self) -> None:
        """A new event loop: decide once whether a shared book counts, and if so start
        handing this process's counts over."""
        self.stop()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._shared = limits.shared_backend() is not None
        if self._shared:
            self._flusher = loop.create_task(self._flush(), name="switchyard-retry-budget")

    def _drain(self, now: float) -> list[list[Any]]:
        """The untold requests, now counted in this process's book too."""
        pending, self.pending = self.pending, {}
        for route, requests in pending.items():
            self.local.requested(route, now, requests)
        return [[route, requests] for route, requests in pending.items()]

    async def _flush(self) -> None:
        """Hand the untold requests over every ``FLUSH_SECONDS``, forever; an outage
        only loses those counts for the shared book."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if not self.pending:
                continue
            counts = self._drain(self.clock())
            backend = limits.shared_backend()
            if backend is None:
                continue
            try:
                await count(backend, counts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                limits.note_failure(backend, exc)
                continue
            limits.note_success(backend)
