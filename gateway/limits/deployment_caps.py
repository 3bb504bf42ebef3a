"""Deployments' ``rpm`` / ``tpm`` caps counted for the whole server, not per worker.

Routing keeps each process's own count of a deployment's requests and tokens this
minute (``gateway.routing.health.Health``); alone that lets ``serve --workers 2`` send a deployment
capped at 10 requests a minute up to 20. Where the key limits' counters are shared
(``gateway.limits.limits``: the supervisor's counter service for the workers of one server, or
Redis for several instances), a deployment with a cap is also claimed there before
each attempt, one local round trip, and the tokens it served are added after. A
deployment without a cap costs nothing here.

Minutes are epoch minutes of the wall clock, the same in every process. When the shared
counters cannot be reached the process's own count decides, as in one process
(``gateway.limits.limits`` warns once per outage)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.base.background import in_background
from gateway.base.entries import DeploymentEntry
from gateway.limits import limits

wall: Callable[[], float] = time.time  # seam for tests: epoch seconds


def capped(deployment: DeploymentEntry) -> bool:
    return bool(deployment.rpm or deployment.tpm)


async def claim(deployment: DeploymentEntry) -> float | None:
    """Count one request against ``deployment``'s caps for this minute, for every
    process: None when it may go (or nobody shares the counts), else the seconds until
    the minute ends, when the deployment is full."""
    backend = limits.shared_backend()
    if backend is None:
        return None
    at = wall()
    try:
        taken = await backend.claim_deployment(
            deployment.id, deployment.rpm or 0, deployment.tpm or 0, int(at // 60)
        )
    except Exception as exc:  # counted in this process only, as routing does anyway
        limits.note_failure(backend, exc)
        return None
    limits.note_success(backend)
    return None if taken else 60.0 - at % 60


def used(deployment: DeploymentEntry, tokens: int) -> None:
    """Add ``tokens`` to what ``deployment`` served this minute, for every process (its
    ``tpm`` cap); sent in the background, off the request's path."""
    if not deployment.tpm or tokens <= 0:
        return
    backend = limits.reachable_shared_backend()
    if backend is None:  # (a management command has no loop: nothing shares the counts)
        return
    minute = int(wall() // 60)
    in_background(_send_used(backend, deployment.id, minute, int(tokens)))


async def _send_used(backend, deployment_id: int, minute: int, tokens: int) -> None:  # type: ignore[no-untyped-def]
    try:
        await backend.deployment_used(deployment_id, minute, tokens)
    except Exception as exc:
        limits.note_failure(backend, exc)
