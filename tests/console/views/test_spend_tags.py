"""The Spend page's tag parts (``console.views.spend_tags``): the costliest tags in the
window from the tag rollups (only the key filter, by its name, applies; a reader's own keys when given;
the table cut at ``TABLE_ROWS``), each budgeted tag's standing for readers of every key's
spend, and the tag budgets with the form that adds one. The page around them:
``test_tag_budgets.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from console.views import spend_tags
from gateway.models import TagBudget, TagSpendRollup

pytestmark = pytest.mark.django_db

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def spent(tag: str, key_id: int, usd: str, hours_ago: int = 0) -> None:
    TagSpendRollup.objects.create(
        hour=HOUR - timedelta(hours=hours_ago), tag=tag, key_id=key_id, key_name=f"k{key_id}",
        requests=1, cost_usd=Decimal(usd),
    )  # fmt: skip


def test_the_costliest_tags_of_the_window_and_the_readers_keys() -> None:
    spent("search", 1, "3")
    spent("search", 2, "1")
    spent("prod", 2, "2")
    spent("old", 1, "50", hours_ago=24 * 40)
    since = HOUR - timedelta(days=30)
    section = spend_tags.tag_section(since, {"key": "k2", "route": "chat", "model": "x"})
    assert [(r["tag"], r["cost_usd"]) for r in section["rows"]] == [
        ("prod", Decimal(2)), ("search", Decimal(1)),
    ]  # fmt: skip
    assert section["ignored"] == ["model", "route"] and section["total"] == 2
    assert not section["budgets"] and "standing" not in section["rows"][0]
    own = spend_tags.tag_section(since, {}, key_ids=[1])
    assert [(r["tag"], r["cost_usd"]) for r in own["rows"]] == [("search", Decimal(3))]


def test_the_table_is_cut_but_counts_every_tag(monkeypatch) -> None:
    monkeypatch.setattr(spend_tags, "TABLE_ROWS", 2)
    for n in range(4):
        spent(f"t{n}", 1, str(n + 1))
    section = spend_tags.tag_section(HOUR - timedelta(days=1), {})
    assert [r["tag"] for r in section["rows"]] == ["t3", "t2"] and section["total"] == 4


def test_budgeted_tags_show_their_standing_to_readers_of_every_key() -> None:
    spent("search", 1, "1.5")
    spent("search", 0, "9")  # the master key's: not counted against the budget
    spent("prod", 1, "1")
    TagBudget.objects.create(name="search", budget_usd=Decimal(5), budget_period="month")
    rows = spend_tags.tag_section(HOUR - timedelta(days=1), {}, budgets=True)["rows"]
    search = next(r for r in rows if r["tag"] == "search")
    assert str(search["standing"]) == "spent $1.50 of $5.00 this month"
    assert "standing" not in next(r for r in rows if r["tag"] == "prod")


def test_the_budgets_section_and_its_form() -> None:
    spent("search", 1, "2")
    TagBudget.objects.create(name="search", budget_usd=Decimal(4), budget_period="month")
    TagBudget.objects.create(name="limits-only", rpm_limit=5)
    section = spend_tags.budgets_section()
    standing = {row.name: row.standing for row in section["rows"]}
    assert standing["limits-only"] is None and standing["search"].spent == Decimal(2)
    assert isinstance(section["form"], spend_tags.TagBudgetForm) and not section["form"].is_bound
    bad = spend_tags.TagBudgetForm(
        {"name": "x", "budget_period": "week", "max_budget": "-1", "rpm_limit": "0"}
    )
    assert not bad.is_valid()
    assert set(bad.errors) == {"budget_period", "max_budget", "rpm_limit"}
    kept = spend_tags.budgets_section(bad)["form"]
    assert kept is bad
