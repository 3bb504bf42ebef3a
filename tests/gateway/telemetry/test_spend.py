"""Spend dimensions are one line each: a rollup column, or a field reached through the
key (how ``team`` groups once keys belong to teams). Proven with a toy dimension through
the key's prefix; ``team`` is offered exactly when ``ApiKey`` has a team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.models import ApiKey
from gateway.models.telemetry import SpendRollup
from gateway.telemetry import spend

pytestmark = pytest.mark.django_db
HOUR = datetime(2026, 5, 4, 10, tzinfo=UTC)


@pytest.fixture
def rollups():
    a = ApiKey.objects.create(name="a", prefix="sy-aaaa", key_hash="a" * 64)
    b = ApiKey.objects.create(name="b", prefix="sy-bbbb", key_hash="b" * 64)
    rows = [
        (HOUR, a, "u1", "0.50"),
        (HOUR + timedelta(hours=1), a, "u2", "0.25"),
        (HOUR + timedelta(days=1), b, "u1", "1.00"),
    ]
    for hour, key, user, cost in rows:
        SpendRollup.objects.create(
            hour=hour, key_id=key.pk, key_name=key.name, end_user=user, requests=2,
            input_tokens=10, output_tokens=5, cost_usd=Decimal(cost),
        )  # fmt: skip
    return a, b


def test_a_dimension_through_the_key_is_one_line(rollups, monkeypatch):
    monkeypatch.setitem(spend.DIMENSIONS, "prefix", spend.Dimension("Prefix", through_key="prefix"))
    rows = spend.query(["prefix"])
    assert [(r["prefix"], r["cost_usd"], r["requests"]) for r in rows] == [
        ("sy-bbbb", Decimal("1.00000000"), 2),
        ("sy-aaaa", Decimal("0.75000000"), 4),
    ]
    by_day = spend.query(["prefix", "end_user"], bucket="day")
    assert [(r["bucket"][:10], r["prefix"], r["end_user"]) for r in by_day] == [
        ("2026-05-04", "sy-aaaa", "u1"),
        ("2026-05-04", "sy-aaaa", "u2"),
        ("2026-05-05", "sy-bbbb", "u1"),
    ]
    assert spend.query(["end_user"], filters={"prefix": "sy-aaaa"})[0]["end_user"] == "u1"


def test_ranges_and_totals(rollups):
    (total,) = spend.query([], since=HOUR, until=HOUR + timedelta(hours=2))
    assert total["requests"] == 4 and total["tokens"] == 30
    assert total["cost_usd"] == Decimal("0.75")
    assert spend.query([], since=HOUR + timedelta(days=9)) == []


def test_team_is_offered_when_keys_have_a_team():
    has_team = any(f.name == "team" for f in ApiKey._meta.get_fields())
    assert spend.DIMENSIONS["team"].available() is has_team
    if not has_team:
        with pytest.raises(spend.BadQuery, match="team"):
            spend.dimensions(["team"])


def test_spend_by_team_through_the_keys_team(rollups):
    from gateway.models import Team

    a, b = rollups
    red = Team.objects.create(name="red")
    ApiKey.objects.filter(pk=a.pk).update(team=red)
    rows = spend.query(["team"])
    assert {(r["team"], r["cost_usd"], r["requests"]) for r in rows} == {
        ("red", Decimal("0.75000000"), 4),
        ("", Decimal("1.00000000"), 2),  # a key without a team
    }
    assert spend.query(["end_user"], filters={"team": "red"})[0]["requests"] == 2
