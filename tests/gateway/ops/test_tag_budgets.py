"""The one save of a tag budget behind /api/tags and the console (LiteLLM's
``max_budget`` and ``budget_duration`` taken, every bad field named, nothing saved then),
and what a tag spent in its current period from the hourly tag rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gateway.models import TagBudget, TagSpendRollup
from gateway.ops import tag_budgets

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("duration", "period"), [("1d", "day"), (" 24H ", "day"), ("1mo", "month"), ("30d", "month")]
)
def test_a_litellm_duration_that_names_a_period_is_taken(duration, period):
    assert tag_budgets.parse_duration(duration) == period


@pytest.mark.parametrize("duration", ["7d", "1h", "", None, "month"])
def test_a_duration_on_another_clock_is_refused(duration):
    with pytest.raises(ValueError, match="per UTC day"):
        tag_budgets.parse_duration(duration)


def test_litellms_spelling_is_saved_in_the_columns():
    row = tag_budgets.save_tag_budget(
        None,
        {
            "name": " engineering ",
            "max_budget": "12.5",
            "budget_duration": "1d",
            "rpm_limit": 60,
            "description": "  the builders ",
            "unknown": "ignored",
        },
    )
    row.refresh_from_db()
    assert (row.name, row.budget_usd, row.budget_period) == (
        "engineering",
        Decimal("12.5"),
        "day",
    )
    assert (row.rpm_limit, row.description) == (60, "the builders")
    again = tag_budgets.save_tag_budget(row, {"budget_period": "total", "budget_duration": ""})
    assert again.pk == row.pk and TagBudget.objects.get().budget_period == "total"


def test_every_bad_field_is_named_and_nothing_is_saved():
    with pytest.raises(ValidationError) as raised:
        tag_budgets.save_tag_budget(None, {"name": "a,b", "budget_period": "week", "rpm_limit": -1})
    assert set(raised.value.message_dict) == {"name", "budget_period", "rpm_limit"}
    assert "comma" in raised.value.message_dict["name"][0]
    assert not TagBudget.objects.exists()


def test_a_duration_and_a_period_that_disagree_are_refused():
    with pytest.raises(ValidationError) as raised:
        tag_budgets.save_tag_budget(
            None, {"name": "ops", "budget_duration": "1d", "budget_period": "month"}
        )
    assert list(raised.value.message_dict) == ["budget_duration"]
    row = tag_budgets.save_tag_budget(
        None, {"name": "ops", "budget_duration": "1mo", "budget_period": "month"}
    )
    assert row.budget_period == "month"


def spent(tag: str, hour: datetime, usd: str, key_id: int = 7) -> None:
    TagSpendRollup.objects.create(hour=hour, tag=tag, key_id=key_id, cost_usd=Decimal(usd))


def test_the_periods_spend_counts_its_hours_but_not_the_master_keys():
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    today = now.replace(hour=0)
    spent("eng", now, "1.25")
    spent("eng", today, "0.75", key_id=8)
    spent("eng", today - timedelta(hours=1), "5")  # yesterday
    spent("eng", now, "100", key_id=0)  # the master key's: admission excepts it
    spent("other", now, "9")
    daily = TagBudget.objects.create(name="eng", budget_usd=Decimal(10), budget_period="day")
    assert tag_budgets.period_spend(daily) == Decimal("2.00")
    daily.budget_period = "total"
    assert tag_budgets.period_spend(daily) == Decimal("7.00")
    standing = tag_budgets.standing(daily)
    assert (standing.spent, standing.budget, standing.period) == (
        Decimal("7.00"),
        Decimal(10),
        "total",
    )
    assert tag_budgets.standing(TagBudget(name="free")) is None


def test_spend_rows_of_budgeted_tags_get_their_budget_and_spend():
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    spent("eng", now, "3")
    TagBudget.objects.create(name="eng", budget_usd=Decimal(10), budget_period="month")
    TagBudget.objects.create(name="free")  # no budget: its rows stay as they are
    rows = [{"tag": "eng", "cost": 3}, {"tag": "free"}, {"tag": ""}]
    tag_budgets.with_budgets(rows)
    assert rows == [
        {
            "tag": "eng",
            "cost": 3,
            "max_budget": Decimal("10.00000000"),
            "budget_period": "month",
            "budget_spend": Decimal("3.00000000"),
        },
        {"tag": "free"},
        {"tag": ""},
    ]


def test_the_spends_of_many_tags_are_each_ones_in_a_query_a_period() -> None:
    """A listing's spends: each tag's as ``period_spend`` says (its own period, the
    master key's excepted), a tag without rollups at 0, one query a budget period."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    budgets = []
    for n, period in enumerate(("day", "month", "total", "day", "month", "total", "day")):
        name = f"t{n}"
        spent(name, now, str(n + 1))
        spent(name, now - timedelta(days=40), "50")  # this month's and today's leave it out
        spent(name, now, "100", key_id=0)
        budgets.append(TagBudget.objects.create(name=name, budget_period=period))
    budgets.append(TagBudget.objects.create(name="idle", budget_period="day"))
    with CaptureQueriesContext(connection) as queries:
        spends = tag_budgets.period_spends(budgets)
    assert len(queries.captured_queries) == 3
    assert spends == {b.name: tag_budgets.period_spend(b) for b in budgets}
    assert (spends["t0"], spends["t2"], spends["idle"]) == (Decimal(1), Decimal(53), Decimal(0))
