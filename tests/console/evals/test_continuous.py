"""Continuous evaluators: a judge attached to a route scores a sample of the journal's
requests after the fact, its calls going through the gateway to an OpenAI-compatible
upstream on 127.0.0.1; each score keeps the judge's words and its call's request id
(shown on the request's page); a rule scorer needs no call; the daily budget stops the
judge; one process of all holds the lease; the loop outlives a database that went
away; a falling mean tells the alert channels once. ``/api/evaluators``: ``test_api.py``;
the pages: ``test_evaluator_views.py``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from django.conf import settings
from django.db import OperationalError, connections
from django.test import Client
from django.utils import timezone

from console.evals import continuous
from console.evals.models import Evaluator
from gateway import journal
from gateway.access import registry
from gateway.base import hooks, leases
from gateway.models import (
    Deployment,
    Provider,
    RequestBody,
    RequestLog,
    Route,
    Score,
    SingletonLease,
)

from ..playground_support import JournalRecorder, make_user
from .judge_upstream import ANSWER, JUDGE_REPLY, Upstream, judge_upstream

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = "eve"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with judge_upstream() as state:
        yield state


@pytest.fixture
def routes(transactional_db, upstream: Upstream) -> None:
    """``chat`` (the production route) and ``judge``, both served by the mock upstream
    at 10 USD per million tokens each way (a judge call: 0.02 USD)."""
    provider = Provider.objects.create(
        name="local", kind=Provider.Kind.OPENAI, base_url=upstream.url
    )
    provider.set_secret("sk-local")
    provider.save()
    for name in ("chat", "judge", "other"):
        route = Route.objects.create(name=name, max_attempts=1)
        Deployment.objects.create(
            route=route, provider=provider, model=f"{name}-model",
            input_price=Decimal("10"), output_price=Decimal("10"),
        )  # fmt: skip
    registry.rebuild()
    make_user(OWNER, staff=True)


def traffic(n: int, route: str = "chat", *, start: int = 0, **extra: Any) -> list[RequestLog]:
    """``n`` journaled chat requests on ``route`` with their bodies, as the journal
    writes them."""
    rows = []
    for i in range(start, start + n):
        row = RequestLog.objects.create(
            request_id=f"req-{route}-{i}", dialect="openai", endpoint="chat", route=route,
            status=extra.get("status", 200), session=extra.get("session"),
        )  # fmt: skip
        RequestBody.objects.create(
            log=row,
            inbound_request=orjson.dumps(
                {"model": route, "messages": [{"role": "user", "content": f"Capital of France? #{i}"}]}
            ).decode(),
            outbound_response=orjson.dumps(
                {"id": "x", "object": "chat.completion", "model": route,
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": ANSWER}}]}
            ).decode(),
        )  # fmt: skip
        rows.append(row)
    return rows


def judge_evaluator(**fields: Any) -> Evaluator:
    data = {
        "name": "quality", "route": "chat", "sample_rate": 1.0, "budget_usd_per_day": "5",
        "scorer": {"kind": "judge", "route": "judge"},
        **fields,
    }  # fmt: skip
    return continuous.save(continuous.clean(data), by=OWNER)


def one_round() -> int | None:
    return asyncio.run(continuous.round_once())


def test_a_judge_scores_sampled_traffic_with_its_reasoning(
    routes, upstream: Upstream, recorder: JournalRecorder
) -> None:
    traffic(1, start=100)  # before the evaluator: not scored (it starts at the journal's end)
    evaluator = judge_evaluator()
    traffic(3)
    traffic(2, "other")  # another route
    traffic(1, start=50, status=500)  # an error has no answer to grade
    traffic(1, start=60, session="evaluator:quality")  # the judge's own call
    assert one_round() == 3
    scores = list(Score.objects.order_by("log_id"))
    assert [s.log.request_id for s in scores] == ["req-chat-0", "req-chat-1", "req-chat-2"]
    for score in scores:
        assert (score.name, score.value, score.source) == ("quality", 0.8, "judge")
        assert score.author == "evaluator:quality" and score.route == "chat"
        assert score.reasoning == JUDGE_REPLY  # the words, not a bare 0.80
        assert score.judge_request_id  # the judge's own call, journaled ...
    judged = {r.request_id: r for r in recorder.records}
    for score in scores:  # ... as the evaluator's creator, tagged with its session
        call = judged[score.judge_request_id]
        assert call.route == "judge" and call.session == "evaluator:quality"
        assert call.key_name.startswith("console:") or OWNER in (call.key_name or "")
    assert upstream.judge_calls == 3
    # the judge was asked about the logged question and answer
    prompts = sorted(b["messages"][-1]["content"] for b in upstream.asked)  # asked concurrently
    assert [("Capital of France? #" + str(i)) in p for i, p in enumerate(prompts)] == [True] * 3
    assert all(ANSWER in p for p in prompts)
    evaluator.refresh_from_db()
    assert (evaluator.sampled, evaluator.scored, evaluator.skipped_budget) == (3, 3, 0)
    assert evaluator.spent_usd == Decimal("0.06")
    # a second round: nothing new, nothing judged twice
    assert one_round() == 0 and upstream.judge_calls == 3


def test_a_score_is_saved_once_its_judges_call_is_in_the_journal(
    routes, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link from a score to its judge's call never opens a 404: the round waits
    for the journal (which writes every SWITCHYARD_JOURNAL_FLUSH_SECONDS) to write the
    calls before it saves the scores."""
    monkeypatch.setattr(journal, "_writer", None)  # this test's own, with a long interval
    monkeypatch.setattr(settings, "SWITCHYARD_JOURNAL_FLUSH_SECONDS", 30)
    judge_evaluator()
    traffic(2)
    assert one_round() == 2
    calls = [s.judge_request_id for s in Score.objects.all()]
    assert len(calls) == 2 and all(calls)
    written = set(
        RequestLog.objects.filter(request_id__in=calls).values_list("request_id", flat=True)
    )
    assert written == set(calls)


