"""``/api/datasets``, ``/api/experiments`` and ``/api/evaluators`` (``console.evals.api``)
with the master key: a dataset from rows (a bad row named), an experiment started
(an unknown route refused), polled, its results as JSON and CSV; an evaluator checked,
created, patched (what was not sent is kept), read and deleted. Uploads and rows:
``test_parsing.py``; datasets from the log: ``test_datasets.py``."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from console.evals.models import Evaluator
from gateway.access import registry

from ..playground_support import make_echo_routes, make_user
from .test_runner import STARTER, run


@pytest.fixture
def routes(transactional_db) -> None:
    """Echo routes for the experiments' columns, and ``chat``, ``judge`` and ``other`` for
    the evaluators; the experiments run as their starter (an owner)."""
    make_echo_routes({"fast": {}, "also": {}, "chat": {}, "judge": {}, "other": {}})
    make_user(STARTER, staff=True)


def test_api_start_poll_results_and_errors(routes, recorder, client) -> None:
    headers = {"HTTP_AUTHORIZATION": "Bearer sk-master"}
    from django.conf import settings

    settings.SWITCHYARD_MASTER_KEY = "sk-master"
    from gateway.access import registry

    registry.rebuild()
    response = client.post(
        "/api/datasets/", {"name": "api-ds", "rows": [{"prompt": "x", "reference": "Echo: x"}, {"prompt": "y"}]},
        content_type="application/json", **headers,
    )  # fmt: skip
    assert response.status_code == 201, response.content
    dataset_id = response.json()["id"]
    bad = client.post(
        "/api/datasets/", {"name": "bad", "rows": [{"prompt": "x"}, {"nothing": 1}]},
        content_type="application/json", **headers,
    )  # fmt: skip
    assert bad.status_code == 422 and "row 1" in bad.json()["detail"]
    refused = client.post(
        "/api/experiments/",
        {"dataset": dataset_id, "columns": ["ghost"]},
        content_type="application/json",
        **headers,
    )
    assert refused.status_code == 422 and "ghost" in refused.json()["detail"]
    started = client.post(
        "/api/experiments/", {"dataset": dataset_id, "columns": ["fast", "also"], "scorers": ["exact"]},
        content_type="application/json", **headers,
    )  # fmt: skip
    assert started.status_code == 201, started.content
    pk = started.json()["id"]
    run(pk)
    poll = client.get(f"/api/experiments/{pk}", **headers).json()
    assert poll["status"] == "done" and poll["percent"] == 100 and poll["done"] == 4
    results = client.get(f"/api/experiments/{pk}/results", **headers).json()
    assert len(results["results"]) == 4 and results["summary"]["routes"][0]["mean_score"] == 1.0
    csv_text = client.get(f"/api/experiments/{pk}/results?format=csv", **headers).content.decode()
    assert csv_text.splitlines()[0].startswith("row,prompt,reference,column,route,output")
    assert len(csv_text.strip().splitlines()) == 5


def test_the_api(routes, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sk-master"
    registry.rebuild()
    headers = {"HTTP_AUTHORIZATION": "Bearer sk-master"}
    client = Client()

    def post(body: dict[str, Any]) -> Any:
        return client.post("/api/evaluators/", body, content_type="application/json", **headers)

    bad = post({"name": "q", "route": "nope", "scorer": {"kind": "judge", "route": "judge"}})
    assert bad.status_code == 422 and "no route named 'nope'" in bad.json()["detail"]
    assert post({"name": "q", "route": "chat", "scorer": {"kind": "judge", "route": "judge"},
                 "sample_rate": 2}).status_code == 422  # fmt: skip
    assert post({"name": "q", "route": "chat", "scorer": {"kind": "exact"}}).status_code == 422
    assert post({"name": "q", "route": "chat", "scorer": {"kind": "judge", "route": "judge"},
                 "surprise": 1}).status_code == 422  # fmt: skip
    made = post({"name": "q", "route": "chat", "scorer": {"kind": "judge", "route": "judge"},
                 "sample_rate": 0.5, "budget_usd_per_day": "2.5", "alert_below": 0.6})  # fmt: skip
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["status"] == "active" and body["budget_usd_per_day"] == "2.5"
    assert body["created_by"] == "(master key)"
    assert post({"name": "q", "route": "chat", "scorer": {"kind": "regex", "pattern": "x"}}
                ).status_code == 422  # the name is taken  # fmt: skip
    paused = client.patch(f"/api/evaluators/{body['id']}", {"status": "paused"},
                          content_type="application/json", **headers)  # fmt: skip
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["sample_rate"] == 0.5  # what was not sent is kept
    got = client.get(f"/api/evaluators/{body['id']}", **headers).json()
    assert got["trend"] == {"x": [], "series": []} and got["recent"] == []
    assert client.get("/api/evaluators/999", **headers).status_code == 404
    assert client.get("/api/evaluators/%C2%B2", **headers).status_code in (404, 422)
    assert client.delete(f"/api/evaluators/{body['id']}", **headers).status_code == 204
    assert not Evaluator.objects.exists()
