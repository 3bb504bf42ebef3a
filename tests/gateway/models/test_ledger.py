"""The ledger tables (``gateway.models.ledger``): a ledger is once per counter and period,
a slice once per region; a bill's drift reads as a percent of the journal's cost (none
when the journal holds none)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from gateway.models.ledger import BillDrift, BudgetLedger, BudgetSlice


def test_the_drift_reads_as_a_percent_of_the_journals_cost() -> None:
    row = BillDrift(journal_usd=Decimal("3"), drift_usd=Decimal("-1"))
    assert row.drift_percent == Decimal("-33.3")
    assert BillDrift(journal_usd=Decimal("0"), drift_usd=Decimal("2")).drift_percent is None
    day = BillDrift(source="openai", provider="oa", route="r", day=date(2026, 1, 2))
    assert str(day) == "openai oa r 2026-01-02"


@pytest.mark.django_db
def test_a_ledger_is_once_per_counter_and_period_and_a_slice_once_per_region() -> None:
    ledger = BudgetLedger.objects.create(counter="12", period="m2026-11", budget_units=10)
    part = BudgetSlice.objects.create(ledger=ledger, region="eu", allotted_units=4)
    assert (str(ledger), str(part)) == ("12 m2026-11", "12 m2026-11 @ eu")
    with pytest.raises(IntegrityError), transaction.atomic():
        BudgetSlice.objects.create(ledger=ledger, region="eu")
    with pytest.raises(IntegrityError), transaction.atomic():
        BudgetLedger.objects.create(counter="12", period="m2026-11")
    BudgetLedger.objects.create(counter="12", period="m2026-12")