def test_the_reasoning_is_on_the_request_page_and_the_evaluator_page(
    routes, upstream: Upstream, recorder: JournalRecorder
) -> None:
    evaluator = judge_evaluator()
    traffic(1)
    one_round()
    score = Score.objects.get()
    client = Client()
    client.force_login(make_user("ops", staff=True))
    page = client.get("/logs/req-chat-0/").content.decode()
    assert "The judge said" in page and "The answer is correct and concise. Score: 8" in page
    assert f'href="/logs/{score.judge_request_id}/"' in page
    page = client.get(f"/evals/evaluators/{evaluator.pk}/").content.decode()
    assert "The answer is correct and concise." in page and "judge's call" in page
    assert 'data-chart="evaluator-data"' in page
    trend = json.loads(page.split('id="evaluator-data" type="application/json">')[1].split("<")[0])
    assert trend["series"] == [{"name": "chat", "values": [0.8]}]


def test_the_sample_rate_is_a_stable_share_and_a_rule_needs_no_call(
    routes, upstream: Upstream
) -> None:
    evaluator = continuous.save(continuous.clean({
        "name": "json", "route": "chat", "sample_rate": 0.25,
        "scorer": {"kind": "contains", "value": "Paris"},
    }), by=OWNER)  # fmt: skip
    rows = traffic(400)
    expected = [r for r in rows if continuous.sampled("json", r.request_id, 0.25)]
    assert 60 < len(expected) < 140  # a quarter, give or take
    while one_round():  # BATCH rows a round
        pass
    scored = Score.objects.filter(author="evaluator:json")
    assert sorted(scored.values_list("log_id", flat=True)) == sorted(r.pk for r in expected)
    assert set(scored.values_list("value", "reasoning")) == {(1.0, "The answer contains 'Paris'.")}
    assert upstream.asked == []
    evaluator.refresh_from_db()
    assert evaluator.cursor == rows[-1].pk and evaluator.sampled == len(expected)


