"""``a2a_allowed`` on the console's key and team forms (issue #63): an admin grants
agents to a key, a team bounds its keys' agents, the key row shows what the key may
call within that bound, and a member cannot grant an agent from the form."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import ApiKey, Team


def key_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "caller",
        "rpm_limit": "",
        "tpm_limit": "",
        "budget_usd": "",
        "budget_period": "month",
        "expires_at": "",
        "mcp_allowed": "",
        "a2a_allowed": "",
        "team": "",
    }
    return {**data, **overrides}


def team_form(**overrides: str) -> dict[str, str]:
    return {"name": "agents", "budget_period": "month", **overrides}


def test_admin_grants_agents_on_the_key_form(staff_client: Client) -> None:
    reply = staff_client.post("/keys/new/", key_form(a2a_allowed="helper, planner"))
    assert reply.status_code == 200
    key = ApiKey.objects.get(name="caller")
    assert key.a2a_allowed == ["helper", "planner"]
    edit = staff_client.get(f"/keys/{key.pk}/edit/").content.decode()
    assert 'value="helper, planner"' in edit


def test_the_team_form_bounds_the_keys_agents(staff_client: Client) -> None:
    reply = staff_client.post("/teams/new/", team_form(a2a_restricted="on", a2a_allowed="helper"))
    assert reply.status_code in (200, 302)
    team = Team.objects.get(name="agents")
    assert team.a2a_allowed == ["helper"]
    staff_client.post("/keys/new/", key_form(team=str(team.pk), a2a_allowed="helper, planner"))
    page = staff_client.get("/keys/").content.decode()
    assert '<span class="pill a2a">helper</span>' in page
    assert '<span class="pill a2a">planner</span>' not in page
    assert "within team agents's agent limit" in page
    # the box off: no bound at all (None), not an empty bound
    staff_client.post(f"/teams/{team.pk}/", team_form(a2a_allowed="helper"))
    team.refresh_from_db()
    assert team.a2a_allowed is None
    page = staff_client.get(f"/teams/{team.pk}/").content.decode()
    assert 'name="a2a_restricted"' in page and 'name="a2a_allowed"' in page


@pytest.fixture
def member(db: None) -> tuple[User, Team]:
    team = Team.objects.create(name="alpha", a2a_allowed=["*"])
    user = User.objects.create_user("mem", password="pw-123456789")
    roles.set_role(user, "member")
    roles.assign_membership(user, team, "member")
    return user, team


def test_a_member_cannot_grant_an_agent_from_the_form(member: tuple[User, Team]) -> None:
    user, team = member
    client = Client()
    client.force_login(user)
    reply = client.post("/keys/new/", key_form(team=str(team.pk), a2a_allowed="helper"))
    assert reply.status_code == 403 and "a2a_allowed" in reply.content.decode()
    assert not ApiKey.objects.filter(name="caller").exists()
    # without a grant the same form saves
    reply = client.post("/keys/new/", key_form(team=str(team.pk)))
    assert reply.status_code == 200
    assert ApiKey.objects.get(name="caller").a2a_allowed == []
