"""The console's formatting filters: money never rounds a real cost away to "$0."."""

from __future__ import annotations

from decimal import Decimal

import pytest

from console.templatetags.console import usd, usd_brief


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (Decimal("0"), "$0.00"),
        (0, "$0.00"),
        (Decimal("0E-8"), "$0.00"),
        (Decimal("0.000001"), "$0.000001"),
        (Decimal("0.00000100"), "$0.000001"),  # as a DecimalField(decimal_places=8) reads
        (Decimal("0.00000001"), "$0.00000001"),
        (Decimal("0.0000042"), "$0.0000042"),
        (Decimal("0.00001234"), "$0.000012"),
        (Decimal("0.0042"), "$0.0042"),
        (Decimal("0.00999"), "$0.01"),
        (Decimal("0.01"), "$0.01"),
        (Decimal("0.25"), "$0.25"),
        (Decimal("1.5"), "$1.50"),
        (1.5, "$1.50"),
        (Decimal("2"), "$2.00"),
        (Decimal("1234.5"), "$1,234.50"),
        (0.0000042, "$0.0000042"),
        ("0.000003", "$0.000003"),
    ],
)
def test_usd(value, shown: str) -> None:
    assert usd(value) == shown


def test_usd_never_ends_in_a_bare_point() -> None:
    for exponent in range(1, 9):
        shown = usd(Decimal(1).scaleb(-exponent))
        assert not shown.endswith("."), shown
        assert shown != "$0.00", shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (Decimal("0"), "$0.00"),
        (Decimal("0E-8"), "$0.00"),
        (Decimal("0.00042"), "$0.0004"),
        (Decimal("0.0004"), "$0.0004"),
        (Decimal("0.0042"), "$0.0042"),
        (Decimal("0.0001"), "$0.0001"),
        (Decimal("0.000099"), "<$0.0001"),
        (Decimal("0.0000042"), "<$0.0001"),
        (Decimal("0.5"), "$0.50"),
        (Decimal("1234.5"), "$1,234.50"),
    ],
)
def test_usd_brief_fits_a_card(value, shown: str) -> None:
    """The Spend card's figure: never more characters than "$0.0004", never "$0" for a
    real cost."""
    assert usd_brief(value) == shown
    assert len(shown) <= len("<$0.0001") or shown.startswith("$1,")


def test_budget_periods_read_as_words() -> None:
    """The alerts page showed ``m2026-11`` (#66)."""
    from console.templatetags.console import budget_period

    assert budget_period("m2026-11") == "November 2026"
    assert budget_period("d2026-11-07") == "7 Nov 2026"
    assert budget_period("total") == "total"
    assert budget_period("m20x6") == "m20x6"  # never a 500 for a stored oddity