def test_the_daily_budget_stops_the_judge(
    routes, upstream: Upstream, recorder: JournalRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(continuous, "CONCURRENCY", 1)
    evaluator = judge_evaluator(budget_usd_per_day="0.05")  # a call costs 0.02
    traffic(10)
    one_round()
    evaluator.refresh_from_db()
    assert upstream.judge_calls == 3  # 0.02, 0.04, 0.06: then the budget is spent
    assert (evaluator.scored, evaluator.skipped_budget) == (3, 7)
    assert evaluator.spent_usd == Decimal("0.06")
    traffic(2, start=10)
    one_round()
    assert upstream.judge_calls == 3  # still today: skipped, not judged
    # the next UTC day starts a new budget
    Evaluator.objects.filter(pk=evaluator.pk).update(
        spent_day=timezone.now().date() - timedelta(days=1)
    )
    traffic(1, start=20)
    one_round()
    evaluator.refresh_from_db()
    assert upstream.judge_calls == 4 and evaluator.spent_usd == Decimal("0.02")


def test_one_process_holds_the_lease(
    routes, upstream: Upstream, recorder: JournalRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge_evaluator()
    traffic(2)
    monkeypatch.setattr(leases, "PROCESS_ID", "host-a:1")
    assert one_round() == 2
    traffic(2, start=2)
    monkeypatch.setattr(leases, "PROCESS_ID", "host-b:2")
    assert one_round() is None  # a holds it: b does nothing
    assert Score.objects.count() == 2 and upstream.judge_calls == 2
    # a dies: its lease runs out and b takes over where a stopped
    SingletonLease.objects.filter(pk=continuous.LEASE_NAME).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert one_round() == 2
    assert SingletonLease.objects.get(pk=continuous.LEASE_NAME).runner == "host-b:2"
    assert Score.objects.count() == 4 and upstream.judge_calls == 4


def test_the_loop_outlives_a_database_that_went_away(
    routes, upstream: Upstream, recorder: JournalRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge_evaluator()
    traffic(2)
    monkeypatch.setattr(continuous, "FIRST_AFTER_SECONDS", 0)
    monkeypatch.setattr(continuous, "every", lambda: 0.01)
    real, calls = continuous._active, []

    def flaky() -> list[int]:
        calls.append(1)
        if len(calls) <= 2:
            connections.close_all()  # the server restarted: the connection is gone
            raise OperationalError("server closed the connection unexpectedly")
        return real()

    monkeypatch.setattr(continuous, "_active", flaky)

    def scores_so_far() -> int:
        # the test database is SQLite in memory with a shared cache, where a reader that
        # meets the loop's write transaction is refused at once ("table is locked")
        # instead of waiting; such a poll just counts as "not yet"
        try:
            return Score.objects.count()
        except OperationalError:
            return -1

    async def main() -> None:
        task = asyncio.create_task(continuous.run_forever())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if await asyncio.to_thread(scores_so_far) == 2:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(calls) >= 3 and Score.objects.count() == 2


def test_a_falling_mean_tells_the_alert_channels_once(
    routes, upstream: Upstream, recorder: JournalRecorder
) -> None:
    told: list[dict[str, Any]] = []

    async def channel(notice: dict[str, Any]) -> list[str]:
        told.append(notice)
        return ["test"]

    hooks.notices.register(channel)
    try:
        evaluator = judge_evaluator(alert_below=0.9, alert_window=5)
        traffic(2)
        one_round()  # mean 0.8 < 0.9
        traffic(2, start=2)
        one_round()  # still below: told once
        assert len(told) == 1 and told[0]["kind"] == "score_low"
        assert told[0]["mean"] == 0.8 and "route chat" in told[0]["text"]
        evaluator.refresh_from_db()
        assert evaluator.alerting
        upstream.judge_reply = "Excellent. Score: 10"
        traffic(5, start=4)
        one_round()  # back above: re-armed, nothing said
        evaluator.refresh_from_db()
        assert not evaluator.alerting and len(told) == 1
    finally:
        hooks.notices.unregister(channel)


def test_a_request_that_named_a_prompt_is_judged_on_its_filled_in_question(
    routes, upstream: Upstream, recorder: JournalRecorder
) -> None:
    from gateway.features.prompts import versions

    versions.create("capitals", versions.draft([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of {{country}}?"},
    ]))  # fmt: skip
    judge_evaluator()
    row = traffic(1)[0]
    RequestLog.objects.filter(pk=row.pk).update(prompt_name="capitals", prompt_version=1)
    RequestBody.objects.filter(log=row).update(inbound_request=orjson.dumps(
        {"model": "chat", "prompt_id": "capitals", "prompt_variables": {"country": "France"}}
    ).decode())  # fmt: skip
    assert one_round() == 1
    assert Score.objects.get().value == 0.8
    prompt = upstream.asked[-1]["messages"][-1]["content"]
    assert "Question:\nCapital of France?" in prompt
