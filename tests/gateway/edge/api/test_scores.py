"""``POST /api/logs/{id}/scores``: an application sends its users' feedback with the
virtual key it made the request with (its own requests only: another key's is the
404 an unknown id is); console users and management callers score what they may see;
scores replace the same author's earlier one, and the log list filters by score."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import keys, registry, roles
from gateway.models import ApiKey, RequestLog, Score, Team

MASTER = "sy-master-scores-api-test"


@pytest.fixture
def world(db, settings, snapshot_reset) -> dict[str, Any]:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    team = Team.objects.create(name="alpha")
    app = keys.create_key(name="app", team=team)
    other = keys.create_key(name="other", team=team)
    app_id = ApiKey.objects.get(name="app").pk
    other_id = ApiKey.objects.get(name="other").pk
    mine = RequestLog.objects.create(request_id="req-mine", dialect="openai", endpoint="chat",
                                     route="chat", status=200, key_id=app_id, key_name="app")  # fmt: skip
    theirs = RequestLog.objects.create(request_id="req-theirs", dialect="openai", endpoint="chat",
                                       route="chat", status=200, key_id=other_id)  # fmt: skip
    registry.rebuild()  # the keys, as /v1 and this endpoint read them
    return {"app": app.raw, "other": other.raw, "mine": mine, "theirs": theirs}


def post(raw: str, request_id: str, body: dict[str, Any]) -> Any:
    return Client().post(
        f"/api/logs/{request_id}/scores", data=body, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip


def test_an_application_scores_its_own_requests_with_its_key(world) -> None:
    sent = post(world["app"], "req-mine", {"name": "thumbs", "value": "down", "comment": "wrong"})
    assert sent.status_code == 201, sent.content
    assert sent.json() | {"id": 0, "created_at": 0} == {
        "id": 0, "name": "thumbs", "value": 0.0, "label": "down", "comment": "wrong",
        "source": "api", "author": "key:app", "reasoning": "", "judge_request_id": "", "created_at": 0,
    }  # fmt: skip
    # again: the key's earlier thumbs is replaced, not doubled
    assert post(world["app"], "req-mine", {"value": True}).json()["label"] == "up"
    assert list(Score.objects.values_list("name", "value", "route")) == [("thumbs", 1.0, "chat")]
    listed = Client().get("/api/logs/req-mine/scores", HTTP_AUTHORIZATION=f"Bearer {world['app']}")
    assert [s["value"] for s in listed.json()] == [1.0]


def test_another_key_s_request_is_not_found(world) -> None:
    assert post(world["app"], "req-theirs", {"value": 1}).status_code == 404
    assert post(world["app"], "req-unknown", {"value": 1}).status_code == 404
    assert post("sy-not-a-key", "req-mine", {"value": 1}).status_code == 401
    assert Client().get("/api/logs/req-theirs/scores",
                        HTTP_AUTHORIZATION=f"Bearer {world['app']}").status_code == 404  # fmt: skip
    assert not Score.objects.exists()
    # a plain key is still no caller for the rest of /api
    assert (
        Client().get("/api/logs/", HTTP_AUTHORIZATION=f"Bearer {world['app']}").status_code == 401
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "has space", "value": 1}, "name"),
        ({"name": "quality"}, "value"),
        ({"value": "sideways"}, "value"),
        ({"value": 1, "comment": "x" * 5001}, "comment"),
    ],
)
def test_a_bad_score_is_a_422_naming_the_field(world, body: dict[str, Any], field: str) -> None:
    refused = post(world["app"], "req-mine", body)
    assert refused.status_code == 422 and field in refused.json()["errors"]
    assert not Score.objects.exists()


def test_console_users_score_what_they_see_and_the_master_key_anything(world) -> None:
    member = User.objects.create_user("m", password="pw-123456789")
    roles.set_role(member, "member")
    client = Client()
    client.force_login(member)
    # a member sees only their own requests: another's is not found
    refused = client.post("/api/logs/req-mine/scores", data={"value": 1},
                          content_type="application/json")  # fmt: skip
    assert refused.status_code == 404
    master = post(MASTER, "req-theirs", {"name": "quality", "value": 0.7, "label": "ok"})
    assert master.status_code == 201 and master.json()["author"] == "master"


def test_the_log_list_filters_by_score(world) -> None:
    post(world["app"], "req-mine", {"name": "thumbs", "value": "down"})
    post(MASTER, "req-theirs", {"name": "quality", "value": 0.9})
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")

    def ids(score: str) -> list[str]:
        answer = api.get("/api/logs/", {"score": score})
        assert answer.status_code == 200, answer.content
        return [row["request_id"] for row in answer.json()["items"]]

    assert ids("thumbs") == ["req-mine"]
    assert ids("thumbs=down") == ["req-mine"]
    assert ids("thumbs=up") == []
    assert ids("quality>0.5") == ["req-theirs"]
    assert ids("quality<=0.5") == []
    assert api.get("/api/logs/", {"score": "quality<good"}).status_code == 422
