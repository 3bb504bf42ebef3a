"""Shadow traffic: a share of a route's live requests copied to other routes in the
background, so a team can see how a cheaper or newer model answers its real traffic
before switching.

A route names its ``shadow_routes`` and the ``shadow_percent`` of its requests to
mirror. When a sampled request has been answered (its journal record handed over: the
client already has everything), the same body is sent again, once per shadow route,
through the same service as any request:

- the client only ever gets the primary's answer and timing: mirrors start after the
  primary ends, and at most ``SWITCHYARD_SHADOW_MAX_IN_FLIGHT`` (default 8) run at once
  per process; a mirror that would exceed it is skipped, not queued;
- mirrors use only the process's spare CPU: while its event loop is saturated (the lag
  that ``gateway.base.loop_lag`` measures while a route mirrors is over
  ``SWITCHYARD_SHADOW_BUSY_LAG_MS``) a mirror is skipped, not queued. The number of
  requests in flight is not the signal: a gateway relaying long LLM calls has many in
  flight while its loop idles. Skips are counted in ``switchyard_shadow_skipped_total``
  by reason (``busy`` or ``in_flight``). A mirror starts at once: delaying its start
  (so that the primary's connection is served first) was measured and did not help;
- a mirror is journaled like any request, with ``shadow_of`` naming the primary's
  request id, under the key name ``shadow`` (no key id): it never counts against the
  client key's rate limits or budget, and its cost shows under the shadow route;
- it respects the shadow route's own limits: its deployments' caps, cooldowns and retry
  budget, as routing applies them to every request;
- it goes only where the client's key may be mirrored (rule ``route.mirror``): a shadow
  route limited to teams other than the key's is skipped (reason ``not_allowed``), so
  an editor's shadow cannot send a team's traffic to another team's route. The key's
  own route list is not asked: a mirror answers nobody and is billed to no key;
- it is never stored (Responses ``store`` is turned off) and a Responses request that
  continues a stored conversation (``previous_response_id``) is not mirrored (the
  conversation belongs to the client's key).

The service hands a finished request over with ``consider``; the request path pays one
attribute read when its route has no shadows."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.access import registry
from gateway.access.authorization import decide
from gateway.base import loop_lag
from gateway.base.background import in_background
from gateway.base.entries import MASTER, KeyEntry, RouteEntry
from gateway.base.env import env_float, env_int
from gateway.telemetry import metrics

log = logging.getLogger(__name__)

SHADOW_KEY = dataclasses.replace(MASTER, name="shadow", prefix="shadow")
MIRRORED_ENDPOINTS = frozenset({"chat", "completions", "embeddings"})
BUSY_LAG_MS = 2.0  # default of SWITCHYARD_SHADOW_BUSY_LAG_MS (docs/benchmarks.md)
_in_flight = 0


@dataclass(frozen=True, slots=True)
class Primary:
    """What a finished request leaves for its mirrors."""

    request_id: str
    endpoint: str
    dialect: str
    raw: bytes
    headers: Mapping[str, str]
    path_fields: Mapping[str, Any] | None
    status: int
    key: KeyEntry | None = None  # the client's: mirrored only where it may be (route.mirror)


# the service's entry point: (endpoint, dialect, raw, headers, shadow_of, path_fields)
Handler = Callable[
    [str, str, bytes, Mapping[str, str], str, Mapping[str, Any] | None], Awaitable[Any]
]


def max_in_flight() -> int:
    return env_int("SWITCHYARD_SHADOW_MAX_IN_FLIGHT", 8, minimum=0)


def busy_lag() -> float:
    """The loop lag (seconds) over which the process counts as saturated; 0: never."""
    return env_float("SWITCHYARD_SHADOW_BUSY_LAG_MS", BUSY_LAG_MS, minimum=0.0) / 1000.0


def busy() -> bool:
    """Whether this process's event loop has no CPU to spare for a mirror (and keep
    the lag probe running while mirrors are asked for)."""
    limit = busy_lag()
    if limit <= 0:
        return False
    loop_lag.watch()
    return loop_lag.lag() > limit


def skipped(route: RouteEntry, shadow_route: str, reason: str, primary: Primary) -> None:
    metrics.count_shadow_skip(route.name, shadow_route, reason)
    log.debug(
        "shadow: %s not mirrored to %s (%s: %d in flight, loop lag %.1f ms)",
        primary.request_id, shadow_route, reason, _in_flight, 1000 * loop_lag.lag(),
    )  # fmt: skip


def sampled(route: RouteEntry, draw: Callable[[], float] = random.random) -> bool:
    return bool(route.shadow_routes) and draw() * 100.0 < route.shadow_percent


def mirrored_body(primary: Primary, shadow_route: str) -> tuple[bytes, Mapping[str, Any] | None]:
    """The primary's body (or path fields, for Gemini's model in the URL) aimed at
    ``shadow_route``; Responses bodies are never stored."""
    path_fields = primary.path_fields
    if path_fields and "model" in path_fields:
        return primary.raw, {**path_fields, "model": shadow_route}
    body = orjson.loads(primary.raw)
    body["model"] = shadow_route
    if primary.dialect == "responses":
        body["store"] = False
    return orjson.dumps(body), path_fields


def may_mirror(primary: Primary, shadow_route: str) -> bool:
    """Whether the primary's key may be mirrored to ``shadow_route`` (``route.mirror``); a route
    that does not exist is left to the mirror's own 404, as before. No key: never."""
    entry = registry.current().route(shadow_route)
    if entry is None:
        return True
    return primary.key is not None and decide(primary.key, "route.mirror", entry).allowed


