"""Retention ages as the settings write them (``gateway.telemetry.ages``): ``30d``, ``12h``
... parsed, other text refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.telemetry.ages import parse_age


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        (" 2W ", timedelta(weeks=2)),
    ],
)
def test_parse_age(text, age) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "3 days"])
def test_parse_age_rejects_other_text(text) -> None:
    with pytest.raises(ValueError):
        parse_age(text)
