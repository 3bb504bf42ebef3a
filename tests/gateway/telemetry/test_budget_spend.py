"""Spend against budgets (``gateway.telemetry.budget_spend``): a standing says what was
spent of what, in words and percent; the ledger reads a key's, a team's (its keys') and
a user's (the keys they own) spend in the current period from the spend rollups, and a
key without a budget of its own stands against its team's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from gateway.models import ApiKey, Team
from gateway.models.telemetry import SpendRollup
from gateway.telemetry.budget_spend import Ledger, Standing, spend_by_key

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def test_a_standing_says_what_was_spent_of_what() -> None:
    standing = Standing(Decimal("2.834"), Decimal("5"), "month")
    assert str(standing) == "spent $2.83 of $5.00 this month"
    assert (standing.percent, standing.left, standing.over) == (57, Decimal("2.166"), False)
    team = Standing(Decimal("6"), Decimal("5"), "day", "team research's")
    assert str(team) == "spent $6.00 of team research's $5.00 today"
    assert (team.percent, team.left, team.over) == (120, Decimal(0), True)
    assert Standing(Decimal("1"), Decimal("0"), "total").percent == 100
    assert Standing(Decimal("0"), Decimal("0"), "total").percent == 0
    assert Standing(Decimal("0"), Decimal("1"), "week").when == "this period"
    assert Standing(Decimal("0.005"), Decimal("1"), "total").percent == 1  # rounded half up


def spend(key_id: int, cost: str, at: datetime) -> None:
    SpendRollup.objects.create(hour=at, key_id=key_id, cost_usd=Decimal(cost), route=cost)


@pytest.fixture
def keys(db):  # type: ignore[no-untyped-def]
    team = Team.objects.create(name="research", budget_usd=Decimal("10"), budget_period="month")
    ada = User.objects.create_user("ada")
    a = ApiKey.objects.create(name="a", prefix="sy-a", key_hash="a" * 64, team=team, user=ada)
    b = ApiKey.objects.create(name="b", prefix="sy-b", key_hash="b" * 64, team=team)
    c = ApiKey.objects.create(
        name="c", prefix="sy-c", key_hash="c" * 64, user=ada, budget_usd=Decimal("1"),
        budget_period="day",
    )  # fmt: skip
    spend(a.pk, "1", NOW)
    spend(a.pk, "2", NOW - timedelta(days=1))  # this month, not today
    spend(b.pk, "4", NOW)
    spend(c.pk, "0.5", NOW)
    spend(c.pk, "8", NOW - timedelta(days=40))  # last month
    spend(0, "100", NOW)  # the master key belongs to no budget
    return a, b, c


def test_spend_by_key_since_a_start_and_for_some_keys(keys) -> None:
    a, b, c = keys
    assert spend_by_key(None) == {a.pk: 3, b.pk: 4, c.pk: Decimal("8.5")}
    assert spend_by_key(NOW - timedelta(hours=1), [a.pk]) == {a.pk: 1}


def test_the_ledger_reads_each_scope_in_its_current_period(
    keys, django_assert_max_num_queries
) -> None:
    a, b, c = keys
    ledger = Ledger(NOW.timestamp())
    assert ledger.period_id("month") == "m2026-03" and ledger.period_id("day") == "d2026-03-15"
    with django_assert_max_num_queries(4):  # a read per period start (3), one of the owners
        assert ledger.spent("key", a.pk, "month") == 3
        assert ledger.spent("key", a.pk, "day") == 1
        assert ledger.spent("team", a.team_id, "month") == 7
        assert ledger.spent("user", a.user_id, "month") == Decimal("3.5")
        assert ledger.spent("user", a.user_id, "total") == Decimal("11.5")
        assert ledger.key(999, "month") == 0


def test_a_key_stands_against_its_own_budget_else_its_teams(keys) -> None:
    a, b, c = keys
    ledger = Ledger(NOW.timestamp())
    assert ledger.of_key(c) == Standing(Decimal("0.5"), Decimal("1"), "day")
    assert ledger.of_key(a) == Standing(Decimal(7), Decimal(10), "month", "team research's")
    alone = ApiKey.objects.create(name="d", prefix="sy-d", key_hash="d" * 64)
    assert ledger.of_key(alone) is None
    assert ledger.standing("key", a.pk, None, "month") is None
