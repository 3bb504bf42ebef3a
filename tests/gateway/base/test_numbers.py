"""Whole numbers read from outside text (gateway.base.numbers): what ``isdigit`` accepts
but ``int`` or the database refuses is no number at all."""

from __future__ import annotations

import pytest

from gateway.base.numbers import MAX_ROW_ID, ascii_int, row_id


@pytest.mark.parametrize(
    "text", ["²", "١٢", "𝟙", "-1", "+1", "1e3", "1.0", "", " ", "0x10", "1_000"]
)
def test_what_int_or_a_sign_would_need_is_no_number(text: str) -> None:
    assert ascii_int(text) is None
    assert row_id(text) is None


def test_ascii_digits_are_numbers_within_the_maximum() -> None:
    assert ascii_int(" 42 ") == 42
    assert ascii_int("007") == 7
    assert ascii_int("11", maximum=10) is None
    assert row_id(str(MAX_ROW_ID)) == MAX_ROW_ID
    assert row_id(str(MAX_ROW_ID + 1)) is None  # the drivers refuse to bind it
    assert row_id("9" * 40) is None
    assert row_id(" 4") is None  # an id in a path or a filter is exact
