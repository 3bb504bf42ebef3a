"""Counters shared by every process of every instance through Redis: one atomic Lua
script per admission (a key's, or a key's with its team, owner and tags at once), one
per settle, one per deployment cap claim."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from gateway.base.entries import KeyEntry
from gateway.limits import subjects
from gateway.limits.counters import hold_ttl, settled_units, settlement
from gateway.limits.spend import counter_spend, key_spend, period_bounds, to_units
from gateway.limits.subjects import Admission, Joint, Subject, joint_verdict, verdict

# What both admission scripts share: the server's clock, and per subject (a key or a
# team) its budget holds, its one-minute request and token windows, and the reservation of
# both. A subject's keys: requests hash (second -> count), tokens hash (second -> tokens),
# spend counter, holds hash (hold id -> units, and 'total'), holds' expiries (sorted set).
ADMIT_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local sec = tonumber(t[1])
-- Drop the expired holds; the units still held.
local function held(holds, expiries)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiries, '-inf', now)) do
    local units = redis.call('HGET', holds, id)
    if units then
      redis.call('HDEL', holds, id)
      redis.call('HINCRBY', holds, 'total', -tonumber(units))
    end
    redis.call('ZREM', expiries, id)
  end
  return tonumber(redis.call('HGET', holds, 'total') or '0')
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
-- nil if one more request of est tokens fits both windows, else the limit and the wait.
local function over(requests, tokens, rpm, tpm, est)
  if rpm > 0 then
    local total, secs, values = window(requests)
    if total + 1 > rpm then return 'rpm', tostring(wait(total, secs, values, 1, rpm)) end
  end
  if tpm > 0 then
    local total, secs, values = window(tokens)
    if total > 0 and total + est > tpm then
      return 'tpm', tostring(wait(total, secs, values, est, tpm))
    end
  end
  return nil
end
local function count(requests, tokens, rpm, tpm, est)
  if rpm > 0 then
    redis.call('HINCRBY', requests, sec, 1)
    redis.call('EXPIRE', requests, 120)
  end
  if tpm > 0 then
    redis.call('HINCRBY', tokens, sec, est)
    redis.call('EXPIRE', tokens, 120)
  end
end
-- A new hold of units for ttl seconds; its id.
local function hold_units(holds, expiries, units, ttl)
  local id = sec .. '-' .. redis.call('HINCRBY', holds, 'next', 1)
  redis.call('HSET', holds, id, units)
  redis.call('HINCRBY', holds, 'total', units)
  redis.call('ZADD', expiries, now + ttl, id)
  redis.call('EXPIRE', holds, math.ceil(ttl) + 60)
  redis.call('EXPIRE', expiries, math.ceil(ttl) + 60)
  return id
end
"""

# KEYS: one subject's (see ADMIT_PRELUDE). ARGV: rpm, tpm, estimated tokens, budget in
# 1e-8 USD (-1: none), units to hold (0: none), the hold's time to live in seconds.
# Returns {"ok", second, hold id or ""} or {reason, detail...}.
ADMIT_SCRIPT = (
    ADMIT_PRELUDE
    + """
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local est, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
local hold, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
if budget < 0 then hold = 0 end
if budget >= 0 then
  local spent = redis.call('GET', KEYS[3])
  if not spent then return {'load', '0'} end
  if tonumber(spent) >= budget then return {'budget', spent} end
  if hold > 0 then
    local units = held(KEYS[4], KEYS[5])
    if tonumber(spent) + units + hold > budget then
      return {'held', spent, tostring(units)}
    end
  end
end
local reason, detail = over(KEYS[1], KEYS[2], rpm, tpm, est)
if reason then return {reason, detail} end
count(KEYS[1], KEYS[2], rpm, tpm, est)
local id = ''
if hold > 0 then id = hold_units(KEYS[4], KEYS[5], hold, ttl) end
return {'ok', tostring(sec), id}
"""
)

# KEYS: tokens hash, spend counter, the hold's holds hash and expiries. ARGV: second,
# token delta, cost in 1e-8 USD (negative: given back, gateway.features.batches.holds), hold
# id ("": none). A spend counter Redis does not have is left to be loaded.
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
if tonumber(ARGV[3]) ~= 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  local spent = redis.call('INCRBY', KEYS[2], ARGV[3])
  if spent < 0 then redis.call('INCRBY', KEYS[2], -spent) end
end
return 1
"""


# A key and its team in one step: 5 KEYS per subject (see ADMIT_PRELUDE); ARGV:
# estimated tokens, units to hold, the hold's ttl, then per subject rpm, tpm, budget (-1:
# none). Every subject is checked before any is reserved.
# Returns {'ok', second, hold id per subject...} or {reason, subject index, detail...}.
ADMIT_ALL_SCRIPT = (
    ADMIT_PRELUDE
    + """
local est, hold0, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / 3
for i = 1, n do
  local k, a = (i - 1) * 5, 3 + (i - 1) * 3
  local rpm, tpm, budget = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local idx = tostring(i - 1)
  if budget >= 0 then
    local spent = redis.call('GET', KEYS[k + 3])
    if not spent then return {'load', idx} end
    if tonumber(spent) >= budget then return {'budget', idx, spent} end
    if hold0 > 0 then
      local units = held(KEYS[k + 4], KEYS[k + 5])
      if tonumber(spent) + units + hold0 > budget then
        return {'held', idx, spent, tostring(units)}
      end
    end
  end
  local reason, detail = over(KEYS[k + 1], KEYS[k + 2], rpm, tpm, est)
  if reason then return {reason, idx, detail} end
