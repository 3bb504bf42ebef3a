"""Alerts re-arm when the budget changes (issue #65): an alert is for a threshold of
*this* budget. The lead's repro: a team at $0.10 crossed 100 %, the lead raised it to
$5, the team spent $2.83 (57 %): the 50 % alert of the $5 is raised."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User

from gateway.access import keys
from gateway.features.alerts import evaluate
from gateway.models import Team
from tests.gateway.features.alerts.test_budget_alerts import AT, alerts, spend


def test_a_raised_budget_rearms_its_thresholds(db) -> None:
    team = Team.objects.create(name="research", budget_usd=Decimal("0.10"), budget_period="month")
    member = User.objects.create_user("mem")
    key = keys.create_key(name="mine", team=team, user=member).key  # no budget of its own

    spend(key, "0.10")  # 100 % of $0.10: the live path raises the 100 % alert
    assert evaluate.raise_alerts(AT)
    assert [(a[0], a[3], a[4]) for a in alerts()] == [
        ("team", 50, "superseded"),
        ("team", 80, "superseded"),
        ("team", 100, "unsent"),
    ]

    team.budget_usd = Decimal("5")  # the lead raises the budget
    team.save()
    assert evaluate.raise_alerts(AT) == []  # 2 % of $5: nothing yet
    spend(key, "2.73")  # $2.83 of $5: 57 %
    (raised,) = evaluate.raise_alerts(AT)
    fifty = [a for a in evaluate.BudgetAlert.objects.filter(pk=raised)][0]
    assert (fifty.scope, fifty.threshold, fifty.budget_usd) == ("team", 50, Decimal("5"))
    assert fifty.spend_usd == Decimal("2.83")
    assert evaluate.raise_alerts(AT) == []  # once per threshold of this budget
    spend(key, "1.20")  # $4.03: 80 % of $5
    assert len(evaluate.raise_alerts(AT)) == 1
    assert ("team", "research", "m2026-03", 80, "unsent") in alerts()
