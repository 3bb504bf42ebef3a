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
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.access import registry
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry, Snapshot
from gateway.base.errors import (
    ConfigurationError,
    GatewayError,
    UpstreamError,
)
from gateway.limits import deployment_caps
from gateway.routing import prefix_affinity, shared_affinity, shared_cooldowns
from gateway.routing.attempts import (
    REJECTED,
    Attempt,
    Exhausted,
    TooLong,
    attempt,
    every_route_named,
    misconfigured,
    rejected,
    too_long_everywhere,
    unavailable,
)
from gateway.routing.context_windows import ContextWindowExceeded, next_larger, route_chain
from gateway.routing.health import Health, Policy, choose
from gateway.routing.shared_retry_budget import SharedRetryBudget
from gateway.routing.store_checks import claim_shared_probe, cooled_meanwhile, recalled

log = logging.getLogger(__name__)

T = TypeVar("T")

Call = Callable[[RouteEntry, DeploymentEntry], Awaitable[T]]

# Seams for tests: the clock, the sleep and the random source.
clock: Callable[[], float] = time.monotonic
sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
rng = random.Random()


health = Health(lambda: _clock())


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
    health = Health(_clock)
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


# --- the loop -----------------------------------------------------------------------------


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
    waited: float = 0.0  # backoff slept since the last attempt (the next one records it)

    def took_wait(self) -> float:
        """The backoff slept before the attempt being recorded (then none again)."""
        waited, self.waited = self.waited, 0.0
        return waited

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
    chain = route_chain(snapshot, route, key)
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
            raise unavailable(chain, now, health)
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
            except TooLong as overflow:
                last = overflow.error
                failed.append((current.name, overflow.error))
                overflows.append(overflow.error)
                larger.extend(current.context_window_fallbacks)
                target = next_larger(snapshot, larger, visited, key)
                if target is None:
                    raise too_long_everywhere(overflows) from None
                chain = route_chain(snapshot, target, key)
                request.pool = [d for r in chain for d in r.deployments]
            except GatewayError as final:  # not to be retried: it ends the request here
                if not failed:
                    raise
                raise every_route_named(final, [*failed, (current.name, final)]) from None
            except Exhausted as exhausted:
                failed.append((current.name, exhausted.error))
                last = exhausted.error or last
                if exhausted.out_of_time:
                    break
    finally:
        request.release_probes()
    if last is not None:
        raise every_route_named(last, failed)
    raise unavailable(route_chain(snapshot, route, key), clock(), health)


async def _run_route(route: RouteEntry, call: Call[T], request: _Request) -> T:
    attempts = request.attempts
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
            if prefer is None and not calls:  # another worker or instance may know it
                prefer = await recalled(affinity, route, request.prefix, _clock)
        deployment = choose(
            health, rng, route, tried, now, request.excluded, request.ignore_cooldown, prefer
        )
        if deployment is None:
            if isinstance(last, ContextWindowExceeded):  # no deployment here holds it
                raise TooLong(last)
            raise Exhausted(last)
        if not await request.may_retry():  # the route's retries are spent: fail fast
            _budget_spent(request)
            raise Exhausted(last, out_of_time=True)
        await _pause(request, deployment, previous, last, calls if back_off else 0)
        if (
            deployment.id in health.shared
            and deployment.id not in health.cool_until
            and not request.ignore_cooldown
            and await cooled_meanwhile(health, rng, route, deployment, request)
        ):
            back_off = False  # this request waited already: on to another deployment
            continue
        if not await _claimed(route, deployment, request):
            continue
        tried.add(deployment.id)
        previous = deployment
        started = clock()
        request.upstream_calls += 1
        health.started(deployment, started)
        try:
            result = await call(route, deployment)
        except (ConfigurationError, ContextWindowExceeded) as exc:  # before any call
            last, back_off = _made_no_call(route, deployment, request, exc, started), False
            continue
        except UpstreamError as exc:
            ended = clock()
            wait = request.took_wait()
            attempts.append(
                attempt(route, deployment, exc.status, started, ended, exc.log_message, wait)
            )
            calls += 1
            if exc.context_window_exceeded:
                raise TooLong(exc) from None
            if exc.status in REJECTED:  # this deployment cannot serve anyone: move on
                request.excluded.add(deployment.id)
                request.failed(deployment, ended)
                last, back_off = rejected(route, deployment, exc), False
                continue
            if not exc.retryable:
                raise
            request.failed(deployment, ended)
            last, back_off = exc, True
            continue
        finally:
            health.ended(deployment.id)
        _succeeded(route, deployment, request, started)
        return result
    raise Exhausted(last)


