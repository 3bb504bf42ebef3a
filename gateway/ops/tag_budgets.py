"""Tag budgets as /api and the console save them (``TagBudget``): a tag's budget per
period and rpm/tpm, counted across every key by every request carrying the tag
(gateway/limits/limits.py). One save for both, validated field by field (a
``ValidationError`` naming each bad field), and what a tag spent in its current period.

LiteLLM's tag budgets spell the amount ``max_budget`` and its reset ``budget_duration``
(``1d``, ``30d``, ``1mo``): both are taken here. Switchyard's budgets run per UTC day,
per UTC month or in total (``budget_period``), so a duration is taken when it names one
of them (``1d``, ``24h``: day; ``1mo``, ``30d``: month) and refused otherwise, naming
the field, rather than run on another clock than the one asked for."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from gateway.access import keys
from gateway.access.tag_bounds import clean_tags
from gateway.limits import spend
from gateway.models import TagBudget, TagSpendRollup
from gateway.telemetry.budget_spend import Standing

PERIODS = ("day", "month", "total")
DURATIONS = {"1d": "day", "24h": "day", "1mo": "month", "30d": "month"}


def parse_duration(value: object) -> str:
    """LiteLLM's ``budget_duration`` as a ``budget_period``."""
    text = str(value or "").strip().lower()
    if text in DURATIONS:
        return DURATIONS[text]
    raise ValueError(
        f"{value!r}: budgets here run per UTC day (1d), per UTC month (1mo or 30d) or in "
        "total (budget_period: total)"
    )


def _name(value: object) -> str:
    cleaned = clean_tags([value]) if isinstance(value, str) else ()
    if len(cleaned) != 1:
        raise ValueError("a tag: up to 64 printable characters, no comma")
    if "," in cleaned[0]:
        raise ValueError("a tag cannot hold a comma (x-switchyard-tags splits on commas)")
    return cleaned[0]


def _period(value: object) -> str:
    period = str(value or "month").strip().lower()
    if period not in PERIODS:
        raise ValueError(f"must be one of {', '.join(PERIODS)}, got {value!r}")
    return period


PARSERS = {
    "name": _name,
    "max_budget": keys.PARSERS["budget_usd"],
    "budget_period": _period,
    "budget_duration": parse_duration,
    "rpm_limit": keys.PARSERS["rpm_limit"],
    "tpm_limit": keys.PARSERS["tpm_limit"],
}
COLUMNS = {"max_budget": "budget_usd", "budget_duration": "budget_period"}


def save_tag_budget(row: TagBudget | None, fields: dict[str, Any]) -> TagBudget:
    """Validate ``fields`` (the API's names: ``max_budget``, ``budget_period`` or
    LiteLLM's ``budget_duration``, ``rpm_limit``, ``tpm_limit``, ``name``,
    ``description``) and save them on ``row`` (None: a new tag budget)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "description":
            clean["description"] = str(value or "").strip()
            continue
        parse = PARSERS.get(field)
        if parse is None:
            continue
        if field == "budget_duration" and value in (None, ""):
            continue
        try:
            clean[COLUMNS.get(field, field)] = parse(value)
        except ValueError as exc:
            errors[field] = [str(exc)]
    duration, period = fields.get("budget_duration"), fields.get("budget_period")
    given = duration not in (None, "") and period not in (None, "")
    if given and not errors and parse_duration(duration) != _period(period):
        errors["budget_duration"] = ["says another period than budget_period: give one"]
    if errors:
        raise ValidationError(errors)
    row = row or TagBudget()
    for column, value in clean.items():
        setattr(row, column, value)
    row.full_clean()
    row.save()
    return row


def period_spend(row: TagBudget) -> Decimal:
    """What the tag's requests spent in its current budget period, from the hourly tag
    spend rollups (a period starts on an hour; pages only, never on a request), the
    master key's excepted as admission counts it (``spend.load_tag_spend_sync``)."""
    return period_spends([row])[row.name]


def period_spends(rows: Iterable[TagBudget]) -> dict[str, Decimal]:
    """``period_spend`` of each of ``rows`` by name, in one query a budget period (day,
    month, total) however many tags: what a listing of budgets reads."""
    from django.db.models import Sum

    now = time.time()
    periods: dict[datetime | None, list[str]] = {}
    for row in rows:
        _, start, _ = spend.period_bounds(row.budget_period, now)
        periods.setdefault(start, []).append(row.name)
    spent: dict[str, Decimal] = {}
    for start, names in periods.items():
        spent.update(dict.fromkeys(names, Decimal(0)))
        found = TagSpendRollup.objects.filter(tag__in=names).exclude(key_id=0)
        if start is not None:
            found = found.filter(hour__gte=start)
        sums = found.order_by().values("tag").annotate(total=Sum("cost_usd"))
        spent.update((tag, total or Decimal(0)) for tag, total in sums.values_list("tag", "total"))
    return spent


def standing(row: TagBudget, spent: Decimal | None = None) -> Standing | None:
    """ "spent $X of $Y this month" for a tag with a budget (None: it has none)."""
    if row.budget_usd is None:
        return None
    spent = period_spend(row) if spent is None else spent
    return Standing(spent=spent, budget=row.budget_usd, period=row.budget_period)


def with_budgets(rows: list[dict[str, Any]]) -> None:
    """Each spend-by-tag row of a tag with a budget gets the budget (``max_budget``), its
    period and the tag's spend in the current period (``budget_spend``): one query for
    the budgets, one for their spend a budget period."""
    names = {row["tag"] for row in rows if row.get("tag")}
    if not names:
        return
    budgets = list(TagBudget.objects.filter(name__in=names, budget_usd__isnull=False))
    spends = period_spends(budgets)
    found = {b.name: (b, spends[b.name]) for b in budgets}
    for row in rows:
        if row.get("tag") in found:
            budget, spent = found[row["tag"]]
            row.update(
                max_budget=budget.budget_usd,
                budget_period=budget.budget_period,
                budget_spend=spent,
            )
