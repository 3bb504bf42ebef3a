"""The spend page's tag parts, apart from the page's own tables so they move with spend
wherever spend is shown: the table by request tag, read from the tag spend rollups
(``gateway.telemetry.tag_spend``; a request with several tags counts under each, so the
rows do not add up to the page's total; only the key filter applies, the tag rollups
being per tag and key), and, for owners and admins, the tags' budgets ("spent $X of $Y
this month") with the form that sets them (``gateway.ops.tag_budgets``: the same save
and field rules as ``/api/tags``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from django import forms

from gateway.models import TagBudget
from gateway.ops import tag_budgets
from gateway.telemetry import tag_spend
from gateway.telemetry.budget_spend import Standing
from gateway.web.fields import PlainDecimalField

TABLE_ROWS = 50


def tag_section(
    since: datetime,
    filters: dict[str, str],
    key_ids: Collection[int] | None = None,
    budgets: bool = False,
) -> dict[str, Any]:
    """What ``console/_spend_by_tag.html`` shows: the costliest tags in the window
    (of ``key_ids`` only, when given: a reader's own keys); with ``budgets`` (a reader
    of every key's spend) each budgeted tag's standing in its current period."""
    kept = {name: value for name, value in filters.items() if name == "key"}
    rows = tag_spend.query(["tag"], since=since, filters=kept, limit=100_000, key_ids=key_ids)
    shown = rows[:TABLE_ROWS]
    if budgets:
        tag_budgets.with_budgets(shown)
        for row in shown:
            if row.get("max_budget") is not None:
                row["standing"] = Standing(
                    spent=row["budget_spend"], budget=row["max_budget"], period=row["budget_period"]
                )
    return {
        "rows": shown,
        "total": len(rows),
        "ignored": sorted(name for name in filters if name != "key"),
        "budgets": budgets,
    }


class TagBudgetForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="the tag, as requests carry it")
    description = forms.CharField(max_length=500, required=False)
    max_budget = PlainDecimalField(required=False, min_value=0, label="Budget (USD)")
    budget_period = forms.ChoiceField(
        choices=[("day", "Per day"), ("month", "Per month"), ("total", "In total")],
        initial="month",
    )
    rpm_limit = forms.IntegerField(required=False, min_value=1, label="Requests / min")
    tpm_limit = forms.IntegerField(required=False, min_value=1, label="Tokens / min")


def budgets_section(form: TagBudgetForm | None = None) -> dict[str, Any]:
    """The tag budgets and their standing, with the form that adds one."""
    rows = list(TagBudget.objects.all())
    spent = tag_budgets.period_spends(rows)
    for row in rows:
        row.standing = tag_budgets.standing(row, spent[row.name])
    return {"rows": rows, "form": form or TagBudgetForm()}