def worth_mirroring(primary: Primary) -> bool:
    """A request the shadows can answer too: one of the generating endpoints, answered
    or failed upstream (a 4xx is the caller's own mistake), not a stored conversation."""
    if primary.endpoint not in MIRRORED_ENDPOINTS:
        return False
    if 400 <= primary.status < 500:
        return False
    if primary.dialect == "responses" and b"previous_response_id" in primary.raw:
        try:
            if orjson.loads(primary.raw).get("previous_response_id"):
                return False
        except orjson.JSONDecodeError:
            return False
    return True


def consider(route: RouteEntry | None, primary: Primary, handle: Handler) -> int:
    """Start the mirrors of ``primary`` when its route shadows and it is sampled;
    returns how many started."""
    global _in_flight
    if route is None or not route.shadow_routes or route.shadow_percent <= 0:
        return 0
    if not sampled(route) or not worth_mirroring(primary):
        return 0
    started = 0
    saturated = busy()
    for name in route.shadow_routes:
        if saturated:
            skipped(route, name, "busy", primary)
            continue
        if not may_mirror(primary, name):
            skipped(route, name, "not_allowed", primary)
            continue
        if _in_flight >= max_in_flight():
            skipped(route, name, "in_flight", primary)
            continue
        try:
            raw, path_fields = mirrored_body(primary, name)
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return started  # not a JSON object: nothing to mirror
        _in_flight += 1
        in_background(_mirror(handle, primary, raw, path_fields, name))
        started += 1
    return started


async def _mirror(
    handle: Handler,
    primary: Primary,
    raw: bytes,
    path_fields: Mapping[str, Any] | None,
    route: str,
) -> None:
    global _in_flight
    try:
        reply = await handle(
            primary.endpoint, primary.dialect, raw, primary.headers, primary.request_id, path_fields
        )
        chunks = getattr(reply, "chunks", None)
        if chunks is not None:  # a streamed answer: read to its end, as a client would
            async for _ in chunks:
                pass
    except Exception:  # a mirror never disturbs anything: log and go on
        log.exception("shadow: mirroring %s to %s failed", primary.request_id, route)
    finally:
        _in_flight -= 1


def in_flight() -> int:
    return _in_flight