def _made_no_call(
    route: RouteEntry,
    deployment: DeploymentEntry,
    request: _Request,
    exc: ConfigurationError | ContextWindowExceeded,
    started: float,
) -> GatewayError:
    """An attempt that stopped before any connection (a configuration error, or the
    gateway's own context-window check): recorded, and ``deployment`` left out of this
    request (a sibling, maybe with a larger window, may serve it) with no verdict on
    its health. The error the request fails with if nothing else serves it."""
    request.upstream_calls -= 1  # none was made
    if isinstance(exc, ConfigurationError):
        error: GatewayError = misconfigured(route, deployment, exc)
    else:
        error = exc
    wait = request.took_wait()
    request.attempts.append(
        attempt(route, deployment, error.status, started, clock(), error.message, wait)
    )
    request.excluded.add(deployment.id)
    request.release_probe(deployment.id)  # no verdict on the upstream's health
    return error


async def _pause(
    request: _Request,
    deployment: DeploymentEntry,
    previous: DeploymentEntry | None,
    last: GatewayError | None,
    retry: int,
) -> None:
    """Wait before retry number ``retry`` (0: the last failure asks for no pause), as
    the policy's backoff or the upstream's ``Retry-After`` on the same deployment says;
    Exhausted when that is not soon or past the request's deadline."""
    policy, deadline = request.policy, request.deadline
    if retry:
        wait = policy.backoff(retry, rng.random())
        if (
            isinstance(last, UpstreamError)
            and last.retry_after
            and previous is not None
            and deployment.id == previous.id
        ):
            if last.retry_after > policy.retry_after_cap:
                raise Exhausted(last)  # not ready soon: move on to the fallbacks
            wait = max(wait, last.retry_after)
        if clock() + wait >= deadline:
            raise Exhausted(last, out_of_time=True)
        await sleep(wait)
        request.waited += wait
    elif clock() >= deadline:
        raise Exhausted(last, out_of_time=True)


async def _claimed(route: RouteEntry, deployment: DeploymentEntry, request: _Request) -> bool:
    """Claim ``deployment`` for the next attempt: a minute of its server-wide cap (False:
    full, and not again in this request) and, half-open, its probe (False: another
    worker probes it, a sibling takes this request)."""
    if deployment.rpm or deployment.tpm:
        full_for = await deployment_caps.claim(deployment)
        if full_for is not None:  # the other workers used its minute up: pick again
            health.full_until[deployment.id] = clock() + full_for
            # and not again in this request, whatever the clocks say: no loop of
            # refused claims
            request.excluded.add(deployment.id)
            return False
    if health.claim_probe(deployment.id, clock()):
        probe = "probe"
        if deployment.id in health.shared:
            probe = await claim_shared_probe(health, rng, route, deployment, request)
        if probe == "skip":
            return False
        if probe == "probe":
            request.probes.add(deployment.id)
    return True


def _succeeded(
    route: RouteEntry, deployment: DeploymentEntry, request: _Request, started: float
) -> None:
    """An attempt answered: recorded, its prefix remembered, its latency and success
    counted (a stream's verdict waits for its end)."""
    ended = clock()
    request.attempts.append(
        attempt(route, deployment, 200, started, ended, waited=request.took_wait())
    )
    if request.prefix is not None and len(route.deployments) > 1:
        warm = affinity.remember(route.name, request.prefix, deployment, ended)
        shared_affinity.share(route.name, request.prefix, deployment.id, warm)
    if request.outcome is not None:  # a stream: its end gives the verdict
        health.observe_latency(deployment.id, ended - started)
        request.outcome.opened(request, deployment)
    else:
        health.succeeded(deployment.id, ended - started)
        request.probes.discard(deployment.id)


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
