""" "Spent $X of $Y this period" (issue #65) on the team page, the keys page (a key's own
budget, or its team's when it has none), the user page and the budgets the alerts
watch: read from the spend rollups of the current period, so last month's spend does
not count and no page reads the request log for it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from gateway import journal
from gateway.access import keys, roles
from gateway.models import Profile, Team

pytestmark = pytest.mark.django_db


def spend(key, usd: str, when: datetime | None = None) -> None:  # type: ignore[no-untyped-def]
    record = journal.Record(
        request_id=f"r-{key.pk}-{usd}",
        key_id=key.pk,
        key_name=key.name,
        dialect="openai",
        endpoint="chat",
        status=200,
        cost_usd=Decimal(usd),
    )
    if when is not None:
        record.created_at = when.timestamp()
    journal.write_batch([record])


def text(html: str) -> str:
    """The page's words, tags and runs of spaces gone."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def world():
    team = Team.objects.create(name="research", budget_usd=Decimal("5"), budget_period="month")
    owner = User.objects.create_user("boss", password="pw-123456789")
    roles.set_role(owner, "owner")
    member = User.objects.create_user("mem", password="pw-123456789")
    roles.set_role(member, "member")
    roles.assign_membership(member, team, "member")
    Profile.objects.filter(user=member).update(budget_usd=Decimal("10"), budget_period="month")
    follows = keys.create_key(name="follows", team=team, user=member).key  # no budget: the team's
    own = keys.create_key(name="own", team=team, user=member, budget_usd="2").key
    spend(follows, "2.00")
    spend(own, "0.83")
    spend(own, "4.00", datetime.now(UTC) - timedelta(days=40))  # an earlier period: not counted
    client = Client()
    client.force_login(owner)
    return team, member, client


def test_each_page_says_what_was_spent_of_the_budget_this_period(world) -> None:
    team, member, client = world
    team_page = text(client.get(reverse("console:team-edit", args=[team.pk])).content.decode())
    assert "Limits apply to all of the team's keys together" in team_page  # control
    assert "Spent $2.83 of $5.00 this month" in team_page  # 57 %
    assert "$5.00 this month 57%" in team_page

    keys_page = text(client.get(reverse("console:keys")).content.decode())
    assert "Spent $0.83 of $2.00 this month" in keys_page  # the key's own budget
    assert "Spent $2.83 of team research's $5.00 this month" in keys_page  # the team's

    user_page = text(client.get(reverse("console:user-detail", args=[member.pk])).content.decode())
    assert "Spent $2.83 of $10.00 this month" in user_page

    watched = text(client.get(reverse("console:alerts")).content.decode())
    assert "Budgets watched" in watched
    for line in ("$2.83 of $5.00", "$0.83 of $2.00", "$2.83 of $10.00"):
        assert f"Spent {line} this month" in watched
