"""``/api/score-configs`` and the scores they govern: a config is created, read, changed
and deleted through the API (owners and admins write, any role reads); a config with
bad fields is a 422 naming every field; a score posted to ``/api/logs/{id}/scores``
under a config's name is checked against it (out of range, unknown category, not a
boolean: a 422 naming the field and the reason) and stored as the config says; a judge's
grade is spread over the config's range."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import keys, registry, roles
from gateway.models import ApiKey, RequestLog, Score, ScoreConfig, Team

MASTER = "sy-master-score-configs-test"


@pytest.fixture
def world(db, settings, snapshot_reset) -> dict[str, Any]:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    team = Team.objects.create(name="alpha")
    app = keys.create_key(name="app", team=team)
    log = RequestLog.objects.create(request_id="req-1", dialect="openai", endpoint="chat",
                                    route="chat", status=200,
                                    key_id=ApiKey.objects.get(name="app").pk, key_name="app")  # fmt: skip
    registry.rebuild()
    return {"app": app.raw, "log": log}


def call(method: str, path: str, body: Any = None, key: str = MASTER) -> Any:
    return getattr(Client(), method)(
        path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_a_config_is_created_read_changed_and_deleted(world) -> None:
    made = call("post", "/api/score-configs/", {
        "name": "quality", "data_type": "numeric", "min_value": 1, "max_value": 5,
        "description": "How good the answer is"})  # fmt: skip
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["name"] == "quality" and body["min_value"] == 1.0 and body["max_value"] == 5.0
    assert body["categories"] == [] and body["created_by"]
    assert call("get", "/api/score-configs/").json()[0]["name"] == "quality"
    changed = call("patch", f"/api/score-configs/{body['id']}", {"max_value": 10})
    assert changed.status_code == 200 and changed.json()["max_value"] == 10.0
    assert changed.json()["min_value"] == 1.0  # the others keep their values
    # a new type drops what it has no use for
    cat = call("patch", f"/api/score-configs/{body['id']}",
               {"data_type": "categorical", "categories": ["good", "bad"]})  # fmt: skip
    assert cat.status_code == 200, cat.content
    assert cat.json()["min_value"] is None and cat.json()["categories"] == ["good", "bad"]
    assert call("delete", f"/api/score-configs/{body['id']}").status_code == 204
    assert call("get", f"/api/score-configs/{body['id']}").status_code == 404
    assert call("get", "/api/score-configs/²").status_code == 404  # never a 500


def test_a_bad_config_names_every_field(world) -> None:
    refused = call("post", "/api/score-configs/", {
        "name": "bad name!", "data_type": "numeric", "min_value": 5, "max_value": 1,
        "categories": ["a"]})  # fmt: skip
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert set(errors) == {"name", "max_value", "categories"}
    assert "above the minimum" in errors["max_value"][0]
    one = call("post", "/api/score-configs/", {"name": "tone", "data_type": "categorical",
                                               "categories": ["calm"]})  # fmt: skip
    assert one.status_code == 422 and "at least two" in one.json()["errors"]["categories"][0]
    kind = call("post", "/api/score-configs/", {"name": "x", "data_type": "stars"})
    assert kind.status_code == 422 and "data_type" in kind.json()["errors"]
    ScoreConfig.objects.create(name="dup", data_type="boolean")
    dup = call("post", "/api/score-configs/", {"name": "dup", "data_type": "boolean"})
    assert dup.status_code == 422 and "exists already" in dup.json()["errors"]["name"][0]


def test_scores_posted_by_the_api_are_governed(world) -> None:
    ScoreConfig.objects.create(name="quality", data_type="numeric", min_value=1, max_value=5)
    ScoreConfig.objects.create(name="verdict", data_type="categorical",
                               categories=["correct", "wrong"])  # fmt: skip
    ScoreConfig.objects.create(name="safe", data_type="boolean")

    def score(body: dict[str, Any]) -> Any:
        return call("post", "/api/logs/req-1/scores", body, key=world["app"])

    high = score({"name": "quality", "value": 7})
    assert high.status_code == 422
    assert high.json()["errors"] == {"value": ["7 is above quality's maximum 5"]}
    assert score({"name": "quality", "value": 0.5}).json()["errors"]["value"] == [
        "0.5 is below quality's minimum 1"
    ]
    assert (
        "give a value" in score({"name": "quality", "label": "good"}).json()["errors"]["value"][0]
    )
    unknown = score({"name": "verdict", "value": "maybe"})
    assert unknown.status_code == 422
    assert "'maybe' is not a category of verdict" in unknown.json()["errors"]["label"][0]
    assert score({"name": "safe", "value": 3}).status_code == 422
    assert score({"name": "quality", "value": 4}).status_code == 201
    assert score({"name": "verdict", "value": "Correct"}).json()["label"] == "correct"
    safe = score({"name": "safe", "value": True}).json()
    assert (safe["value"], safe["label"]) == (1.0, "true")
    assert score({"name": "free-form", "value": 42}).status_code == 201  # no config: as before
    stored = dict(Score.objects.values_list("name", "label"))
    assert stored == {"quality": "", "verdict": "correct", "safe": "true", "free-form": ""}


def test_members_read_configs_and_only_leads_change_them(world) -> None:
    member = User.objects.create_user("mia", password="pw-123456789")
    roles.set_role(member, "member")
    client = Client()
    client.force_login(member)
    assert client.get("/api/score-configs/").status_code == 200
    refused = client.post("/api/score-configs/", {"name": "q", "data_type": "boolean"},
                          content_type="application/json")  # fmt: skip
    assert refused.status_code == 403 and not ScoreConfig.objects.exists()
