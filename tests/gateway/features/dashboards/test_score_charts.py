"""A pinned chart of scores names the one score it averages, shown on that score's scale
(its ``ScoreConfig``): before, it averaged every numeric score together, a thumbs 0 or 1
with a grade of 1 to 5. A pin of scores without a name is refused when saved, naming
the field, in the form and in ``/api/dashboards``; so is a categorical score's."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.features.dashboards import figures
from gateway.models import PinnedChart, RequestLog, Score, ScoreConfig

SCORES = {"metric": "score", "group_by": "route", "window": "24h"}


@pytest.fixture
def owner(db) -> Client:
    user = User.objects.create_user("owner", password="pw-123456789")
    roles.set_role(user, roles.OWNER)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def scored(db) -> None:
    """Two requests on chat: thumbs up and down (0/1), graded 4 and 5 on a 1-5 scale."""
    ScoreConfig.objects.create(name="grade", data_type="numeric", min_value=1, max_value=5)
    ScoreConfig.objects.create(name="helpful", data_type="boolean")
    ScoreConfig.objects.create(name="topic", data_type="categorical", categories=["a", "b"])
    for n, (thumbs, grade, helpful) in enumerate(((1, 4, 1), (0, 5, 1))):
        log = RequestLog.objects.create(request_id=f"r{n}", route="chat", status=200)
        for name, value in (("thumbs", thumbs), ("grade", grade), ("helpful", helpful)):
            Score.objects.create(log=log, name=name, value=value, source="api", route="chat")


def test_a_chart_averages_its_own_score_only(scored) -> None:
    assert figures.compute("score", "route", "24h", score_name="grade").rows == [("chat", 4.5)]
    assert figures.compute("score", "route", "24h", score_name="thumbs").rows == [("chat", 0.5)]
    assert figures.compute("score", "route", "24h").rows == []  # no name: no mixed mean


def test_the_board_shows_the_score_on_its_scale(owner, scored) -> None:
    for name in ("grade", "helpful", "thumbs"):
        assert owner.post("/dashboard/pin/", {**SCORES, "score_name": name}).status_code == 302
    page = owner.get("/?board=global").content.decode()
    assert "Average grade by route" in page and "(1 to 5)" in page and "4.50" in page
    assert "5 (1 to 5)" in page  # a full bar is the config's maximum, not the largest mean
    assert "Average helpful by route" in page and "100% true" in page
    assert "Average thumbs by route" in page and "(free scale)" in page and "0.50" in page


@pytest.mark.parametrize(
    ("score_name", "says"),
    [("", "needs the score it averages"), ("topic", "categorical")],
)
def test_the_form_refuses_a_score_chart_without_an_averageable_score(
    owner, scored, score_name, says
) -> None:
    answer = owner.post("/dashboard/pin/", {**SCORES, "score_name": score_name})
    assert answer.status_code == 422 and says in answer.content.decode()
    assert not PinnedChart.objects.exists()


def test_the_api_refuses_it_naming_the_field(owner, scored) -> None:
    def post(body: dict):  # type: ignore[no-untyped-def]
        return owner.post("/api/dashboards/", json.dumps(body), content_type="application/json")

    bare = post(SCORES)
    assert bare.status_code == 422
    assert "needs the score it averages" in bare.json()["errors"]["score_name"][0]
    other = post({"metric": "cost", "group_by": "route", "score_name": "grade"})
    assert other.status_code == 422 and "score_name" in other.json()["errors"]
    made = post({**SCORES, "score_name": "grade"})
    assert made.status_code == 201 and made.json()["score_name"] == "grade"


def test_a_score_chart_pinned_before_asks_to_be_pinned_again(owner, scored) -> None:
    PinnedChart.objects.create(team=None, **SCORES)  # as migration 0078 leaves it
    page = owner.get("/?board=global").content.decode()
    assert "averaged every score name" in page
