"""What routing asks the shared store before an attempt (``gateway.routing.routing``).

Only where workers share their counters (``shared_cooldowns``, ``shared_affinity``), and
only off the steady state: a prompt prefix this process does not know, a deployment
that failed since its last success, a half-open deployment's probe. Each is one round
trip; what the store answers is kept in this process's ``Health`` (its clock is
routing's) or ``AffinityTable`` (with routing's clock), passed in by routing, so the
seams tests patch stay routing's."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.routing import shared_affinity, shared_cooldowns
from gateway.routing.health import Health, Policy, choose
from gateway.routing.prefix_affinity import AffinityTable


class Asking(Protocol):
    """The part of a request's routing state these checks read."""

    policy: Policy
    excluded: set[int]


async def recalled(
    affinity: AffinityTable, route: RouteEntry, prefix: int, clock: Callable[[], float]
) -> int | None:
    """The deployment the shared store says holds ``prefix`` warm (one round trip, on a
    prefix this process does not know), kept in this process's table."""
    found = await shared_affinity.recall(route.name, prefix)
    if found is None:
        return None
    deployment_id, seconds = found
    if not any(d.id == deployment_id for d in route.deployments):
        return None
    affinity.learn(route.name, prefix, deployment_id, clock() + seconds)
    return deployment_id


async def cooled_meanwhile(
    health: Health,
    rng: random.Random,
    route: RouteEntry,
    deployment: DeploymentEntry,
    request: Asking,
) -> bool:
    """A deployment the shared store knows failures of, not cooled in this process's
    view: ask the store whether it cools now (a cooldown another worker started a
    moment ago, its news still on the way). True: it does, and the request has another
    deployment to take; a cooldown never refuses a request. One round trip, only for a
    deployment that failed since its last success."""
    state = await shared_cooldowns.current(deployment.id, request.policy.cooldown_window)
    if state is None or state[0] is None:
        return False
    now = health.clock()
    health.cool_until[deployment.id] = now + state[0]
    if state[0] <= 0:
        return False  # half-open: its probe is claimed next, as any half-open one's
    return choose(health, rng, route, set(), now, request.excluded | {deployment.id}) is not None


async def claim_shared_probe(
    health: Health,
    rng: random.Random,
    route: RouteEntry,
    deployment: DeploymentEntry,
    request: Asking,
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
    now = health.clock()
    health.cool_until[deployment.id] = now + max(wait, 0.05)
    if choose(health, rng, route, set(), now, request.excluded | {deployment.id}) is None:
        return "plain"  # its probe is elsewhere, but this request has nowhere else to go
    return "skip"
