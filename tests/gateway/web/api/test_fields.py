"""Request fields from model columns (``gateway.web.api.fields``): the column's length,
slug pattern, range and digits become the field's rules (and its document's); choices
an ``enum``; a PATCH field may be left out but not sent as null unless the column
takes NULL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from gateway.models import A2aAgent, ApiKey
from gateway.models.guardrails import Guardrail
from gateway.models.tags import TagBudget
from gateway.web.api.fields import SLUG, column, omittable, rules_of


def test_a_char_columns_length_and_a_slugs_pattern() -> None:
    assert rules_of(A2aAgent._meta.get_field("name")) == {"max_length": 63, "min_length": 1}
    assert rules_of(A2aAgent._meta.get_field("description")) == {"max_length": 300}
    assert rules_of(Guardrail._meta.get_field("name"))["pattern"] == SLUG


def test_numbers_take_the_databases_range_narrowed_by_the_declared_validators() -> None:
    assert rules_of(TagBudget._meta.get_field("rpm_limit")) == {"ge": 0, "le": 2147483647}
    price = rules_of(A2aAgent._meta.get_field("price_usd"))
    assert price == {"max_digits": 12, "decimal_places": 6, "ge": 0}
    assert rules_of(A2aAgent._meta.get_field("timeout")) == {"ge": 0.1}


def test_choices_become_an_enum_with_null_where_the_column_takes_it() -> None:
    auth = rules_of(A2aAgent._meta.get_field("auth"))
    assert auth["json_schema_extra"] == {"enum": ["", "bearer", "oauth"]}
    period = rules_of(ApiKey._meta.get_field("budget_period"))["json_schema_extra"]["enum"]
    assert None not in period and "month" in period


class Create(BaseModel):
    name: str = column(A2aAgent, "name")
    price_usd: Decimal = column(A2aAgent, "price_usd", default=Decimal(0))


class Patch(BaseModel):
    name: str = column(A2aAgent, "name", patch=True)
    auth: str = column(A2aAgent, "auth", patch=True)
    run_budget_usd: Decimal | None = column(A2aAgent, "run_budget_usd", patch=True)
    note: str | None = omittable(max_length=5)


def test_a_field_enforces_its_columns_rules() -> None:
    assert Create(name="a").price_usd == 0
    for bad in ({"name": ""}, {"name": "x" * 64}, {"name": "a", "price_usd": "-1"}):
        with pytest.raises(ValidationError):
            Create(**bad)
    with pytest.raises(ValidationError):
        Create(name="a", price_usd="1.1234567")  # more decimal places than the column


def test_a_patch_field_may_be_left_out_and_documents_no_default() -> None:
    sent = Patch(run_budget_usd=None)
    assert sent.model_dump(exclude_unset=True) == {"run_budget_usd": None}
    schema = Patch.model_json_schema()["properties"]
    assert "default" not in schema["name"] and "default" not in schema["note"]
    assert schema["auth"]["enum"] == ["", "bearer", "oauth"]
    with pytest.raises(ValidationError):
        Patch(note="too long")
    with pytest.raises(ValidationError):  # a NOT NULL column: null is refused, not a 500
        Patch(name=None)
    assert Patch().model_dump(exclude_unset=True) == {}
