"""``/api/annotation-queues`` (``console.evals.queue_api``): a lead creates a queue
(filled from its filter), sends requests by id, fills it again; a reviewer reads it with
its progress and may not change it; a bad field is a 422 naming it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_queues_through_the_api(world) -> None:
    """``/api/annotation-queues``: a lead creates one (filled from its filter), sends
    requests by id, fills it again; a reviewer reads it with its progress and may not
    change it; a bad field is a 422 naming it."""
    lead, editor = world["lead"], world["editor"]

    def send(client: Client, method: str, path: str, body: Any = None) -> Any:
        return getattr(client, method)(path, data=body, content_type="application/json")

    refused = send(lead, "post", "/api/annotation-queues/",
                   {"name": "api", "score_configs": ["nope"], "status": "bogus", "sample": 0})  # fmt: skip
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"score_configs", "status", "sample"}
    made = send(lead, "post", "/api/annotation-queues/",
                {"name": "api", "score_configs": ["quality"], "route": "chat", "sample": 100})  # fmt: skip
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["score_configs"] == ["quality"] and body["total"] == 4 and body["done"] == 0
    qid = body["id"]
    added = send(lead, "post", f"/api/annotation-queues/{qid}/items",
                 {"request_ids": ["r-out", "r-0", "missing"]})  # fmt: skip
    assert added.json() == {"added": 1, "present": 1, "unknown": ["missing"]}
    assert send(lead, "post", f"/api/annotation-queues/{qid}/fill").json() == {"added": 0}
    seen = send(editor, "get", f"/api/annotation-queues/{qid}")
    assert seen.status_code == 200 and seen.json()["total"] == 5
    assert send(editor, "post", f"/api/annotation-queues/{qid}/fill").status_code == 403
    assert send(editor, "delete", f"/api/annotation-queues/{qid}").status_code == 403
    assert send(lead, "delete", f"/api/annotation-queues/{qid}").status_code == 204
    assert send(lead, "get", f"/api/annotation-queues/{qid}").status_code == 404
