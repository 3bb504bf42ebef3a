"""Deployment cooldowns shared by every worker of a server (the supervisor's counter
service) and every instance (Redis when ``REDIS_URL`` is set).

Alone, each process cools a dead deployment after its own few failed requests: with
40 workers a dead deployment costs 120 failed requests before the server stops using
it. Where the key limits' counters are shared (``gateway.limits.limits.shared_backend``):

- a failed request is pushed to the store (in the background; the request is already
  on its way to a sibling), which counts failures server-wide and answers whether the
  deployment now cools: the reporting worker knows at once;
- every worker learns of each change the moment the store makes it: it keeps a view of
  the deployments the store knows failures or cooldowns of, fetched again as soon as
  the store announces a change (the counter service answers a ``cooldown_watch`` each
  worker keeps waiting there; Redis publishes on ``<prefix>:news``, to which each
  worker subscribes) and every ``SWITCHYARD_COOLDOWN_REFRESH_SECONDS`` (0.5) in any
  case. Before, the others learned only at their next refresh, and a server with
  four workers failed 5 requests (7 cut streams) before every worker skipped the
  deployment; now the threshold's 3;
- before an attempt on a deployment the view lists with failures but not cooled, the
  worker asks the store for that deployment's state (one round trip, only while a
  deployment fails): a cooldown started a moment ago, whose news is still on its way,
  is seen before the attempt;
- a success is pushed only for a deployment the view lists (a success closes the
  breaker server-wide); a healthy deployment in steady state costs no round trip;
- when a cooldown ends, the store lets exactly one request of the server probe it
  (one round trip, only for a half-open deployment).

Requests that were already on their way to the deployment when the cooldown started
still fail: "within 3 failed requests" holds for requests that start after the third
failure, whatever their process.

When the store cannot be reached each process decides alone, as in one process
(``gateway.limits.limits`` warns once per outage), and uses the store again once it answers.
``routing`` owns the per-process state; this module only talks to the store and hands
what it learns to the listener routing registers (``listen``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings

from gateway.base import running_loop
from gateway.base.background import in_background
from gateway.base.counters import CounterClient
from gateway.limits import counters, limits, redis_counters, subjects

log = logging.getLogger(__name__)

wall: Callable[[], float] = time.time  # seam for tests: epoch seconds
REDIS_PREFIX = f"{subjects.REDIS_PREFIX}:cooldown"


def news_channel() -> str:
    """Where Redis announces each change of a deployment's failures or cooldown."""
    return f"{REDIS_PREFIX}:news"


# What routing does with news from the store: (deployment id, cool_for | None,
# failures) for one deployment, or the whole view (``complete``).
State = tuple[float | None, int]
Listener = Callable[[dict[int, State], bool], None]
_listener: Listener | None = None
T = TypeVar("T")


def listen(listener: Listener) -> None:
    global _listener
    _listener = listener


def _tell(states: dict[int, State], complete: bool) -> None:
    if _listener is not None:
        _listener(states, complete)


# --- Redis: the same book as gateway/routing/cooldown_book.py, in scripts ----------------------------

# KEYS: the deployment's hash, the index set. ARGV: id, threshold, window, cooldown,
# probe (0/1), alone (0/1), the news channel. Returns {cool_for or '', failures,
# started (0/1)}; announces the deployment's id on the channel.
FAILED_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local threshold, window, cooldown = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local kept = {}
for v in string.gmatch(redis.call('HGET', KEYS[1], 'fails') or '', '[^,]+') do
  if tonumber(v) > now - window then table.insert(kept, v) end
