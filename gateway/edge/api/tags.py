"""Tag budgets in the management API (``/api/tags``): a tag's budget per period and its
rpm/tpm, counted across every key by every request carrying the tag, like a team's
(gateway/limits/limits.py). Owners and admins read and change them (spend over every
team); each answer says what the tag spent in its current period. LiteLLM's spelling
(``max_budget``, ``budget_duration``) is taken: ``gateway.ops.tag_budgets``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Schema, Status

from gateway.models import TagBudget
from gateway.ops import tag_budgets
from gateway.web import saving
from gateway.web.api.writes import ValidationErrors, check_fields
from gateway.web.http import first_or_404

router = Router(tags=["tags"])


class TagBudgetOut(Schema):
    id: int
    name: str
    description: str
    max_budget: Decimal | None  # USD per budget_period; null: no budget
    budget_period: str  # day, month or total
    rpm_limit: int | None
    tpm_limit: int | None
    spend: Decimal  # what the tag's requests spent in the current period
    created_at: datetime

    @staticmethod
    def resolve_max_budget(obj: TagBudget) -> Decimal | None:
        return obj.max_budget

    @staticmethod
    def resolve_spend(obj: TagBudget) -> Decimal:
        spent: Decimal | None = getattr(obj, "period_spent", None)  # a listing's (list_tags)
        return tag_budgets.period_spend(obj) if spent is None else spent


class TagBudgetPatch(Schema):
    """Limits accept a number, or null to remove the limit."""

    name: str | None = None
    description: str | None = None
    max_budget: Decimal | str | None = None  # USD (LiteLLM's name)
    budget_period: str | None = None  # day, month (the default) or total
    budget_duration: str | None = None  # LiteLLM's: 1d or 1mo (30d)
    rpm_limit: int | str | None = None
    tpm_limit: int | str | None = None


class TagBudgetIn(TagBudgetPatch):
    name: str


def _row(tag_id: int) -> TagBudget:
    row: TagBudget = first_or_404(TagBudget.objects.filter(pk=tag_id), f"no tag budget {tag_id}")
    return row


def _save(row: TagBudget | None, fields: dict[str, Any]) -> Status[Any]:
    try:
        saved = tag_budgets.save_tag_budget(row, fields)
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
    return Status(201 if row is None else 200, saved)


@router.get("/", response=list[TagBudgetOut])
def list_tags(request: HttpRequest) -> list[TagBudget]:
    rows = list(TagBudget.objects.all())
    spent = tag_budgets.period_spends(rows)  # their spends in one query a period
    for row in rows:
        row.period_spent = spent[row.name]
    return rows


@router.post("/", response={201: TagBudgetOut, 422: ValidationErrors})
def create_tag(request: HttpRequest, payload: TagBudgetIn) -> Status[Any]:
    fields = payload.dict(exclude_unset=True)
    check_fields(request, "tags", fields)
    return _save(None, fields)


@router.get("/{rowid:tag_id}", response=TagBudgetOut)
def get_tag(request: HttpRequest, tag_id: int) -> TagBudget:
    return _row(tag_id)


@router.patch("/{rowid:tag_id}", response={200: TagBudgetOut, 422: ValidationErrors})
def update_tag(request: HttpRequest, tag_id: int, payload: TagBudgetPatch) -> Status[Any]:
    row = _row(tag_id)
    fields = payload.dict(exclude_unset=True)
    check_fields(request, "tags", fields, row)
    return _save(row, fields)


@router.delete("/{rowid:tag_id}", response={204: None})
def delete_tag(request: HttpRequest, tag_id: int) -> Status[None]:
    _row(tag_id).delete()
    return Status(204, None)
