"""What one process knows of each deployment and how it chooses among a route's: the
routing settings (``Policy``), ``Health`` (requests in flight, latency, consecutive
failures and cooldowns, half-open probes, this minute's requests and tokens against
the caps, what the shared cooldown store knows) and ``choose``, a route's strategy over
the deployments available now. ``gateway.routing.routing`` keeps the process's one
``Health`` and drives it."""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.routing import shared_cooldowns

log = logging.getLogger(__name__)

LATENCY_SMOOTHING = 0.3  # weight of the newest sample in the moving average


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

    def backoff(self, retry: int, draw: float) -> float:
        """Full-jitter exponential backoff before retry number ``retry`` (1, 2, ...);
        ``draw`` is a random number in [0, 1)."""
        ceiling: float = min(self.max_backoff, self.base * (2 ** (retry - 1)))
        return ceiling * (0.5 + draw / 2)


_policy: Policy | None = None


@receiver(setting_changed)  # type: ignore[untyped-decorator]
def _forget_policy(setting: str, **kwargs: object) -> None:
    global _policy
    if setting.startswith(("SWITCHYARD_RETRY_", "SWITCHYARD_COOLDOWN_")):  # and RETRY_BUDGET
        _policy = None


class Health:
    """What this process knows about each deployment, by deployment id."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # the routing's clock, read when called
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
            self._count_failure(deployment_id, self.clock(), policy, probe, alone, label)

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
        now = self.clock()
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


# --- choosing a deployment ----------------------------------------------------------------


def _weighted(candidates: list[DeploymentEntry], rng: random.Random) -> DeploymentEntry:
    if len(candidates) == 1:  # a lone deployment, the usual route: no draw
        return candidates[0]
    weights = [max(0.0, d.weight) for d in candidates]
    if sum(weights) <= 0:
        return rng.choice(candidates)
    return rng.choices(candidates, weights=weights)[0]


def _lowest(
    candidates: list[DeploymentEntry], score: Callable[[int], float], rng: random.Random
) -> DeploymentEntry:
    best = min(score(d.id) for d in candidates)
    return _weighted([d for d in candidates if score(d.id) == best], rng)


def choose(
    health: Health,
    rng: random.Random,
    route: RouteEntry,
    tried: set[int],
    now: float,
    excluded: Collection[int] = (),
    ignore_cooldown: bool = False,
    prefer: int | None = None,
) -> DeploymentEntry | None:
    """The deployment for the next attempt on ``route``, by what ``health`` knows: available ones only (cooling
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
        return _lowest(fresh, lambda i: health.in_flight.get(i, 0), rng)
    if route.strategy == "lowest_latency":
        # A deployment never measured scores 0, so it gets measured.
        return _lowest(fresh, lambda i: health.latency.get(i, 0.0), rng)
    if prefer is not None and len(fresh) > 1:
        warm = next((d for d in fresh if d.id == prefer), None)
        if warm is not None and warm.weight > 0 and all(d.weight == warm.weight for d in fresh):
            return warm
    return _weighted(fresh, rng)
