"""What a request may cost, held against its key's budget while it runs (``gateway.policy.limits``).

The most the request can cost on any deployment of its route: the prompt's estimated
tokens at the deployment's input price plus its output ceiling (the request's max tokens,
capped by the deployment's max output; else the deployment's or catalog's max output)
at its output price (or reasoning price, when higher). Where that cannot be known, a
deployment without prices or a request without any output ceiling, the request holds
``SWITCHYARD_BUDGET_RESERVATION_USD`` instead. Fallback routes are not looked at: a
request that falls back settles at its real cost all the same.

Keys without a budget skip all of this (one attribute test)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from gateway.policy.registry import DeploymentEntry, KeyEntry, RouteEntry

MILLION = Decimal(1_000_000)


def hold_for(
    key: KeyEntry, route: RouteEntry, prompt_tokens: int, max_output: int | None
) -> Decimal | None:
    """USD the request holds of ``key``'s budget (and of its end user's); None when the
    key has neither budget.
    ``max_output``: the request's own ceiling (None: not given; 0: it makes no output)."""
    team_budget = key.team is not None and key.team.budget_usd is not None
    budgeted = key.budget_usd is not None or key.max_budget_per_user is not None or team_budget
    if not budgeted or key.is_master:
        return None
    unknown = Decimal(str(settings.SWITCHYARD_BUDGET_RESERVATION_USD))
    most: Decimal | None = None
    for deployment in route.deployments:
        cost = _most(deployment, prompt_tokens, max_output)
        cost = unknown if cost is None else cost
        most = cost if most is None else max(most, cost)
    return unknown if most is None else most


def _most(
    deployment: DeploymentEntry, prompt_tokens: int, max_output: int | None
) -> Decimal | None:
    if not (deployment.input_price or deployment.output_price):
        return None  # no prices known
    if max_output == 0:
        output = 0
    else:
        ceilings = [n for n in (max_output, deployment.max_output_tokens) if n]
        if not ceilings:
            return None  # no output ceiling known
        output = min(ceilings)
    output_price = max(deployment.output_price, deployment.reasoning_price or Decimal(0))
    return (Decimal(max(0, prompt_tokens)) * deployment.input_price + output * output_price) / (
        MILLION
    )


def most_cost(
    deployment: DeploymentEntry, prompt_tokens: int, max_output: int | None
) -> Decimal | None:
    """The most one request to ``deployment`` can cost (None: no prices, or no output
    ceiling known), for holds taken outside a request (a native batch's lines)."""
    return _most(deployment, prompt_tokens, max_output)