end
local out = {'ok', tostring(sec)}
for i = 1, n do
  local k, a = (i - 1) * 5, 3 + (i - 1) * 3
  local rpm, tpm, budget = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  count(KEYS[k + 1], KEYS[k + 2], rpm, tpm, est)
  local id = ''
  if hold0 > 0 and budget >= 0 then id = hold_units(KEYS[k + 4], KEYS[k + 5], hold0, ttl) end
  table.insert(out, id)
end
return out
"""
)


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
        self._admit_all: Any = None
        self._scripts: dict[str, Any] = {}

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
            self._admit_all = self._client.register_script(ADMIT_ALL_SCRIPT)
            self._loop = loop
        return self._client

    def script(self, source: str) -> Any:
        """``source`` registered on this event loop's client, once a client: the Lua
        scripts of the books kept beside the counters (shared cooldowns, retry budget)."""
        client = self.client()
        script = self._scripts.get(source)
        if script is None or script.registered_client is not client:
            script = self._scripts[source] = client.register_script(source)
        return script

    @staticmethod
    def names(key: KeyEntry, period_id: str) -> list[str]:
        base = f"{subjects.REDIS_PREFIX}:{key.id}"
        return [f"{base}:requests", f"{base}:tokens", f"{base}:spend:{period_id}"]

    @staticmethod
    def hold_names(key: KeyEntry, period_id: str) -> list[str]:
        base = f"{subjects.REDIS_PREFIX}:{key.id}"
        return [f"{base}:holds:{period_id}", f"{base}:hold-expiries:{period_id}"]

    async def admit(self, key: KeyEntry, tokens: int, at: float, hold: int = 0) -> Admission:
        self.client()
        period_id, start, end = period_bounds(key.budget_period, at)
        names = self.names(key, period_id) + self.hold_names(key, period_id)
        budget = to_units(key.budget_usd) if key.budget_usd is not None else -1
        args = [key.rpm_limit or 0, key.tpm_limit or 0, tokens, budget, hold, hold_ttl()]
        reply: list[Any] = []
        for _ in range(2):
            reply = await self._admit(keys=names, args=args)
            reply[0] = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
            if reply[0] != "load":
                break
            spent = await key_spend(key, start)
            ttl = {"ex": int(end.timestamp() - at) + 86400} if end is not None else {}
            await self._client.set(names[2], to_units(spent), nx=True, **ttl)
        return verdict(key, reply, period_id, end, at)

    async def settle(
        self, key: KeyEntry, handle: Any, delta: int, cost: Decimal, at: float
    ) -> None:
        if (settled := settlement(key, handle, delta, cost)) is None:
            return  # nothing that a limit of this key reads
        second, hold, hold_period, units = settled
        self.client()
        period_id, _, _ = period_bounds(key.budget_period, at)
        names = self.names(key, period_id) + self.hold_names(key, hold_period or period_id)
        await self._settle(
            keys=[names[1], names[2], names[3], names[4]],
            args=[second or 0, delta, units, hold or ""],
        )

    async def admit_joint(
        self, subjects: Sequence[Subject], tokens: int, at: float, hold: int = 0
    ) -> Joint:
        """A key and its team checked and reserved in one script (one round trip)."""
        self.client()
        bounds = [period_bounds(s.limits.budget_period, at) for s in subjects]
        names: list[str] = []
        args: list[Any] = [tokens, hold, hold_ttl()]
        for subject, (period_id, _, _) in zip(subjects, bounds, strict=True):
            base = subject.redis_base()
            names += [
                f"{base}:requests",
                f"{base}:tokens",
                f"{base}:spend:{period_id}",
                f"{base}:holds:{period_id}",
                f"{base}:hold-expiries:{period_id}",
            ]
            args += [subject.limits.rpm_limit or 0, subject.limits.tpm_limit or 0]
            args.append(subject.budget_units())
        reply: list[Any] = []
        for _ in range(len(subjects) + 1):
            reply = [
                v.decode() if isinstance(v, bytes) else v
                for v in await self._admit_all(keys=names, args=args)
            ]
            if reply[0] != "load":
                break
            index = int(reply[1])
            _, start, end = bounds[index]
            spent = await counter_spend(
                subjects[index].counter, start, subjects[index].limits.budget_period
            )
            ttl = {"ex": int(end.timestamp() - at) + 86400} if end is not None else {}
            await self._client.set(names[index * 5 + 2], to_units(spent), nx=True, **ttl)
        if reply[0] == "ok":
            second, holds = reply[1], reply[2:]
            reply = ["ok", [[second, hold] for hold in holds]]
        return joint_verdict(subjects, reply, bounds, at)

    async def settle_joint(self, joint: Joint, delta: int, cost: Decimal, at: float) -> None:
        """Every subject's settle script in one pipeline (one round trip)."""
        client = self.client()
        calls = []
        for subject, (second, hold, hold_period) in zip(joint.subjects, joint.parts, strict=True):
            units = settled_units(subject.limits, second, hold, delta, cost)
            if units is None:
                continue
            period_id, _, _ = period_bounds(subject.limits.budget_period, at)
            base = subject.redis_base()
            held = hold_period or period_id
            keys = [
                f"{base}:tokens",
                f"{base}:spend:{period_id}",
                f"{base}:holds:{held}",
                f"{base}:hold-expiries:{held}",
            ]
            calls.append((keys, [second or 0, delta, units, hold or ""]))
        if not calls:
            return
        async with client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await self._settle(keys=keys, args=args, client=pipe)
            await pipe.execute()

    @staticmethod
    def deployment_name(deployment_id: int, minute: int) -> str:
        return f"{subjects.REDIS_PREFIX}:deployment:{deployment_id}:{minute}"

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
