"""Budget alerts' tables (``gateway.models.alerts``): each settings row gets its own copy
of the default thresholds, and an alert is raised once per (scope, subject, period,
threshold, budget): a changed budget re-arms it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from gateway.models.alerts import DEFAULT_THRESHOLDS, AlertSettings, BudgetAlert

pytestmark = pytest.mark.django_db


def test_each_settings_row_holds_its_own_copy_of_the_default_thresholds() -> None:
    first = AlertSettings()
    first.default_thresholds.append(99)
    assert AlertSettings().default_thresholds == [50, 80, 100]
    assert DEFAULT_THRESHOLDS == [50, 80, 100]
    assert str(first) == "alert settings"


def alert(budget: str = "10", threshold: int = 80) -> BudgetAlert:
    return BudgetAlert.objects.create(
        scope="key",
        subject_id=7,
        subject_name="ci",
        period="m2026-01",
        threshold=threshold,
        budget_usd=Decimal(budget),
    )


def test_an_alert_is_raised_once_per_threshold_of_one_budget_and_rearmed_by_a_new_one() -> None:
    row = alert()
    assert str(row) == "key ci 80% of m2026-01"
    assert row.status == BudgetAlert.Status.PENDING
    with pytest.raises(IntegrityError), transaction.atomic():
        alert()
    alert(threshold=100)
    alert(budget="20")  # the budget changed: its thresholds are armed again
    assert BudgetAlert.objects.count() == 3
