"""Score configs in the management API (``/api/score-configs``): what a score of a given
name may hold (a number within a range, one of some categories, a boolean). Once a config
names a score, every score of that name is checked against it, from ``POST
/api/logs/{id}/scores``, a judge or a reviewer (``gateway.telemetry.scores.governed``).
Anyone with a role reads them (they describe what to give); owners and admins change
them. A bad field is a 422 naming it, every field's problem at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status

from gateway.models import ScoreConfig
from gateway.telemetry import audit, scores
from gateway.web.api.writes import ValidationErrors, check_fields
from gateway.web.http import first_or_404

router = Router(tags=["score configs"])


class ScoreConfigOut(Schema):
    id: int
    name: str
    data_type: str  # numeric | categorical | boolean
    min_value: float | None
    max_value: float | None
    categories: list[str]
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime


class ScoreConfigPatch(Schema):
    name: str | None = None
    data_type: str | None = None  # numeric, categorical or boolean
    min_value: float | str | None = None  # numeric only; null: open
    max_value: float | str | None = None
    categories: list[str] | str | None = None  # categorical only, at least two
    description: str | None = None


class ScoreConfigIn(ScoreConfigPatch):
    name: str
    data_type: str


def _row(config_id: int) -> ScoreConfig:
    rows = ScoreConfig.objects.filter(pk=config_id)
    row: ScoreConfig = first_or_404(rows, f"no score config {config_id}")
    return row


def _checked(sent: dict[str, Any],
             exclude: int | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:  # fmt: skip
    values, errors = scores.config_errors(sent)
    taken = ScoreConfig.objects.filter(name=values["name"])
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if "name" not in errors and taken.exists():
        errors["name"] = f"a score config named {values['name']!r} exists already"
    return values, {field: [reason] for field, reason in errors.items()}


@router.get("/", response=list[ScoreConfigOut])
def list_configs(request: HttpRequest) -> list[ScoreConfig]:
    return list(ScoreConfig.objects.all())


@router.post("/", response={201: ScoreConfigOut, 422: ValidationErrors})
def create_config(request: HttpRequest, payload: ScoreConfigIn) -> Status[Any]:
    sent = payload.dict(exclude_unset=True)
    check_fields(request, "score_configs", sent)
    values, errors = _checked(sent)
    if errors:
        return Status(422, {"errors": errors})
    author = str(getattr(request.actor, "username", "") or "api")
    config = ScoreConfig.objects.create(**values, created_by=author)
    audit.record("create", object_type="score_config", object_id=config.pk,
                 object_name=config.name, changes=sent)  # fmt: skip
    return Status(201, config)


@router.get("/{rowid:config_id}", response=ScoreConfigOut)
def get_config(request: HttpRequest, config_id: int) -> ScoreConfig:
    return _row(config_id)


@router.patch("/{rowid:config_id}", response={200: ScoreConfigOut, 422: ValidationErrors})
def update_config(request: HttpRequest, config_id: int, payload: ScoreConfigPatch) -> Status[Any]:
    """Change some fields; the others keep their values (changing the type clears what
    the new type has no use for: a range, categories)."""
    row = _row(config_id)
    sent = payload.dict(exclude_unset=True)
    check_fields(request, "score_configs", sent, row)
    merged = {**scores.config_dict(row), **sent}
    if "data_type" in sent:  # a range or categories the new type has no use for go
        for field in ("min_value", "max_value", "categories"):
            if field not in sent:
                merged.pop(field, None)
    values, errors = _checked(merged, exclude=row.pk)
    if errors:
        return Status(422, {"errors": errors})
    ScoreConfig.objects.filter(pk=row.pk).update(**values, updated_at=timezone.now())
    audit.record("update", object_type="score_config", object_id=row.pk,
                 object_name=values["name"], changes=sent)  # fmt: skip
    return Status(200, _row(config_id))


@router.delete("/{rowid:config_id}", response={204: None})
def delete_config(request: HttpRequest, config_id: int) -> Status[None]:
    """Its scores stay, no longer governed."""
    row = _row(config_id)
    audit.record("delete", object_type="score_config", object_id=row.pk, object_name=row.name)
    row.delete()
    return Status(204, None)
