"""The console's key form refuses what /api refuses (one rule, ``key.grant``): a member
keeps their keys inside their team and its limits, and changes nothing when refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import ApiKey, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db) -> tuple[User, Team]:
    team = Team.objects.create(
        name="alpha", rpm_limit=10, budget_usd=Decimal("0.01"), mcp_allowed=["safe"]
    )
    user = User.objects.create_user("mem", password="pw-123456789")
    roles.set_role(user, "member")
    roles.assign_membership(user, team, "member")
    return user, team


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(**overrides) -> dict:
    data = {
        "name": "mine",
        "rpm_limit": "",
        "tpm_limit": "",
        "budget_usd": "",
        "budget_period": "month",
        "expires_at": "",
        "mcp_allowed": "",
        "team": "",
    }
    return {**data, **overrides}


def test_member_key_from_the_form_gets_the_team_and_its_limits(member) -> None:
    """Empty limits are the team's, followed live (#65), never a frozen copy."""
    user, team = member
    reply = signed_in(user).post("/keys/new/", form())
    assert reply.status_code == 200
    key = ApiKey.objects.get(name="mine")
    assert key.team == team and key.user == user
    assert key.rpm_limit is None and key.budget_usd is None


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"rpm_limit": "500"}, "rpm_limit"),
        ({"budget_usd": "10"}, "budget_usd"),
        ({"mcp_allowed": "*"}, "mcp_allowed"),
    ],
)
def test_member_form_beyond_the_team_is_refused(member, overrides, named) -> None:
    user, team = member
    reply = signed_in(user).post("/keys/new/", form(team=str(team.pk), **overrides))
    assert reply.status_code == 403 and named in reply.content.decode()
    assert not ApiKey.objects.filter(name="mine").exists()


def test_member_cannot_widen_their_key_from_the_edit_row(member) -> None:
    user, team = member
    key = ApiKey.objects.create(
        name="given",
        prefix="sy-g",
        key_hash="g" * 64,
        team=team,
        user=user,
        rpm_limit=5,
        budget_usd=Decimal("0.005"),
    )
    reply = signed_in(user).post(
        f"/keys/{key.pk}/edit/", form(name="given", team=str(team.pk), rpm_limit="5")
    )
    assert reply.status_code == 403 and "budget_usd" in reply.content.decode()
    key.refresh_from_db()
    assert key.budget_usd == Decimal("0.005")
