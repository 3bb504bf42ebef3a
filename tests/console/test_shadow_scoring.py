"""Scoring shadow traffic in the console (console/shadow_scoring): an evaluation scorer
run over a route's mirrored pairs, the primary's answer as the reference; a pairwise
judge goes through a real route (the echo provider), sides swapped, and its win rate
comes with a 95% interval; a bad scorer is a message, not a crash."""

from __future__ import annotations

import orjson
import pytest
from django.test import Client

from gateway.models import Deployment, Provider, RequestBody, RequestLog, Route
from gateway.policy import registry


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


@pytest.fixture
def pairs(db, snapshot_reset):
    echo = Provider.objects.create(name="echo", kind=Provider.Kind.ECHO)
    judge = Route.objects.create(name="judge")
    Deployment.objects.create(route=judge, provider=echo, model="echo-1")
    primary = Route.objects.create(name="big", shadow_routes=["small"], shadow_percent=100)
    Route.objects.create(name="small")
    registry.rebuild()
    question = orjson.dumps({"model": "big", "messages": [{"role": "user", "content": "2+2?"}]})
    for n, (mine, theirs) in enumerate([("4", "4"), ("four", "5")]):
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
    return primary


def test_exact_match_against_the_primary(staff_client: Client, pairs) -> None:
    page = staff_client.post(f"/routes/{pairs.pk}/shadow/", {"kind": "exact"}).content.decode()
    assert "<strong>exact</strong>: 2 scored · mean 0.50" in page
    assert page.count("exact: 1.00") == 1 and page.count("exact: 0.00") == 1


def test_a_pairwise_judge_through_a_route_with_its_interval(
    staff_client: Client, pairs, monkeypatch
) -> None:
    from gateway import journal

    recorded: list = []
    monkeypatch.setattr(journal, "record", recorded.append)
    page = staff_client.post(
        f"/routes/{pairs.pk}/shadow/", {"kind": "judge", "route": "judge", "mode": "pairwise"}
    ).content.decode()
    # the echo judge repeats the prompt, whose first verdict is "A": with the sides
    # swapped that is one win and one loss per pair, a tie
    assert "<strong>judge_pairwise</strong>: 2 scored" in page and "the shadow wins 50%" in page
    assert "95% CI" in page
    judged = [r for r in recorded if r.key_name == "shadow-scoring" and r.route == "judge"]
    assert len(judged) == 4  # two calls a pair, journaled


def test_a_bad_scorer_is_a_message(staff_client: Client, pairs) -> None:
    response = staff_client.post(f"/routes/{pairs.pk}/shadow/", {"kind": "judge"})
    assert response.status_code == 200
    assert "needs a route" in response.content.decode()
