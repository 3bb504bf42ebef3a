"""Judging a slice of the log (``console.slice_scoring``), asked for on the Scores page:
asking queues a job and returns at once (a slice with nothing in it, or a judge route
that does not exist, refused); the evaluations' runner grades each request through a
real echo route as the user who asked (journaled under their console key), writes the
grades as scores (spread over a numeric config's range; a categorical one refused), and
a request whose answer cannot be read is left unscored."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from django.test import Client

from console import slice_scoring
from console.evals import runner
from console.evals.models import SliceScoring
from gateway.models import RequestBody, RequestLog, Score
from tests.console.playground_support import JournalRecorder, make_echo_routes


def answer(text: str) -> str:
    return orjson.dumps({
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }).decode()  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_judging_a_slice_runs_in_the_background_and_writes_scores(
    staff_client: Client, snapshot_reset, recorder: JournalRecorder
) -> None:
    make_echo_routes({"grader": {"reply": "Score: 7"}, "support": {}})
    question = orjson.dumps({"model": "support", "messages": [{"role": "user", "content": "2+2?"}]})
    rows = []
    for n, body in enumerate((answer("4"), answer("four"), "")):
        row = RequestLog.objects.create(request_id=f"s{n}", dialect="openai", endpoint="chat",
                                        route="support", status=200)  # fmt: skip
        RequestBody.objects.create(
            log=row, inbound_request=question.decode(), outbound_response=body
        )
        rows.append(row)
    RequestLog.objects.create(
        request_id="elsewhere", dialect="openai", endpoint="chat", route="other", status=200
    )
    asked = staff_client.post("/scores/", {
        "route": "support", "since": "1h", "judge_route": "grader", "score_name": "quality",
        "rubric": "Is it right?",
    })  # fmt: skip
    assert asked.status_code == 302 and asked["Location"].startswith("/scores/?name=quality")
    job = SliceScoring.objects.get()
    assert sorted(job.logs) == sorted(r.pk for r in rows) and job.status == "queued"
    assert not recorder.records  # nothing judged in the console's request

    pk = runner.claim_one(model=SliceScoring)
    assert pk == job.pk
    asyncio.run(slice_scoring.run_claimed(pk))
    job.refresh_from_db()
    assert job.status == "done" and job.progress == 100 and job.unscored == 1  # s2: no answer
    assert job.mean == pytest.approx(0.7)
    assert sorted(Score.objects.values_list("log__request_id", "value", "source")) == [
        ("s0", 0.7, "judge"), ("s1", 0.7, "judge"),
    ]  # fmt: skip
    judged = [r for r in recorder.records if r.route == "grader"]
    assert len(judged) == 2 and {r.key_name for r in judged} == {"console:ops"}
    assert {r.session for r in judged} == {f"slice-scoring:{pk}"}
    page = staff_client.get(f"/scores/runs/{pk}/").content.decode()
    assert f'id="run-{pk}"' in page and "hx-get" not in page and "3/3 · done · 1 unscored" in page


def test_a_slice_with_nothing_in_it_is_refused(staff_client: Client, registry_rows) -> None:
    refused = staff_client.post("/scores/", {"route": "chat", "since": "1h", "status": "5xx",
                                             "judge_route": "chat"})  # fmt: skip
    assert refused.status_code == 422 and "no successful chat request" in refused.content.decode()
    assert not SliceScoring.objects.exists()
    bad = staff_client.post("/scores/", {"judge_route": "nope"})
    assert bad.status_code == 422 and "no route named" in bad.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_judge_scores_under_the_config_naming_its_score(
    staff_client: Client, snapshot_reset, recorder: JournalRecorder
) -> None:
    """A numeric config spreads the judge's grade over its range (7/10 on 1-10: 7.3); a
    categorical one refuses the run when it is asked for, naming the config."""
    from gateway.models import ScoreConfig

    make_echo_routes({"grader": {"reply": "Score: 7"}, "support": {}})
    question = orjson.dumps({"model": "support", "messages": [{"role": "user", "content": "2+2?"}]})
    row = RequestLog.objects.create(request_id="s0", dialect="openai", endpoint="chat",
                                    route="support", status=200)  # fmt: skip
    RequestBody.objects.create(
        log=row, inbound_request=question.decode(), outbound_response=answer("4")
    )
    ScoreConfig.objects.create(name="quality", data_type="numeric", min_value=1, max_value=10)
    ScoreConfig.objects.create(name="verdict", data_type="categorical", categories=["ok", "bad"])
    form = {"route": "support", "since": "1h", "judge_route": "grader", "rubric": "Is it right?"}
    refused = staff_client.post("/scores/", {**form, "score_name": "verdict"})
    assert refused.status_code == 422 and "verdict is categorical" in refused.content.decode()
    assert staff_client.post("/scores/", {**form, "score_name": "quality"}).status_code == 302
    pk = runner.claim_one(model=SliceScoring)
    asyncio.run(slice_scoring.run_claimed(pk))
    assert list(Score.objects.values_list("name", "value", "source")) == [
        ("quality", pytest.approx(7.3), "judge")
    ]
