"""An import plan as a person reads it: plain values (never a Decimal's or an enum's
repr), secrets masked, and the preview table's rows, each deployment after its route."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from gateway.models import Route
from gateway.ops.litellm.preview import NONE, Row, change_rows, plain, table


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("secret_ciphertext", b"x", "(secret)"),
        ("key_hash", "", NONE),
        ("secret", "os.environ/OPENAI_API_KEY", "os.environ/OPENAI_API_KEY"),
        ("secret", "sk-live-123", "(stored encrypted)"),
        ("extra_headers", {"x-api-key": "k", "x-team": "a"}, "x-api-key: …, x-team: …"),
        ("extra_headers", {}, NONE),
        ("rpm", None, NONE),
        ("description", "", NONE),
        ("strategy", Route.Strategy.LEAST_BUSY, "least_busy"),
        ("enabled", True, "true"),
        ("enabled", False, "false"),
        ("input_price", Decimal("2.500000"), "2.5"),
        ("input_price", Decimal("-0.000"), "0"),
        ("input_price", Decimal("1E+2"), "100"),
        ("weight", 3.0, "3"),
        ("weight", 0.25, "0.25"),
        ("fallbacks", ["a", "é"], '["a", "é"]'),
        ("params", {}, NONE),
        ("rpm", 60, "60"),
    ],
)
def test_values_as_a_person_reads_them(name, value, shown):
    assert plain(name, value) == shown


@dataclass
class Change:
    action: str
    route: str
    item: str = ""
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def test_each_change_as_rows():
    assert change_rows(Change("unchanged", "r")) == []
    assert change_rows(Change("delete", "r", "p/m")) == [
        Row("delete", True, "r", "p/m", "", "", "removed: not in the file")
    ]
    created = change_rows(Change("create", "r", "", {"rpm": (None, 5), "enabled": (None, True)}))
    assert created == [
        Row("create", True, "r", "", "rpm", "", "5"),
        Row("create", False, "r", "", "enabled", "", "true"),
    ]
    updated = change_rows(Change("update", "r", "p/m", {"weight": (1.0, 2.0)}))
    assert updated == [Row("update", True, "r", "p/m", "weight", "1", "2")]
    assert change_rows(Change("update", "r")) == [Row("update", True, "r", "", "", "", "")]


def test_each_deployment_follows_its_route():
    routes = [Change("create", "b"), Change("create", "a")]
    deployments = [
        Change("create", "a", "p/a"),
        Change("create", "zz", "p/z"),
        Change("create", "b", "p/b"),
    ]
    rows = table([*deployments, *routes], routes)
    assert [(r.route, r.item) for r in rows] == [
        ("b", ""),
        ("b", "p/b"),
        ("a", ""),
        ("a", "p/a"),
        ("zz", "p/z"),
    ]
    assert [(r.route, r.item) for r in table(deployments)] == [
        ("a", "p/a"),
        ("zz", "p/z"),
        ("b", "p/b"),
    ]
