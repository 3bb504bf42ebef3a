"""Writes through /api ask the field rules (``gateway.access.field_rules`` through
``writes.check_fields``): below admin, a key's or route's guardrails and tags are added,
never removed (M12); a team without MCP grants grants a key nothing new below admin
(M16); ``PATCH /api/users/<self>`` answers the role it stored (I14). Each with the
control that shows the path is live."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import ApiKey, Guardrail, Route, Team

pytestmark = pytest.mark.django_db

WORDS = {"blocked_words": [{"keyword": "x", "action": "BLOCK"}]}


@pytest.fixture
def world() -> dict:
    team = Team.objects.create(name="alpha")
    for name in ("strict", "extra"):
        Guardrail.objects.create(
            name=name, kind="litellm_content_filter", modes=["pre_call"], params=WORDS
        )
    users = {}
    for name, role in (("admin", "admin"), ("ed", "editor"), ("mem", "member")):
        users[name] = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(users[name], role)
    for name in ("ed", "mem"):
        roles.assign_membership(users[name], team, users[name].switchyard.role)
    key = ApiKey.objects.create(
        name="mine",
        prefix="sy-mine",
        key_hash="m" * 64,
        user=users["mem"],
        team=team,
        guardrails=["strict"],  # set by an admin
        tags=["cost-center:42"],
    )
    route = Route.objects.create(name="alpha-route", guardrails=["strict"])
    route.teams.set([team])
    return {"team": team, "users": users, "key": key, "route": route}


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def patch(client: Client, path: str, body: dict):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


# --- M12: keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["mem", "ed"])
@pytest.mark.parametrize(
    "body, field",
    [
        ({"guardrails": []}, "guardrails"),
        ({"guardrails": None}, "guardrails"),
        ({"guardrails": ["extra"]}, "guardrails"),  # swapped: strict removed
        ({"tags": []}, "tags"),
        ({"tags": "other"}, "tags"),
    ],
)
def test_below_admin_a_keys_guardrails_and_tags_are_never_removed(world, who, body, field):
    key = world["key"]
    reply = patch(as_user(world["users"][who]), f"/api/keys/{key.pk}", body)
    assert reply.status_code == 403, reply.content
    assert field in reply.json()["detail"] and "not remove" in reply.json()["detail"]
    key.refresh_from_db()
    assert key.guardrails == ["strict"] and key.tags == ["cost-center:42"]


@pytest.mark.parametrize("who", ["mem", "ed"])
def test_below_admin_a_key_gains_guardrails_and_tags(world, who):
    """Control: adding (and re-sending what is there) is free below admin."""
    key = world["key"]
    body = {"guardrails": ["strict", "extra"], "tags": ["cost-center:42", "mine"], "name": "x"}
    reply = patch(as_user(world["users"][who]), f"/api/keys/{key.pk}", body)
    assert reply.status_code == 200, reply.content
    key.refresh_from_db()
    assert key.guardrails == ["strict", "extra"] and key.tags == ["cost-center:42", "mine"]


def test_an_admin_removes_a_keys_guardrails_and_tags(world):
    key = world["key"]
    reply = patch(
        as_user(world["users"]["admin"]), f"/api/keys/{key.pk}", {"guardrails": [], "tags": []}
    )
    assert reply.status_code == 200, reply.content
    key.refresh_from_db()
    assert key.guardrails == [] and key.tags == []


# --- M12: routes -------------------------------------------------------------------------


def test_an_editor_may_not_strip_a_routes_guardrail_but_may_add_one(world):
    route, editor = world["route"], as_user(world["users"]["ed"])
    refused = patch(editor, f"/api/routes/{route.pk}", {"guardrails": []})
    assert refused.status_code == 403 and "guardrails" in refused.json()["detail"]
    route.refresh_from_db()
    assert route.guardrails == ["strict"]
    added = patch(editor, f"/api/routes/{route.pk}", {"guardrails": ["strict", "extra"]})
    assert added.status_code == 200, added.content
    route.refresh_from_db()
    assert route.guardrails == ["strict", "extra"]
    cleared = patch(
        as_user(world["users"]["admin"]), f"/api/routes/{route.pk}", {"guardrails": None}
    )
    assert cleared.status_code == 200 and cleared.json()["guardrails"] == []


# --- M16: a team with default settings (no MCP bound) ------------------------------------


def test_a_team_without_mcp_grants_grants_a_member_nothing(world):
    member = as_user(world["users"]["mem"])
    assert world["team"].mcp_allowed is None  # the team's default settings
    made = member.post(
        "/api/keys/", data=json.dumps({"name": "all", "mcp_allowed": ["*"]}),
        content_type="application/json",
    )  # fmt: skip
    assert made.status_code == 403 and "mcp_allowed" in made.json()["detail"]
    key = world["key"]
    widened = patch(member, f"/api/keys/{key.pk}", {"mcp_allowed": ["*"]})
    assert widened.status_code == 403
    # control: a key without MCP grants is made; once an admin bounds the team, a member
    # takes what it allows
    assert patch(member, f"/api/keys/{key.pk}", {"mcp_allowed": []}).status_code == 200
    world["team"].mcp_allowed = ["probe"]
    world["team"].save()
    assert patch(member, f"/api/keys/{key.pk}", {"mcp_allowed": ["probe"]}).status_code == 200


def test_an_admins_grant_on_a_team_without_a_bound_is_kept_not_widened(world):
    key, member = world["key"], as_user(world["users"]["mem"])
    admin = as_user(world["users"]["admin"])
    assert patch(admin, f"/api/keys/{key.pk}", {"mcp_allowed": ["probe"]}).status_code == 200
    assert patch(member, f"/api/keys/{key.pk}", {"name": "renamed"}).status_code == 200
    assert (
        patch(member, f"/api/keys/{key.pk}", {"mcp_allowed": ["probe", "other"]}).status_code == 403
    )
    assert patch(member, f"/api/keys/{key.pk}", {"mcp_allowed": []}).status_code == 200


# --- I14 ---------------------------------------------------------------------------------


def test_patching_ones_own_role_answers_the_stored_role():
    first = User.objects.create_user("first", password="pw-123456789")
    second = User.objects.create_user("second", password="pw-123456789")
    roles.set_role(first, "owner")
    roles.set_role(second, "owner")
    reply = patch(as_user(first), "/api/users/first", {"role": "admin"})
    assert reply.status_code == 200, reply.content
    assert reply.json()["role"] == "admin"
    assert roles.role_of_any(User.objects.get(username="first")) == "admin"


# --- every write asks the table ----------------------------------------------------------


def test_a_field_without_a_rule_is_refused_for_everyone(world, monkeypatch):
    """A field the table does not name is refused even to an admin (a new field is never
    open by mistake); with its rule back, the same write passes."""
    from gateway.access import field_rules

    admin, key = as_user(world["users"]["admin"]), world["key"]
    keys_rules = dict(field_rules.FIELDS["keys"])
    del keys_rules["name"]
    monkeypatch.setitem(field_rules.FIELDS, "keys", keys_rules)
    refused = patch(admin, f"/api/keys/{key.pk}", {"name": "renamed"})
    assert refused.status_code == 403 and "keys.name" in refused.json()["detail"]
    monkeypatch.undo()
    assert patch(admin, f"/api/keys/{key.pk}", {"name": "renamed"}).status_code == 200
