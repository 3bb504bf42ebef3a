"""Per-key limits: allowed routes, requests and tokens per minute, USD budgets.

``admit`` runs before routing: it refuses a revoked or expired key (401), a route the
key may not use (403), and a key over its requests-per-minute, tokens-per-minute or
budget (429 with ``retry_after``). It reserves one request and the estimated tokens;
``Reservation.settle`` later replaces the estimate with the tokens really used and
adds the request's cost to the budget. The master key is never limited.

A key with a budget also holds, from admission until the request ends, what the request
may cost (``gateway.budget_estimate``): a request is admitted while the spend plus the
holds of the requests in flight plus its own stays within the budget (a request alone
may overrun by its own cost, as one request always could), so a burst of concurrent
requests cannot spend past the budget. Settling replaces the hold by the real cost (0
for a request that failed before costing anything). A hold whose request never
settles (its worker was killed) expires after ``SWITCHYARD_BUDGET_HOLD_SECONDS``.

Windows are sliding over the last 60 seconds, counted in one-second buckets. Budgets
run per UTC day, per UTC month or in total; the spend of the current period is read
once from RequestLog (sum of cost_usd) when a key is first seen, then kept counting.

Where the counters live:
- ``REDIS_URL`` set: in Redis (one atomic Lua script per admission), so every process
  of every instance enforces one limit;
- a worker of ``manage.py serve --workers N`` without Redis: in the counter service the
  serve process runs for its workers (gateway/counter_service.py; one local socket
  round trip per admission), so the workers of one server enforce one limit;
- otherwise (one process): in this process's memory.
If Redis or the counter service cannot be reached, admission falls back to this
process's own counters rather than failing requests (with N processes a key may then
get up to N times its limits), warns once per outage, and uses the shared store again
when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings

from .counter_service import SOCKET_ENV, CounterClient, CounterStore, Unavailable
from .errors import AuthenticationFailed, PermissionDenied, RateLimited
from .registry import KeyEntry

log = logging.getLogger(__name__)

MICRO = Decimal("0.00000001")  # spend is counted in units of 1e-8 USD
REDIS_PREFIX = "switchyard:limits"

now: Any = time.time  # seam for tests: epoch seconds


# --- periods --------------------------------------------------------------------------------


def period_bounds(period: str, at: float) -> tuple[str, datetime | None, datetime | None]:
    """(period id, start, end) of the budget period containing epoch ``at`` (UTC)."""
    moment = datetime.fromtimestamp(at, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("d%Y-%m-%d"), start, start + timedelta(days=1)
    if period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        return start.strftime("m%Y-%m"), start, end
    return "total", None, None


def _load_spend_sync(key_id: int, start: datetime | None) -> Decimal:
    from django.db.models import Sum

    from .models import RequestLog

    rows = RequestLog.objects.filter(key_id=key_id)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    return rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")


async def load_spend(key_id: int, start: datetime | None) -> Decimal:
    """What ``key_id`` spent since ``start``, from the request log (one query)."""
    from . import db_work

    return await db_work.arun(_load_spend_sync, key_id, start)


def _budget_error(key: KeyEntry, spent: Decimal, end: datetime | None, at: float) -> RateLimited:
    period = {"day": "today", "month": "this month"}.get(key.budget_period, "in total")
    retry_after = max(1.0, end.timestamp() - at) if end is not None else None
    return RateLimited(
        f"this API key's budget of ${key.budget_usd} {period} is exhausted "
        f"(${spent.quantize(Decimal('0.0001'))} spent)",
        code="budget_exceeded",
        retry_after=retry_after,
    )


def _held_error(key: KeyEntry, spent: Decimal, held: Decimal) -> RateLimited:
    period = {"day": "today", "month": "this month"}.get(key.budget_period, "in total")
    return RateLimited(
        f"this API key's budget of ${key.budget_usd} {period} is taken by the requests "
        f"in flight (${spent.quantize(Decimal('0.0001'))} spent, "
        f"${held.quantize(Decimal('0.0001'))} held); retry when they finish",
        code="budget_exceeded",
        retry_after=1.0,
    )


def _rate_error(what: str, limit: int, retry_after: float) -> RateLimited:
    return RateLimited(
        f"this API key's limit of {limit} {what} per minute is reached; retry in "
        f"{max(1, round(retry_after))}s",
        code="rate_limit_exceeded",
        retry_after=max(0.0, retry_after),
    )


# --- counters in a CounterStore: this process's, or the server's shared one ---------------


def _units(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


class Admission(NamedTuple):
    """What one admission reserved: its tokens' second (None: no rpm/tpm) and its
    budget hold (None: no hold) in the budget ``period`` it was taken in."""

    second: int | None
    hold: int | str | None = None
    period: str = ""


def _verdict(
    key: KeyEntry, reply: list[Any], period: str, end: datetime | None, at: float
) -> Admission:
    """The reservation of an ``ok`` answer; raise RateLimited for a refusal."""
    reason = reply[0]
    if reason == "ok":
        second = None if reply[1] is None else int(reply[1])
        hold = reply[2] if len(reply) > 2 else None
        if isinstance(hold, bytes):
            hold = hold.decode()
        return Admission(second, hold or None, period)
    if reason == "budget":
        raise _budget_error(key, Decimal(int(reply[1])) * MICRO, end, at)
    if reason == "held":
        raise _held_error(key, Decimal(int(reply[1])) * MICRO, Decimal(int(reply[2])) * MICRO)
    if reason == "rpm":
        raise _rate_error("requests", key.rpm_limit or 0, float(reply[1]))
    if reason == "tpm":
        raise _rate_error("tokens", key.tpm_limit or 0, float(reply[1]))
    raise RuntimeError(f"unexpected answer from the limits counters: {reason!r}")


class StoreCounters:
    """Admission through a ``CounterStore`` (see gateway/counter_service.py); the spend of
    a budget period the store does not know yet is read from the request log here."""

    async def ask(self, *request: Any) -> list[Any]:
        raise NotImplementedError

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Admission:
        """Check and reserve: one request, ``tokens`` tokens, ``hold`` units of budget."""
        period_id, start, end = period_bounds(key.budget_period, at)
        budget = _units(key.budget_usd) if key.budget_usd is not None else -1
        args = ("admit", key.id, key.rpm_limit or 0, key.tpm_limit or 0, tokens, budget)
        extra = (hold, hold_ttl()) if hold > 0 and budget >= 0 else ()
        reply = await self.ask(*args, period_id, at, None, *extra)
        if reply[0] == "load":
            spent = _units(await load_spend(key.id, start))
            reply = await self.ask(*args, period_id, at, spent, *extra)
        return _verdict(key, reply, period_id, end, at)

    async def settle(self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float):
        """Correct the tokens by ``delta``, add ``cost`` to the spend, give back the hold."""
        second, hold, hold_period = _parts(handle)
        units = _units(cost) if key.budget_usd is not None and cost else 0
        if not units and hold is None and not (second is not None and delta and key.tpm_limit):
            return  # nothing that a limit of this key reads (one round trip saved)
        period_id, start, _ = period_bounds(key.budget_period, at)
        args = ("settle", key.id, second, delta, period_id, units)
        if (await self.ask(*args, None, hold_period, hold))[0] == "load":
            await self.ask(*args, _units(await load_spend(key.id, start)), hold_period, hold)

    async def claim_deployment(self, deployment_id: int, rpm: int, tpm: int, minute: int) -> bool:
        """Count a request against a deployment's caps for ``minute``; False when full."""
        return (await self.ask("claim", deployment_id, rpm, tpm, minute))[0] == "ok"

    async def deployment_used(self, deployment_id: int, minute: int, tokens: int) -> None:
        await self.ask("used", deployment_id, minute, tokens)


