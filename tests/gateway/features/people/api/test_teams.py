"""/api/teams: a listing's queries do not grow with its teams, members and keys, and an
answer after a member's change shows the team as it is now."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from gateway.access import roles
from gateway.models import ApiKey, Team

pytestmark = pytest.mark.django_db
MASTER = "sy-master-teams-api"


@pytest.fixture
def api(settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def _team(name: str, members: int, keys: int) -> Team:
    team = Team.objects.create(name=name)
    for n in range(members):
        user = User.objects.create_user(f"{name}-user-{n}", password="pw-123456789")
        roles.assign_membership(user, team, "member")
    for n in range(keys):
        ApiKey.objects.create(
            name=f"{name}-key-{n}", key_hash=f"{name}-{n}".ljust(64, "0"), team=team
        )
    return team


def test_listing_teams_costs_the_same_queries_for_one_team_or_many(api: Client) -> None:
    _team("alpha", members=1, keys=1)
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/teams/").json()) == 1
    for n in range(4):
        _team(f"beta-{n}", members=3, keys=2)
    with CaptureQueriesContext(connection) as five:
        listed = api.get("/api/teams/").json()
    assert [t["name"] for t in listed][:2] == ["alpha", "beta-0"]
    assert listed[1]["keys"] == 2 and len(listed[1]["members"]) == 3
    assert listed[1]["members"][0] == {"user": "beta-0-user-0", "role": "member"}
    assert len(five.captured_queries) == len(one.captured_queries), [
        q["sql"][:120] for q in five.captured_queries
    ]


def test_a_member_added_or_removed_is_in_the_answer(api: Client) -> None:
    team = _team("gamma", members=1, keys=0)
    User.objects.create_user("newcomer", password="pw-123456789")
    added = api.put(
        f"/api/teams/{team.pk}/members/newcomer",
        {"role": "viewer"},
        content_type="application/json",
    )
    assert added.status_code == 200, added.content
    assert {"user": "newcomer", "role": "viewer"} in added.json()["members"]
    removed = api.delete(f"/api/teams/{team.pk}/members/newcomer").json()
    assert [m["user"] for m in removed["members"]] == ["gamma-user-0"]
    assert api.get(f"/api/teams/{team.pk}").json()["keys"] == 0
