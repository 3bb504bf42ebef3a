"""Request fields whose rules come from the model column they fill, so the document says
what the server enforces: a name's length and pattern, a kind's choices, a number's range.

``column(Model, "name")`` is a pydantic ``Field`` with the column's rules: ``max_length``
(CharField), the slug pattern (SlugField), ``ge``/``le`` from its validators and, for
integers, the range every database takes (PostgreSQL's: an id-sized value SQLite would
store is still refused, so the document holds on both), ``max_digits``/``decimal_places``
(DecimalField), and ``enum`` for choices. Pydantic enforces all but the enum, which the
model's ``full_clean`` refuses with a 422 naming the field, as before.

``patch=True`` makes a field a PATCH may leave out (the stored value is kept) but, unless
the column takes NULL, may not send as null: ``{"description": null}`` used to reach
the database as a NOT NULL violation (a 500)."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from pydantic import Field

SLUG = r"^[-a-zA-Z0-9_]+$"  # django.core.validators.slug_re


def _no_default(schema: dict[str, Any]) -> None:
    """A field left out of a PATCH keeps the stored value: no default to document."""
    schema.pop("default", None)


def omittable(**rules: Any) -> Any:
    """A field a PATCH may leave out but not send as null (``patch.dict(exclude_unset=True)``
    holds only what was sent)."""
    return Field(None, json_schema_extra=_no_default, **rules)


def rules_of(field: models.Field[Any, Any]) -> dict[str, Any]:
    """The pydantic constraints (and ``enum``) of a model column."""
    rules: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if isinstance(field, models.CharField) and field.max_length:
        rules["max_length"] = field.max_length
        if not field.blank:
            rules["min_length"] = 1
    if isinstance(field, models.SlugField):
        rules["pattern"] = SLUG
    if isinstance(field, models.IntegerField):
        low, high = BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]
        rules.update(ge=low, le=high)
    if isinstance(field, models.DecimalField):
        rules.update(max_digits=field.max_digits, decimal_places=field.decimal_places)
    for validator in field._validators:  # the declared ones, not the database's range
        if isinstance(validator, MinValueValidator):
            rules["ge"] = max(rules.get("ge", validator.limit_value), validator.limit_value)
        elif isinstance(validator, MaxValueValidator):
            rules["le"] = min(rules.get("le", validator.limit_value), validator.limit_value)
    if field.choices:
        extra["enum"] = [value for value, _ in field.flatchoices] + ([None] if field.null else [])
    if extra:
        rules["json_schema_extra"] = extra
    return rules


def column(model: type[models.Model], name: str, *, patch: bool = False, **more: Any) -> Any:
    """A request field for ``model.name`` with its rules (``more`` adds or overrides:
    ``default=``, ``pattern=``...). ``patch``: may be left out; null only where the column
    takes NULL."""
    field = model._meta.get_field(name)
    rules = {**rules_of(field), **more}
    extra = rules.pop("json_schema_extra", None)
    if patch and not field.null:
        enum = (extra or {}).get("enum")

        def patched(schema: dict[str, Any]) -> None:
            _no_default(schema)
            if enum is not None:
                schema["enum"] = enum

        return Field(None, json_schema_extra=patched, **rules)
    if patch:
        rules.setdefault("default", None)
    if extra is not None:
        rules["json_schema_extra"] = extra
    return Field(**rules)