def _parts(handle: Any) -> tuple[int | None, Any, str | None]:
    """(second, hold, hold's period) of an admission's handle (a bare second, or None)."""
    if isinstance(handle, Admission):
        return handle.second, handle.hold, handle.period if handle.hold is not None else None
    return handle, None, None


def hold_ttl() -> float:
    """Seconds a budget hold outlives a request that never settles (its worker died)."""
    return float(settings.SWITCHYARD_BUDGET_HOLD_SECONDS)


class MemoryCounters(StoreCounters):
    """This process's own counters."""

    def __init__(self) -> None:
        self.store = CounterStore()

    async def ask(self, *request: Any) -> list[Any]:
        return self.store.answer(list(request))

    def forget(self, key_id: int) -> None:
        self.store.forget(key_id)


class SharedCounters(StoreCounters):
    """The counters of every worker of this server, kept by the counter service that
    ``manage.py serve --workers N`` runs on a Unix socket (one connection per worker)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.client = CounterClient(path, on_down=self._down, on_up=self._up)

    async def ask(self, *request: Any) -> list[Any]:
        return await self.client.call(*request)

    def _down(self, reason: str) -> None:
        log.warning(
            "limits: the shared counter service at %s is unreachable (%s); counting in "
            "this worker only (a key may get up to N times its limits) until it is back",
            self.path,
            reason,
        )

    def _up(self) -> None:
        log.info("limits: the shared counter service is back; counting for every worker")


# --- Redis counters -------------------------------------------------------------------------

# KEYS: requests hash, tokens hash, spend counter, holds hash (hold id -> units, and
# 'total'), holds' expiries (sorted set). ARGV: rpm, tpm, estimated tokens, budget in
# 1e-8 USD (-1: none), units to hold (0: none), the hold's time to live in seconds.
# Returns {"ok", second, hold id or ""} or {reason, detail...}.
ADMIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local sec = tonumber(t[1])
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local est, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
local hold, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
if budget < 0 then hold = 0 end
if budget >= 0 then
  local spent = redis.call('GET', KEYS[3])
  if not spent then return {'load', '0'} end
  if tonumber(spent) >= budget then return {'budget', spent} end
  if hold > 0 then
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)) do
      local units = redis.call('HGET', KEYS[4], id)
      if units then
        redis.call('HDEL', KEYS[4], id)
        redis.call('HINCRBY', KEYS[4], 'total', -tonumber(units))
      end
      redis.call('ZREM', KEYS[5], id)
    end
    local held = tonumber(redis.call('HGET', KEYS[4], 'total') or '0')
    if held > 0 and tonumber(spent) + held + hold > budget then
      return {'held', spent, tostring(held)}
    end
  end
end
local function window(key)
  local flat = redis.call('HGETALL', key)
  local secs, values, total = {}, {}, 0
  for i = 1, #flat, 2 do
    local s = tonumber(flat[i])
    if s <= sec - 60 then
      redis.call('HDEL', key, flat[i])
    else
      table.insert(secs, s)
      values[s] = tonumber(flat[i + 1])
      total = total + values[s]
    end
  end
  table.sort(secs)
  return total, secs, values
end
local function wait(total, secs, values, need, limit)
  local freed = 0
  for _, s in ipairs(secs) do
    freed = freed + values[s]
    if total - freed + need <= limit then return s + 60 - now end
  end
  return 60
end
if rpm > 0 then
  local total, secs, values = window(KEYS[1])
  if total + 1 > rpm then return {'rpm', tostring(wait(total, secs, values, 1, rpm))} end
end
if tpm > 0 then
  local total, secs, values = window(KEYS[2])
  if total > 0 and total + est > tpm then
    return {'tpm', tostring(wait(total, secs, values, est, tpm))}
  end
end
if rpm > 0 then
  redis.call('HINCRBY', KEYS[1], sec, 1)
  redis.call('EXPIRE', KEYS[1], 120)
end
if tpm > 0 then
  redis.call('HINCRBY', KEYS[2], sec, est)
  redis.call('EXPIRE', KEYS[2], 120)
end
local id = ''
if hold > 0 then
  id = sec .. '-' .. redis.call('HINCRBY', KEYS[4], 'next', 1)
  redis.call('HSET', KEYS[4], id, hold)
  redis.call('HINCRBY', KEYS[4], 'total', hold)
  redis.call('ZADD', KEYS[5], now + ttl, id)
  redis.call('EXPIRE', KEYS[4], math.ceil(ttl) + 60)
  redis.call('EXPIRE', KEYS[5], math.ceil(ttl) + 60)
end
return {'ok', tostring(sec), id}
"""

