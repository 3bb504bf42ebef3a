"""A member's key with empty limits follows its team live (issue #65): the key form
says "empty: the team's", and that is what is stored: no copy of the team's limits of
the day. ``key.grant`` still bounds a key below admin by its team: an empty limit is
the team's (counted on every request of the key, through the snapshot's team entry), a
set one is at most the team's."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import registry, roles
from gateway.base.errors import RateLimited
from gateway.limits import limits, spend
from gateway.models import ApiKey, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_and_member(settings, monkeypatch):
    """The lead's repro: a team at $0.10 and 100 rpm, one member; counters in this
    process and no spend in the request log yet."""
    settings.REDIS_URL = ""
    limits.reset()

    async def nothing(counter_id, start):  # type: ignore[no-untyped-def]
        return Decimal("0")

    monkeypatch.setattr(spend, "load_counter_spend", nothing)
    team = Team.objects.create(
        name="research", rpm_limit=100, budget_usd=Decimal("0.10"), budget_period="month"
    )
    member = User.objects.create_user("mem", password="pw-123456789")
    roles.set_role(member, "member")
    roles.assign_membership(member, team, "member")
    client = Client()
    client.force_login(member)
    yield team, client
    limits.reset()


def post(client: Client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def entry_of(raw: str):
    return registry.build_snapshot().keys[hashlib.sha256(raw.encode()).hexdigest()]


def spend_and_admit(raw: str, spent: Decimal) -> None:
    """Spend ``spent`` on the key, then ask for one more request."""
    key = entry_of(raw)

    async def run() -> None:
        first = await limits.admit(key, "echo", 1)
        await first.settle(1, spent)
        await limits.admit(key, "echo", 1)

    async_to_sync(run)()


def test_an_empty_limit_on_a_members_key_follows_the_team_after_it_changes(
    lead_and_member,
) -> None:
    team, client = lead_and_member
    made = post(client, "/api/keys/", {"name": "mine"})
    assert made.status_code == 201, made.content
    stored = ApiKey.objects.get(pk=made.json()["id"])
    # stored empty: no frozen copy of the team's $0.10 and 100 rpm
    assert (stored.budget_usd, stored.rpm_limit, stored.tpm_limit) == (None, None, None)
    assert stored.team_id == team.pk

    team.budget_usd = Decimal("5")  # the lead raises the team's budget
    team.save()
    entry = entry_of(made.json()["key"])
    assert entry.budget_usd is None and entry.team is not None
    assert entry.team.budget_usd == Decimal("5") and entry.team.rpm_limit == 100
    spend_and_admit(made.json()["key"], Decimal("0.10"))  # past the old $0.10: admitted

    # control: a key holding its own $0.10 (what the member's key held before) is
    # refused once it spent that, whatever the team's budget is now
    frozen = post(client, "/api/keys/", {"name": "frozen", "budget_usd": "0.10"})
    assert frozen.status_code == 201, frozen.content
    with pytest.raises(RateLimited) as refused:
        spend_and_admit(frozen.json()["key"], Decimal("0.10"))
    assert "this API key's budget of $0.1000" in refused.value.message


def test_a_members_key_is_still_bounded_by_its_team(lead_and_member) -> None:
    team, client = lead_and_member
    wider = post(client, "/api/keys/", {"name": "wide", "budget_usd": "0.50"})
    assert wider.status_code == 403 and "budget_usd" in wider.json()["detail"]
    faster = post(client, "/api/keys/", {"name": "fast", "rpm_limit": 101})
    assert faster.status_code == 403 and "rpm_limit" in faster.json()["detail"]
    # the team's limits count the key whose own are empty
    made = post(client, "/api/keys/", {"name": "mine"})
    with pytest.raises(RateLimited) as refused:
        spend_and_admit(made.json()["key"], Decimal("0.10"))
    assert "team research's budget" in refused.value.message
    # a member lowers a limit on their key, never clears it to the team's (wider)
    within = post(client, "/api/keys/", {"name": "within", "rpm_limit": 5})
    for change, status in (({"rpm_limit": None}, 403), ({"rpm_limit": 3}, 200)):
        patched = client.patch(
            f"/api/keys/{within.json()['id']}",
            data=json.dumps(change),
            content_type="application/json",
        )
        assert patched.status_code == status, patched.content
    assert ApiKey.objects.get(pk=within.json()["id"]).rpm_limit == 3