end
table.insert(kept, string.format('%.3f', now))
if ARGV[5] == '1' then redis.call('HDEL', KEYS[1], 'probe') end
local started = 0
if ARGV[6] ~= '1' and (ARGV[5] == '1' or #kept >= threshold) then
  redis.call('HSET', KEYS[1], 'until', string.format('%.3f', now + cooldown))
  kept = {}
  started = 1
end
redis.call('HSET', KEYS[1], 'fails', table.concat(kept, ','))
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[7], ARGV[1])
local u = tonumber(redis.call('HGET', KEYS[1], 'until') or '')
return {u and tostring(u - now) or '', #kept, started}
"""

# KEYS: the deployment's hash. ARGV: window. Returns {cool_for or '', failures}.
STATE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'until', 'fails')
local n = 0
for v in string.gmatch(h[2] or '', '[^,]+') do
  if tonumber(v) > now - tonumber(ARGV[1]) then n = n + 1 end
end
local u = tonumber(h[1] or '')
return {u and tostring(u - now) or '', n}
"""

# KEYS: the deployment's hash. ARGV: lease. Returns {'yes'} or {'no', wait}.
PROBE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local u = tonumber(redis.call('HGET', KEYS[1], 'until') or '')
if not u then return {'yes'} end
if u > now then return {'no', tostring(u - now)} end
local p = tonumber(redis.call('HGET', KEYS[1], 'probe') or '')
if p and p > now then return {'no', tostring(p - now)} end
redis.call('HSET', KEYS[1], 'probe', string.format('%.3f', now + tonumber(ARGV[1])))
return {'yes'}
"""

# KEYS: the index set. ARGV: hash prefix, window. Returns {{id, cool_for or '', n}, ...}.
VIEW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', ARGV[1] .. id, 'until', 'fails')
  local n = 0
  for v in string.gmatch(h[2] or '', '[^,]+') do
    if tonumber(v) > now - window then n = n + 1 end
  end
  local u = tonumber(h[1] or '')
  if not u and n == 0 then
    redis.call('SREM', KEYS[1], id)
  else
    table.insert(out, {id, u and tostring(u - now) or '', n})
  end
end
return out
"""


def _seconds(raw: Any) -> float | None:
    if isinstance(raw, bytes):
        raw = raw.decode()
    return None if raw in ("", None) else float(raw)


async def _failed(backend: Any, deployment_id: int, policy: Any, probe: bool, alone: bool):  # type: ignore[no-untyped-def]
    if isinstance(backend, redis_counters.RedisCounters):
        cool_for, failures, started = await backend.script(FAILED_SCRIPT)(
            keys=[f"{REDIS_PREFIX}:{deployment_id}", f"{REDIS_PREFIX}s"],
            args=[
                deployment_id,
                policy.cooldown_failures,
                policy.cooldown_window,
                policy.cooldown,
                int(probe),
                int(alone),
                news_channel(),
            ],
        )
        return _seconds(cool_for), int(failures), bool(started)
    reply = await backend.ask(
        "cooldown_failed",
        deployment_id,
        wall(),
        policy.cooldown_failures,
        policy.cooldown_window,
        policy.cooldown,
        probe,
        alone,
    )
    return reply[1], int(reply[2]), bool(reply[3])


async def _succeeded(backend: Any, deployment_id: int) -> None:
    if isinstance(backend, redis_counters.RedisCounters):
        async with backend.client().pipeline(transaction=True) as pipe:
            pipe.delete(f"{REDIS_PREFIX}:{deployment_id}")
            pipe.srem(f"{REDIS_PREFIX}s", deployment_id)
            pipe.publish(news_channel(), deployment_id)
            await pipe.execute()
        return
    await backend.ask("cooldown_succeeded", deployment_id)


async def _probe(backend: Any, deployment_id: int, lease: float) -> float | None:
    """None when this request is the probe, else the seconds to wait."""
    if isinstance(backend, redis_counters.RedisCounters):
        reply = await backend.script(PROBE_SCRIPT)(
            keys=[f"{REDIS_PREFIX}:{deployment_id}"], args=[lease]
        )
    else:
        reply = await backend.ask("cooldown_probe", deployment_id, wall(), lease)
    verdict = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
    return None if verdict == "yes" else (_seconds(reply[1]) or 0.0)


async def _release(backend: Any, deployment_id: int) -> None:
    if isinstance(backend, redis_counters.RedisCounters):
        await backend.client().hdel(f"{REDIS_PREFIX}:{deployment_id}", "probe")
        return
    await backend.ask("cooldown_release", deployment_id)


async def _state(backend: Any, deployment_id: int, window: float) -> State:
    if isinstance(backend, redis_counters.RedisCounters):
        reply = await backend.script(STATE_SCRIPT)(
            keys=[f"{REDIS_PREFIX}:{deployment_id}"], args=[window]
        )
        return _seconds(reply[0]), int(reply[1])
    reply = await backend.ask("cooldown_state", deployment_id, wall(), window)
    return reply[1], int(reply[2])


async def _view(backend: Any, window: float) -> dict[int, State]:
    if isinstance(backend, redis_counters.RedisCounters):
        rows = await backend.script(VIEW_SCRIPT)(
            keys=[f"{REDIS_PREFIX}s"], args=[f"{REDIS_PREFIX}:", window]
        )
        return {int(r[0]): (_seconds(r[1]), int(r[2])) for r in rows}
    reply = await backend.ask("cooldown_view", wall(), window)
    return {int(r[0]): (r[1], int(r[2])) for r in reply[1]}


# --- what routing calls ---------------------------------------------------------------------


def report_failure(
    deployment_id: int,
    label: str,
    policy: Any,
    *,
    probe: bool,
    alone: bool,
    fallback: Callable[[], None],
) -> bool:
    """Push one failed request of ``deployment_id`` to the store (in the background):
    True when it went there, False when this process counts alone. ``fallback``
    (the per-process decision) runs if the store cannot be reached."""
    backend = limits.reachable_shared_backend()
    if backend is None:
        return False
    in_background(_push_failure(backend, deployment_id, label, policy, probe, alone, fallback))
    return True


async def _push_failure(backend, deployment_id, label, policy, probe, alone, fallback) -> None:  # type: ignore[no-untyped-def]
    try:
        cool_for, failures, started = await _failed(backend, deployment_id, policy, probe, alone)
    except Exception as exc:
        limits.note_failure(backend, exc)
        fallback()
        return
    limits.note_success(backend)
    if started:  # logged by the one process whose report began the cooldown
        log.warning(
            "deployment %s: %s; skipped by every worker for %.0fs, then one request probes it",
            label or deployment_id,
            "its probe request failed"
            if probe
            else f"{policy.cooldown_failures} requests in a row failed within "
            f"{policy.cooldown_window:.0f}s",
            policy.cooldown,
        )
    _tell({deployment_id: (cool_for, failures)}, False)


def report_success(deployment_id: int) -> None:
    """Close ``deployment_id``'s breaker for everybody (routing calls this only for a
    deployment the store knows failures of)."""
    _tell_store(_succeeded, deployment_id)


async def claim_probe(deployment_id: int, lease: float) -> float | None:
    """Make this request the server's one probe of a half-open deployment: None when it
    is (or nobody shares cooldowns, or the store is unreachable), else the seconds
    until the deployment may be probed again (another process probes it)."""
    return await _asked(_probe, deployment_id, lease)


async def current(deployment_id: int, window: float) -> State | None:
    """The store's state of ``deployment_id`` now (cool_for | None, failures), asked
    before an attempt on a deployment known to fail; None when nobody shares
    cooldowns or the store is unreachable."""
    return await _asked(_state, deployment_id, window)


async def _asked(ask: Callable[..., Awaitable[T]], *args: Any) -> T | None:
    """``ask(backend, *args)`` of the shared store, its outage noted; None when nobody
    shares cooldowns or the store is unreachable."""
    backend = limits.reachable_shared_backend()
    if backend is None:
        return None
    try:
        answer = await ask(backend, *args)
    except Exception as exc:
        limits.note_failure(backend, exc)
        return None
    limits.note_success(backend)
    return answer


def release_probe(deployment_id: int) -> None:
    _tell_store(_release, deployment_id)


def _tell_store(tell: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """``tell(backend, *args)`` the shared store in the background, its outage (or its
    coming back) noted; nothing when nobody shares cooldowns."""
    backend = limits.reachable_shared_backend()
    if backend is not None:
        in_background(_told(backend, tell, *args))


async def _told(backend: Any, tell: Callable[..., Awaitable[Any]], *args: Any) -> None:
    try:
        await tell(backend, *args)
    except Exception as exc:
        limits.note_failure(backend, exc)
    else:
        limits.note_success(backend)


# --- the background view --------------------------------------------------------------------

_refreshing: asyncio.AbstractEventLoop | None = None
_refresher: asyncio.Task[None] | None = None
# the first view of this loop, until it is in (then None): a process's first requests
# wait for it, so that a worker that served nothing yet knows what the others learned
_first: asyncio.Future[None] | None = None
FIRST_VIEW_WAIT = 1.0  # seconds a first request waits at most (the store may be down)


def ensure_refreshing(window: float) -> asyncio.Future[None] | None:
    """Start this event loop's refresher once (an identity check per request after).
    Answers what a request should wait for before routing: the first view, while it is
    not in yet (a process's first requests only), else None."""
    global _refreshing, _refresher, _first
    try:
        loop = running_loop.get()
    except RuntimeError:
        return None
    if loop is _refreshing:
        return _first
    _refreshing = loop
    if limits.shared_backend() is None:
        return None  # this process counts alone: nothing to refresh
    _first = loop.create_future()
    _refresher = loop.create_task(_refresh(window), name="switchyard-cooldown-view")
    return _first


async def first_view(pending: asyncio.Future[None]) -> None:
    """Wait (at most ``FIRST_VIEW_WAIT``) for the process's first view of the store."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(pending), FIRST_VIEW_WAIT)


def _first_view_in() -> None:
    global _first
    if _first is not None:
        if not _first.done():
            _first.set_result(None)
        _first = None


def stop_refreshing() -> None:
    """Forget the refresher (tests switching backends)."""
    global _refreshing, _refresher, _first
    if _refresher is not None:
        _refresher.cancel()
    _refreshing = _refresher = _first = None


async def _refresh(window: float) -> None:
    """Keep this process's view current, forever: fetched again the moment the store
    announces a change, and every few tenths of a second in any case; an outage (a
    restart of Redis or of the counter service) only skips refreshes."""
    watcher: CounterClient | None = None  # its own connection: the watch waits there
    news: Any = None  # the Redis subscription
    version = -1  # the counter service's book version this process saw last
    while True:
        every = float(getattr(settings, "SWITCHYARD_COOLDOWN_REFRESH_SECONDS", 0.5))
        backend = limits.shared_backend()
        if backend is None:
            await asyncio.sleep(every)
            continue
        try:
            if isinstance(backend, counters.SharedCounters):
                if watcher is None or watcher.path != backend.path:
                    watcher = CounterClient(backend.path, timeout=every + 5)
                reply = await watcher.call("cooldown_watch", version, wall(), window, every)
                version = int(reply[1])
                states = {int(r[0]): (r[1], int(r[2])) for r in reply[2]}
            else:
                news = await _await_news(backend, news, every)
                states = await _view(backend, window)
        except asyncio.CancelledError:
            if news is not None:
                await news.aclose()
            raise
        except Exception as exc:
            limits.note_failure(backend, exc)
            _first_view_in()  # nothing to wait for: the store is away
            if news is not None:
                with contextlib.suppress(Exception):
                    await news.aclose()
                news = None
            await asyncio.sleep(every)
            continue
        limits.note_success(backend)
        _tell(states, True)
        _first_view_in()


async def _await_news(backend: redis_counters.RedisCounters, news: Any, every: float) -> Any:
    """Wait up to ``every`` seconds for Redis to announce a change (subscribing first if
    need be); what else came meanwhile is taken too: one view answers it all."""
    if news is None:
        news = backend.client().pubsub()
        await news.subscribe(news_channel())
    message = await news.get_message(ignore_subscribe_messages=True, timeout=every)
    while message is not None:
        message = await news.get_message(ignore_subscribe_messages=True, timeout=0)
    return news
