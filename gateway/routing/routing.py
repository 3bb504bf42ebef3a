"""Routing: turn a route into attempts on its deployments, with retries, backoff,
fallbacks to other routes and cooldowns of failing deployments.

``run(snapshot, route, call, attempts)`` is the only entry point the service uses.
``call(route, deployment)`` performs ONE upstream attempt: it returns a result, or
raises. Streams return from ``call`` only after the first upstream event, so every
retry here happens before the client saw a byte.

Policy, in order:
- a route's deployments are chosen by its strategy (``weighted``, ``least_busy``,
  ``lowest_latency``), preferring one not tried yet in this request, skipping
  deployments that cool down or reached their ``rpm``/``tpm`` cap;
- retryable failures (connection errors, timeouts, 408, 429, 5xx) are retried up
  to ``RouteEntry.max_attempts`` with exponential backoff and jitter; a ``Retry-After``
  is honoured (up to a cap) when the same deployment is tried again;
- an upstream 401/403 (the gateway's credentials) or 404 (unknown model) is not retried
  on the same deployment: the request moves on to its siblings and fallbacks; when
  nothing is left the caller gets a 502 ``UpstreamRejected``, never a 401/403 it would
  take for its own key, or for a 404 a ``ModelNotFound`` naming provider and model;
- retries (failovers and fallbacks included) spend the route's retry budget
  (``gateway.routing.retry_budget``); when it is spent the request fails with its last error;
- a ``ConfigurationError`` (an unset ``os.environ/NAME``, a provider that cannot be
  built) happens before any connection: no retry, no backoff, no cooldown, on to the
  next deployment; alone, a 500 naming the deployment;
- a route that used its attempts hands over to its ``fallbacks`` in order; a prompt too
  long for a route (``capabilities.check`` before the call, or the upstream's own error)
  goes at once to its ``context_window_fallbacks``, in order (then to theirs); when none
  holds it the caller gets a 400 naming the largest window tried;
- every other error (4xx, InvalidRequest, ...) propagates at once.

Cooldowns (a circuit breaker per deployment) count failed *requests*, not attempts: a
request's retries on one deployment are one failure. A deployment whose last
``SWITCHYARD_COOLDOWN_FAILURES`` requests failed (no success in between, within
``SWITCHYARD_COOLDOWN_WINDOW_SECONDS``) is skipped for ``SWITCHYARD_COOLDOWN_SECONDS``;
then exactly one request probes it (half-open): success closes the breaker, failure
cools it again. The last deployment a request could use (no other available one in its
chain of routes) is never cooled down, and when every deployment of a chain is cooling
the request is tried on them anyway: a cooldown steers traffic, it never refuses it.

A stream's verdict comes when it ends (``StreamOutcome``): one the upstream breaks
after its first event is a failed request. State is per process and in memory, and
where workers share counters the failures, cooldowns and probes go through the shared
store too (``gateway.routing.shared_cooldowns``: failures are pushed in the background, the
view is fetched again the moment the store announces a change, and a deployment that
failed since its last success is checked there before each attempt; a healthy
deployment costs no round trip). Entries of a
deployment whose definition changed are forgotten when the registry snapshot changes.
Nothing here queries the database or blocks: the work per request is O(deployments in
the chain).

Settings (read at each call, all optional): SWITCHYARD_RETRY_BASE_SECONDS (0.25),
SWITCHYARD_RETRY_MAX_BACKOFF_SECONDS (8), SWITCHYARD_RETRY_AFTER_CAP_SECONDS (30),
SWITCHYARD_RETRY_TOTAL_SECONDS (120), SWITCHYARD_COOLDOWN_FAILURES (3),
SWITCHYARD_COOLDOWN_WINDOW_SECONDS (60), SWITCHYARD_COOLDOWN_SECONDS (30),
SWITCHYARD_RETRY_BUDGET (0.2), SWITCHYARD_RETRY_BUDGET_MIN_PER_MINUTE (10).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from gateway.access import registry
from gateway.access.authorization import decide
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry, Snapshot
from gateway.errors import (
    ConfigurationError,
    GatewayError,
    ModelNotFound,
    NoHealthyDeployment,
    UpstreamError,
    UpstreamRejected,
)
from gateway.limits import deployment_caps
from gateway.routing import prefix_affinity, shared_cooldowns
from gateway.routing.context_windows import ContextWindowExceeded
from gateway.routing.shared_retry_budget import SharedRetryBudget

log = logging.getLogger(__name__)

T = TypeVar("T")

Call = Callable[[RouteEntry, DeploymentEntry], Awaitable[T]]

# Seams for tests: the clock, the sleep and the random source.
clock: Callable[[], float] = time.monotonic
sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
rng = random.Random()

LATENCY_SMOOTHING = 0.3  # weight of the newest sample in the moving average


@dataclass(slots=True)
class Attempt:
    """One try of one deployment, as the journal records it (in ``Record.attempts``)."""

    deployment_id: int | None
    deployment: str  # provider/model label
    route: str
    status: int
    duration_ms: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    base: float
    max_backoff: float
    retry_after_cap: float
    total: float
    cooldown_failures: int
    cooldown_window: float
    cooldown: float
    retry_budget: float = 0.2  # share of a route's requests it may retry (per minute)
    retry_budget_floor: int = 10  # retries a minute a route may always make

    @classmethod
    def from_settings(cls) -> Policy:
        def read(name: str, default: float) -> float:
            return float(getattr(settings, name, default))

        return cls(
            base=read("SWITCHYARD_RETRY_BASE_SECONDS", 0.25),
            max_backoff=read("SWITCHYARD_RETRY_MAX_BACKOFF_SECONDS", 8.0),
            retry_after_cap=read("SWITCHYARD_RETRY_AFTER_CAP_SECONDS", 30.0),
            total=read("SWITCHYARD_RETRY_TOTAL_SECONDS", 120.0),
            cooldown_failures=max(1, int(read("SWITCHYARD_COOLDOWN_FAILURES", 3))),
            cooldown_window=read("SWITCHYARD_COOLDOWN_WINDOW_SECONDS", 60.0),
            cooldown=read("SWITCHYARD_COOLDOWN_SECONDS", 30.0),
            retry_budget=max(0.0, read("SWITCHYARD_RETRY_BUDGET", 0.2)),
            retry_budget_floor=max(0, int(read("SWITCHYARD_RETRY_BUDGET_MIN_PER_MINUTE", 10))),
        )

    @classmethod
    def current(cls) -> Policy:
        """``from_settings``, read once per process (it ran on every request: 2% of a
        plain request's CPU); a test's or a reload's settings change clears it."""
        global _policy
        if _policy is None:
            _policy = cls.from_settings()
        return _policy

    def backoff(self, retry: int) -> float:
        """Full-jitter exponential backoff before retry number ``retry`` (1, 2, ...)."""
        ceiling: float = min(self.max_backoff, self.base * (2 ** (retry - 1)))
        return ceiling * (0.5 + rng.random() / 2)


_policy: Policy | None = None


@receiver(setting_changed)  # type: ignore[untyped-decorator]
def _forget_policy(setting: str, **kwargs: object) -> None:
    global _policy
    if setting.startswith(("SWITCHYARD_RETRY_", "SWITCHYARD_COOLDOWN_")):  # and RETRY_BUDGET
        _policy = None


# --- per-process deployment health ---------------------------------------------------------


class Health:
    """What this process knows about each deployment, by deployment id."""

    def __init__(self) -> None:
        self.in_flight: dict[int, int] = {}
        self.latency: dict[int, float] = {}
        # times of the consecutive failed requests since the last success
        self.failures: dict[int, deque[float]] = {}
        self.cool_until: dict[int, float] = {}
        # half-open deployments (cooldown over) whose one probe request is in flight
        self.probing: set[int] = set()
        # (minute number, requests, tokens) for the rpm/tpm caps
        self.minute: dict[int, list[int]] = {}
        # when a deployment the server-wide counts found at its cap is free again
        # (gateway.limits.deployment_caps; this process's own count may be lower)
        self.full_until: dict[int, float] = {}
        # deployments the shared cooldown store knows failures or a cooldown of
        # (gateway.routing.shared_cooldowns): their successes are pushed there
        self.shared: set[int] = set()

    def forget(self, deployment_id: int) -> None:
        for table in (self.latency, self.failures, self.cool_until, self.minute, self.full_until):
            table.pop(deployment_id, None)
        self.probing.discard(deployment_id)
        self.shared.discard(deployment_id)

    def cooling(self, deployment_id: int, now: float) -> bool:
        """Skipped by choice: in its cooldown, or past it while its probe is in flight."""
        until = self.cool_until.get(deployment_id)
        if until is None:
            return False
        return until > now or deployment_id in self.probing

    def claim_probe(self, deployment_id: int, now: float) -> bool:
        """Make the caller's request the one probe of a half-open deployment; False when
        the deployment is not half-open (closed, or its probe already in flight)."""
        until = self.cool_until.get(deployment_id)
        if until is None or until > now or deployment_id in self.probing:
            return False
        self.probing.add(deployment_id)
        return True

    def _minute(self, deployment_id: int, now: float) -> list[int]:
        minute = int(now // 60)
        entry = self.minute.get(deployment_id)
        if entry is None or entry[0] != minute:
            entry = self.minute[deployment_id] = [minute, 0, 0]
        return entry

    def over_cap(self, deployment: DeploymentEntry, now: float) -> bool:
        if not deployment.rpm and not deployment.tpm:
            return False
        if self.full_until.get(deployment.id, 0.0) > now:
            return True
        _, requests, tokens = self._minute(deployment.id, now)
        return bool(
            (deployment.rpm and requests >= deployment.rpm)
            or (deployment.tpm and tokens >= deployment.tpm)
        )

    def available(self, deployment: DeploymentEntry, now: float) -> bool:
        return not self.cooling(deployment.id, now) and not self.over_cap(deployment, now)

    def started(self, deployment: DeploymentEntry, now: float) -> None:
        self.in_flight[deployment.id] = self.in_flight.get(deployment.id, 0) + 1
        if deployment.rpm or deployment.tpm:
            self._minute(deployment.id, now)[1] += 1

    def ended(self, deployment_id: int) -> None:
        self.in_flight[deployment_id] = max(0, self.in_flight.get(deployment_id, 0) - 1)

    def request_failed(
        self,
        deployment_id: int,
        now: float,
        policy: Policy,
        *,
        probe: bool,
        alone: bool,
        label: str = "",
    ) -> None:
        """Count one failed request (not attempt). A failed probe cools the deployment
        again at once; otherwise enough consecutive failed requests within the window
        start a cooldown. A deployment that was the last one its request could use
        (``alone``) is never cooled: skipping it would only refuse the next request.
        Where workers share cooldowns the store counts and decides (this process's
        own count decides only while the store is unreachable)."""
        if probe:
            self.probing.discard(deployment_id)

        def alone_decides() -> None:
            self._count_failure(deployment_id, clock(), policy, probe, alone, label)

        if shared_cooldowns.report_failure(
            deployment_id, label, policy, probe=probe, alone=alone, fallback=alone_decides
        ):
            self.shared.add(deployment_id)
            return
        self._count_failure(deployment_id, now, policy, probe, alone, label)

    def _count_failure(
        self, deployment_id: int, now: float, policy: Policy, probe: bool, alone: bool, label: str
    ) -> None:
        seen = self.failures.setdefault(deployment_id, deque())
        seen.append(now)
        while seen and seen[0] <= now - policy.cooldown_window:
            seen.popleft()
        if alone or not (probe or len(seen) >= policy.cooldown_failures):
            return
        self.cool_until[deployment_id] = now + policy.cooldown
        log.warning(
            "deployment %s: %s; skipped for %.0fs, then one request probes it",
            label or deployment_id,
            "its probe request failed"
            if probe
            else f"{len(seen)} requests in a row failed within {policy.cooldown_window:.0f}s",
            policy.cooldown,
        )
        seen.clear()

    def succeeded(self, deployment_id: int, seconds: float | None = None) -> None:
        """A success closes the breaker: failures, cooldown and probe are forgotten
        (and, for a deployment the shared store knows failures of, there too)."""
        self.failures.pop(deployment_id, None)
        self.cool_until.pop(deployment_id, None)
        self.probing.discard(deployment_id)
        if deployment_id in self.shared:
            self.shared.discard(deployment_id)
            shared_cooldowns.report_success(deployment_id)
        if seconds is not None:
            self.observe_latency(deployment_id, seconds)

    def learned(self, states: dict[int, tuple[float | None, int]], complete: bool) -> None:
        """Take in the shared store's news (``gateway.routing.shared_cooldowns``): per
        deployment, the seconds its cooldown lasts (<= 0: half-open; None: not cooled)
        and its failures since its last success. ``complete``: the whole view, so a
        deployment it no longer lists was closed by a success elsewhere."""
        now = clock()
        if complete:
            for deployment_id in self.shared - states.keys():
                self.cool_until.pop(deployment_id, None)
                self.failures.pop(deployment_id, None)
            self.shared = set(states)
        for deployment_id, (cool_for, _failures) in states.items():
            self.shared.add(deployment_id)
            if cool_for is not None:
                self.cool_until[deployment_id] = now + cool_for

    def observe_latency(self, deployment_id: int, seconds: float) -> None:
        previous = self.latency.get(deployment_id)
        self.latency[deployment_id] = (
            seconds if previous is None else previous + LATENCY_SMOOTHING * (seconds - previous)
        )


health = Health()


def observe_latency(deployment_id: int, seconds: float) -> None:
    """Feed a latency sample (seconds) into ``lowest_latency``. ``run`` already measures
    each successful attempt (for streams: the time to the first event)."""
    health.observe_latency(deployment_id, seconds)


def hold(deployment_id: int) -> Callable[[], None]:
    """Count a stream as in flight on ``deployment_id`` until the returned release is
    called (``run`` only counts the wait for the first event): for ``least_busy``."""
    health.in_flight[deployment_id] = health.in_flight.get(deployment_id, 0) + 1
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            health.ended(deployment_id)

    return release


def observe_tokens(deployment: DeploymentEntry, tokens: int) -> None:
    """Count tokens a deployment served this minute, for its ``tpm`` cap (here and,
    when the counts are shared, for every process)."""
    health._minute(deployment.id, clock())[2] += max(0, int(tokens))
    if deployment.tpm:
        deployment_caps.used(deployment, tokens)


def reset() -> None:
    """Forget everything (tests)."""
    global health, retries, affinity
    health = Health()
    retries.stop()
    retries = SharedRetryBudget(_clock)
    affinity = prefix_affinity.AffinityTable()
    _budget_warned.clear()
    shared_cooldowns.stop_refreshing()


def _clock() -> float:
    return clock()  # the seam as it is when called (tests patch it)


# the retries each route made this minute, against its retry budget
# (gateway.routing.retry_budget; shared by every process: gateway.routing.shared_retry_budget)
retries = SharedRetryBudget(_clock)
# which deployment served each prompt prefix last, per route (gateway.routing.prefix_affinity)
affinity = prefix_affinity.AffinityTable()


def _learned(states: dict[int, tuple[float | None, int]], complete: bool) -> None:
    health.learned(states, complete)


shared_cooldowns.listen(_learned)


_known: dict[int, DeploymentEntry] = {}


def _on_snapshot(snapshot: Snapshot) -> None:
    """Forget the health of deployments that changed or disappeared."""
    seen: dict[int, DeploymentEntry] = {}
    for route in list(snapshot.routes.values()) + snapshot.patterns:
        for deployment in route.deployments:
            seen[deployment.id] = deployment
    changed = {i for i, before in _known.items() if seen.get(i) != before}
    for deployment_id in changed:
        health.forget(deployment_id)
    if changed:
        affinity.forget(changed)
    _known.clear()
    _known.update(seen)


registry.on_change(_on_snapshot)


# --- choosing a deployment ----------------------------------------------------------------


def _weighted(candidates: list[DeploymentEntry]) -> DeploymentEntry:
    if len(candidates) == 1:  # a lone deployment, the usual route: no draw
        return candidates[0]
    weights = [max(0.0, d.weight) for d in candidates]
    if sum(weights) <= 0:
        return rng.choice(candidates)
    return rng.choices(candidates, weights=weights)[0]


def _lowest(candidates: list[DeploymentEntry], score: Callable[[int], float]) -> DeploymentEntry:
    best = min(score(d.id) for d in candidates)
    return _weighted([d for d in candidates if score(d.id) == best])


def choose(
    route: RouteEntry,
    tried: set[int],
    now: float,
    excluded: Collection[int] = (),
    ignore_cooldown: bool = False,
    prefer: int | None = None,
) -> DeploymentEntry | None:
    """The deployment for the next attempt on ``route``: available ones only (cooling
    ones too with ``ignore_cooldown``), never an ``excluded`` one, those not tried yet
    in this request first; None when none is available. ``prefer`` (the deployment
    whose prompt cache holds the request's prefix) wins a weighted draw among equally
    weighted candidates when it is one of them."""
    available = [
        d
        for d in route.deployments
        if d.id not in excluded
        and not health.over_cap(d, now)
        and (ignore_cooldown or not health.cooling(d.id, now))
    ]
    if not available:
        return None
    fresh = [d for d in available if d.id not in tried] or available
    if route.strategy == "least_busy":
        return _lowest(fresh, lambda i: health.in_flight.get(i, 0))
    if route.strategy == "lowest_latency":
        # A deployment never measured scores 0, so it gets measured.
        return _lowest(fresh, lambda i: health.latency.get(i, 0.0))
    if prefer is not None and len(fresh) > 1:
        warm = next((d for d in fresh if d.id == prefer), None)
        if warm is not None and warm.weight > 0 and all(d.weight == warm.weight for d in fresh):
            return warm
    return _weighted(fresh)


def may_call(key: KeyEntry | None, route: RouteEntry) -> bool:
    """Whether a request of ``key`` may go on to ``route`` (a fallback, a context-window
    fallback): it answers and bills the key as the requested route does, so the same
    rule, ``route.call`` (the key's route list, the route's teams). None: no key to
    check (the caller decided already)."""
    return key is None or decide(key, "route.call", route).allowed


def _chain(snapshot: Snapshot, route: RouteEntry, key: KeyEntry | None = None) -> list[RouteEntry]:
    """``route`` then its fallbacks, in order, enabled, each once; a fallback the
    caller's key may not call is left out (not in its list, or limited to other teams):
    it would answer, and bill, the key past its rights."""
    chain: list[RouteEntry] = []
    names: set[str] = set()
    fallbacks = [snapshot.route(name) for name in route.fallbacks]
    for entry in [route] + [f for f in fallbacks if f and may_call(key, f)]:
        if entry is not None and entry.enabled and entry.name not in names:
            chain.append(entry)
            names.add(entry.name)
    return chain


def _unavailable(chain: list[RouteEntry], now: float) -> GatewayError:
    """The error when no deployment in ``chain`` can take a request right now."""
    deployments = [d for route in chain for d in route.deployments]
    if not deployments:
        names = ", ".join(repr(r.name) for r in chain) or "(none enabled)"
        return NoHealthyDeployment(
            f"model {chain[0].name if chain else ''!r} has no enabled deployment "
            f"(routes tried: {names}); add or enable one",
            code="no_deployments",
        )
    # Cooldowns alone never get here at the start of a request (``run`` tries cooling
    # deployments then); a request whose deployments all became busy meanwhile may.
    waits = []
    for d in deployments:  # when each could take a request again
        cap = 0.0
        if health.full_until.get(d.id, 0.0) > now:  # full on the server's shared count
            cap = health.full_until[d.id] - now
        elif health.over_cap(d, now):  # full on this process's count
            cap = 60.0 - now % 60
        waits.append(max(cap, health.cool_until.get(d.id, now) - now))
    return NoHealthyDeployment(
        f"every deployment of model {chain[0].name!r} and its fallbacks is at its "
        "requests- or tokens-per-minute cap (or cooling down); try again shortly",
        code="no_healthy_deployment",
        retry_after=max(1.0, min(waits)),
    )


# --- the loop -----------------------------------------------------------------------------


# Upstream statuses that say this deployment cannot serve anyone (the gateway's
# credentials, the model's name): not retried on it, the request moves on.
REJECTED = (401, 403, 404)


@dataclass(slots=True)
class _Request:
    """One request's routing state across the routes of its chain."""

    policy: Policy
    deadline: float
    attempts: list[Attempt]
    pool: list[DeploymentEntry]  # every deployment of the chain: "is it the last one?"
    budget_route: str = ""  # the route whose retry budget its retries spend
    budget_share: float = 0.2
    outcome: StreamOutcome | None = None  # a stream's verdict, given when it ends
    upstream_calls: int = 0  # attempts that reached an upstream, on every route
    ignore_cooldown: bool = False
    excluded: set[int] = field(default_factory=set)  # not to be tried again (config, 401...)
    counted: set[int] = field(default_factory=set)  # failure already counted for cooldown
    probes: set[int] = field(default_factory=set)  # half-open deployments it probes
    prefix: int | None = None  # its prompt prefix's key (gateway.routing.prefix_affinity)

    def failed(self, deployment: DeploymentEntry, now: float) -> None:
        """Count this request as one failure of ``deployment`` (once, however many
        attempts it made there)."""
        if deployment.id in self.counted:
            return
        self.counted.add(deployment.id)
        probe = deployment.id in self.probes
        self.probes.discard(deployment.id)
        health.request_failed(
            deployment.id,
            now,
            self.policy,
            probe=probe,
            alone=self.alone(deployment, now),
            label=deployment.label,
        )

    def alone(self, deployment: DeploymentEntry, now: float) -> bool:
        """No other deployment of the chain could take the request now."""
        return not any(
            d.id != deployment.id and d.id not in self.excluded and health.available(d, now)
            for d in self.pool
        )

    async def may_retry(self) -> bool:
        """Whether one more upstream attempt fits the route's retry budget (the
        request's first attempt always does; only a retry asks the shared budget)."""
        if not self.upstream_calls:
            return True
        return await retries.allows(
            self.budget_route, self.budget_share, self.policy.retry_budget_floor
        )

    def release_probe(self, deployment_id: int) -> None:
        """A probe that ended without a verdict (a configuration or client error, a
        cancel) frees its deployment for the next request's probe."""
        if deployment_id in self.probes:
            self.probes.discard(deployment_id)
            _release_probe(deployment_id)

    def release_probes(self) -> None:
        for deployment_id in list(self.probes):
            self.release_probe(deployment_id)


def _release_probe(deployment_id: int) -> None:
    health.probing.discard(deployment_id)
    if deployment_id in health.shared:
        shared_cooldowns.release_probe(deployment_id)


class StreamOutcome:
    """A stream's verdict for its deployment's health, given when the stream ends.

    ``run`` calls a stream's attempt a success at its first event, but an upstream
    that breaks every stream after its first bytes is as dead as one that refuses
    them: passed to ``run``, this holds the success back (the breaker stays as it was,
    a half-open probe stays in flight) until the caller says how the stream ended."""

    __slots__ = ("_request", "deployment", "probe", "settled")

    def __init__(self) -> None:
        self._request: _Request | None = None
        self.deployment: DeploymentEntry | None = None
        self.probe = False
        self.settled = False

    def opened(self, request: _Request, deployment: DeploymentEntry) -> None:
        self._request, self.deployment = request, deployment
        self.probe = deployment.id in request.probes
        request.probes.discard(deployment.id)  # the verdict comes later, from here

    def ended(self, error: BaseException | None) -> None:
        """The stream ended: without an error (a success), on an upstream failure a
        retry would have answered (a failure), or otherwise (the client left, the
        server drains, the gateway refused to render: no verdict). The request's
        routing state is let go then: it refers back to this outcome, and a reference
        cycle per stream is left for the garbage collector to find."""
        if error is None:
            self.succeeded()
        elif isinstance(error, UpstreamError) and error.retryable:
            self.failed()
        else:
            self.abandoned()
        self._request = None

    def succeeded(self) -> None:
        """The stream ended as the upstream meant it to."""
        if self.deployment is None or self.settled:
            return
        self.settled = True
        health.succeeded(self.deployment.id)

    def failed(self) -> None:
        """The upstream broke the stream (an error event, a cut connection, a timeout,
        frames that do not parse): one failed request of its deployment."""
        if self.deployment is None or self._request is None or self.settled:
            return
        self.settled = True
        request, deployment = self._request, self.deployment
        if self.probe:
            request.probes.add(deployment.id)
        request.failed(deployment, clock())

    def abandoned(self) -> None:
        """The stream ended without a verdict on the upstream (the client left, the
        server drains): a probe in flight lets the next request probe."""
        if self.deployment is None or self.settled:
            return
        self.settled = True
        if self.probe:
            _release_probe(self.deployment.id)


async def run(
    snapshot: Snapshot,
    route: RouteEntry,
    call: Call[T],
    attempts: list[Attempt],
    key: KeyEntry | None = None,
    outcome: StreamOutcome | None = None,
    prefix: int | None = None,
) -> T:
    """Call ``call(route, deployment)`` until one succeeds; record each try in
    ``attempts``. ``call`` must raise before yielding anything to the client, so a
    failure may be retried elsewhere. ``key`` (the caller's) limits which fallbacks and
    context-window fallbacks may be taken (``may_call``); admission checked ``route``.
    A stream passes an ``outcome``, settled when it ends. A ``prefix`` key
    (``prefix_affinity.prefix_key``) steers the request to the deployment that served
    the same prompt prefix last, while its cache is warm."""
    policy = Policy.current()
    chain = _chain(snapshot, route, key)
    now = clock()
    pool = [d for r in chain for d in r.deployments]
    first_view = shared_cooldowns.ensure_refreshing(policy.cooldown_window)
    if first_view is not None:  # a process's first requests: what do the others know?
        await shared_cooldowns.first_view(first_view)
        now = clock()
    share = route.retry_budget if route.retry_budget is not None else policy.retry_budget
    retries.requested(route.name, now)
    request = _Request(policy, now + policy.total, attempts, pool, route.name, share, outcome)
    request.prefix = prefix
    if not any(health.available(d, now) for d in pool):
        if not any(not health.over_cap(d, now) for d in pool):
            raise _unavailable(chain, now)
        request.ignore_cooldown = True  # all cooling: a cooldown never refuses a request
    last: GatewayError | None = None
    visited: set[str] = set()
    larger: list[str] = []  # context-window fallbacks still to try, in order
    overflows: list[UpstreamError] = []
    failed: list[tuple[str, GatewayError | None]] = []  # each route tried, and why it failed
    try:
        while chain:
            current = chain.pop(0)
            if current.name in visited:
                continue
            visited.add(current.name)
            try:
                return await _run_route(current, call, request)
            except _ContextWindow as overflow:
                last = overflow.error
                failed.append((current.name, overflow.error))
                overflows.append(overflow.error)
                larger.extend(current.context_window_fallbacks)
                target = _next_larger(snapshot, larger, visited, key)
                if target is None:
                    raise _too_long_everywhere(overflows) from None
                chain = _chain(snapshot, target, key)
                request.pool = [d for r in chain for d in r.deployments]
            except GatewayError as final:  # not to be retried: it ends the request here
                if not failed:
                    raise
                raise every_route_named(final, [*failed, (current.name, final)]) from None
            except _Exhausted as exhausted:
                failed.append((current.name, exhausted.error))
                last = exhausted.error or last
                if exhausted.out_of_time:
                    break
    finally:
        request.release_probes()
    if last is not None:
        raise every_route_named(last, failed)
    raise _unavailable(_chain(snapshot, route, key), clock())


REASON_CHARS = 160  # of each route's reason in the combined message


def every_route_named(
    last: GatewayError, failed: list[tuple[str, GatewayError | None]]
) -> GatewayError:
    """``last``, its message naming each route tried and why it failed, when a request
    went on to fallbacks: the caller read only the last route's words and took them
    for the one problem. Each reason is the caller-facing message of that route's last
    error (never the operator's detail), so it says nothing the caller would not have
    seen had that route been the last one; the status and type stay ``last``'s."""
    if len(failed) < 2:
        return last
    reasons = "; ".join(f"{name!r}: {_reason(error)}" for name, error in failed)
    named = copy.copy(last)
    named.message = f"{last.message} (routes tried: {reasons})"
    named.args = (named.message,)
    named.__cause__ = last
    return named


def _reason(error: GatewayError | None) -> str:
    if error is None:
        return "no deployment could take it (cooling down or at capacity)"
    words = (
        error.message if len(error.message) <= REASON_CHARS else error.message[:REASON_CHARS] + "…"
    )
    return f"{error.status} {words}"


def _next_larger(
    snapshot: Snapshot,
    names: list[str],
    visited: set[str],
    key: KeyEntry | None,
) -> RouteEntry | None:
    """The first route of ``names`` (consumed) that exists, is enabled, was not tried
    and the key may call."""
    while names:
        target = snapshot.route(names.pop(0))
        if (
            target is not None
            and target.enabled
            and target.name not in visited
            and may_call(key, target)
        ):
            return target
    return None


def _too_long_everywhere(overflows: list[UpstreamError]) -> UpstreamError:
    """The error for a prompt no route of the chain holds: the gateway's own check
    names the largest window it tried; an upstream's own words are passed on as is."""
    ours = [e for e in overflows if isinstance(e, ContextWindowExceeded)]
    if len(ours) < len(overflows) or not ours:
        return overflows[-1]
    return max(ours, key=lambda e: e.window)


class _ContextWindow(Exception):
    def __init__(self, error: UpstreamError) -> None:
        self.error = error


class _Exhausted(Exception):
    def __init__(self, error: GatewayError | None, out_of_time: bool = False) -> None:
        self.error = error
        self.out_of_time = out_of_time


def _misconfigured(
    route: RouteEntry, deployment: DeploymentEntry, exc: ConfigurationError
) -> ConfigurationError:
    """The error naming the deployment that cannot be called (never a secret)."""
    log.warning("deployment %s of route %r: %s", deployment.label, route.name, exc.message)
    return ConfigurationError(
        f"deployment {deployment.label!r} of model {route.name!r} is misconfigured: {exc.message}",
        code="deployment_misconfigured",
    )


def _rejected(route: RouteEntry, deployment: DeploymentEntry, exc: UpstreamError) -> GatewayError:
    """An upstream 401/403/404 as the caller should see it when nothing else is left:
    a 404 the caller's SDK reads as its own "model not found" (the upstream does not
    know the deployment's model), or a 502 naming the provider, never the caller's own
    401/403."""
    provider = deployment.provider.name
    if exc.status == 404:
        # its words help tell a wrong model id from a wrong base URL; a 404 body does
        # not echo credentials, unlike some 401 bodies (never passed on)
        error: GatewayError = ModelNotFound(
            f"upstream provider {provider!r} does not know model {deployment.model!r} (404); "
            f"check the deployment of model {route.name!r}.{_upstream_words(exc)}",
            code="model_not_found",
        )
        error.__cause__ = exc
        return error
    else:
        message = (
            f"upstream provider {provider!r} rejected the gateway's credentials "
            f"({exc.status}); check the provider's API key"
        )
        code = "upstream_authentication_failed"
    error = UpstreamRejected(message, code=code)
    error.__cause__ = exc
    return error


KEY_MARKERS = ("key", "sk-", "bearer", "authoriz", "token", "secret")


def _upstream_words(exc: UpstreamError) -> str:
    """What the upstream said, for the caller, unless it speaks of keys (a 404 body
    that echoes a key's first characters must not reach the caller)."""
    words = exc.message[:300]
    if any(marker in words.lower() for marker in KEY_MARKERS):
        return ""
    return f" The upstream said: {words}"


async def _run_route(route: RouteEntry, call: Call[T], request: _Request) -> T:
    policy, deadline, attempts = request.policy, request.deadline, request.attempts
    tried: set[int] = set()
    last: GatewayError | None = None
    previous: DeploymentEntry | None = None
    calls = 0  # upstream attempts made on this route (a configuration error makes none)
    back_off = False  # the last failure asks for a pause before the next attempt
    while calls < route.max_attempts:
        now = clock()
        prefer = None
        if request.prefix is not None and len(route.deployments) > 1:
            prefer = affinity.preferred(route.name, request.prefix, now)
        deployment = choose(route, tried, now, request.excluded, request.ignore_cooldown, prefer)
        if deployment is None:
            if isinstance(last, ContextWindowExceeded):  # no deployment here holds it
                raise _ContextWindow(last)
            raise _Exhausted(last)
        if not await request.may_retry():  # the route's retries are spent: fail fast
            _budget_spent(request)
            raise _Exhausted(last, out_of_time=True)
        if back_off:
            wait = policy.backoff(calls)
            if (
                isinstance(last, UpstreamError)
                and last.retry_after
                and previous is not None
                and deployment.id == previous.id
            ):
                if last.retry_after > policy.retry_after_cap:
                    raise _Exhausted(last)  # not ready soon: move on to the fallbacks
                wait = max(wait, last.retry_after)
            if clock() + wait >= deadline:
                raise _Exhausted(last, out_of_time=True)
            await sleep(wait)
        elif clock() >= deadline:
            raise _Exhausted(last, out_of_time=True)
        if (
            deployment.id in health.shared
            and deployment.id not in health.cool_until
            and not request.ignore_cooldown
            and await _cooled_meanwhile(route, deployment, request)
        ):
            back_off = False  # this request waited already: on to another deployment
            continue
        if deployment.rpm or deployment.tpm:
            full_for = await deployment_caps.claim(deployment)
            if full_for is not None:  # the other workers used its minute up: pick again
                health.full_until[deployment.id] = clock() + full_for
                # and not again in this request, whatever the clocks say: no loop of
                # refused claims
                request.excluded.add(deployment.id)
                continue
        if health.claim_probe(deployment.id, clock()):
            probe = "probe"
            if deployment.id in health.shared:
                probe = await _claim_shared_probe(route, deployment, request)
            if probe == "skip":  # another worker probes it: a sibling takes this request
                continue
            if probe == "probe":
                request.probes.add(deployment.id)
        tried.add(deployment.id)
        previous = deployment
        started = clock()
        request.upstream_calls += 1
        health.started(deployment, started)
        try:
            result = await call(route, deployment)
        except ConfigurationError as exc:  # before any connection: on to the next one
            request.upstream_calls -= 1  # none was made
            error = _misconfigured(route, deployment, exc)
            attempts.append(
                _attempt(route, deployment, error.status, started, clock(), error.message)
            )
            request.excluded.add(deployment.id)
            request.release_probe(deployment.id)  # no verdict on the upstream's health
            last, back_off = error, False
            continue
        except ContextWindowExceeded as exc:  # the gateway's own check, before any call
            request.upstream_calls -= 1  # none was made
            attempts.append(_attempt(route, deployment, exc.status, started, clock(), exc.message))
            request.excluded.add(deployment.id)  # a sibling with a larger window may hold it
            request.release_probe(deployment.id)
            last, back_off = exc, False
            continue
        except UpstreamError as exc:
            ended = clock()
            attempts.append(
                _attempt(route, deployment, exc.status, started, ended, exc.log_message)
            )
            calls += 1
            if exc.context_window_exceeded:
                raise _ContextWindow(exc) from None
            if exc.status in REJECTED:  # this deployment cannot serve anyone: move on
                request.excluded.add(deployment.id)
                request.failed(deployment, ended)
                last, back_off = _rejected(route, deployment, exc), False
                continue
            if not exc.retryable:
                raise
            request.failed(deployment, ended)
            last, back_off = exc, True
            continue
        finally:
            health.ended(deployment.id)
        ended = clock()
        attempts.append(_attempt(route, deployment, 200, started, ended))
        if request.prefix is not None and len(route.deployments) > 1:
            affinity.remember(route.name, request.prefix, deployment, ended)
        if request.outcome is not None:  # a stream: its end gives the verdict
            health.observe_latency(deployment.id, ended - started)
            request.outcome.opened(request, deployment)
        else:
            health.succeeded(deployment.id, ended - started)
            request.probes.discard(deployment.id)
        return result
    raise _Exhausted(last)


async def _cooled_meanwhile(
    route: RouteEntry, deployment: DeploymentEntry, request: _Request
) -> bool:
    """A deployment the shared store knows failures of, not cooled in this process's
    view: ask the store whether it cools now (a cooldown another worker started a
    moment ago, its news still on the way). True: it does, and the request has another
    deployment to take; a cooldown never refuses a request. One round trip, only for a
    deployment that failed since its last success."""
    state = await shared_cooldowns.current(deployment.id, request.policy.cooldown_window)
    if state is None or state[0] is None:
        return False
    now = clock()
    health.cool_until[deployment.id] = now + state[0]
    if state[0] <= 0:
        return False  # half-open: its probe is claimed next, as any half-open one's
    return choose(route, set(), now, request.excluded | {deployment.id}) is not None


async def _claim_shared_probe(
    route: RouteEntry, deployment: DeploymentEntry, request: _Request
) -> str:
    """This process may probe a half-open deployment; may the server (the store says
    whether another worker's probe is in flight)? If not, the deployment cools here
    until then, and the request takes another deployment, or this one (without
    probing) when it has none: a cooldown never refuses a request. Answers "probe",
    "skip" or "plain"."""
    wait = await shared_cooldowns.claim_probe(deployment.id, request.policy.cooldown)
    if wait is None:
        return "probe"
    health.probing.discard(deployment.id)
    now = clock()
    health.cool_until[deployment.id] = now + max(wait, 0.05)
    if choose(route, set(), now, request.excluded | {deployment.id}) is None:
        return "plain"  # its probe is elsewhere, but this request has nowhere else to go
    return "skip"


_budget_warned: dict[str, float] = {}


def _budget_spent(request: _Request) -> None:
    """Warn (once a minute per route) that a route's retry budget is spent."""
    now = clock()
    if _budget_warned.get(request.budget_route, -60.0) > now - 60:
        return
    _budget_warned[request.budget_route] = now
    log.warning(
        "route %r: its retry budget (%.0f%% of its requests a minute, plus %d) is spent; "
        "failing requests get their upstream's error without retrying",
        request.budget_route,
        request.budget_share * 100,
        request.policy.retry_budget_floor,
    )


def _attempt(
    route: RouteEntry,
    deployment: DeploymentEntry,
    status: int,
    started: float,
    ended: float,
    error: str = "",
) -> Attempt:
    return Attempt(
        deployment.id, deployment.label, route.name, status, (ended - started) * 1000, error[:300]
    )
