"""What a routed request's tries become: the journal's record of each (``Attempt``) and
the errors its caller sees when they fail (no deployment available, a misconfigured
deployment, an upstream that rejects the gateway, a prompt too long everywhere, every
route of a chain named)."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.errors import (
    ConfigurationError,
    GatewayError,
    ModelNotFound,
    NoHealthyDeployment,
    UpstreamError,
    UpstreamRejected,
)
from gateway.routing.context_windows import ContextWindowExceeded
from gateway.routing.health import Health

log = logging.getLogger(__name__)

# Upstream statuses that say this deployment cannot serve anyone (the gateway's
# credentials, the model's name): not retried on it, the request moves on.
REJECTED = (401, 403, 404)


@dataclass(slots=True)
class Attempt:
    """One try of one deployment, as the journal records it (in ``Record.attempts``)."""

    deployment_id: int | None
    deployment: str  # provider/model label
    route: str
    status: int
    duration_ms: float
    error: str = ""
    waited_ms: float = 0.0  # the retry backoff slept before it (not gateway overhead)


def attempt(
    route: RouteEntry,
    deployment: DeploymentEntry,
    status: int,
    started: float,
    ended: float,
    error: str = "",
    waited: float = 0.0,
) -> Attempt:
    return Attempt(
        deployment.id,
        deployment.label,
        route.name,
        status,
        (ended - started) * 1000,
        error[:300],
        waited * 1000,
    )


def unavailable(chain: list[RouteEntry], now: float, health: Health) -> GatewayError:
    """The error when no deployment in ``chain`` can take a request right now (by what
    ``health`` knows)."""
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
    reasons = "; ".join(f"{name!r}: {reason(error)}" for name, error in failed)
    named = copy.copy(last)
    named.message = f"{last.message} (routes tried: {reasons})"
    named.args = (named.message,)
    named.__cause__ = last
    return named


def reason(error: GatewayError | None) -> str:
    if error is None:
        return "no deployment could take it (cooling down or at capacity)"
    words = (
        error.message if len(error.message) <= REASON_CHARS else error.message[:REASON_CHARS] + "…"
    )
    return f"{error.status} {words}"


def too_long_everywhere(overflows: list[UpstreamError]) -> UpstreamError:
    """The error for a prompt no route of the chain holds: the gateway's own check
    names the largest window it tried; an upstream's own words are passed on as is."""
    ours = [e for e in overflows if isinstance(e, ContextWindowExceeded)]
    if len(ours) < len(overflows) or not ours:
        return overflows[-1]
    return max(ours, key=lambda e: e.window)


class TooLong(Exception):
    """A route's prompt-too-long error, on its way to the context-window fallbacks."""

    def __init__(self, error: UpstreamError) -> None:
        self.error = error


class Exhausted(Exception):
    """A route used its attempts (``error``: its last; None when none could be made)."""

    def __init__(self, error: GatewayError | None, out_of_time: bool = False) -> None:
        self.error = error
        self.out_of_time = out_of_time


def misconfigured(
    route: RouteEntry, deployment: DeploymentEntry, exc: ConfigurationError
) -> ConfigurationError:
    """The error naming the deployment that cannot be called (never a secret)."""
    log.warning("deployment %s of route %r: %s", deployment.label, route.name, exc.message)
    return ConfigurationError(
        f"deployment {deployment.label!r} of model {route.name!r} is misconfigured: {exc.message}",
        code="deployment_misconfigured",
    )


def rejected(route: RouteEntry, deployment: DeploymentEntry, exc: UpstreamError) -> GatewayError:
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
            f"check the deployment of model {route.name!r}.{upstream_words(exc)}",
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


def upstream_words(exc: UpstreamError) -> str:
    """What the upstream said, for the caller, unless it speaks of keys (a 404 body
    that echoes a key's first characters must not reach the caller)."""
    words = exc.message[:300]
    if any(marker in words.lower() for marker in KEY_MARKERS):
        return ""
    return f" The upstream said: {words}"
