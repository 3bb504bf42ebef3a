"""The ledger of one budget across regions, in the database (``gateway.limits.ledger_rows``):
a region is granted what is free of the budget (never more; noting who wanted when
nothing is), gives back, reads its slice, records what it spent, lists its current
slices with every region's total and a recent want; ledgers of periods over for a day
are pruned. (The regions end to end: ``test_budget_ledger.py``.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from gateway.limits import ledger_rows
from gateway.models import BudgetLedger, BudgetSlice

pytestmark = pytest.mark.django_db
NOW = timezone.now().timestamp()
MONTH = datetime.fromtimestamp(NOW, UTC).strftime("m%Y-%m")


def grant(region: str, want: int, need: int = 1, budget: int | None = 100) -> int:
    return ledger_rows.grant_sync(region, "12", MONTH, "month", NOW, budget, want, need)


def test_the_settings_and_their_defaults(settings) -> None:
    assert (ledger_rows.slice_percent(), ledger_rows.sync_seconds()) == (10.0, 2.0)
    assert ledger_rows.idle_seconds() == 30.0
    settings.SWITCHYARD_LEDGER_SLICE_PERCENT = 25
    assert ledger_rows.slice_percent() == 25.0


def test_a_region_is_granted_what_is_free_and_never_more() -> None:
    assert grant("eu", 60) == 60
    assert grant("us", 60) == 40  # what is left
    assert grant("us", 10) == 0
    ledger = BudgetLedger.objects.get(counter="12", period=MONTH)
    assert (ledger.wanted_by, ledger.wanted_at is not None) == ("us", True)
    assert ledger.period_end is not None and ledger.budget_units == 100
    assert ledger_rows.slice_of_sync("eu", "12", MONTH) == (60, 0)
    assert ledger_rows.slice_of_sync("asia", "12", MONTH) == (0, 0)


def test_a_need_bigger_than_what_is_free_gets_nothing() -> None:
    grant("eu", 95)
    assert grant("us", 2, need=10) == 0
    assert grant("us", 2, need=5) == 5  # at least the need, though it wanted fewer
    ledger = BudgetLedger.objects.get(counter="12", period=MONTH)
    assert ledger.wanted_by == ""  # the region that wanted got its room


def test_a_budget_raised_by_the_asker_makes_room() -> None:
    grant("eu", 100)
    assert grant("us", 10) == 0
    assert grant("us", 10, budget=150) == 10
    assert grant("us", 10, budget=None) == 10  # as the ledger has it now
    assert BudgetLedger.objects.get().budget_units == 150


def test_giving_back_and_recording_spend() -> None:
    grant("eu", 50)
    ledger_rows.give_back_sync("eu", "12", MONTH, 20)
    ledger_rows.give_back_sync("eu", "12", MONTH, 999)
    ledger_rows.give_back_sync("us", "12", MONTH, 5)  # no slice: nothing
    ledger_rows.give_back_sync("eu", "none", MONTH, 5)  # no ledger: nothing
    assert ledger_rows.slice_of_sync("eu", "12", MONTH) == (0, 0)
    grant("eu", 30)
    ledger_rows.record_spent_sync("eu", {("12", MONTH): 7, ("other", MONTH): 1})
    assert ledger_rows.slice_of_sync("eu", "12", MONTH) == (30, 7)
    assert BudgetSlice.objects.get().synced_at is not None


def test_a_regions_current_slices_with_the_total_and_a_recent_want() -> None:
    grant("eu", 30)
    grant("us", 70)
    grant("us", 1)  # nothing left: us wanted
    ledger_rows.grant_sync("eu", "tag:ci", "total", "total", NOW, 10, 4, 1)
    old = BudgetLedger.objects.create(
        counter="12", period="m2020-01", period_end=timezone.now() - timedelta(days=3)
    )
    BudgetSlice.objects.create(ledger=old, region="eu", allotted_units=5)
    rows = sorted(ledger_rows.region_rows_sync("eu"), key=lambda row: row.counter)
    assert [(r.counter, r.kind, r.allotted, r.total, r.wanted_by) for r in rows] == [
        ("12", "month", 30, 100, "us"),
        ("tag:ci", "total", 4, 4, ""),
    ]
    BudgetLedger.objects.filter(period=MONTH).update(
        wanted_at=timezone.now() - timedelta(minutes=5)
    )
    assert all(r.wanted_by == "" for r in ledger_rows.region_rows_sync("eu"))  # gone stale
    assert ledger_rows.prune_sync() == 2  # the old ledger and its slice
    assert not BudgetLedger.objects.filter(pk=old.pk).exists()
