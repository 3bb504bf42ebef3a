"""Scoring shadow traffic in the console (console/shadow_scoring): an evaluation scorer
run over a route's mirrored pairs, the primary's answer as the reference. Asking for a
score queues a background run and returns at once (no judge call in the request); the
evaluations' runner claims it under a lease, scores the pairs (a pairwise judge through a
real echo route, sides swapped, its win rate with a 95% interval), saves them as it goes
and resumes after a restart without scoring a pair twice; a failing judge leaves pairs
unscored; the page shows progress, then the verdict, and keeps the earlier ones. Asking
for a score on the page: ``tests/console/views/test_shadow.py``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from console import shadow_scoring
from console.evals import runner
from console.evals.models import ShadowScoring
from gateway.models import RequestBody, RequestLog, Route

from .playground_support import JournalRecorder, make_echo_routes

pytestmark = pytest.mark.django_db(transaction=True)


def answer(text: str) -> str:
    return orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    ).decode()


def log_pairs(answers: list[tuple[str, str]], start: int = 0) -> None:
    question = orjson.dumps({"model": "big", "messages": [{"role": "user", "content": "2+2?"}]})
    for n, (mine, theirs) in enumerate(answers, start):
        p = RequestLog.objects.create(
            request_id=f"p{n}", dialect="openai", endpoint="chat", route="big", status=200
        )
        m = RequestLog.objects.create(
            request_id=f"m{n}",
            dialect="openai",
            endpoint="chat",
            route="small",
            status=200,
            shadow_of=f"p{n}",
            key_name="shadow",
        )
        RequestBody.objects.create(
            log=p, inbound_request=question.decode(), outbound_response=answer(mine)
        )
        RequestBody.objects.create(
            log=m, inbound_request=question.decode(), outbound_response=answer(theirs)
        )


def run_queued() -> ShadowScoring:
    pk = runner.claim_one(model=ShadowScoring)
    assert pk is not None
    asyncio.run(shadow_scoring.run_claimed(pk))
    return ShadowScoring.objects.get(pk=pk)


def judged(recorder: JournalRecorder, route: str) -> int:
    """Judge calls journaled on ``route``: as the admin who asked (their console key),
    tagged with the scoring run."""
    return sum(
        1
        for r in recorder.records
        if r.key_name == "console:ops"
        and r.session.startswith("shadow-scoring:")
        and r.route == route
    )


def test_the_runner_scores_and_the_page_shows_the_verdict(
    staff_client: Client, primary: Route, recorder: JournalRecorder
) -> None:
    staff_client.post(f"/routes/{primary.pk}/shadow/", {"kind": "exact"})
    job = run_queued()
    assert job.status == "done" and job.scores == {"m0": 1.0, "m1": 0.0}
    assert job.verdict["mean"] == 0.5 and job.runner == "" and job.lease_until is None
    page = staff_client.get(f"/routes/{primary.pk}/shadow/").content.decode()
    assert "2 scored" in page and ">0.50<" in page and 'id="scoring-bar"' not in page
    assert page.count("exact: 1.00") == 1 and page.count("exact: 0.00") == 1
    # the poll of a run that has finished tells the page to reload
    poll = staff_client.get(f"/routes/{primary.pk}/shadow/scoring/{job.pk}/?was=running")
    assert poll.status_code == 200 and poll["HX-Refresh"] == "true"


def test_a_pairwise_judge_through_a_route_with_its_interval_and_history(
    staff_client: Client, primary: Route, recorder: JournalRecorder
) -> None:
    staff_client.post(f"/routes/{primary.pk}/shadow/", {"kind": "exact"})
    run_queued()
    staff_client.post(
        f"/routes/{primary.pk}/shadow/", {"kind": "judge", "route": "judge", "mode": "pairwise"}
    )
    job = run_queued()
    # the echo judge repeats the prompt, whose first verdict is "A": with the sides
    # swapped that is one win and one loss per pair, a tie
    assert job.verdict["win_rate"]["rate"] == 0.5 and job.verdict["scored"] == 2
    assert judged(recorder, "judge") == 4  # two calls a pair, journaled
    page = staff_client.get(f"/routes/{primary.pk}/shadow/").content.decode()
    assert "judge_pairwise" in page and "50% (95% CI" in page and "1 tied" not in page
    assert "2 tied" in page
    assert "<strong>exact</strong>" in page  # the earlier run is kept
    assert page.count("judge_pairwise: 0.50") == 2  # pairs show the newest run's scores


def test_a_failing_judge_leaves_pairs_unscored(
    staff_client: Client, primary: Route, recorder: JournalRecorder
) -> None:
    staff_client.post(f"/routes/{primary.pk}/shadow/", {"kind": "judge", "route": "broken"})
    job = run_queued()
    assert job.status == "done" and job.scores == {"m0": None, "m1": None}
    assert job.verdict == {"scored": 0, "unscored": 2, "mean": None}
    page = staff_client.get(f"/routes/{primary.pk}/shadow/").content.decode()
    assert "2 unscored" in page and page.count("judge_pointwise: unscored") == 2


def test_a_restarted_runner_scores_only_what_is_missing(
    staff_client: Client, primary: Route, recorder: JournalRecorder
) -> None:
    log_pairs([(f"a{n}", f"b{n}") for n in range(2, 20)], 2)  # m0..m19
    staff_client.post(f"/routes/{primary.pk}/shadow/", {"kind": "judge", "route": "grader"})
    job = ShadowScoring.objects.get()
    assert job.total == 20
    # a process scored 8 pairs, saved them, and died holding the lease
    saved = {request_id: 0.7 for request_id in job.mirrors[:8]}
    ShadowScoring.objects.filter(pk=job.pk).update(
        status="running", scores=saved, runner="dead:1", lease_until=timezone.now() + timedelta(1)
    )
    assert runner.claim_one(model=ShadowScoring) is None  # its lease still holds
    ShadowScoring.objects.filter(pk=job.pk).update(lease_until=timezone.now())
    job = run_queued()  # taken over when the lease has run out
    assert job.status == "done", job.status
    assert job.done == 20
    assert job.verdict["scored"] == 20
    assert judged(recorder, "grader") == 12  # only the pairs without a saved score
    assert job.verdict["mean"] == pytest.approx(0.7)


def test_an_interrupted_run_resumes_where_it_stopped(
    staff_client: Client, primary: Route, recorder: JournalRecorder
) -> None:
    make_echo_routes({"slow-grader": {"reply": "Score: 9", "delay": 0.05}})
    log_pairs([(f"a{n}", f"b{n}") for n in range(2, 24)], 2)
    staff_client.post(f"/routes/{primary.pk}/shadow/", {"kind": "judge", "route": "slow-grader"})
    pk = runner.claim_one(model=ShadowScoring)
    assert pk is not None

    async def stop_after_first_chunk() -> None:
        task = asyncio.create_task(shadow_scoring.run_claimed(pk))
        for _ in range(400):
            await asyncio.sleep(0.01)
            # on the runner's own database thread: the test database is SQLite's shared
            # in-memory cache, where a read beside the runner's write fails as locked
            done = await database_sync_to_async(lambda: ShadowScoring.objects.get(pk=pk).done)()
            if done:
                break
        task.cancel()  # the server stops mid-run
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_after_first_chunk())
    partial = ShadowScoring.objects.get(pk=pk)
    assert partial.status == "running" and 0 < partial.done < partial.total
    calls_before = judged(recorder, "slow-grader")
    job = run_queued()  # the lease was handed back: the next runner takes it
    assert job.status == "done" and job.done == 24 and job.verdict["mean"] == pytest.approx(0.9)
    # at most the chunk in flight at the stop is asked again
    assert judged(recorder, "slow-grader") - calls_before == 24 - partial.done
