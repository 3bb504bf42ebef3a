"""The Evaluators pages (``console.evals.evaluator_views``): create one from the form (a
bad sample rate refused inline), edit it, pause it and resume it from the journal's end."""

from __future__ import annotations

import pytest
from django.test import Client

from console.evals.models import Evaluator
from gateway.models import RequestLog

from ..playground_support import make_echo_routes, make_user
from ..role_sets import ADMINS, Expectation

# the Evaluators pages: admins and owners (ability evals.use), as the other evaluations
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    name: (ADMINS, ADMINS)
    for name in ("evals-evaluators", "evals-evaluator", "evals-evaluator-pause")
}


@pytest.fixture
def routes(db, snapshot_reset) -> None:
    make_echo_routes({"chat": {}, "judge": {}})


def traffic(n: int) -> None:
    for i in range(n):
        RequestLog.objects.create(request_id=f"req-{i}", dialect="openai", endpoint="chat",
                                  route="chat", status=200)  # fmt: skip


def test_the_pages_create_edit_and_pause(routes) -> None:
    client = Client()
    client.force_login(make_user("ops", staff=True))
    assert client.get("/evals/evaluators/").status_code == 200
    form = {"name": "tone", "route": "chat", "kind": "judge", "judge_route": "judge",
            "rubric": "Polite?", "sample_percent": "20", "budget_usd_per_day": "0.5"}  # fmt: skip
    refused = client.post("/evals/evaluators/", {**form, "sample_percent": "0"})
    assert refused.status_code == 422 and "sample rate" in refused.content.decode()
    made = client.post("/evals/evaluators/", form)
    evaluator = Evaluator.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/evals/evaluators/{evaluator.pk}/"
    assert evaluator.scorer["rubric"] == "Polite?" and evaluator.sample_rate == 0.2
    assert evaluator.created_by == "ops"
    edited = client.post(f"/evals/evaluators/{evaluator.pk}/", {**form, "sample_percent": "5",
                                                               "status": "active"})  # fmt: skip
    assert edited.status_code == 200 and "Saved." in edited.content.decode()
    evaluator.refresh_from_db()
    assert evaluator.sample_rate == 0.05
    client.post(f"/evals/evaluators/{evaluator.pk}/pause/")
    evaluator.refresh_from_db()
    assert evaluator.status == "paused"
    traffic(2)
    client.post(f"/evals/evaluators/{evaluator.pk}/pause/")  # resume: from the journal's end
    evaluator.refresh_from_db()
    assert evaluator.status == "active" and evaluator.cursor == RequestLog.objects.latest("id").pk
