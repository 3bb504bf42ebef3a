"""Teams in the management API: owners and admins create, change and delete them (a
team that still has keys is a 409) and set their members' team roles; others see only
their own teams, any other is a 404 as an unknown one is; a refused value is a 422
naming its field, with nothing saved."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from gateway.access import keys, roles
from gateway.models import Membership, Team
from tests.gateway.features.people.accounts import as_user, made

pytestmark = pytest.mark.django_db


def send(client: Client, method: str, path: str, body: Any = None) -> Any:
    return getattr(client, method)(
        path, data=json.dumps(body or {}), content_type="application/json"
    )


@pytest.fixture
def people() -> dict[str, Any]:
    return made("owner", "admin", "editor", "member")


def test_an_admin_creates_reads_and_changes_a_team(people: dict[str, Any]) -> None:
    admin = as_user(people["admin"])
    made_ = send(
        admin, "post", "/api/teams/", {"name": "red", "rpm_limit": 60, "budget_usd": "12.5"}
    )
    assert made_.status_code == 201, made_.content
    team = made_.json()
    assert (team["name"], team["rpm_limit"], team["budget_period"]) == ("red", 60, "month")
    assert (
        Decimal(team["budget_usd"]) == Decimal("12.5")
        and team["members"] == []
        and team["keys"] == 0
    )
    changed = send(
        admin, "patch", f"/api/teams/{team['id']}", {"rpm_limit": None, "description": "d"}
    )
    assert changed.status_code == 200 and changed.json()["rpm_limit"] is None
    assert admin.get(f"/api/teams/{team['id']}").json()["description"] == "d"
    assert [t["name"] for t in admin.get("/api/teams/").json()] == ["red"]


def test_a_refused_value_is_a_422_naming_its_field(people: dict[str, Any]) -> None:
    admin = as_user(people["admin"])
    refused = send(admin, "post", "/api/teams/", {"name": "red", "budget_period": "fortnight"})
    assert refused.status_code == 422 and "budget_period" in refused.json()["errors"]
    assert not Team.objects.exists()
    team = Team.objects.create(name="blue")
    bad = send(admin, "patch", f"/api/teams/{team.pk}", {"rpm_limit": "lots"})
    assert bad.status_code == 422 and "rpm_limit" in bad.json()["errors"]
    team.refresh_from_db()
    assert team.rpm_limit is None


def test_members_see_only_their_own_teams(people: dict[str, Any]) -> None:
    red, blue = Team.objects.create(name="red"), Team.objects.create(name="blue")
    roles.assign_membership(people["member"], red, roles.MEMBER)
    member = as_user(people["member"])
    assert [t["name"] for t in member.get("/api/teams/").json()] == ["red"]
    assert member.get(f"/api/teams/{red.pk}").status_code == 200
    assert member.get(f"/api/teams/{blue.pk}").status_code == 404  # as an unknown one
    assert member.get("/api/teams/99999").status_code == 404
    assert send(member, "patch", f"/api/teams/{red.pk}", {"name": "mine"}).status_code == 403
    assert sorted(t["name"] for t in as_user(people["owner"]).get("/api/teams/").json()) == [
        "blue",
        "red",
    ]


def test_members_are_put_with_a_team_role_and_taken_out(people: dict[str, Any]) -> None:
    team = Team.objects.create(name="red")
    admin = as_user(people["admin"])
    put = send(admin, "put", f"/api/teams/{team.pk}/members/editor", {"role": "editor"})
    assert put.status_code == 200 and put.json()["members"] == [
        {"user": "editor", "role": "editor"}
    ]
    again = send(admin, "put", f"/api/teams/{team.pk}/members/editor", {})  # the default role
    assert again.json()["members"] == [{"user": "editor", "role": "member"}]
    owner_role = send(admin, "put", f"/api/teams/{team.pk}/members/member", {"role": "owner"})
    assert owner_role.status_code == 422 and "role" in owner_role.json()["errors"]
    assert send(admin, "put", f"/api/teams/{team.pk}/members/ghost", {}).status_code == 404
    gone = admin.delete(f"/api/teams/{team.pk}/members/editor")
    assert gone.status_code == 200 and gone.json()["members"] == []
    assert not Membership.objects.exists()


def test_a_team_with_keys_is_not_deleted(people: dict[str, Any]) -> None:
    team = Team.objects.create(name="red")
    keys.create_key(name="app", team=team)
    admin = as_user(people["admin"])
    refused = admin.delete(f"/api/teams/{team.pk}")
    assert refused.status_code == 409 and "still has keys" in refused.json()["errors"]["team"][0]
    assert admin.get(f"/api/teams/{team.pk}").json()["keys"] == 1
    empty = Team.objects.create(name="blue")
    assert admin.delete(f"/api/teams/{empty.pk}").status_code == 204
    assert not Team.objects.filter(pk=empty.pk).exists()