# KEYS: tokens hash, spend counter, the hold's holds hash and expiries. ARGV: second,
# token delta, cost in 1e-8 USD, hold id ("": none).
SETTLE_SCRIPT = """
if ARGV[4] ~= '' then
  local units = redis.call('HGET', KEYS[3], ARGV[4])
  if units then
    redis.call('HDEL', KEYS[3], ARGV[4])
    redis.call('HINCRBY', KEYS[3], 'total', -tonumber(units))
  end
  redis.call('ZREM', KEYS[4], ARGV[4])
end
if tonumber(ARGV[2]) ~= 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
end
if tonumber(ARGV[3]) > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('INCRBY', KEYS[2], ARGV[3])
end
return 1
"""


# KEYS: the deployment's hash of one minute. ARGV: rpm, tpm. Returns 1 (counted) or 0.
CLAIM_SCRIPT = """
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts = redis.call('HMGET', KEYS[1], 'requests', 'tokens')
local requests, tokens = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
if (rpm > 0 and requests >= rpm) or (tpm > 0 and tokens >= tpm) then return 0 end
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('EXPIRE', KEYS[1], 120)
return 1
"""


REDIS_CONNECTIONS = 16  # per worker process: Redis answers a script in ~0.1 ms
REDIS_POOL_WAIT_SECONDS = 2.0  # a call waits this long for a free one, then fails


