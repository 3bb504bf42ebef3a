"""What a native batch holds of its key's budget (and its team's) until its results
are priced.

A native batch runs upstream whole: none of its lines passes the gateway's admission,
so without a hold a key with $1 left could submit any number of batches. When such a
batch is created for a key with a budget (or a team with one), its most cost is
estimated as a request's budget hold is (``gateway.limits.budget_estimate``): each
line's prompt tokens estimated as for rate limits (the line parsed by its endpoint's
codec, characters / 4 plus overheads; bodies of other endpoints, bytes / 4) plus its
``max_tokens`` (else the deployment's output ceiling), at the deployment's prices,
times the batch price factor. The amount is counted against the budgets as spend
(``limits.take_spend``): a batch whose estimate does not fit in what is left is refused
with the 429 ``budget_exceeded`` of the gateway's other budget refusals, in the
caller's envelope. It is saved on the batch (``held_usd``). When the batch ends
(completed, cancelled, expired or failed) the runner gives the hold back
(``release``); the real cost was added when the results were recorded
(``native._collect``), so the spend ends as the real cost.

Durability: the row holds the amount, the counters (Redis, the serve process's counter
service, a process's memory) only cache it. Loading a key's spend adds its batches'
holds to the request log's sum (``spend._load_spend_sync``), so counters that restart
(a process, the counter service, a flushed Redis) hold them again, and a hold is zeroed
in its row by a conditional UPDATE before the counters give it back, so it is given
back once, by whichever runner ends the batch. No hold belongs to a process: a worker
that dies leaves the batch to another runner, which ends it and gives the hold back.
What this does not cover: a counter update lost while the counters are unreachable
(the spend then stays counted too high, or too low, until the counter is loaded again:
the next budget period, or for a ``total`` budget a Redis restart)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings

from gateway.access import registry
from gateway.base import db_work
from gateway.base.entries import DeploymentEntry, KeyEntry
from gateway.base.errors import RateLimited
from gateway.core import tokens
from gateway.features.batches import translate, upstreams
from gateway.limits import budget_estimate, limits, spend
from gateway.models.batches import Batch

log = logging.getLogger(__name__)


def budgeted(key: KeyEntry) -> bool:
    """Whether a budget counts the key's spend (its own, its team's or its owner's)."""
    team = key.team is not None and key.team.budget_usd is not None
    owner = key.owner is not None and key.owner.budget_usd is not None
    return not key.is_master and (key.budget_usd is not None or team or owner)


def _line_tokens(endpoint: str, body: dict[str, Any]) -> tuple[int, int | None]:
    """(estimated prompt tokens, the line's own output ceiling or None) of one line."""
    codec = translate.client_codec(endpoint)
    client = codec.client if codec is not None else None
    if client is not None:
        try:
            request = client.parse_request(body, {})
            return tokens.estimate_tokens(request), request.max_tokens
        except Exception:  # a body its codec cannot read: the rough count below
            log.debug("batch line not parsed for its estimate", exc_info=True)
    rough = max(1, len(orjson.dumps(body)) // 4)
    if endpoint == "/v1/embeddings":
        return rough, 0
    ceiling = body.get("max_tokens") or body.get("max_output_tokens")
    return rough, ceiling if isinstance(ceiling, int) and not isinstance(ceiling, bool) else None


def estimate(
    endpoint: str, lines: list[tuple[str, dict[str, Any]]], deployment: DeploymentEntry, api: str
) -> Decimal:
    """The most the batch's lines can cost at ``deployment``'s batch price."""
    if not (deployment.input_price or deployment.output_price):
        return Decimal(0)  # priced at nothing: nothing to hold
    unknown = Decimal(str(settings.SWITCHYARD_BUDGET_RESERVATION_USD))
    total = Decimal(0)
    for _custom_id, body in lines:
        prompt, ceiling = _line_tokens(endpoint, body)
        most = budget_estimate.most_cost(deployment, prompt, ceiling)
        total += unknown if most is None else most
    return (total * upstreams.price_factor(deployment.provider, api)).quantize(spend.MICRO)


async def take(key: KeyEntry, amount: Decimal) -> None:
    """Hold ``amount`` of the key's budgets, or raise the 429 saying it does not fit."""
    try:
        await limits.take_spend(key, amount)
    except RateLimited as exc:
        raise RateLimited(
            f"this batch may cost up to ${amount.quantize(Decimal('0.0001'))} at the batch "
            f"price (its lines' prompts and maximum output tokens), more than is left of "
            f"the budget: {exc}",
            code="budget_exceeded",
            retry_after=exc.retry_after,
        ) from None


async def create(
    prepare: Callable[[KeyEntry, dict[str, Any]], Any], key: KeyEntry, body: dict[str, Any]
) -> dict[str, Any]:
    """Create a batch: ``prepare`` checks it (in a thread) and sets what it holds, the
    hold is taken, then the batch is saved (the hold given back if saving fails)."""
    draft = await db_work.arun(prepare, key, body)
    amount = Decimal(draft.batch.held_usd or 0)
    await take(key, amount)
    try:
        saved: dict[str, Any] = await db_work.arun(draft.save)
    except BaseException:
        await give_back(key, amount)
        raise
    return saved


async def give_back(key: KeyEntry, amount: Decimal) -> None:
    try:
        await limits.give_back_spend(key, amount)
    except Exception as exc:  # the counters are away: loading them later is right
        log.warning("a batch's budget hold was not given back to the counters (%s)", exc)


def _clear(pk: str) -> tuple[int | None, Decimal] | None:
    """Zero an ended batch's hold; (its key id, the amount) when this call zeroed it."""
    row = (
        Batch.objects.filter(pk=pk, held_usd__gt=0)
        .exclude(status__in=Batch.UNFINISHED)
        .values_list("key_id", "held_usd")
        .first()
    )
    if row is None or not Batch.objects.filter(pk=pk, held_usd=row[1]).update(held_usd=0):
        return None
    return row[0], Decimal(row[1])


def _key(key_id: int | None) -> KeyEntry | None:
    for entry in registry.current().keys.values():
        if entry.id == key_id and entry.end_user is None:
            return entry
    return None


async def release(pk: str) -> None:
    """Give back what an ended batch holds (once; nothing while it is unfinished)."""
    cleared = await db_work.arun(_clear, pk)
    if cleared is None:
        return
    key = _key(cleared[0])
    if key is not None:  # a deleted key's counters are gone with it
        await give_back(key, cleared[1])
