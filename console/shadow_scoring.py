"""Scoring shadow traffic: any of the evaluations' scorers (``console.evals.scorers``)
run over a route's mirrored pairs, the primary's answer standing as the reference (and
as the baseline of a pairwise judge), so a team can judge a cheaper model on its own
traffic before switching.

A scoring run is a background job (``ShadowScoring``), never work done in a console
request: ``create`` fixes the newest ``MAX_PAIRS`` pairs and returns; the evaluations'
runner (``console.evals.runner``: one per serving process, a lease per job, renewed
while it runs) takes it and calls ``run_claimed``, which scores the pairs
``CONCURRENCY`` at a time and saves each chunk's scores as it goes. A process that dies
loses its lease; the next one (or the restarted one) scores only the pairs without a
saved score. A judge that fails or answers garbage leaves its pair unscored.

Judge and similarity calls go through the same service as any request, as the admin who
asked for the run (``created_by``): their console key for their default team
(``gateway.access.console_keys``), so their limits, their team's budget and the route
team check apply and the journal names that key; each call carries the session
``shadow-scoring:<id>``. A run whose asker is unknown (no user of that name) or may no
longer compare traffic fails with a message saying so, and calls nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from functools import partial
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from console.evals import runner, scorers, summary
from console.evals.models import ShadowScoring
from gateway.base.entries import MASTER
from gateway.base.types import Text
from gateway.codecs import CODECS
from gateway.models import Route

from . import shadow_pairs

log = logging.getLogger(__name__)

MAX_PAIRS = 50
CONCURRENCY = 8
HISTORY = 10  # earlier runs the comparison page lists
USER_AGENT = "switchyard-shadow-scoring"
ABILITY = "traffic.compare"  # what asking for a scoring run needs (roles.PAGES)


def question_of(dialect: str, raw: str | bytes | None) -> str:
    """The last user message of a logged request, as text ("" when unreadable)."""
    if not raw:
        return ""
    codec = CODECS.get(dialect)
    client = codec.client if codec is not None else None
    if client is None:
        return ""
    try:
        request = client.parse_request(orjson.loads(raw), {})
    except Exception:
        return ""
    for message in reversed(request.messages):
        if message.role == "user":
            return "".join(p.text for p in message.parts if isinstance(p, Text))
    return ""


async def score_one(
    scorer: dict[str, Any], pair: shadow_pairs.Pair, question: str, who: runner.Caller
) -> float | None:
    """The shadow's answer scored against the primary's (None: unscored), any judge or
    similarity call made as ``who``."""
    output, reference = pair.mirror_text, pair.primary_text
    if output is None or reference is None:
        return None
    kind, chat = scorer["kind"], partial(runner.chat_text, who)
    if kind == "similarity":
        return await scorers.similarity(scorer, output, reference, partial(runner.embed, who))
    if kind == "judge":
        if scorer.get("mode") == "pairwise":
            return await scorers.judge_pairwise(scorer, question, output, reference, "", chat)
        return await scorers.judge_pointwise(scorer, question, output, reference, chat)
    try:
        return scorers.score_sync(scorer, output, reference)
    except Exception:
        return None


async def score_pairs(
    scorer: dict[str, Any], pairs: list[shadow_pairs.Pair], questions: list[str], who: runner.Caller
) -> list[float | None]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(pair: shadow_pairs.Pair, question: str) -> float | None:
        async with gate:
            try:
                return await score_one(scorer, pair, question, who)
            except Exception:  # a scorer's failure leaves this pair unscored, nothing more
                log.warning(
                    "shadow scoring: pair %s unscored", pair.mirror.request_id, exc_info=True
                )
                return None

    return list(await asyncio.gather(*(one(p, q) for p, q in zip(pairs, questions, strict=True))))


def verdict(scorer: dict[str, Any], scores: list[float | None]) -> dict[str, Any]:
    """What the scores say: their mean and count, and for a pairwise judge the shadow's
    win rate against the primary with its 95% (Wilson) interval."""
    scored = [s for s in scores if s is not None]
    out: dict[str, Any] = {
        "scored": len(scored),
        "unscored": len(scores) - len(scored),
        "mean": sum(scored) / len(scored) if scored else None,
    }
    if scorer["kind"] == "judge" and scorer.get("mode") == "pairwise":
        out["win_rate"] = summary.win_rate([(s, 0.5) for s in scored])
    return out


# --- the background job ----------------------------------------------------------------


def create(route: Route, scorer: dict[str, Any], created_by: str = "") -> ShadowScoring:
    """A scoring run of ``scorer`` over the route's newest pairs, queued for the runner
    (woken once the row is committed)."""
    pairs = shadow_pairs.pairs_of(route, MAX_PAIRS)
    job: ShadowScoring = ShadowScoring.objects.create(
        route=route,
        scorer=scorer,
        mirrors=[p.mirror.request_id for p in pairs],
        created_by=created_by,
    )
    transaction.on_commit(runner.wake)
    return job


def latest(route: Route) -> list[ShadowScoring]:
    return list(ShadowScoring.objects.filter(route=route)[:HISTORY])


def caller_of(job: ShadowScoring) -> runner.Caller:
    """Who ``job``'s calls go out as (sync): the admin who asked for it, as they are now;
    ConsoleIdentityRefused when unknown or no longer allowed."""
    master = dataclasses.replace(MASTER, name="shadow-scoring", prefix="shadow-scoring")
    key = runner.starter_key(job.created_by, ABILITY, master)
    return runner.Caller(key, f"shadow-scoring:{job.pk}", USER_AGENT)


def _start(pk: int) -> tuple[ShadowScoring, list[shadow_pairs.Pair], runner.Caller]:
    job = ShadowScoring.objects.select_related("route").get(pk=pk)
    who = caller_of(job)
    pairs = shadow_pairs.pairs_by_id(job.route, list(job.mirrors))
    found = {p.mirror.request_id for p in pairs}
    gone = {i: None for i in job.mirrors if i not in found and i not in job.scores}
    if gone:  # mirrored requests deleted from the log since: unscored
        job.scores = {**job.scores, **gone}
    job.status = ShadowScoring.Status.RUNNING
    ShadowScoring.objects.filter(pk=pk, runner=runner.RUNNER_ID).update(
        status=job.status, scores=job.scores
    )
    return job, pairs, who


def _save(pk: int, scores: dict[str, float | None]) -> bool:
    """Save the scores so far; False when the job is no longer ours."""
    return bool(ShadowScoring.objects.filter(pk=pk, runner=runner.RUNNER_ID).update(scores=scores))


def _finish(pk: int, status: str, error: str = "") -> None:
    job = ShadowScoring.objects.get(pk=pk)
    values = [job.scores.get(i) for i in job.mirrors]
    ShadowScoring.objects.filter(pk=pk, status__in=ShadowScoring.UNFINISHED).update(
        status=status,
        error=error,
        verdict=verdict(job.scorer, values),
        finished_at=timezone.now(),
    )


async def run_claimed(pk: int) -> None:
    """Score a claimed job's pairs that have no saved score yet, then its verdict."""

    async def score(stop: asyncio.Event) -> bool:
        job, pairs, who = await database_sync_to_async(_start)(pk)
        scores: dict[str, float | None] = dict(job.scores)
        pending = [p for p in pairs if p.mirror.request_id not in scores]
        for start in range(0, len(pending), CONCURRENCY):
            chunk = pending[start : start + CONCURRENCY]
            questions = [question_of(p.primary.dialect, p.primary_request) for p in chunk]
            values = await score_pairs(job.scorer, chunk, questions, who)
            if stop.is_set():
                return False
            scores.update({p.mirror.request_id: v for p, v in zip(chunk, values, strict=True)})
            if not await database_sync_to_async(_save)(pk, scores):
                return False  # another process has it now
        return True

    await runner.run_scoring(pk, ShadowScoring, "shadow scoring", score, _finish)


runner.register(ShadowScoring, run_claimed)