class RedisCounters:
    """Counters shared by every process through Redis (one client per event loop)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._admit: Any = None
        self._settle: Any = None
        self._claim: Any = None

    def client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            import redis.asyncio as aioredis

            # A bounded pool: a burst waits for a connection instead of opening one per
            # request in flight. Unbounded, 200 requests at once opened ~70 connections
            # a worker; on a loaded machine some timed out connecting, and those
            # requests were admitted on this process's own counts (a budget for 10
            # served 20 of a burst across two instances).
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=REDIS_CONNECTIONS,
                timeout=REDIS_POOL_WAIT_SECONDS,
                socket_connect_timeout=2,
                socket_timeout=2,
            )
            self._client = aioredis.Redis(connection_pool=pool)
            self._admit = self._client.register_script(ADMIT_SCRIPT)
            self._settle = self._client.register_script(SETTLE_SCRIPT)
            self._claim = self._client.register_script(CLAIM_SCRIPT)
            self._loop = loop
        return self._client

    @staticmethod
    def names(key: KeyEntry, period_id: str) -> list[str]:
        base = f"{REDIS_PREFIX}:{key.id}"
        return [f"{base}:requests", f"{base}:tokens", f"{base}:spend:{period_id}"]

    @staticmethod
    def hold_names(key: KeyEntry, period_id: str) -> list[str]:
        base = f"{REDIS_PREFIX}:{key.id}"
        return [f"{base}:holds:{period_id}", f"{base}:hold-expiries:{period_id}"]

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Admission:
        self.client()
        period_id, start, end = period_bounds(key.budget_period, at)
        names = self.names(key, period_id) + self.hold_names(key, period_id)
        budget = _units(key.budget_usd) if key.budget_usd is not None else -1
        args = [key.rpm_limit or 0, key.tpm_limit or 0, tokens, budget, hold, hold_ttl()]
        reply: list[Any] = []
        for _ in range(2):
            reply = await self._admit(keys=names, args=args)
            reply[0] = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
            if reply[0] != "load":
                break
            spent = await load_spend(key.id, start)
            ttl = {"ex": int(end.timestamp() - at) + 86400} if end is not None else {}
            await self._client.set(names[2], _units(spent), nx=True, **ttl)
        return _verdict(key, reply, period_id, end, at)

    async def settle(self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float):
        second, hold, hold_period = _parts(handle)
        units = _units(cost) if key.budget_usd is not None and cost else 0
        if not units and hold is None and not (second is not None and delta and key.tpm_limit):
            return  # nothing that a limit of this key reads
        self.client()
        period_id, _, _ = period_bounds(key.budget_period, at)
        names = self.names(key, period_id) + self.hold_names(key, hold_period or period_id)
        await self._settle(
            keys=[names[1], names[2], names[3], names[4]],
            args=[second or 0, delta, units, hold or ""],
        )

    @staticmethod
    def deployment_name(deployment_id: int, minute: int) -> str:
        return f"{REDIS_PREFIX}:deployment:{deployment_id}:{minute}"

    async def claim_deployment(self, deployment_id: int, rpm: int, tpm: int, minute: int) -> bool:
        self.client()
        name = self.deployment_name(deployment_id, minute)
        return bool(await self._claim(keys=[name], args=[rpm, tpm]))

    async def deployment_used(self, deployment_id: int, minute: int, tokens: int) -> None:
        name = self.deployment_name(deployment_id, minute)
        async with self.client().pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "tokens", tokens)
            pipe.expire(name, 120)
            await pipe.execute()


# --- the backend in force -------------------------------------------------------------------

memory = MemoryCounters()
_redis: RedisCounters | None = None
_redis_down = False
_shared: SharedCounters | None = None

Backend = MemoryCounters | SharedCounters | RedisCounters


def _backend() -> Backend:
    """Redis when ``REDIS_URL`` is set, else the server's counter service when this
    process is one of its workers (``SWITCHYARD_LIMITS_SOCKET``), else this process."""
    global _redis, _shared
    url = getattr(settings, "REDIS_URL", "")
    if url:
        if _redis is None or _redis.url != url:
            _redis = RedisCounters(url)
        return _redis
    path = os.environ.get(SOCKET_ENV)
    if path:
        if _shared is None or _shared.path != path:
            _shared = SharedCounters(path)
        return _shared
    return memory


def shared_backend() -> SharedCounters | RedisCounters | None:
    """The counters every process of this server (or every instance, with Redis) shares,
    or None when this process counts alone."""
    backend = _backend()
    return None if isinstance(backend, MemoryCounters) else backend


def note_failure(backend: Backend, exc: Exception) -> None:
    """A shared backend failed: warn once per outage (the counter service's client
    reports its own outages; an error it answered is a bug, logged every time)."""
    global _redis_down
    if isinstance(backend, RedisCounters):
        if not _redis_down:
            _redis_down = True
            log.warning("limits: Redis unavailable (%s); counting in this process only", exc)
    elif not isinstance(exc, Unavailable):
        log.error("limits: the counter service failed (%s); counted in this process", exc)


def note_success(backend: Backend) -> None:
    global _redis_down
    if _redis_down and isinstance(backend, RedisCounters):
        _redis_down = False
        log.info("limits: Redis is reachable again; limits are shared again")


def reset() -> None:
    """Forget every in-memory counter and shared connection (tests)."""
    global memory, _redis, _redis_down, _shared
    memory = MemoryCounters()
    _redis = None
    _redis_down = False
    _shared = None


@dataclass(slots=True)
class Reservation:
    key: KeyEntry
    route: str
    estimated_tokens: int
    backend: Any = None
    handle: Any = None
    settled: bool = field(default=False)

    async def settle(self, tokens: int, cost: Decimal) -> None:
        """Record what the request really used (tokens, cost); once."""
        if self.settled or self.backend is None:
            return
        self.settled = True
        delta = int(tokens) - self.estimated_tokens
        cost = Decimal(cost or 0)
        try:
            await self.backend.settle(self.key, self.handle, delta, cost, now())
        except Exception as exc:
            if self.backend is memory:
                raise
            note_failure(self.backend, exc)
            await memory.settle(self.key, None, 0, cost, now())


async def admit(
    key: KeyEntry, route: str, estimated_tokens: int, hold_usd: Decimal | None = None
) -> Reservation:
    """Check and reserve ``key``'s allowance for one request to ``route``: a request,
    ``estimated_tokens`` and, when the key has a budget, ``hold_usd`` of it (what the
    request may cost, ``gateway.budget_estimate``) until it settles. Raise
    AuthenticationFailed (revoked, expired), PermissionDenied (route not allowed) or
    RateLimited (rpm, tpm or budget)."""
    if key.is_master:
        return Reservation(key=key, route=route, estimated_tokens=estimated_tokens)
    if key.revoked:
        raise AuthenticationFailed("this API key has been revoked")
    at = now()
    if key.expires_at is not None and key.expires_at.timestamp() <= at:
        raise AuthenticationFailed("this API key has expired")
    if not key.allows(route):
        raise PermissionDenied(f"this API key may not use model {route!r}")
    tokens = max(0, int(estimated_tokens))
    reservation = Reservation(key=key, route=route, estimated_tokens=tokens)
    if key.rpm_limit is None and key.tpm_limit is None and key.budget_usd is None:
        return reservation
    hold = _units(hold_usd) if hold_usd and key.budget_usd is not None else 0
    backend = _backend()
    try:
        reservation.handle = await backend.admit(key, tokens, at, hold)
    except RateLimited:
        raise
    except Exception as exc:
        if backend is memory:
            raise
        note_failure(backend, exc)
        backend = memory
        reservation.handle = await memory.admit(key, tokens, at, hold)
    else:
        if _redis_down:
            note_success(backend)
    reservation.backend = backend
    return reservation
