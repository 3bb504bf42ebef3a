"""Judging a slice of the request log: the evaluations' pointwise LLM judge
(``console.evals.scorers``: its rubric, its prompt, its 1-10 grade read back as a value
in [0, 1]) run over the requests a log filter finds (route, time window, status), each
grade saved as a ``gateway.models.Score`` (source ``judge``), so scores on production
traffic are filtered and charted like users' thumbs.

A run is a background job (``SliceScoring``), never work done in a console request:
``create`` fixes the newest ``MAX_LOGS`` requests the filter finds and returns; the
evaluations' runner (``console.evals.runner``: a lease per job, renewed while it runs)
takes it and calls ``run_claimed``, which grades ``CONCURRENCY`` requests at a time and
saves each chunk as it goes; a restarted process grades only what has no saved grade.
A request whose question or answer cannot be read from its logged bodies (bodies not
logged, an error answer) and a judge that answers garbage leave it unscored.

Judge calls go through the gateway's pipeline as the user who asked for the run (their
console key: limits, budget, route teams apply, each call journaled and charged, tagged
with the session ``slice-scoring:<id>``), as shadow scoring's do."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from console import shadow_scoring
from console.evals import runner, scorers
from console.evals.models import SliceScoring
from gateway.base.entries import MASTER
from gateway.models import RequestBody, RequestLog
from gateway.telemetry import logquery, scores
from gateway.web import answers

log = logging.getLogger(__name__)

MAX_LOGS = 200
CONCURRENCY = 8
ABILITY = "evals.use"  # what asking for a run needs (roles.PAGES: console:scores POST)
FILTERS = ("route", "since", "until", "status", "key", "score")


class SliceError(ValueError):
    """Why a run cannot be asked for, said to the user."""


def create(
    filters: dict[str, Any], scorer: dict[str, Any], score_name: str, created_by: str = ""
) -> SliceScoring:
    """A run of the judge ``scorer`` over the requests ``filters`` find (successful
    chat requests only: an error has no answer to grade), queued for the runner."""
    params = {k: v for k, v in filters.items() if k in FILTERS and v not in (None, "")}
    try:
        scores.judged(score_name, 1.0)  # the name, and a config naming it takes a grade
        ids = logquery.matching_ids(
            params, MAX_LOGS, lambda rows: rows.filter(endpoint="chat", status__lt=400)
        )
    except (logquery.InvalidFilter, scores.ScoreError) as exc:
        raise SliceError(str(exc)) from None
    if not ids:
        raise SliceError("no successful chat request matches this filter")
    job: SliceScoring = SliceScoring.objects.create(
        filters=params, scorer=scorer, score_name=score_name, logs=ids, created_by=created_by
    )
    transaction.on_commit(runner.wake)
    return job


def _question_and_answer(row: RequestLog, body: RequestBody | None) -> tuple[str, str | None]:
    if body is None:
        return "", None
    question = shadow_scoring.question_of(row.dialect, body.inbound_request)
    return question, answers.answer_text(row.dialect, body.outbound_response)


async def grade(scorer: dict[str, Any], question: str, answer: str | None,
                who: runner.Caller) -> float | None:  # fmt: skip
    """The judge's grade of one answer (None: unscored)."""
    if not question or not answer:
        return None
    chat = partial(runner.chat_text, who)
    return await scorers.judge_pointwise(scorer, question, answer, "", chat)


def _start(pk: int) -> tuple[SliceScoring, runner.Caller]:
    job = SliceScoring.objects.get(pk=pk)
    master = dataclasses.replace(MASTER, name="slice-scoring", prefix="slice-scoring")
    key = runner.starter_key(job.created_by, ABILITY, master)
    job.status = SliceScoring.Status.RUNNING
    SliceScoring.objects.filter(pk=pk, runner=runner.RUNNER_ID).update(status=job.status)
    return job, runner.Caller(key, f"slice-scoring:{pk}", shadow_scoring.USER_AGENT)


def _load(ids: list[int]) -> list[tuple[RequestLog, RequestBody | None]]:
    rows = {r.pk: r for r in RequestLog.objects.filter(pk__in=ids)}
    bodies = {b.log_id: b for b in RequestBody.objects.filter(log_id__in=ids)}
    return [(rows[i], bodies.get(i)) for i in ids if i in rows]


def _save(pk: int, job: SliceScoring, graded: dict[int, float | None]) -> bool:
    """Write the chunk's scores and the progress; False when the job is no longer ours."""
    author = f"judge:{job.scorer.get('route', '')}"[:200]
    with transaction.atomic():
        for row in RequestLog.objects.filter(
            pk__in=[i for i, v in graded.items() if v is not None]
        ):
            try:  # the config governing the name, as it is now (it may have changed)
                given = scores.judged(job.score_name, graded[row.pk] or 0.0)
            except scores.ScoreError:
                log.warning("judge score %s refused by its config", job.score_name)
                continue
            scores.save(row, given, source="judge", author=author)
        job.scored = {**job.scored, **{str(i): v for i, v in graded.items()}}
        return bool(
            SliceScoring.objects.filter(pk=pk, runner=runner.RUNNER_ID).update(scored=job.scored)
        )


def _finish(pk: int, status: str, error: str = "") -> None:
    job = SliceScoring.objects.get(pk=pk)
    values = [v for v in job.scored.values() if v is not None]
    SliceScoring.objects.filter(pk=pk, status__in=SliceScoring.UNFINISHED).update(
        status=status,
        error=error,
        mean=sum(values) / len(values) if values else None,
        finished_at=timezone.now(),
    )


async def run_claimed(pk: int) -> None:
    """Grade a claimed job's requests that have no saved grade yet."""

    async def grade_all(stop: asyncio.Event) -> bool:
        job, who = await database_sync_to_async(_start)(pk)
        pending = [i for i in job.logs if str(i) not in job.scored]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(row: RequestLog, body: RequestBody | None) -> float | None:
            async with gate:
                try:
                    question, answer = _question_and_answer(row, body)
                    return await grade(job.scorer, question, answer, who)
                except Exception:  # this request unscored, nothing more
                    log.warning("slice scoring %s: request %s unscored", pk, row.pk, exc_info=True)
                    return None

        for start in range(0, len(pending), CONCURRENCY):
            chunk = pending[start : start + CONCURRENCY]
            loaded = await database_sync_to_async(_load)(chunk)
            values = await asyncio.gather(*(one(row, body) for row, body in loaded))
            graded: dict[int, float | None] = dict.fromkeys(chunk)  # deleted since: unscored
            graded.update({row.pk: v for (row, _), v in zip(loaded, values, strict=True)})
            if stop.is_set():
                return False
            if not await database_sync_to_async(_save)(pk, job, graded):
                return False  # another process has it now
        return True

    await runner.run_scoring(pk, SliceScoring, "slice scoring", grade_all, _finish)


runner.register(SliceScoring, run_claimed)
