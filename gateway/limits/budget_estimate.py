"""What a request may cost, held against its key's budget while it runs (``gateway.limits.limits``).

The most the request can cost on any deployment it may reach (its route's, and those of
the fallbacks and context-window fallbacks its key may call): the prompt's estimated
tokens at the deployment's input price plus its output ceiling at its output price (or
reasoning price, when higher). The output ceiling is the request's max tokens, capped by
the deployment's max output; else the deployment's max output (its own, else the
catalog's); else its context window (no answer is longer).

When none of those is known for a priced deployment, the worst case is unbounded: a
request that generates text (``text_output``: chat, completions, Responses...) is then
refused with a 400 asking for ``max_tokens``, never held at a guess; a flat amount let a
burst of such requests spend many times a small budget (eight at once spent $5.60 of
$0.50). Endpoints whose cost is not output tokens (images, speech, realtime sessions,
which charge as they run) and deployments without prices hold
``SWITCHYARD_BUDGET_RESERVATION_USD``, as before.

A request that named no ceiling and was held at the deployment's max output is sent with
it (``assumed_ceiling``): an upstream left to its own default could answer longer than
what was held. Keys without a budget skip all of this (one attribute test), unless their
team or owner has one or the request carries a tag with a budget (``TagBudget``): then it
holds as for a key's. (A key whose only budget was its owner's held nothing, so a burst
spent past the user's budget: bench/budget_torture.py found it.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry, TagEntry
from gateway.base.errors import InvalidRequest
from gateway.base.hot_settings import hot

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


def budgeted(key: KeyEntry, tags: tuple[TagEntry, ...] = ()) -> bool:
    """Whether a request of ``key`` carrying ``tags`` (those with limits) holds part of a
    budget (its own, its team's, its owner's, its end users' or one of its tags')."""
    team_budget = key.team is not None and key.team.budget_usd is not None
    owner_budget = key.owner is not None and key.owner.budget_usd is not None
    return not key.is_master and (
        key.budget_usd is not None
        or key.max_budget_per_user is not None
        or team_budget
        or owner_budget
        or any(t.budget_usd is not None for t in tags)
        or (key.run is not None and key.run.budget_usd is not None)  # an agent run's
        or (key.run is not None and key.run.session_budget_usd is not None)  # its session's
    )


def session_hold(key: KeyEntry, tags: tuple[TagEntry, ...] = ()) -> Decimal | None:
    """What a realtime session holds while it lasts: ``SWITCHYARD_BUDGET_RESERVATION_USD``
    (None: the key has no budget). A session has no output ceiling of its own; each of
    its responses is counted when done and the session is cut once the budget is spent
    (gateway/core/realtime.py), so its admission only asks that some budget is left."""
    if not budgeted(key, tags):
        return None
    return _reservation()


def hold_for(
    key: KeyEntry,
    route: RouteEntry,
    prompt_tokens: int,
    max_output: int | None,
    *,
    text_output: bool = False,
    reachable: Callable[[], Iterable[RouteEntry]] | None = None,
    tags: tuple[TagEntry, ...] = (),
) -> Decimal | None:
    """USD the request holds of ``key``'s budget (and of its end user's, its team's and
    its ``tags``'); None when none of them has a budget.
    ``max_output``: the request's own ceiling (None: not given; 0: it makes no output).
    ``text_output``: the request generates text tokens (an unknown ceiling is refused).
    ``reachable``: the other routes it may be answered by (called for budgeted keys
    only, and only when ``route`` names fallbacks: without, it reaches no other route).
    """
    if not budgeted(key, tags):
        return None
    routes = (
        [route, *reachable()]
        if reachable is not None and (route.fallbacks or route.context_window_fallbacks)
        else [route]
    )
    most: Decimal | None = None
    for entry in routes:
        for deployment in entry.deployments:
            cost = _worst(deployment, prompt_tokens, max_output)
            if cost is None:
                if text_output and _priced(deployment):
                    raise _unbounded(entry, deployment)
                cost = _reservation()
            most = cost if most is None else max(most, cost)
    return _reservation() if most is None else most


def _reservation() -> Decimal:
    """What a request holds whose cost is unknown (``SWITCHYARD_BUDGET_RESERVATION_USD``):
    read only then, not on every budgeted request."""
    return Decimal(str(hot.SWITCHYARD_BUDGET_RESERVATION_USD))


def _priced(deployment: DeploymentEntry) -> bool:
    return bool(deployment.input_price or deployment.output_price)


def _worst(
    deployment: DeploymentEntry, prompt_tokens: int, max_output: int | None
) -> Decimal | None:
    """``_most``, with the context window as a ceiling too (no answer is longer)."""
    window = deployment.context_window
    if max_output and window:
        max_output = min(max_output, window)
    cost = _most(deployment, prompt_tokens, max_output)
    if cost is None and _priced(deployment) and window:
        cost = _most(deployment, prompt_tokens, window)
    return cost


def assumed_ceiling(deployment: DeploymentEntry) -> int | None:
    """The output ceiling a hold assumes for a request to ``deployment`` that names none:
    its declared max output (its own, else the catalog's or its kind's). The request is
    then sent with it (``gateway.core.jobs.Job.held_ceiling``), so no answer is longer
    than what was held. None: none declared (the hold assumed the context window, which
    no answer exceeds, or refused the request)."""
    return deployment.max_output_tokens or None


def _unbounded(route: RouteEntry, deployment: DeploymentEntry) -> InvalidRequest:
    return InvalidRequest(
        f"model {route.name!r} has no known output limit (its upstream {deployment.model} "
        "sets no max output tokens or context window), so a request of an API key with a "
        "budget must set max_tokens (max_output_tokens, maxOutputTokens)",
        param="max_tokens",
        code="max_tokens_required",
    )


def _most(
    deployment: DeploymentEntry, prompt_tokens: int, max_output: int | None
) -> Decimal | None:
    """``most_cost``; on each budgeted request, so written out: no ``max``, ``min`` or
    helper calls (what ``_priced`` and ``assumed_ceiling`` say, read inline)."""
    input_price, output_price = deployment.input_price, deployment.output_price
    if not (input_price or output_price):
        return None  # no prices known
    if max_output == 0:
        output = 0
    else:
        ceiling = deployment.max_output_tokens  # ``assumed_ceiling``
        if not max_output:
            if not ceiling:
                return None  # no output ceiling known
            output = ceiling
        elif ceiling and ceiling < max_output:
            output = ceiling
        else:
            output = max_output
    reasoning = deployment.reasoning_price or ZERO
    if reasoning > output_price:
        output_price = reasoning
    prompt = Decimal(prompt_tokens if prompt_tokens > 0 else 0)
    return (prompt * input_price + output * output_price) / MILLION


def most_cost(
    deployment: DeploymentEntry, prompt_tokens: int, max_output: int | None
) -> Decimal | None:
    """The most one request to ``deployment`` can cost (None: no prices, or no output
    ceiling known), for holds taken outside a request (a native batch's lines)."""
    return _most(deployment, prompt_tokens, max_output)
